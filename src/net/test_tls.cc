#include "net/test_tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <stdexcept>

namespace certfleet::net::testing {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
struct ExtFree {
  void operator()(X509_EXTENSION* e) const { X509_EXTENSION_free(e); }
};

void Require(bool ok, const char* what) {
  if (!ok) {
    ERR_print_errors_fp(stderr);
    throw std::runtime_error(std::string("test TLS setup failed: ") + what);
  }
}

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

void AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, ExtFree> ext(
      X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str()));
  Require(ext != nullptr, "extension");
  Require(X509_add_ext(cert, ext.get(), -1) == 1, "add extension");
}

TestCert Make(const TestCert* ca, const std::string& common_name,
              const std::vector<std::pair<int, std::string>>& extensions) {
  TestCert out;
  out.key.reset(EVP_EC_gen("P-256"));
  Require(out.key != nullptr, "key generation");
  out.cert.reset(X509_new());
  X509* cert = out.cert.get();
  static std::atomic<long> serial{1};
  Require(X509_set_version(cert, X509_VERSION_3) == 1, "version");
  Require(ASN1_INTEGER_set(X509_get_serialNumber(cert), ++serial) == 1, "serial");
  Require(X509_gmtime_adj(X509_getm_notBefore(cert), -3600) != nullptr, "notBefore");
  Require(X509_gmtime_adj(X509_getm_notAfter(cert), 86400) != nullptr, "notAfter");
  Require(X509_set_pubkey(cert, out.key.get()) == 1, "pubkey");
  X509_NAME* name = X509_get_subject_name(cert);
  Require(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>(common_name.c_str()),
                                     -1, -1, 0) == 1,
          "subject");
  X509* issuer = ca ? ca->cert.get() : cert;
  Require(X509_set_issuer_name(cert, X509_get_subject_name(issuer)) == 1, "issuer");
  for (const auto& [nid, value] : extensions) AddExtension(cert, issuer, nid, value);
  EVP_PKEY* signer = ca ? ca->key.get() : out.key.get();
  Require(X509_sign(cert, signer, EVP_sha256()) > 0, "sign");

  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  Require(PEM_write_bio_X509(cert_bio.get(), cert) == 1, "cert PEM");
  out.cert_pem = BioToString(cert_bio.get());
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  Require(PEM_write_bio_PrivateKey(key_bio.get(), out.key.get(), nullptr, nullptr, 0, nullptr,
                                   nullptr) == 1,
          "key PEM");
  out.key_pem = BioToString(key_bio.get());
  return out;
}

}  // namespace

std::string TestCert::Der() const {
  int len = i2d_X509(cert.get(), nullptr);
  std::string der(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_X509(cert.get(), &p);
  return der;
}

std::string TestCert::EncryptedKeyPem(const std::string& passphrase) const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  Require(PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), EVP_aes_256_cbc(), nullptr, 0,
                                        nullptr, const_cast<char*>(passphrase.c_str())) == 1,
          "encrypted key PEM");
  return BioToString(bio.get());
}

TestCert MakeCa(const std::string& common_name) {
  return Make(nullptr, common_name,
              {{NID_basic_constraints, "critical,CA:TRUE"},
               {NID_key_usage, "critical,keyCertSign,cRLSign"},
               {NID_subject_key_identifier, "hash"}});
}

TestCert MakeLeaf(const TestCert& ca, const std::string& common_name, const std::string& san,
                  bool server) {
  return Make(&ca, common_name,
              {{NID_basic_constraints, "critical,CA:FALSE"},
               {NID_key_usage, "critical,digitalSignature"},
               {NID_ext_key_usage, server ? "serverAuth" : "clientAuth"},
               {NID_subject_alt_name, san},
               {NID_authority_key_identifier, "keyid"}});
}

