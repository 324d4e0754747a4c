// The http-01 responder. It uses Asio for sockets and timers but not Beast: it needs only the
// request line, and Beast translation units are kept to https_server.cc and https_client.cc for
// their compile cost (RECIPES.md). The request head is read whole (bounded), parsed strictly, and
// every connection is answered once and closed, so there is no keep-alive or pipelining state.
// Moved here from acme/http01.cc (issue #6) so that the agent, which may not depend on acme, can
// serve http-01 challenges too.
#include "net/http01_responder.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <exception>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "base/encoding.h"
#include "base/log.h"

namespace certfleet::net {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// After the answer, what the peer still sends is read and dropped (bounded) before closing, so
// that the close does not turn into a RST that destroys the answer in flight (e.g. a 431 sent
// while the oversize head is still arriving).
constexpr size_t kMaxDrainBytes = 1 << 20;
constexpr std::chrono::milliseconds kAcceptBackoff{100};

std::string StatusLine(int status) {
  switch (status) {
    case 200:
      return "200 OK";
    case 400:
      return "400 Bad Request";
    case 404:
      return "404 Not Found";
    case 405:
      return "405 Method Not Allowed";
    case 431:
      return "431 Request Header Fields Too Large";
    default:
      return "500 Internal Server Error";
  }
}

std::string BuildResponse(int status, std::string_view body, bool octet_stream,
                          bool allow_get = false) {
  std::string out = "HTTP/1.1 " + StatusLine(status) + "\r\n";
  out += octet_stream ? "Content-Type: application/octet-stream\r\n"
                      : "Content-Type: text/plain; charset=utf-8\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  if (allow_get) out += "Allow: GET\r\n";
  out += "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
  out += body;
  return out;
}

std::string ErrorResponse(int status) {
  if (status == 405) return BuildResponse(405, "method not allowed\n", false, true);
  std::string body = StatusLine(status).substr(4) + "\n";
  for (char& c : body) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return BuildResponse(status, body, false);
}

// An ACME token (RFC 8555 section 8.3): base64url, and at most 256 characters (more than any CA
// uses; the same bound as acme::IsValidToken, which net may not include).
bool IsValidToken(std::string_view token) {
  return !token.empty() && token.size() <= kMaxHttp01TokenLength && IsBase64Url(token);
}

bool IsTokenChar(char c) {
  // RFC 9110 section 5.6.2 tchar.
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

struct ParsedHead {
  int error_status = 0;  // 0: well formed
  std::string method;
  std::string target;
  std::string host;  // NormalizeHttp01Host of the Host field; empty without one
};

// Parses "METHOD SP request-target SP HTTP/1.x CRLF *(field CRLF) CRLF" (RFC 9112 sections 3
// and 5) strictly: one space between parts, no obs-fold, field names are tokens. A request that
// announces a body is refused: http-01 is a bodiless GET and we never read one.
ParsedHead ParseHead(std::string_view head) {
  ParsedHead out;
  out.error_status = 400;
  size_t eol = head.find("\r\n");
  if (eol == std::string_view::npos) return out;
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return out;
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return out;
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (method.empty() || !std::all_of(method.begin(), method.end(), IsTokenChar)) return out;
  if (target.empty()) return out;
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return out;
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return out;

  std::string_view rest = head.substr(eol + 2);
  while (!rest.empty()) {
    size_t end = rest.find("\r\n");
    if (end == std::string_view::npos) return out;
    std::string_view field = rest.substr(0, end);
    rest = rest.substr(end + 2);
    if (field.empty()) break;  // the blank line that ends the head
    size_t colon = field.find(':');
    if (colon == 0 || colon == std::string_view::npos) return out;
    std::string_view name = field.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), IsTokenChar)) return out;
    std::string_view value = field.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (value.find('\0') != std::string_view::npos) return out;
    if (EqualsIgnoreCase(name, "transfer-encoding")) return out;
    if (EqualsIgnoreCase(name, "content-length") && value != "0") return out;
    if (EqualsIgnoreCase(name, "host")) {
      // RFC 9112 section 3.2: a request with more than one Host field is refused with 400.
      if (!out.host.empty()) return out;
      out.host = NormalizeHttp01Host(value);
      if (out.host.empty()) return out;
    }
  }
  out.error_status = 0;
  out.method = std::string(method);
  out.target = std::string(target);
  return out;
}

}  // namespace

