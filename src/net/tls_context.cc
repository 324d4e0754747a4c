#include "net/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string_view>

namespace certfleet::net::internal {
namespace {

namespace ssl = boost::asio::ssl;
using boost::system::error_code;

// TLS 1.2 suites: Mozilla "intermediate" minus DHE, i.e. only forward-secret AEAD suites. TLS 1.3
// suites are all AEAD and keep OpenSSL's defaults.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Resumed sessions must belong to this server's verification context; under verify_peer
// OpenSSL fails the handshake of a resuming client when none is set.
constexpr unsigned char kSessionIdContext[] = "certfleet-https";

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

Status ApplyCommonPolicy(ssl::context& context) {
  SSL_CTX* ctx = context.native_handle();
  context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                      ssl::context::no_compression | ssl::context::single_dh_use);
  // TLS 1.2 renegotiation is a CPU-exhaustion vector (client-initiated) and nothing needs it.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    ERR_clear_error();
    return Internal("cannot configure the TLS protocol versions or ciphers");
  }
  // Without a callback OpenSSL prompts for the passphrase of an encrypted key on the terminal,
  // which would block a daemon; an empty answer makes such a key fail to load instead.
  error_code ec;
  context.set_password_callback(
      [](size_t, ssl::context::password_purpose) { return std::string(); }, ec);
  if (ec) return Internal("cannot set the TLS password callback: " + TakeOpenSslMessage(ec));
  return Ok();
}

// Loads a certificate chain and its key. Asio reads the key straight from our buffer (a
// read-only memory BIO), so the only copy of the PEM to wipe is the caller's, done here as soon
// as OpenSSL holds the key.
Status LoadChainAndKey(ssl::context& context, const std::string& chain_pem, SecretBytes& key_pem,
                       std::string_view what) {
  error_code ec;
  context.use_certificate_chain(boost::asio::buffer(chain_pem), ec);
  if (ec) {
    key_pem = SecretBytes();
    return InvalidArgument(std::string(what) + " certificate chain: " + TakeOpenSslMessage(ec));
  }
  std::string_view key = key_pem.view();
  context.use_private_key(boost::asio::buffer(key.data(), key.size()), ssl::context::pem, ec);
  key_pem = SecretBytes();
  if (ec) return InvalidArgument(std::string(what) + " private key: " + TakeOpenSslMessage(ec));
  if (SSL_CTX_check_private_key(context.native_handle()) != 1) {
    ERR_clear_error();
    return InvalidArgument(std::string(what) + " private key does not match the certificate");
  }
  return Ok();
}

// Advertises the acceptable client CAs in the CertificateRequest so that clients holding several
// certificates pick the right one (RFC 8446 section 4.2.4).
Status AdvertiseClientCas(SSL_CTX* ctx, const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    ERR_clear_error();
    return Internal("cannot allocate a BIO");
  }
  while (X509Ptr ca{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    if (SSL_CTX_add_client_CA(ctx, ca.get()) != 1) {
      ERR_clear_error();
      return InvalidArgument("client CA bundle: cannot add a CA name");
    }
  }
  ERR_clear_error();  // the loop ends with a "no start line" error by design
  return Ok();
}

}  // namespace

std::string TakeOpenSslMessage(const error_code& ec) {
  ERR_clear_error();
  return ec.message();
}

Status ConfigureServerTls(ssl::context& context, ServerOptions& options) {
  CF_TRY(ApplyCommonPolicy(context));
  CF_TRY(LoadChainAndKey(context, options.cert_chain_pem, options.key_pem, "server"));
  // A server holds thousands of idle keep-alive connections and parked long polls (agents):
  // OpenSSL frees a connection's record buffers (about 34 KiB) while they are empty instead of
  // keeping them for the connection's lifetime (issue #14: 10,000 connected agents).
  SSL_CTX_set_mode(context.native_handle(), SSL_MODE_RELEASE_BUFFERS);
  if (options.client_ca_pem.empty()) return Ok();

  error_code ec;
  context.add_certificate_authority(boost::asio::buffer(options.client_ca_pem), ec);
  if (ec) return InvalidArgument("client CA bundle: " + TakeOpenSslMessage(ec));
  CF_TRY(AdvertiseClientCas(context.native_handle(), options.client_ca_pem));
  // verify_peer without fail_if_no_peer_cert: a certificate is requested and verified when
  // presented, but its absence is for the authorization layer to judge.
  context.set_verify_mode(ssl::verify_peer);
  if (SSL_CTX_set_session_id_context(context.native_handle(), kSessionIdContext,
                                     sizeof(kSessionIdContext) - 1) != 1) {
    ERR_clear_error();
    return Internal("cannot set the TLS session id context");
  }
  return Ok();
}

Status ConfigureClientTls(ssl::context& context, ClientOptions& options) {
  CF_TRY(ApplyCommonPolicy(context));
  if (!options.verify_server_certificate) {
    if (!options.trust_pem.empty() || !options.client_cert_pem.empty() ||
        !options.client_key_pem.empty()) {
      options.client_key_pem = SecretBytes();
      return InvalidArgument(
          "a client that does not verify servers takes no trust bundle and no client certificate");
    }
    context.set_verify_mode(ssl::verify_none);
    return Ok();
  }
  context.set_verify_mode(ssl::verify_peer);
  error_code ec;
  if (options.trust_pem.empty()) {
    context.set_default_verify_paths(ec);
    if (ec) return Internal("cannot load the system trust store: " + TakeOpenSslMessage(ec));
  } else {
    context.add_certificate_authority(boost::asio::buffer(options.trust_pem), ec);
    if (ec) return InvalidArgument("trust bundle: " + TakeOpenSslMessage(ec));
  }
  if (options.client_cert_pem.empty() != options.client_key_pem.empty()) {
    options.client_key_pem = SecretBytes();
    return InvalidArgument("a client certificate needs its key, and a key its certificate");
  }
  if (options.client_cert_pem.empty()) return Ok();
  return LoadChainAndKey(context, options.client_cert_pem, options.client_key_pem, "client");
}

Status ConfigureProbeTls(ssl::context& context) {
  CF_TRY(ApplyCommonPolicy(context));
  context.set_verify_mode(ssl::verify_none);
  return Ok();
}

}  // namespace certfleet::net::internal