RawTlsClient::RawTlsClient() {
  // Unlike Asio (MSG_NOSIGNAL), OpenSSL's socket BIO writes with plain send(): a write to a
  // connection the server has just refused would kill the test binary with SIGPIPE.
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { signal(SIGPIPE, SIG_IGN); });
  ctx_ = SSL_CTX_new(TLS_client_method());
  Require(ctx_ != nullptr, "SSL_CTX_new");
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
}

RawTlsClient::~RawTlsClient() {
  if (ssl_) SSL_free(ssl_);
  if (fd_ >= 0) close(fd_);
  SSL_CTX_free(ctx_);
  ERR_clear_error();
}

bool RawTlsClient::Connect(uint16_t port, std::string_view preamble, const char* source_ip) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) return false;
  timeval tv{5, 0};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (source_ip != nullptr) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    if (inet_pton(AF_INET, source_ip, &local.sin_addr) != 1 ||
        bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
      return false;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return false;
  if (!preamble.empty() &&
      send(fd_, preamble.data(), preamble.size(), MSG_NOSIGNAL) != ssize_t(preamble.size())) {
    return false;
  }
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, fd_);
  bool ok = SSL_connect(ssl_) == 1;
  ERR_clear_error();
  return ok;
}

bool RawTlsClient::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    int n = SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
    if (n <= 0) {
      ERR_clear_error();
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool RawTlsClient::Fill() {
  char buf[16384];
  int n = SSL_read(ssl_, buf, sizeof(buf));
  if (n <= 0) {
    ERR_clear_error();
    return false;
  }
  pending_.append(buf, static_cast<size_t>(n));
  return true;
}

std::optional<std::string> RawTlsClient::ReadResponse() {
  size_t header_end;
  while ((header_end = pending_.find("\r\n\r\n")) == std::string::npos) {
    if (!Fill()) return std::nullopt;
  }
  header_end += 4;
  std::string lower = pending_.substr(0, header_end);
  for (char& c : lower) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  size_t length = 0;
  size_t at = lower.find("\r\ncontent-length:");
  if (at != std::string::npos) length = std::strtoul(lower.c_str() + at + 17, nullptr, 10);
  while (pending_.size() < header_end + length) {
    if (!Fill()) return std::nullopt;
  }
  std::string response = pending_.substr(0, header_end + length);
  pending_.erase(0, header_end + length);
  return response;
}

std::optional<std::chrono::milliseconds> RawTlsClient::WaitForClose(std::chrono::seconds limit) {
  auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < limit) {
    char buf[4096];
    int n = SSL_read(ssl_, buf, sizeof(buf));
    if (n > 0) continue;
    int err = SSL_get_error(ssl_, n);
    ERR_clear_error();
    // SO_RCVTIMEO expiring looks like a retryable read; anything else is the close.
    if (err == SSL_ERROR_WANT_READ || (err == SSL_ERROR_SYSCALL && errno == EAGAIN)) continue;
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start);
  }
  return std::nullopt;
}