struct Http01Responder::Impl {
  Impl(Http01ResponderOptions o, Lookup l)
      : options(std::move(o)), lookup(std::move(l)), acceptor(io), accept_backoff(io) {}

  class Connection;

  void Accept();
  // The answer (status line, headers, body) for one well-formed or malformed request head.
  std::string Answer(std::string_view head) const;

  Http01ResponderOptions options;
  Lookup lookup;
  asio::io_context io;  // declared before the sockets that use it
  tcp::acceptor acceptor;
  asio::steady_timer accept_backoff;  // after a failed accept (EMFILE, ...): no busy loop
  uint16_t port = 0;
  // Open connections, only touched on the I/O thread (or after it was joined): for the
  // max_connections limit and so that Stop can close them.
  std::vector<std::weak_ptr<Connection>> live;
  std::thread thread;
  bool started = false;
  bool stopped = false;
};

class Http01Responder::Impl::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Impl& owner, tcp::socket socket)
      : owner_(owner), socket_(std::move(socket)), timer_(owner.io) {}

  void Start() {
    // One deadline for the whole connection: closing the socket fails whatever is pending.
    timer_.expires_after(owner_.options.read_timeout);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->Close();
    });
    asio::async_read_until(socket_, asio::dynamic_buffer(head_, owner_.options.max_request_bytes),
                           "\r\n\r\n",
                           [self = shared_from_this()](const boost::system::error_code& ec,
                                                       size_t n) { self->OnHead(ec, n); });
  }

  void Close() {
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

 private:
  void OnHead(const boost::system::error_code& ec, size_t n) {
    if (ec == asio::error::not_found) {  // the head outgrew max_request_bytes
      Respond(ErrorResponse(431));
      return;
    }
    if (ec) {  // peer gone, or the deadline closed the socket
      Close();
      return;
    }
    Respond(owner_.Answer(std::string_view(head_).substr(0, n)));
  }

  void Respond(std::string response) {
    response_ = std::move(response);
    asio::async_write(socket_, asio::buffer(response_),
                      [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                        if (ec) {
                          self->Close();
                          return;
                        }
                        boost::system::error_code ignored;
                        self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
                        self->Drain();
                      });
  }

  void Drain() {
    socket_.async_read_some(
        asio::buffer(drain_buf_),
        [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
          self->drained_ += n;
          if (ec || self->drained_ > kMaxDrainBytes) {
            self->Close();
            return;
          }
          self->Drain();
        });
  }

  Impl& owner_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::string head_;
  std::string response_;
  char drain_buf_[4096];
  size_t drained_ = 0;
};

std::string Http01Responder::Impl::Answer(std::string_view head) const {
  ParsedHead parsed = ParseHead(head);
  if (parsed.error_status != 0) return ErrorResponse(parsed.error_status);
  if (parsed.method != "GET") return ErrorResponse(405);
  std::string_view target = parsed.target;
  if (target.substr(0, kHttp01PathPrefix.size()) != kHttp01PathPrefix) return ErrorResponse(404);
  // A query string or a further path segment makes the token invalid: 404 as for any other path.
  std::string_view token = target.substr(kHttp01PathPrefix.size());
  if (!IsValidToken(token)) return ErrorResponse(404);
  std::optional<std::string> key_authorization;
  try {
    key_authorization = lookup(parsed.host, token);
  } catch (const std::exception& e) {
    log::Error("http-01 lookup threw", {{"error", e.what()}});
    return ErrorResponse(500);
  }
  if (!key_authorization) return ErrorResponse(404);
  return BuildResponse(200, *key_authorization, true);
}

