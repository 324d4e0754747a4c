// bench/acme_server_load: a load generator for an RFC 8555 ACME server (issue #16): certfleetd's
// /acme/directory or Pebble's /dir, with the same parameters, so the two compare.
//
//   acme_server_load --directory URL --ca FILE --eab-kid KID --eab-hmac-file FILE
//                    --http01-listen ADDR:PORT --workers N --orders M [options]
//
// One ACME account (P-256, registered with the external account binding given; the HMAC key is
// read from a file and never printed) is made before the clock starts. Then N workers, each on
// its own keep-alive TLS connection (bench/fleet_sim/https_conn.h), run complete orders until M
// are done: newOrder for one fresh name under --domain-suffix -> the authorization -> the http-01
// challenge answered -> the authorization polled every --poll-ms until valid (the server's
// validator fetches the key authorization from this process's own http-01 responder on
// --http01-listen, which must be the port the validator uses; names must resolve to it) ->
// finalize with a CSR (one P-256 certificate key for the run) -> the order polled until valid if
// it is not yet -> the certificate downloaded. badNonce answers are retried with the fresh nonce.
//
// Prints orders/s, order latency (first request to the downloaded certificate) p50/p99/max,
// requests and polls per order and, with --server-pid, the server's CPU per order: utime + stime
// of /proc/<pid>/stat over the timed phase, divided by the orders completed. Also this process's
// own CPU per order (client and responder), since both share the machine. The last line is
// "<rate> orders/s p50=... p99=... server_cpu_ms_per_order=... ok=... failed=...".
// Exit status: 0 when every order completed, 1 when some failed (the figures are printed all the
// same), 2 for bad usage or when the account cannot be set up.
//
// A benchmark: it prints figures and asserts nothing. bench/acme_server_bench.py starts Pebble
// and certfleetd and runs this against each; docs/PERFORMANCE.md records the runs.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "acme/protocol/jws.h"
#include "base/encoding.h"
#include "base/secret_bytes.h"
#include "bench_util.h"
#include "crypto/key.h"
#include "fleet_sim/https_conn.h"
#include "fleet_sim/proc_sampler.h"
#include "net/http01_responder.h"
#include "net/https_client.h"
#include "x509/csr.h"

