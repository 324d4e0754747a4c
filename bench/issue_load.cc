// bench/issue_load: a load generator for certificate issuance over the API (issue #14, item 6).
//
//   issue_load --server URL --ca FILE --token-file FILE --connections N --requests M [options]
//
// Issues M certificates in all through POST /v1/certificates over N concurrent HTTP/1.1
// keep-alive connections over TLS (the server is verified against the CA file; the token is read
// from the file and never printed), each with a unique name and domain. Before the load it
// measures the signing ceiling in-process for about a second and a half, with the loop of
// bench/issue_bench.cc's BM_SignOnly (x509::Lint + Signer::Sign of a P-256 leaf, on one core),
// so the issuance rate can be read as a ratio to the ceiling measured in the same run
// (--no-ceiling skips it).
//
// Prints requests/s, latency percentiles, the responses by status (with the first error body,
// truncated) and, as its LAST line, "<rate> certs/s ..." where rate counts 2xx answers only.
// Exit status: 0 when every request was answered 2xx, 1 when some were not (the figures are
// printed all the same), 2 for bad usage or when the connections cannot be set up.
//
// A benchmark: it prints figures and asserts nothing. docs/PERFORMANCE.md records the runs.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "crypto/key.h"
#include "net/https_client.h"
#include "x509/tbs.h"

namespace certfleet {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using namespace certfleet::bench;  // NOLINT: the shared bench helpers (bench_util.h)
using tcp = asio::ip::tcp;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using Clock = std::chrono::steady_clock;

constexpr auto kUseAwaitable = asio::use_awaitable;
constexpr size_t kMaxErrorBody = 300;
constexpr int kMaxConnections = 1024;

const char kUsage[] =
    "usage: issue_load --server URL --ca FILE --token-file FILE --connections N --requests M\n"
    "                  [--domain-suffix D] [--name-prefix P] [--key-type T] [--profile P]\n"
    "                  [--issuer I] [--validity V] [--threads T] [--timeout-ms MS]\n"
    "                  [--ceiling-seconds S] [--no-ceiling] [--json]\n"
    "Issues M certificates through POST /v1/certificates over N keep-alive TLS connections.\n"
    "  --domain-suffix   names are <name>.<suffix> (default example.test)\n"
    "  --name-prefix     certificate names are <prefix><i> (default load-<random hex>-)\n"
    "  --key-type        default p256; --profile, --issuer, --validity: sent only when given\n"
    "  --threads         client I/O threads (default: the number of cores, at most N)\n"
    "  --timeout-ms      per request, and for connecting (default 60000)\n"
    "  --ceiling-seconds how long to measure the signing ceiling (default 1.5)\n"
    "  --no-ceiling      skip the in-process signing ceiling\n"
    "  --json            also print one JSON line with the figures (before the last line)\n"
    "certfleetd takes at most 256 connections from one address unless started with\n"
    "--max-connections-per-address. The last line is \"<rate> certs/s ...\".\n"
    "Exit 0: every request answered 2xx; 1: some were not; 2: bad usage or setup.\n";

struct Config {
  std::string server;
  std::string ca_file;
  std::string token_file;
  int connections = 0;
  int64_t requests = -1;
  std::string domain_suffix = "example.test";
  std::string name_prefix;
  std::string key_type = "p256";
  std::string profile;
  std::string issuer;
  std::string validity;
  int threads = 0;
  int64_t timeout_ms = 60000;
  double ceiling_seconds = 1.5;
  bool ceiling = true;
  bool json = false;
};

double ParseSeconds(const std::string& flag, const std::string& text) {
  try {
    size_t used = 0;
    double v = std::stod(text, &used);
    if (used == text.size() && v > 0 && v <= 60) return v;
  } catch (const std::exception&) {
  }
  Die(flag + " must be a number of seconds from 0 to 60, not \"" + text + "\"");
}

Config ParseFlags(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (flag == "--no-ceiling") {
      c.ceiling = false;
      continue;
    }
    if (flag == "--json") {
      c.json = true;
      continue;
    }
    std::string value;
    if (auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    } else {
      if (i + 1 >= argc) Die(flag + " needs a value\n" + kUsage);
      value = argv[++i];
    }
    if (flag == "--server") {
      c.server = value;
    } else if (flag == "--ca") {
      c.ca_file = value;
    } else if (flag == "--token-file") {
      c.token_file = value;
    } else if (flag == "--connections") {
      c.connections = ParseNumber<int>(flag, value, 1, kMaxConnections);
    } else if (flag == "--requests") {
      c.requests = ParseNumber<int64_t>(flag, value, 1, 100'000'000);
    } else if (flag == "--domain-suffix") {
      c.domain_suffix = value;
    } else if (flag == "--name-prefix") {
      c.name_prefix = value;
    } else if (flag == "--key-type") {
      c.key_type = value;
    } else if (flag == "--profile") {
      c.profile = value;
    } else if (flag == "--issuer") {
      c.issuer = value;
    } else if (flag == "--validity") {
      c.validity = value;
    } else if (flag == "--threads") {
      c.threads = ParseNumber<int>(flag, value, 1, kMaxConnections);
    } else if (flag == "--timeout-ms") {
      c.timeout_ms = ParseNumber<int64_t>(flag, value, 1, 3'600'000);
    } else if (flag == "--ceiling-seconds") {
      c.ceiling_seconds = ParseSeconds(flag, value);
    } else {
      Die("unknown flag " + flag + "\n" + kUsage);
    }
  }
  if (c.server.empty()) Die(std::string("--server is required\n") + kUsage);
  if (c.ca_file.empty()) Die(std::string("--ca is required\n") + kUsage);
  if (c.token_file.empty()) Die(std::string("--token-file is required\n") + kUsage);
  if (c.connections == 0) Die(std::string("--connections is required\n") + kUsage);
  if (c.requests < 0) Die(std::string("--requests is required\n") + kUsage);
  if (c.name_prefix.empty()) c.name_prefix = "load-" + RandomHex(4) + "-";
  // Names are 1-64 of [A-Za-z0-9._-] (docs/api.md); the server checks, but a run of 2,000
  // identical 400s is a poor way to learn that the prefix is too long.
  if (c.name_prefix.size() + std::to_string(c.requests).size() > 64) {
    Die("--name-prefix is too long: names are at most 64 characters");
  }
  int cores = std::max(1u, std::thread::hardware_concurrency());
  if (c.threads == 0) c.threads = cores;
  c.threads = std::min(c.threads, c.connections);
  return c;
}

