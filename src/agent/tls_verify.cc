#include "agent/tls_verify.h"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <memory>

#include "agent/safe_path.h"
#include "x509/certificate.h"

namespace certfleet::agent {
namespace {

struct SslCtxFree {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslFree {
  void operator()(SSL* p) const { SSL_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};

Error SslError(std::string what) {
  unsigned long e = ERR_get_error();
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    what += ": ";
    what += buf;
  }
  ERR_clear_error();
  return Unavailable(std::move(what));
}

Result<UniqueFd> Connect(const std::string& address, std::chrono::milliseconds timeout) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return InvalidArgument("verify address must be host:port");
  std::string host = address.substr(0, colon);
  std::string port = address.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  struct addrinfo hints = {};
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return Unavailable("resolve " + host + ": " + ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(res, &::freeaddrinfo);
  struct timeval tv;
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  for (addrinfo* a = res; a; a = a->ai_next) {
    UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (!fd.valid()) continue;
    // SO_SNDTIMEO bounds connect(2) too; SO_RCVTIMEO bounds each handshake read.
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) == 0) return fd;
  }
  return Unavailable("connect " + address + " failed");
}

}  // namespace

Result<std::string> FetchServedSerial(const std::string& address, const std::string& sni,
                                      std::chrono::milliseconds timeout) {
  CF_ASSIGN_OR_RETURN(UniqueFd fd, Connect(address, timeout));
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return SslError("SSL_CTX_new");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  std::unique_ptr<SSL, SslFree> ssl(SSL_new(ctx.get()));
  if (!ssl) return SslError("SSL_new");
  if (!sni.empty() && SSL_set_tlsext_host_name(ssl.get(), sni.c_str()) != 1) {
    return SslError("set SNI");
  }
  if (SSL_set_fd(ssl.get(), fd.get()) != 1) return SslError("SSL_set_fd");
  if (SSL_connect(ssl.get()) != 1) return SslError("TLS handshake with " + address);
  std::unique_ptr<X509, X509Free> peer(SSL_get1_peer_certificate(ssl.get()));
  if (!peer) return SslError("no peer certificate from " + address);
  unsigned char* der = nullptr;
  int len = i2d_X509(peer.get(), &der);
  if (len <= 0) return SslError("encode peer certificate");
  std::string der_s(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  SSL_shutdown(ssl.get());
  ERR_clear_error();
  CF_ASSIGN_OR_RETURN(x509::Certificate cert, x509::Certificate::FromDer(der_s));
  return cert.serial_hex();
}

}  // namespace certfleet::agent