namespace certfleet::bench {
namespace {

namespace asio = boost::asio;
using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
constexpr auto kAwait = asio::use_awaitable;
constexpr int kMaxWorkers = 1024;
constexpr int kBadNonceRetries = 5;
constexpr size_t kMaxShownBody = 300;

const char kUsage[] =
    "usage: acme_server_load --directory URL --ca FILE --eab-kid KID --eab-hmac-file FILE\n"
    "                        --http01-listen ADDR:PORT --workers N --orders M\n"
    "                        [--server-pid PID] [--label NAME] [--domain-suffix D]\n"
    "                        [--poll-ms MS] [--threads T] [--timeout-ms MS] [--warmup K] [--json]\n"
    "Runs M complete ACME orders (newOrder, http-01, finalize, download) with N concurrent\n"
    "workers, one keep-alive TLS connection each, against the ACME server at URL.\n"
    "  --ca            PEM of the CA that issued the server's TLS certificate\n"
    "  --eab-hmac-file file holding the base64url EAB HMAC key (never printed)\n"
    "  --http01-listen where this process answers http-01 (the validator's port)\n"
    "  --server-pid    the server's pid: its CPU time per order (/proc/PID/stat)\n"
    "  --domain-suffix names are <random>-<worker>-<i>.<suffix> (default example.test)\n"
    "  --poll-ms       pause between polls of an authorization or order (default 10)\n"
    "  --threads       client I/O threads (default 1; the responder has its own)\n"
    "  --timeout-ms    per request (default 30000); an order times out after 10x that\n"
    "  --warmup        orders run (untimed) before the measured ones (default 0)\n"
    "  --stall-seconds stop when no order completes for this long (default 15): the\n"
    "                  figures then cover the run up to the last completed order\n"
    "  --json          also print one JSON line with the figures (before the last line)\n"
    "Exit 0: every order completed; 1: some failed; 2: bad usage or setup.\n";

struct Config {
  std::string directory;
  std::string ca_file;
  std::string eab_kid;
  std::string eab_hmac_file;
  std::string http01_listen;
  int workers = 0;
  int64_t orders = -1;
  int server_pid = 0;
  std::string label = "server";
  std::string domain_suffix = "example.test";
  int64_t poll_ms = 10;
  int threads = 1;
  int64_t timeout_ms = 30000;
  int64_t warmup = 0;
  int64_t stall_seconds = 15;
  bool json = false;
};

Config ParseFlags(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      std::exit(0);
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
    if (flag == "--directory") {
      c.directory = value;
    } else if (flag == "--ca") {
      c.ca_file = value;
    } else if (flag == "--eab-kid") {
      c.eab_kid = value;
    } else if (flag == "--eab-hmac-file") {
      c.eab_hmac_file = value;
    } else if (flag == "--http01-listen") {
      c.http01_listen = value;
    } else if (flag == "--workers") {
      c.workers = ParseNumber<int>(flag, value, 1, kMaxWorkers);
    } else if (flag == "--orders") {
      c.orders = ParseNumber<int64_t>(flag, value, 1, 10'000'000);
    } else if (flag == "--server-pid") {
      c.server_pid = ParseNumber<int>(flag, value, 1, 1 << 30);
    } else if (flag == "--label") {
      c.label = value;
    } else if (flag == "--domain-suffix") {
      c.domain_suffix = value;
    } else if (flag == "--poll-ms") {
      c.poll_ms = ParseNumber<int64_t>(flag, value, 0, 60'000);
    } else if (flag == "--threads") {
      c.threads = ParseNumber<int>(flag, value, 1, 64);
    } else if (flag == "--timeout-ms") {
      c.timeout_ms = ParseNumber<int64_t>(flag, value, 1, 3'600'000);
    } else if (flag == "--stall-seconds") {
      c.stall_seconds = ParseNumber<int64_t>(flag, value, 1, 3600);
    } else if (flag == "--warmup") {
      c.warmup = ParseNumber<int64_t>(flag, value, 0, 1'000'000);
    } else {
      Die("unknown flag " + flag + "\n" + kUsage);
    }
  }
  for (auto [value, name] : {std::pair{&c.directory, "--directory"},
                             {&c.ca_file, "--ca"},
                             {&c.eab_kid, "--eab-kid"},
                             {&c.eab_hmac_file, "--eab-hmac-file"},
                             {&c.http01_listen, "--http01-listen"}}) {
    if (value->empty()) Die(std::string(name) + " is required\n" + kUsage);
  }
  if (c.workers == 0) Die(std::string("--workers is required\n") + kUsage);
  if (c.orders < 0) Die(std::string("--orders is required\n") + kUsage);
  c.threads = std::min(c.threads, c.workers);
  return c;
}

std::string Head(std::string_view body) {
  std::string out(body.substr(0, kMaxShownBody));
  for (char& ch : out) {
    if (ch == '\n' || ch == '\r') ch = ' ';
  }
  return out;
}

// --- the http-01 responder
// ------------------------------------------------------------------------

// Key authorizations by token, each answered only for the name it was registered for (the Host
// of the validator's request). Workers add and remove; the responder's thread looks up.
class Tokens {
 public:
  void Put(const std::string& token, std::string host, std::string key_authorization) {
    std::lock_guard lock(mu_);
    map_[token] = {std::move(host), std::move(key_authorization)};
  }
  void Erase(const std::string& token) {
    std::lock_guard lock(mu_);
    map_.erase(token);
  }
  std::optional<std::string> Find(std::string_view host, std::string_view token) {
    std::lock_guard lock(mu_);
    auto it = map_.find(std::string(token));
    if (it == map_.end() || it->second.first != host) return std::nullopt;
    return it->second.second;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::pair<std::string, std::string>> map_;
};

// --- the ACME side
// ----------------------------------------------------------------------------------

// What every worker shares (read-only once the account exists).
struct Account {
  std::string origin;  // "https://host:port": every URL the server hands out starts with it
  std::string new_nonce, new_account, new_order;
  std::unique_ptr<crypto::PrivateKey> key;
  std::string kid;
  std::string thumbprint;
  std::unique_ptr<crypto::PrivateKey> cert_key;
};

struct OrderCounts {
  int64_t requests = 0;
  int64_t polls = 0;
  int64_t bad_nonces = 0;
};

// One worker's results; merged after the run.
struct WorkerStats {
  std::vector<double> latencies_ms;
  OrderCounts counts;
  int64_t failed = 0;
  std::vector<std::string> errors;  // the first few
};

struct Shared {
  const Config& config;
  Account& account;
  Tokens& tokens;
  std::string run_id;                 // keeps names of runs against one server apart
  std::atomic<int64_t> next{0};       // the next order index to take
  std::atomic<int64_t> completed{0};  // orders completed in this phase
  int64_t total = 0;                  // orders to take in this phase
};

class Worker {
 public:
  Worker(asio::io_context& io, Shared& shared, int id, std::shared_ptr<asio::ssl::context> tls,
         ConnTarget target)
      : shared_(shared),
        id_(id),
        conn_(io.get_executor(), std::move(tls), std::move(target), 1 << 20),
        timer_(io) {}