// The token file holds one token, as written by certfleetd (admin.token) or `certfleet token
// create --out`; surrounding whitespace is dropped. Its value never reaches an error message.
std::string ReadToken(const std::string& path) {
  std::string t = ReadFile("token file", path);
  auto is_space = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; };
  while (!t.empty() && is_space(t.back())) t.pop_back();
  size_t start = 0;
  while (start < t.size() && is_space(t[start])) ++start;
  t.erase(0, start);
  if (t.empty()) Die("the token file " + path + " is empty");
  for (unsigned char ch : t) {
    if (ch < 0x21 || ch > 0x7e) Die("the token file " + path + " does not hold one token");
  }
  return t;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += static_cast<char>(ch);
    } else if (ch < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out + "\"";
}

// --- the signing ceiling ------------------------------------------------------------------------

struct Ceiling {
  int64_t signatures = 0;
  double seconds = 0;      // wall clock
  double cpu_seconds = 0;  // this thread's CPU time
  // Per CPU-second: the capacity of one core, even while other processes share the machine.
  // Wall-clock per second (BM_SignOnly's certs/s counter) is the same on an idle machine.
  double rate() const { return cpu_seconds > 0 ? signatures / cpu_seconds : 0; }
  double wall_rate() const { return seconds > 0 ? signatures / seconds : 0; }
};

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

