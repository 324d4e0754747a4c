// Test-only TLS helpers for net_test: throwaway P-256 certificates made with OpenSSL directly, and
// a raw blocking TLS client for exercising the server below the HttpsClient (keep-alive,
// pipelining, slow clients). Production code never includes this.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace certfleet::net::testing {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};

struct TestCert {
  std::unique_ptr<EVP_PKEY, PkeyFree> key;
  std::unique_ptr<X509, X509Free> cert;
  std::string cert_pem;
  std::string key_pem;  // unencrypted PKCS#8
  std::string Der() const;
  // The key as encrypted PKCS#8 PEM (AES-256-CBC) under `passphrase`.
  std::string EncryptedKeyPem(const std::string& passphrase) const;
};

// A self-signed CA (CA:TRUE, keyCertSign), valid from an hour ago for a day.
TestCert MakeCa(const std::string& common_name);
// A leaf signed by `ca`. `san` is an OpenSSL subjectAltName value such as
// "IP:127.0.0.1,DNS:localhost". `server` picks the serverAuth or clientAuth EKU.
TestCert MakeLeaf(const TestCert& ca, const std::string& common_name, const std::string& san,
                  bool server);

// A blocking TLS 1.2+ client over a plain socket, without certificate verification (the tests
// of verification go through HttpsClient). Every read gives up after five seconds.
class RawTlsClient {
 public:
  RawTlsClient();
  ~RawTlsClient();
  RawTlsClient(const RawTlsClient&) = delete;
  RawTlsClient& operator=(const RawTlsClient&) = delete;

  // TCP connect to 127.0.0.1:`port` (from `source_ip` if set, e.g. "127.0.0.2"), `preamble` sent
  // as is (a PROXY protocol header), then the TLS handshake. False if any of it fails.
  bool Connect(uint16_t port, std::string_view preamble = {}, const char* source_ip = nullptr);
  bool Send(std::string_view bytes);
  // One HTTP response framed by Content-Length; nullopt on EOF, error or timeout.
  std::optional<std::string> ReadResponse();
  // Reads until the server closes the connection; returns how long that took, or nullopt if it
  // was still open after `limit`.
  std::optional<std::chrono::milliseconds> WaitForClose(std::chrono::seconds limit);

 private:
  bool Fill();  // appends what one SSL_read returns to pending_

  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  std::string pending_;
};

// A TCP listener on 127.0.0.1 that never accepts: connects complete (backlog), nothing answers.
class SilentListener {
 public:
  SilentListener();
  ~SilentListener();
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// A TLS listener on 127.0.0.1 for tls-alpn-01 (RFC 8737) and TLS probe tests. It presents
// `cert_pem` with `key_pem` (any certificate: nothing is verified) and, when the client offers
// `select_alpn`, selects it; with `select_alpn` empty it behaves as a server without ALPN support
// (the handshake completes and no protocol is selected). It serves one connection at a time on
// its own thread and closes each right after the handshake, recording what the client sent.
class TlsAlpnServer {
 public:
  TlsAlpnServer(const std::string& cert_pem, const std::string& key_pem, std::string select_alpn);
  ~TlsAlpnServer();
  TlsAlpnServer(const TlsAlpnServer&) = delete;
  TlsAlpnServer& operator=(const TlsAlpnServer&) = delete;
  uint16_t port() const { return port_; }
  // Connections accepted so far (whether or not their handshake completed).
  int connections() const { return connections_.load(); }
  // From the last ClientHello: the SNI name ("" if none) and the ALPN list offered.
  std::string last_server_name() const;
  std::vector<std::string> last_offered_alpn() const;

 private:
  void Serve();

  SSL_CTX* ctx_ = nullptr;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::string select_alpn_;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mu_;
  // Of the last ClientHello (recorded before the server answers it).
  std::string last_server_name_;           // guarded by mu_
  std::vector<std::string> last_offered_;  // guarded by mu_
  std::thread thread_;
};

// A port on 127.0.0.1 that was just free (bound, then closed): connecting to it is refused.
uint16_t UnusedPort();

}  // namespace certfleet::net::testing