  uint64_t connects() const { return conn_.connects(); }

  // Opens the connection and takes a first nonce, before the clock starts.
  asio::awaitable<Status> Connect() {
    OrderCounts ignored;
    co_return co_await RefreshNonce(ignored);
  }

  // Takes orders until the phase's total is taken.
  asio::awaitable<void> Run(WorkerStats& stats) {
    for (;;) {
      const int64_t i = shared_.next.fetch_add(1);
      if (i >= shared_.total) co_return;
      const auto start = SteadyClock::now();
      OrderCounts counts;
      Status done = co_await Order(Name(i), counts);
      stats.counts.requests += counts.requests;
      stats.counts.polls += counts.polls;
      stats.counts.bad_nonces += counts.bad_nonces;
      if (done.ok()) {
        stats.latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count());
        ++shared_.completed;
      } else {
        ++stats.failed;
        if (stats.errors.size() < 3) stats.errors.push_back(done.error().ToString());
      }
    }
  }

 private:
  std::string Name(int64_t i) const {
    return shared_.run_id + "-" + std::to_string(id_) + "-" + std::to_string(i) + "." +
           shared_.config.domain_suffix;
  }

  std::chrono::milliseconds RequestTimeout() const {
    return std::chrono::milliseconds(shared_.config.timeout_ms);
  }

  Result<std::string> PathOf(const std::string& url) const {
    const std::string& origin = shared_.account.origin;
    if (url.size() <= origin.size() || url.compare(0, origin.size(), origin) != 0 ||
        url[origin.size()] != '/') {
      return Malformed("the server handed out a URL on another origin: " + Head(url));
    }
    return url.substr(origin.size());
  }

  asio::awaitable<Status> RefreshNonce(OrderCounts& counts) {
    ++counts.requests;
    auto r =
        co_await conn_.Request("HEAD", *PathOf(shared_.account.new_nonce), "", RequestTimeout());
    if (!r.ok()) co_return std::move(r).error();
    nonce_ = r->header("replay-nonce");
    if (nonce_.empty()) co_return Malformed("newNonce answered without a Replay-Nonce");
    co_return Ok();
  }

  // A POST signed with the account key ("kid"); retries badNonce with the answer's nonce.
  asio::awaitable<Result<SimResponse>> Post(const std::string& url, std::string_view payload,
                                            OrderCounts& counts) {
    auto path = PathOf(url);
    if (!path.ok()) co_return std::move(path).error();
    for (int attempt = 0;; ++attempt) {
      if (nonce_.empty()) {
        Status fresh = co_await RefreshNonce(counts);
        if (!fresh.ok()) co_return std::move(fresh).error();
      }
      const Account& a = shared_.account;
      auto jws = acme::SignJws(*a.key, {.kid = a.kid}, nonce_, url, payload);
      if (!jws.ok()) co_return std::move(jws).error();
      nonce_.clear();
      ++counts.requests;
      auto r = co_await conn_.Request("POST", *path, std::move(*jws), RequestTimeout(), nullptr,
                                      "application/jose+json");
      if (!r.ok()) co_return std::move(r).error();
      nonce_ = r->header("replay-nonce");
      if (r->status == 400 &&
          r->body.find("urn:ietf:params:acme:error:badNonce") != std::string::npos) {
        ++counts.bad_nonces;
        if (attempt < kBadNonceRetries) continue;
      }
      co_return std::move(*r);
    }
  }