Ceiling MeasureSignCeiling(double seconds) {
  // The loop of BM_SignOnly (bench/issue_bench.cc), kept in step with it: a throwaway P-256
  // issuing CA, then lint + sign (+ the signer's parse-back check) of a P-256 leaf with a
  // pre-generated key; no key generation, serial reservation or store write.
  const TimePoint now =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  auto check = [](const auto& r, const char* what) {
    if (!r.ok()) Die(std::string("signing ceiling: ") + what + ": " + r.error().ToString());
  };
  auto key = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  check(key, "leaf key");
  auto ik = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  check(ik, "issuer key");
  auto issuer_key = std::make_shared<const crypto::PrivateKey>(std::move(*ik));
  x509::TbsSpec issuer_spec;
  issuer_spec.serial = std::string(16, '\x11');
  issuer_spec.subject_common_name = "bench issuing CA";
  issuer_spec.not_before = now - std::chrono::hours(1);
  issuer_spec.not_after = now + std::chrono::days(365);
  issuer_spec.subject_public_key_der = issuer_key->public_key().spki_der();
  issuer_spec.is_ca = true;
  issuer_spec.key_usage = {.digital_signature = true, .key_cert_sign = true, .crl_sign = true};
  auto linted_issuer = x509::Lint(issuer_spec, {.require_dns_names = false}, nullptr);
  check(linted_issuer, "issuer lint");
  auto self = x509::Signer::Create(std::nullopt, issuer_key);
  check(self, "issuer signer");
  auto issuer_cert = self->Sign(std::move(*linted_issuer));
  check(issuer_cert, "issuer certificate");
  auto signer = x509::Signer::Create(*issuer_cert, issuer_key);
  check(signer, "signer");

  Ceiling out;
  uint64_t serial = 1;
  const double cpu_start = ThreadCpuSeconds();
  const auto start = Clock::now();
  const auto until =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (;;) {
    // The clock is read once per 64 signatures so that reading it is not part of the figure.
    for (int k = 0; k < 64; ++k) {
      x509::TbsSpec spec;
      spec.serial = std::string(12, '\x22') + std::string(reinterpret_cast<char*>(&serial), 8);
      ++serial;
      spec.subject_common_name = "app.example.test";
      spec.dns_names = {"app.example.test"};
      spec.not_before = now;
      spec.not_after = now + std::chrono::days(90) - std::chrono::seconds(1);
      spec.subject_public_key_der = key->public_key().spki_der();
      spec.key_usage.digital_signature = true;
      spec.extended_key_usage = {x509::ExtendedKeyUsage::kServerAuth};
      auto linted =
          x509::Lint(std::move(spec), {.max_validity = std::chrono::days(200)}, &*issuer_cert);
      check(linted, "leaf lint");
      auto cert = signer->Sign(std::move(*linted));
      check(cert, "leaf signature");
      ++out.signatures;
    }
    const auto t = Clock::now();
    if (t >= until) {
      out.seconds = std::chrono::duration<double>(t - start).count();
      out.cpu_seconds = ThreadCpuSeconds() - cpu_start;
      return out;
    }
  }
}

// --- the load -----------------------------------------------------------------------------------

struct Target {
  net::Url url;
  std::string host_header;
  tcp::resolver::results_type endpoints;
  bool ip_literal = false;
};

// What one connection saw. Each is written by the one thread that runs its coroutine and read
// after every thread has been joined.
struct ConnStats {
  std::vector<double> latencies_ms;  // every answered request, 2xx or not
  std::map<int, int64_t> by_status;
  int64_t transport_errors = 0;
  int64_t handshakes = 0;
  std::optional<Clock::time_point> first_error_at;
  std::string first_error;
};

struct Shared {
  const Config& config;
  const Target& target;
  ssl::context& tls;
  const std::string authorization;  // "Bearer ..."
  std::atomic<int64_t> next{0};
};

std::string Truncate(std::string s) {
  for (char& ch : s) {
    if (ch == '\n' || ch == '\r') ch = ' ';
  }
  if (s.size() > kMaxErrorBody) s = s.substr(0, kMaxErrorBody) + "...";
  return s;
}

void NoteError(ConnStats& st, std::string what) {
  if (st.first_error_at) return;
  st.first_error_at = Clock::now();
  st.first_error = Truncate(std::move(what));
}