void Http01Responder::Impl::Accept() {
  acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (!ec) {
      std::erase_if(live, [](const std::weak_ptr<Connection>& c) { return c.expired(); });
      if (live.size() >= options.max_connections) {
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        auto connection = std::make_shared<Connection>(*this, std::move(socket));
        live.push_back(connection);
        connection->Start();
      }
    } else {
      log::Warn("http-01 responder accept failed", {{"error", ec.message()}});
      accept_backoff.expires_after(kAcceptBackoff);
      accept_backoff.async_wait([this](const boost::system::error_code& wait_ec) {
        if (!wait_ec && acceptor.is_open()) Accept();
      });
      return;
    }
    Accept();
  });
}

std::string NormalizeHttp01Host(std::string_view host) {
  std::string out(host);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!out.empty() && out.front() == '[') {
    size_t close = out.find(']');
    return close == std::string::npos ? std::string() : out.substr(0, close + 1);
  }
  size_t colon = out.rfind(':');
  if (colon != std::string::npos) out.resize(colon);
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

Http01Responder::Http01Responder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Http01Responder>> Http01Responder::Create(Http01ResponderOptions options,
                                                                 Lookup lookup) {
  if (!lookup) return InvalidArgument("http-01 responder needs a lookup function");
  if (options.max_request_bytes < 256 || options.max_request_bytes > 65536) {
    return InvalidArgument("http-01 responder max_request_bytes must be 256..65536");
  }
  if (options.read_timeout < std::chrono::milliseconds(1) ||
      options.read_timeout > std::chrono::minutes(5)) {
    return InvalidArgument("http-01 responder read_timeout must be 1 ms..5 min");
  }
  if (options.max_connections < 1 || options.max_connections > 65536) {
    return InvalidArgument("http-01 responder max_connections must be 1..65536");
  }
  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(options.address, ec);
  if (ec)
    return InvalidArgument("http-01 responder address is not an IP address: " + options.address);
  auto impl = std::make_unique<Impl>(std::move(options), std::move(lookup));
  tcp::endpoint endpoint(address, impl->options.port);
  const std::string where = impl->options.address + ":" + std::to_string(impl->options.port);
  if (impl->acceptor.open(endpoint.protocol(), ec); ec) {
    return Unavailable("http-01 responder cannot open a socket for " + where + ": " + ec.message());
  }
  impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (impl->acceptor.bind(endpoint, ec); ec) {
    return Unavailable("http-01 responder cannot bind " + where + ": " + ec.message());
  }
  if (impl->acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
    return Unavailable("http-01 responder cannot listen on " + where + ": " + ec.message());
  }
  impl->port = impl->acceptor.local_endpoint(ec).port();
  if (ec) return Unavailable("http-01 responder: " + ec.message());
  return std::unique_ptr<Http01Responder>(new Http01Responder(std::move(impl)));
}

Http01Responder::~Http01Responder() { Stop(); }

Status Http01Responder::Start() {
  if (impl_->started || impl_->stopped) {
    return FailedPrecondition("http-01 responder already started or stopped");
  }
  impl_->Accept();
  try {
    impl_->thread = std::thread([impl = impl_.get()] { impl->io.run(); });
  } catch (const std::system_error& e) {
    return Internal(std::string("http-01 responder cannot start its thread: ") + e.what());
  }
  impl_->started = true;
  return Ok();
}

void Http01Responder::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  // The I/O thread stops between handlers; then, on this thread, the listener and every open
  // connection are closed and the io_context runs once more so the aborted operations complete
  // and release their Connections while the Impl they point to is alive.
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
  impl_->accept_backoff.cancel();
  for (const auto& weak : impl_->live) {
    if (auto connection = weak.lock()) connection->Close();
  }
  impl_->live.clear();
  impl_->io.restart();
  impl_->io.poll();
}

uint16_t Http01Responder::port() const { return impl_->port; }

}  // namespace certfleet::net