  // Post, then: the answer must have status `want` and a JSON object body.
  asio::awaitable<Result<json>> PostJson(const std::string& url, std::string_view payload, int want,
                                         std::string_view what, OrderCounts& counts,
                                         std::string* location = nullptr) {
    auto r = co_await Post(url, payload, counts);
    if (!r.ok()) co_return std::move(r).error();
    if (r->status != want) {
      co_return Unavailable(std::string(what) + " answered " + std::to_string(r->status) + ": " +
                            Head(r->body));
    }
    json j = json::parse(r->body, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) co_return Malformed(std::string(what) + ": not a JSON object");
    if (location != nullptr) *location = r->header("location");
    co_return j;
  }

  asio::awaitable<void> Pause() {
    if (shared_.config.poll_ms <= 0) co_return;
    timer_.expires_after(std::chrono::milliseconds(shared_.config.poll_ms));
    boost::system::error_code ignored;
    co_await timer_.async_wait(asio::redirect_error(kAwait, ignored));
  }

  static std::string StatusOf(const json& j) {
    auto it = j.find("status");
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  }

  static std::string StringOf(const json& j, const char* member) {
    auto it = j.find(member);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  }

  // One complete order for `name`.
  asio::awaitable<Status> Order(const std::string& name, OrderCounts& counts) {
    const Account& a = shared_.account;
    const auto deadline = SteadyClock::now() + 10 * RequestTimeout();
    json ids = {{"identifiers", json::array({{{"type", "dns"}, {"value", name}}})}};
    std::string order_url;
    auto order = co_await PostJson(a.new_order, ids.dump(), 201, "newOrder", counts, &order_url);
    if (!order.ok()) co_return std::move(order).error();
    const json& authzs = (*order)["authorizations"];
    const std::string finalize = StringOf(*order, "finalize");
    if (!authzs.is_array() || authzs.size() != 1 || !authzs[0].is_string() || finalize.empty() ||
        order_url.empty()) {
      co_return Malformed("newOrder: no authorization, finalize URL or Location");
    }
    const std::string authz_url = authzs[0].get<std::string>();
    auto authz = co_await PostJson(authz_url, "", 200, "authorization", counts);
    if (!authz.ok()) co_return std::move(authz).error();
    std::string challenge_url, token;
    if (auto it = authz->find("challenges"); it != authz->end() && it->is_array()) {
      for (const json& ch : *it) {
        if (ch.is_object() && StringOf(ch, "type") == "http-01") {
          challenge_url = StringOf(ch, "url");
          token = StringOf(ch, "token");
        }
      }
    }
    if (challenge_url.empty() || !acme::IsValidToken(token)) {
      co_return Malformed("the authorization has no usable http-01 challenge");
    }
    shared_.tokens.Put(token, name, token + "." + a.thumbprint);
    struct Cleanup {
      Tokens& tokens;
      std::string token;
      ~Cleanup() { tokens.Erase(token); }
    } cleanup{shared_.tokens, token};

    auto answered = co_await PostJson(challenge_url, "{}", 200, "challenge", counts);
    if (!answered.ok()) co_return std::move(answered).error();
    for (;;) {
      co_await Pause();
      ++counts.polls;
      authz = co_await PostJson(authz_url, "", 200, "authorization poll", counts);
      if (!authz.ok()) co_return std::move(authz).error();
      const std::string status = StatusOf(*authz);
      if (status == "valid") break;
      if (status != "pending") {
        co_return Unavailable("the authorization is " + status + ": " + Head(authz->dump()));
      }
      if (SteadyClock::now() > deadline)
        co_return Error(ErrorCode::kTimeout, "the authorization stayed pending");
    }

    auto csr = x509::Csr::Build(*a.cert_key, name, {name});
    if (!csr.ok()) co_return std::move(csr).error();
    json body = {{"csr", Base64UrlEncode(csr->der())}};
    auto done = co_await PostJson(finalize, body.dump(), 200, "finalize", counts);
    if (!done.ok()) co_return std::move(done).error();
    while (StatusOf(*done) != "valid") {
      const std::string status = StatusOf(*done);
      if (status != "processing" && status != "ready") {
        co_return Unavailable("the order is " + status + ": " + Head(done->dump()));
      }
      if (SteadyClock::now() > deadline)
        co_return Error(ErrorCode::kTimeout, "the order stayed " + status);
      co_await Pause();
      ++counts.polls;
      done = co_await PostJson(order_url, "", 200, "order poll", counts);
      if (!done.ok()) co_return std::move(done).error();
    }
    const std::string certificate = StringOf(*done, "certificate");
    if (certificate.empty()) co_return Malformed("a valid order without a certificate URL");
    auto chain = co_await Post(certificate, "", counts);
    if (!chain.ok()) co_return std::move(chain).error();
    if (chain->status != 200 || chain->body.rfind("-----BEGIN CERTIFICATE-----", 0) != 0) {
      co_return Unavailable("certificate download answered " + std::to_string(chain->status) +
                            ": " + Head(chain->body));
    }
    co_return Ok();
  }