std::string DescribeError(const beast::error_code& ec, TlsStream* stream, const char* phase) {
  std::string msg = std::string(phase) + ": " + ec.message();
  if (stream && ec.category() == asio::error::get_ssl_category()) {
    long verify = SSL_get_verify_result(stream->native_handle());
    if (verify != X509_V_OK) {
      msg = std::string(phase) + ": the server's TLS certificate is not accepted: " +
            X509_verify_cert_error_string(verify);
    }
  }
  ERR_clear_error();
  return msg;
}

class Connection {
 public:
  Connection(asio::io_context& io, Shared& shared, ConnStats& stats)
      : io_(io), shared_(shared), stats_(stats) {}

  // Connects and completes the TLS handshake. Empty on success, else what failed.
  asio::awaitable<std::string> Open() {
    stream_.emplace(io_, shared_.tls);
    SSL* ssl = stream_->native_handle();
    const std::string& host = shared_.target.url.host;
    bool ok;
    if (shared_.target.ip_literal) {
      ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
    } else {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok =
          SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
    }
    if (!ok) {
      ERR_clear_error();
      co_return "cannot set up TLS verification for " + host;
    }
    auto& tcp_stream = beast::get_lowest_layer(*stream_);
    tcp_stream.expires_after(Timeout());
    beast::error_code ec;
    co_await tcp_stream.async_connect(shared_.target.endpoints,
                                      asio::redirect_error(kUseAwaitable, ec));
    if (ec) co_return DescribeError(ec, nullptr, "connecting");
    tcp_stream.socket().set_option(tcp::no_delay(true), ec);
    tcp_stream.expires_after(Timeout());
    co_await stream_->async_handshake(ssl::stream_base::client,
                                      asio::redirect_error(kUseAwaitable, ec));
    if (ec) co_return DescribeError(ec, &*stream_, "TLS handshake");
    ++stats_.handshakes;
    buffer_.clear();
    co_return std::string();
  }

  // Takes request numbers until all M are taken. A transport error counts against its request
  // (it is not retried: its name may or may not have been issued) and the next request
  // reconnects; so does a response that closes the connection.
  asio::awaitable<void> Run() {
    for (;;) {
      const int64_t i = shared_.next.fetch_add(1, std::memory_order_relaxed);
      if (i >= shared_.config.requests) break;
      if (!stream_) {
        std::string err = co_await Open();
        if (!err.empty()) {
          stream_.reset();
          ++stats_.transport_errors;
          NoteError(stats_, err);
          continue;
        }
      }
      co_await One(i);
    }
    if (stream_) {
      beast::error_code ec;
      beast::get_lowest_layer(*stream_).socket().close(ec);
    }
  }

 private:
  Clock::duration Timeout() const { return std::chrono::milliseconds(shared_.config.timeout_ms); }

  std::string Body(int64_t i) const {
    const Config& c = shared_.config;
    const std::string name = c.name_prefix + std::to_string(i);
    std::string body = "{\"name\":" + JsonString(name) + ",\"domains\":[" +
                       JsonString(name + "." + c.domain_suffix) +
                       "],\"key_type\":" + JsonString(c.key_type);
    if (!c.profile.empty()) body += ",\"profile\":" + JsonString(c.profile);
    if (!c.issuer.empty()) body += ",\"issuer\":" + JsonString(c.issuer);
    if (!c.validity.empty()) body += ",\"validity\":" + JsonString(c.validity);
    return body + "}";
  }

  asio::awaitable<void> One(int64_t i) {
    http::request<http::string_body> req{http::verb::post, "/v1/certificates", 11};
    req.set(http::field::host, shared_.target.host_header);
    req.set(http::field::user_agent, "certfleet-issue_load");
    req.set(http::field::authorization, shared_.authorization);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::accept, "application/json");
    req.keep_alive(true);
    req.body() = Body(i);
    req.prepare_payload();

