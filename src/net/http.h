// Plain HTTP message types shared by the server, the client and the handlers above them. They
// carry no Beast or Asio types, so code outside src/net never compiles Beast (RECIPES.md: a
// Beast+SSL translation unit costs about a minute and 1.8 GB to compile).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace certfleet::net {

class DeferredResponse;
namespace internal {
struct DeferredAccess;
}  // namespace internal

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // origin-form: path and optional query, as received
  // Keys lower-case; a field sent several times is joined with ", " (RFC 9110 section 5.3).
  std::map<std::string, std::string> headers;
  std::string body;
  std::string remote_address;  // "127.0.0.1:54321"
  // DER of the verified TLS client certificate (mutual TLS), if the peer presented one.
  std::optional<std::string> client_cert_der;

  // Path without the query string.
  std::string_view path() const;
  // Decoded value of the first query parameter with this (decoded) name; "" for "?name" without
  // "=". nullopt if absent or badly escaped.
  std::optional<std::string> query(std::string_view name) const;
  std::optional<std::string> header(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  // From a handler: keys as written. The server owns framing: it sets Content-Length, Connection
  // and Cache-Control: no-store itself and drops a handler's Content-Length, Transfer-Encoding,
  // Connection and any field with CR, LF or NUL in it.
  // From HttpsClient::Do: keys lower-case, repeated fields joined with ", ".
  std::map<std::string, std::string> headers;
  std::string body;
  // Set by a handler that answers later (long polling): the server then ignores every other field
  // of this response and sends what `deferred->Complete` is given. Always null from
  // HttpsClient::Do, and ignored in a response passed to Complete.
  std::shared_ptr<DeferredResponse> deferred;
};

// An HTTPS server answer that a handler promises and gives later, from any thread, without
// holding a worker thread meanwhile. The handler returns an HttpResponse whose `deferred` is set
// and keeps a shared_ptr to complete it:
//
//   auto later = MakeDeferred();
//   waiters.Add(later);                 // the handler's own registry
//   return HttpResponse{.deferred = later};
//   ...                                 // any thread, any time after
//   later->Complete(JobsResponse(...));
//
// Contract:
//  - Complete may be called from any thread, before or after the handler returns. The first call
//    wins and returns true; later calls do nothing and return false. It never blocks on network
//    I/O and never calls back into handler code: the server only queues the response for its I/O
//    thread, taking only its own short internal locks, so it may be called under the caller's
//    locks. The same holds for dropping the last reference.
//  - When the last reference goes away without Complete, the request is answered with a 503
//    problem document (unavailable), so a forgotten request never hangs.
//  - HttpsServer::Stop completes every parked request itself with a 503 ("server is shutting
//    down"); a later Complete then returns false. A DeferredResponse may safely outlive the server.
//  - A client that disconnects while its request is parked is noticed only when the answer is
//    written, so the handler should bound the wait itself (the long-poll `wait` parameter).
//  - The server's request and idle timeouts do not run while a request is parked.
// Thread-safe. Create one with MakeDeferred(); one DeferredResponse answers one request.
class DeferredResponse {
 public:
  DeferredResponse() = default;
  DeferredResponse(const DeferredResponse&) = delete;
  DeferredResponse& operator=(const DeferredResponse&) = delete;
  // Answers with 503 if nobody completed it (see above).
  ~DeferredResponse();

  // True if this call completed the request; false if it was already completed.
  bool Complete(HttpResponse response);
  bool completed() const;

 private:
  // The server's side, reached only through internal::DeferredAccess so that handlers cannot
  // attach their own: `deliver` receives the response exactly once, on the thread that completes
  // (at once, on the calling thread, if Complete came first). False, and `deliver` is dropped
  // uncalled, if one was attached already: a handler returned this object for two requests.
  friend struct internal::DeferredAccess;
  bool Attach(std::function<void(HttpResponse)> deliver);

  mutable std::mutex mu_;
  bool completed_ = false;                     // guarded by mu_
  std::optional<HttpResponse> early_;          // guarded by mu_: completed before Attach
  std::function<void(HttpResponse)> deliver_;  // guarded by mu_: attached, not yet completed
  bool attached_ = false;                      // guarded by mu_
};

std::shared_ptr<DeferredResponse> MakeDeferred();

// Percent-decoding for query values ('+' becomes a space); nullopt on a bad escape.
std::optional<std::string> UrlDecode(std::string_view s);
// Percent-encodes everything except the RFC 3986 unreserved characters (ALPHA DIGIT - . _ ~), so
// the result is safe as one path segment or one query value. Space becomes "%20".
std::string UrlEncode(std::string_view s);

}  // namespace certfleet::net