  Shared& shared_;
  const int id_;
  HttpsConn conn_;
  asio::steady_timer timer_;
  std::string nonce_;
};

// --- set-up
// ------------------------------------------------------------------------------------------

// The directory, then the account (newAccount with EAB), on one connection.
asio::awaitable<Status> SetUp(HttpsConn& conn, const Config& c, const net::Url& url,
                              const SecretBytes& hmac, Account& a) {
  const auto timeout = std::chrono::milliseconds(c.timeout_ms);
  auto dir = co_await conn.Request("GET", url.target, "", timeout);
  if (!dir.ok()) co_return std::move(dir).error();
  json d = json::parse(dir->body, nullptr, false);
  if (dir->status != 200 || !d.is_object()) {
    co_return Unavailable("the directory answered " + std::to_string(dir->status));
  }
  for (auto [out, member] : {std::pair{&a.new_nonce, "newNonce"},
                             {&a.new_account, "newAccount"},
                             {&a.new_order, "newOrder"}}) {
    auto it = d.find(member);
    if (it == d.end() || !it->is_string()) {
      co_return Malformed(std::string("the directory has no ") + member);
    }
    *out = it->get<std::string>();
    if (out->rfind(a.origin + "/", 0) != 0) {
      co_return Malformed(std::string("the directory's ") + member + " is on another origin");
    }
  }
  auto head = co_await conn.Request("HEAD", a.new_nonce.substr(a.origin.size()), "", timeout);
  if (!head.ok()) co_return std::move(head).error();
  const std::string nonce = head->header("replay-nonce");
  auto binding = acme::ExternalAccountBinding(a.key->public_key(), c.eab_kid, hmac, a.new_account);
  if (!binding.ok()) co_return std::move(binding).error();
  json payload = {{"termsOfServiceAgreed", true},
                  {"contact", json::array({"mailto:load@example.test"})},
                  {"externalAccountBinding", json::parse(*binding)}};
  auto jws = acme::SignJws(*a.key, {}, nonce, a.new_account, payload.dump());
  if (!jws.ok()) co_return std::move(jws).error();
  auto r = co_await conn.Request("POST", a.new_account.substr(a.origin.size()), std::move(*jws),
                                 timeout, nullptr, "application/jose+json");
  if (!r.ok()) co_return std::move(r).error();
  if (r->status != 201 && r->status != 200) {
    co_return Unavailable("newAccount answered " + std::to_string(r->status) + ": " +
                          Head(r->body));
  }
  a.kid = r->header("location");
  if (a.kid.empty()) co_return Malformed("newAccount answered without a Location");
  co_return Ok();
}

// Runs every io_context on a thread of its own until it has no work left, then readies it for
// the next phase.
void RunAll(std::vector<std::unique_ptr<asio::io_context>>& contexts) {
  std::vector<std::thread> threads;
  for (auto& io : contexts) threads.emplace_back([&io] { io->run(); });
  for (auto& t : threads) t.join();
  for (auto& io : contexts) io->restart();
}

int Main(int argc, char** argv) {
  SetProgramName("acme_server_load");
  const Config c = ParseFlags(argc, argv);
  auto url = net::ParseUrl(c.directory);
  if (!url.ok() || url->scheme != "https") Die("--directory must be an https:// URL");
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(url->host, ec);
  if (ec) Die("--directory must name the server by IP address (it is not resolved)");
  const bool v6 = url->host.find(':') != std::string::npos;
  const std::string host_port =
      (v6 ? "[" + url->host + "]" : url->host) + ":" + std::to_string(url->port);
  ConnTarget target{.server = asio::ip::tcp::endpoint(ip, url->port),
                    .host = url->host,
                    .host_header = host_port,
                    .source = std::nullopt};
  auto tls = MakeClientTls(ReadFile("CA file", c.ca_file), "", "");
  if (!tls.ok()) Die(tls.error().ToString());

  // The HMAC key: base64url in a file; only its decoded bytes are kept, never printed.
  std::string hmac_text = ReadFile("EAB HMAC key file", c.eab_hmac_file);
  while (!hmac_text.empty() && std::isspace(static_cast<unsigned char>(hmac_text.back()))) {
    hmac_text.pop_back();
  }
  auto hmac_raw = Base64UrlDecode(hmac_text);
  std::fill(hmac_text.begin(), hmac_text.end(), '\0');
  if (!hmac_raw.ok() || hmac_raw->empty()) Die("the EAB HMAC key file holds no base64url key");
  const SecretBytes hmac = SecretBytes::FromView(*hmac_raw);
  std::fill(hmac_raw->begin(), hmac_raw->end(), '\0');

  Account account;
  account.origin = "https://" + host_port;
  auto key = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  auto cert_key = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  if (!key.ok() || !cert_key.ok()) Die("cannot generate P-256 keys");
  account.key = std::make_unique<crypto::PrivateKey>(std::move(*key));
  account.cert_key = std::make_unique<crypto::PrivateKey>(std::move(*cert_key));
  auto thumb = acme::Thumbprint(account.key->public_key());
  if (!thumb.ok()) Die(thumb.error().ToString());
  account.thumbprint = *thumb;

  Tokens tokens;
  auto listen = [&]() -> std::pair<std::string, uint16_t> {
    const size_t colon = c.http01_listen.rfind(':');
    if (colon == std::string::npos) Die("--http01-listen must be ADDR:PORT");
    std::string addr = c.http01_listen.substr(0, colon);
    if (addr.size() > 2 && addr.front() == '[' && addr.back() == ']') {
      addr = addr.substr(1, addr.size() - 2);
    }
    return {addr, ParseNumber<uint16_t>("--http01-listen port", c.http01_listen.substr(colon + 1),
                                        1, 65535)};
  }();
  auto responder = net::Http01Responder::Create(
      {.address = listen.first, .port = listen.second, .max_connections = 4096},
      [&tokens](std::string_view host, std::string_view token) {
        return tokens.Find(host, token);
      });
  if (!responder.ok()) Die("http-01 responder: " + responder.error().ToString());
  if (Status started = (*responder)->Start(); !started.ok()) {
    Die("http-01 responder: " + started.error().ToString());
  }

  std::vector<std::unique_ptr<asio::io_context>> contexts;
  for (int t = 0; t < c.threads; ++t) contexts.push_back(std::make_unique<asio::io_context>(1));
  {
    HttpsConn conn(contexts[0]->get_executor(), *tls, target);
    Status set_up = Error(ErrorCode::kInternal, "not run");
    asio::co_spawn(
        *contexts[0],
        [&]() -> asio::awaitable<void> { set_up = co_await SetUp(conn, c, *url, hmac, account); },
        asio::detached);
    contexts[0]->run();
    contexts[0]->restart();
    if (!set_up.ok()) Die("setting up the account: " + set_up.error().ToString());
  }

  Shared shared{.config = c, .account = account, .tokens = tokens, .run_id = RandomHex(4)};
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<WorkerStats> stats(c.workers);
  for (int w = 0; w < c.workers; ++w) {
    workers.push_back(std::make_unique<Worker>(*contexts[w % c.threads], shared, w, *tls, target));
  }
  // Every connection opened, with a nonce, before the clock starts.
  std::atomic<int> connect_failures{0};
  std::string connect_error;
  std::mutex connect_mu;
  for (int w = 0; w < c.workers; ++w) {
    asio::co_spawn(
        *contexts[w % c.threads],
        [&, w]() -> asio::awaitable<void> {
          Status s = co_await workers[w]->Connect();
          if (!s.ok()) {
            ++connect_failures;
            std::lock_guard lock(connect_mu);
            connect_error = s.error().ToString();
          }
        },
        asio::detached);
  }
  RunAll(contexts);
  if (connect_failures > 0) Die("connecting: " + connect_error);

  auto run_phase = [&](int64_t orders, std::vector<WorkerStats>& into) {
    shared.next = 0;
    shared.completed = 0;
    shared.total = orders;
    for (int w = 0; w < c.workers; ++w) {
      asio::co_spawn(
          *contexts[w % c.threads],
          [&, w]() -> asio::awaitable<void> { co_await workers[w]->Run(into[w]); }, asio::detached);
    }
    RunAll(contexts);
  };
  if (c.warmup > 0) {
    std::vector<WorkerStats> warm(c.workers);
    run_phase(c.warmup, warm);
    shared.run_id = RandomHex(4);
  }

  int64_t rss = 0, ticks_before = 0, ticks_after = 0;
  const bool have_server = c.server_pid > 0 && ReadProc(c.server_pid, &rss, &ticks_before);
  if (c.server_pid > 0 && !have_server) Die("cannot read /proc/" + std::to_string(c.server_pid));
  uint64_t connects_before = 0;
  for (const auto& w : workers) connects_before += w->connects();
  const double load_before = LoadAverage1();
  const double cpu_before = ProcessCpuSeconds();
  const auto start = SteadyClock::now();
  // The watchdog: it notes the time and both CPU counters at each completion it sees (every
  // 100 ms), and stops the run when nothing completes for --stall-seconds (a server that
  // deadlocked, as Pebble 2.4 can under concurrent newOrders): the figures then cover the run up
  // to the last completed order, not the wait.
  struct Progress {
    int64_t completed = 0;
    SteadyClock::time_point at;
    double client_cpu = 0;
    int64_t server_ticks = 0;
    bool server_read = false;
  };
  Progress last{0, start, cpu_before, ticks_before, have_server};
  std::atomic<bool> phase_done{false};
  bool stalled = false;
  std::thread watchdog([&] {
    while (!phase_done) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const auto now = SteadyClock::now();
      const int64_t n = shared.completed;
      if (n != last.completed) {
        last.completed = n;
        last.at = now;
        last.client_cpu = ProcessCpuSeconds();
        last.server_read = have_server && ReadProc(c.server_pid, &rss, &last.server_ticks);
      } else if (now - last.at > std::chrono::seconds(c.stall_seconds) && !phase_done) {
        stalled = true;
        for (auto& io : contexts) io->stop();
        return;
      }
    }
  });
  run_phase(c.orders, stats);
  phase_done = true;
  watchdog.join();
  double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  double client_cpu = ProcessCpuSeconds() - cpu_before;
  bool server_read = have_server && ReadProc(c.server_pid, &rss, &ticks_after);
  if (stalled) {
    seconds = std::chrono::duration<double>(last.at - start).count();
    client_cpu = last.client_cpu - cpu_before;
    server_read = last.server_read;
    ticks_after = last.server_ticks;
  }
  const double load_after = LoadAverage1();
  uint64_t connects = 0;
  for (const auto& w : workers) connects += w->connects();
  connects -= connects_before;
  (*responder)->Stop();