    auto& tcp_stream = beast::get_lowest_layer(*stream_);
    beast::error_code ec;
    const auto t0 = Clock::now();
    tcp_stream.expires_after(Timeout());
    co_await http::async_write(*stream_, req, asio::redirect_error(kUseAwaitable, ec));
    if (ec) {
      Fail(DescribeError(ec, &*stream_, "writing a request"));
      co_return;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(4 << 20);
    co_await http::async_read(*stream_, buffer_, parser, asio::redirect_error(kUseAwaitable, ec));
    if (ec) {
      Fail(DescribeError(ec, &*stream_, "reading a response"));
      co_return;
    }
    const auto t1 = Clock::now();
    auto& res = parser.get();
    const int status = static_cast<int>(res.result_int());
    stats_.latencies_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    ++stats_.by_status[status];
    if (status < 200 || status > 299) {
      NoteError(stats_, "HTTP " + std::to_string(status) + ": " + res.body());
    }
    if (!res.keep_alive()) {
      // The server answered and closes (e.g. on shutdown, or after a framing problem).
      tcp_stream.socket().close(ec);
      stream_.reset();
    }
  }

  void Fail(std::string what) {
    ++stats_.transport_errors;
    NoteError(stats_, std::move(what));
    beast::error_code ignored;
    beast::get_lowest_layer(*stream_).socket().close(ignored);
    stream_.reset();
  }

  asio::io_context& io_;
  Shared& shared_;
  ConnStats& stats_;
  std::optional<TlsStream> stream_;
  beast::flat_buffer buffer_;
};