SilentListener::SilentListener() {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  Require(fd_ >= 0, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  Require(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0, "bind");
  Require(listen(fd_, 16) == 0, "listen");
  socklen_t len = sizeof(addr);
  Require(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0, "getsockname");
  port_ = ntohs(addr.sin_port);
}

SilentListener::~SilentListener() {
  if (fd_ >= 0) close(fd_);
}

TlsAlpnServer::TlsAlpnServer(const std::string& cert_pem, const std::string& key_pem,
                             std::string select_alpn)
    : select_alpn_(std::move(select_alpn)) {
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { signal(SIGPIPE, SIG_IGN); });
  ctx_ = SSL_CTX_new(TLS_server_method());
  Require(ctx_ != nullptr, "SSL_CTX_new");
  BioPtr cert_bio(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
  std::unique_ptr<X509, X509Free> cert(
      PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  Require(cert != nullptr && SSL_CTX_use_certificate(ctx_, cert.get()) == 1, "server cert");
  BioPtr key_bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  Require(key != nullptr && SSL_CTX_use_PrivateKey(ctx_, key.get()) == 1, "server key");
  SSL_CTX_set_alpn_select_cb(
      ctx_,
      [](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
         unsigned int inlen, void* arg) -> int {
        auto* self = static_cast<TlsAlpnServer*>(arg);
        std::vector<std::string> offered;
        for (unsigned i = 0; i < inlen && i + 1 + in[i] <= inlen; i += 1 + in[i]) {
          offered.emplace_back(reinterpret_cast<const char*>(in + i + 1), in[i]);
        }
        if (self->select_alpn_.empty()) return SSL_TLSEXT_ERR_NOACK;
        for (unsigned i = 0; i < inlen && i + 1 + in[i] <= inlen; i += 1 + in[i]) {
          if (std::string_view(reinterpret_cast<const char*>(in + i + 1), in[i]) ==
              self->select_alpn_) {
            *out = in + i + 1;
            *outlen = in[i];
            return SSL_TLSEXT_ERR_OK;
          }
        }
        return SSL_TLSEXT_ERR_ALERT_FATAL;  // no_application_protocol (RFC 7301 section 3.2)
      },
      this);
  // What the client offered is recorded from its ClientHello, before the server answers: the
  // client cannot finish its handshake (and the test look) before it is recorded. Recording after
  // SSL_accept returned raced with the client, which may finish first (TLS 1.3).
  SSL_CTX_set_client_hello_cb(
      ctx_,
      [](SSL* ssl, int*, void* arg) -> int {
        auto* self = static_cast<TlsAlpnServer*>(arg);
        std::string server_name;
        const unsigned char* data = nullptr;
        size_t len = 0;
        // server_name (RFC 6066 section 3): list length (2), type (1), name length (2), name.
        if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &data, &len) == 1 && len >= 5 &&
            data[2] == TLSEXT_NAMETYPE_host_name) {
          const size_t n = (size_t{data[3]} << 8) | data[4];
          if (5 + n <= len) server_name.assign(reinterpret_cast<const char*>(data + 5), n);
        }
        // ALPN (RFC 7301 section 3.1): list length (2), then length-prefixed names.
        std::vector<std::string> offered;
        if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation,
                                      &data, &len) == 1 &&
            len >= 2) {
          for (size_t i = 2; i < len && i + 1 + data[i] <= len; i += 1 + data[i]) {
            offered.emplace_back(reinterpret_cast<const char*>(data + i + 1), data[i]);
          }
        }
        std::lock_guard lock(self->mu_);
        self->last_server_name_ = std::move(server_name);
        self->last_offered_ = std::move(offered);
        return SSL_CLIENT_HELLO_SUCCESS;
      },
      this);

  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  Require(fd_ >= 0, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  Require(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0, "bind");
  Require(listen(fd_, 16) == 0, "listen");
  socklen_t len = sizeof(addr);
  Require(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0, "getsockname");
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

TlsAlpnServer::~TlsAlpnServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
  SSL_CTX_free(ctx_);
  ERR_clear_error();
}

std::string TlsAlpnServer::last_server_name() const {
  std::lock_guard lock(mu_);
  return last_server_name_;
}

std::vector<std::string> TlsAlpnServer::last_offered_alpn() const {
  std::lock_guard lock(mu_);
  return last_offered_;
}

void TlsAlpnServer::Serve() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;  // bounded wait, so that stop_ is seen
    int conn = accept(fd_, nullptr, nullptr);
    if (conn < 0) continue;
    ++connections_;
    timeval tv{5, 0};
    setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, conn);
    (void)SSL_accept(ssl);
    SSL_free(ssl);
    ERR_clear_error();
    close(conn);
  }
}

uint16_t UnusedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  Require(fd >= 0, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  Require(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0, "bind");
  socklen_t len = sizeof(addr);
  Require(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0, "getsockname");
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace certfleet::net::testing