  WorkerStats all;
  for (WorkerStats& s : stats) {
    all.latencies_ms.insert(all.latencies_ms.end(), s.latencies_ms.begin(), s.latencies_ms.end());
    all.counts.requests += s.counts.requests;
    all.counts.polls += s.counts.polls;
    all.counts.bad_nonces += s.counts.bad_nonces;
    all.failed += s.failed;
    for (auto& e : s.errors) {
      if (all.errors.size() < 5) all.errors.push_back(e);
    }
  }
  std::sort(all.latencies_ms.begin(), all.latencies_ms.end());
  const int64_t ok = static_cast<int64_t>(all.latencies_ms.size());
  const double rate = seconds > 0 ? ok / seconds : 0;
  const double attempted = static_cast<double>(std::max<int64_t>(1, ok + all.failed));
  const double ticks_per_s = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double server_cpu = server_read ? (ticks_after - ticks_before) / ticks_per_s : -1;
  const double server_ms = server_read && ok > 0 ? 1000 * server_cpu / ok : -1;
  const double client_ms = ok > 0 ? 1000 * client_cpu / ok : -1;
  const double p50 = Percentile(all.latencies_ms, 0.50), p99 = Percentile(all.latencies_ms, 0.99);
  const double max = all.latencies_ms.empty() ? 0 : all.latencies_ms.back();