std::string Fixed(double v, int digits = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

Target Resolve(const Config& c) {
  auto url = net::ParseUrl(c.server);
  if (!url.ok()) Die("--server " + c.server + ": " + url.error().message());
  if (url->scheme != "https") Die("--server must be an https:// URL");
  if (url->target != "/") Die("--server must name no path (the API is at /v1/...)");
  Target t;
  t.url = *url;
  beast::error_code ec;
  asio::ip::make_address(t.url.host, ec);
  t.ip_literal = !ec;
  t.host_header = t.url.host.find(':') != std::string::npos ? "[" + t.url.host + "]" : t.url.host;
  if (t.url.port != 443) t.host_header += ":" + std::to_string(t.url.port);
  asio::io_context io;
  tcp::resolver resolver(io);
  t.endpoints = resolver.resolve(t.url.host, std::to_string(t.url.port), ec);
  if (ec) Die("cannot resolve " + t.url.host + ": " + ec.message());
  return t;
}

// Runs one coroutine per connection on `threads` single-threaded io_contexts (connection j on
// context j % threads), so that no connection needs a strand; returns when all have finished.
template <typename Make>
void RunOnThreads(std::vector<std::unique_ptr<asio::io_context>>& ios, int connections, Make make) {
  for (int j = 0; j < connections; ++j) {
    asio::co_spawn(*ios[j % ios.size()], make(j, *ios[j % ios.size()]), asio::detached);
  }
  std::vector<std::thread> threads;
  for (auto& io : ios) {
    threads.emplace_back([&io] {
      io->restart();
      io->run();
    });
  }
  for (auto& t : threads) t.join();
}

int Main(int argc, char** argv) {
  SetProgramName("issue_load");
  const Config config = ParseFlags(argc, argv);
  const std::string ca_pem = ReadFile("CA file", config.ca_file);
  const std::string token = ReadToken(config.token_file);
  const Target target = Resolve(config);

  ssl::context tls(ssl::context::tls_client);
  tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                  ssl::context::no_compression);
  beast::error_code ec;
  tls.add_certificate_authority(asio::buffer(ca_pem), ec);
  if (ec)
    Die("the CA file " + config.ca_file + " holds no usable PEM certificate: " + ec.message());
  tls.set_verify_mode(ssl::verify_peer);
  ERR_clear_error();

  const int cores = std::max(1u, std::thread::hardware_concurrency());
  std::cout << "issue_load: " << config.server << " connections=" << config.connections
            << " requests=" << config.requests << " client_threads=" << config.threads
            << " cores=" << cores << " key_type=" << config.key_type
            << " names=" << config.name_prefix << "<i>." << config.domain_suffix << "\n";

  std::optional<Ceiling> ceiling;
  if (config.ceiling) {
    ceiling = MeasureSignCeiling(config.ceiling_seconds);
    std::cout << "signing ceiling (BM_SignOnly's loop, in-process, one thread): "
              << Fixed(ceiling->rate()) << " signatures per CPU-second, "
              << Fixed(ceiling->wall_rate()) << "/s of wall clock (" << ceiling->signatures
              << " in " << Fixed(ceiling->seconds, 2) << " s, " << Fixed(ceiling->cpu_seconds, 2)
              << " s CPU); " << cores << " cores: " << Fixed(ceiling->rate() * cores) << "/s\n"
              << std::flush;
  }

  Shared shared{.config = config, .target = target, .tls = tls, .authorization = "Bearer " + token};
  std::vector<ConnStats> stats(config.connections);
  std::vector<std::unique_ptr<Connection>> conns;
  std::vector<std::unique_ptr<asio::io_context>> ios;
  for (int t = 0; t < config.threads; ++t) ios.push_back(std::make_unique<asio::io_context>(1));

  // Phase 1: every connection connects and completes its handshake before the clock starts, so
  // the figures are of issuance over warm keep-alive connections.
  std::vector<std::string> open_errors(config.connections);
  for (int j = 0; j < config.connections; ++j) {
    conns.push_back(std::make_unique<Connection>(*ios[j % ios.size()], shared, stats[j]));
  }
  const auto connect_start = Clock::now();
  RunOnThreads(ios, config.connections, [&](int j, asio::io_context&) -> asio::awaitable<void> {
    open_errors[j] = co_await conns[j]->Open();
  });
  const double connect_s = std::chrono::duration<double>(Clock::now() - connect_start).count();
  const auto failed = std::count_if(open_errors.begin(), open_errors.end(),
                                    [](const std::string& e) { return !e.empty(); });
  if (failed > 0) {
    const auto first_failure =
        std::find_if(open_errors.begin(), open_errors.end(), [](auto& e) { return !e.empty(); });
    std::string message = "cannot connect to " + config.server + ": " + *first_failure;
    if (failed < config.connections) {
      // Some connected and the rest were closed: most likely the server's connection limits.
      message += " (" + std::to_string(failed) + " of " + std::to_string(config.connections) +
                 " connections failed; certfleetd closes connections beyond "
                 "--max-connections-per-address, default 256)";
    }
    Die(message);
  }

  // Phase 2: the load.
  const double client_cpu_start = ProcessCpuSeconds();
  const auto start = Clock::now();
  RunOnThreads(ios, config.connections, [&](int j, asio::io_context&) -> asio::awaitable<void> {
    co_await conns[j]->Run();
  });
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  // The client shares the machine with the server when both run on one host: its own CPU time
  // says how much of the machine the figures left to certfleetd.
  const double client_cpu = ProcessCpuSeconds() - client_cpu_start;

  std::vector<double> latencies;
  std::map<int, int64_t> by_status;
  int64_t transport_errors = 0, handshakes = 0;
  const ConnStats* first = nullptr;
  for (const auto& st : stats) {
    latencies.insert(latencies.end(), st.latencies_ms.begin(), st.latencies_ms.end());
    for (const auto& [code, n] : st.by_status) by_status[code] += n;
    transport_errors += st.transport_errors;
    handshakes += st.handshakes;
    if (st.first_error_at && (!first || *st.first_error_at < *first->first_error_at)) first = &st;
  }
  std::sort(latencies.begin(), latencies.end());
  int64_t ok = 0, non2xx = 0;
  for (const auto& [code, n] : by_status) (code >= 200 && code <= 299 ? ok : non2xx) += n;
  const int64_t answered = ok + non2xx;
  const double req_rate = elapsed > 0 ? answered / elapsed : 0;
  const double rate = elapsed > 0 ? ok / elapsed : 0;
  const double p50 = Percentile(latencies, 0.50), p90 = Percentile(latencies, 0.90),
               p99 = Percentile(latencies, 0.99), max = latencies.empty() ? 0 : latencies.back();
  double mean = 0;
  for (double v : latencies) mean += v;
  if (!latencies.empty()) mean /= latencies.size();

  std::string statuses;
  for (const auto& [code, n] : by_status) {
    statuses += (statuses.empty() ? "" : " ") + std::to_string(code) + "=" + std::to_string(n);
  }
  if (statuses.empty()) statuses = "(none)";

  std::cout << "connections: " << config.connections << " opened in " << Fixed(connect_s, 3)
            << " s; " << handshakes - config.connections << " reconnects during the load\n"
            << "load: " << config.requests << " requests in " << Fixed(elapsed, 3)
            << " s: " << Fixed(req_rate) << " requests/s answered, " << Fixed(rate)
            << " certs/s (2xx)\n"
            << "latency ms: p50=" << Fixed(p50, 2) << " p90=" << Fixed(p90, 2)
            << " p99=" << Fixed(p99, 2) << " max=" << Fixed(max, 2) << " mean=" << Fixed(mean, 2)
            << "\n"
            << "responses: 2xx=" << ok << " non-2xx=" << non2xx
            << " transport_errors=" << transport_errors << " by status: " << statuses << "\n"
            << "client CPU: " << Fixed(client_cpu, 2) << " s user+sys during the load ("
            << Fixed(answered > 0 ? 1e6 * client_cpu / answered : 0, 0) << " us per request)\n";
  if (first) std::cout << "first error: " << first->first_error << "\n";
  std::string ratio;
  if (ceiling && ceiling->rate() > 0) {
    const double one = rate / ceiling->rate();
    const double all = rate / (ceiling->rate() * cores);
    std::cout << "ratio to the signing ceiling: " << Fixed(100 * one, 2) << "% of one core's, "
              << Fixed(100 * all, 2) << "% of " << cores
              << " cores' (client and server share this machine)\n";
    ratio =
        " ceiling=" + Fixed(ceiling->rate(), 0) + "/s/core ratio=" + Fixed(100 * one, 2) + "%/core";
  }
  if (config.json) {
    std::cout << "{\"connections\":" << config.connections << ",\"requests\":" << config.requests
              << ",\"seconds\":" << Fixed(elapsed, 4)
              << ",\"requests_per_s\":" << Fixed(req_rate, 2)
              << ",\"certs_per_s\":" << Fixed(rate, 2) << ",\"p50_ms\":" << Fixed(p50, 3)
              << ",\"p90_ms\":" << Fixed(p90, 3) << ",\"p99_ms\":" << Fixed(p99, 3)
              << ",\"max_ms\":" << Fixed(max, 3) << ",\"ok\":" << ok << ",\"non2xx\":" << non2xx
              << ",\"transport_errors\":" << transport_errors
              << ",\"client_cpu_s\":" << Fixed(client_cpu, 3) << ",\"by_status\":{";
    bool comma = false;
    for (const auto& [code, n] : by_status) {
      std::cout << (comma ? "," : "") << "\"" << code << "\":" << n;
      comma = true;
    }
    std::cout << "},\"sign_ceiling_per_core\":"
              << (ceiling ? Fixed(ceiling->rate(), 1) : std::string("null"))
              << ",\"sign_ceiling_wall\":"
              << (ceiling ? Fixed(ceiling->wall_rate(), 1) : std::string("null"))
              << ",\"cores\":" << cores << ",\"first_error\":"
              << (first ? JsonString(first->first_error) : std::string("null")) << "}\n";
  }
  std::cout << Fixed(rate) << " certs/s p50=" << Fixed(p50, 2) << "ms p99=" << Fixed(p99, 2)
            << "ms max=" << Fixed(max, 2) << "ms ok=" << ok << " non2xx=" << non2xx
            << " errors=" << transport_errors << " conns=" << config.connections << ratio
            << std::endl;
  return ok == config.requests ? 0 : 1;
}

}  // namespace
}  // namespace certfleet

int main(int argc, char** argv) { return certfleet::Main(argc, argv); }