  std::printf("acme_server_load %s: %lld orders, %d workers, %d client threads, poll %lld ms\n",
              c.label.c_str(), static_cast<long long>(c.orders), c.workers, c.threads,
              static_cast<long long>(c.poll_ms));
  std::printf("  completed %lld, failed %lld in %.2f s: %.1f orders/s\n",
              static_cast<long long>(ok), static_cast<long long>(all.failed), seconds, rate);
  std::printf("  order latency p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", p50, p99, max);
  std::printf(
      "  per order: %.2f requests, %.2f polls; badNonce retries %lld; %llu TLS "
      "connections opened during the run (besides the %d opened before)\n",
      all.counts.requests / attempted, all.counts.polls / attempted,
      static_cast<long long>(all.counts.bad_nonces), static_cast<unsigned long long>(connects),
      c.workers);
  if (server_read) {
    std::printf("  server pid %d: %.2f s CPU = %.3f ms per order\n", c.server_pid, server_cpu,
                server_ms);
  }
  std::printf("  this process (client + responder): %.2f s CPU = %.3f ms per order\n", client_cpu,
              client_ms);
  std::printf("  load average %.2f -> %.2f\n", load_before, load_after);
  if (stalled) {
    std::printf(
        "  STALLED: no order completed for %lld s after %lld (%lld in flight); the figures above "
        "cover the run up to the last completed order\n",
        static_cast<long long>(c.stall_seconds), static_cast<long long>(ok),
        static_cast<long long>(std::min<int64_t>(shared.next, c.orders) - ok - all.failed));
  }
  for (const std::string& e : all.errors) std::printf("  error: %s\n", Head(e).c_str());
  if (c.json) {
    json j = {{"label", c.label},
              {"orders", c.orders},
              {"workers", c.workers},
              {"threads", c.threads},
              {"poll_ms", c.poll_ms},
              {"ok", ok},
              {"failed", all.failed},
              {"seconds", seconds},
              {"orders_per_s", rate},
              {"p50_ms", p50},
              {"p99_ms", p99},
              {"max_ms", max},
              {"requests_per_order", all.counts.requests / attempted},
              {"polls_per_order", all.counts.polls / attempted},
              {"bad_nonces", all.counts.bad_nonces},
              {"stalled", stalled},
              {"reconnects", connects},
              {"server_cpu_s", server_cpu},
              {"server_cpu_ms_per_order", server_ms},
              {"client_cpu_ms_per_order", client_ms},
              {"load_before", load_before},
              {"load_after", load_after}};
    std::printf("%s\n", j.dump().c_str());
  }
  std::printf(
      "%.1f orders/s p50=%.1fms p99=%.1fms server_cpu_ms_per_order=%.3f ok=%lld failed=%lld\n",
      rate, p50, p99, server_ms, static_cast<long long>(ok), static_cast<long long>(all.failed));
  std::fflush(stdout);
  // After a stall the workers' coroutines are still suspended in the stopped io_contexts, on
  // connections the destructors would close under them: leave without running destructors.
  if (stalled) std::_Exit(1);
  return all.failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace certfleet::bench

int main(int argc, char** argv) { return certfleet::bench::Main(argc, argv); }
