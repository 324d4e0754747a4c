#include "store/postgres/replicas.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <utility>

#include "base/log.h"

namespace certfleet::store::postgres {
namespace {

// How long the listener waits before reconnecting after losing its connection.
constexpr auto kReconnectPause = std::chrono::milliseconds(500);

std::string Quoted(PGconn* c, const std::string& identifier) {
  char* q = PQescapeIdentifier(c, identifier.data(), identifier.size());
  if (q == nullptr) return {};
  std::string out = q;
  PQfreemem(q);
  return out;
}

}  // namespace

int64_t AdvisoryKey(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return static_cast<int64_t>(h);
}

AdvisoryLeadership::AdvisoryLeadership(ConnectOptions options, std::string name)
    : options_(std::move(options)),
      name_(std::move(name)),
      key_(AdvisoryKey("certfleet.leader:" + options_.schema + ":" + name_)) {}

AdvisoryLeadership::~AdvisoryLeadership() { Release(); }

Result<bool> AdvisoryLeadership::Hold() {
  std::lock_guard lock(mu_);
  if (conn_ && held_) {
    // Still ours only while the session lives.
    if (!conn_->Broken() && conn_->Exec("SELECT 1", "leadership").ok()) return true;
    log::Warn("lost the database session holding a leader lock", {{"lock", name_}});
    conn_.reset();
    held_ = false;
  }
  if (!conn_ || conn_->Broken()) {
    conn_.reset();
    CF_ASSIGN_OR_RETURN(conn_, PgConn::Open(options_));
  }
  CF_ASSIGN_OR_RETURN(auto s, conn_->Prepare("SELECT pg_try_advisory_lock(?1)", "leadership"));
  s.Bind(1, key_);
  auto row = s.Step();
  if (!row.ok()) {
    conn_.reset();
    return std::move(row).error();
  }
  held_ = *row && s.Int(0) == 1;
  if (held_) log::Info("leader lock taken", {{"lock", name_}});
  return held_;
}

void AdvisoryLeadership::Release() {
  std::lock_guard lock(mu_);
  if (conn_ && held_ && !conn_->Broken()) {
    // Closing the session would release it too; unlocking first says so at once.
    const std::string sql = "SELECT pg_advisory_unlock(" + std::to_string(key_) + ")";
    (void)conn_->Exec(sql.c_str(), "leadership");
  }
  held_ = false;
  conn_.reset();
}

Listener::Listener(ConnectOptions options, std::string prefix)
    : options_(std::move(options)), prefix_(std::move(prefix)) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  CF_CHECK(wake_fd_ >= 0);
  thread_ = std::thread([this] { Run(); });
}

Listener::~Listener() {
  stop_ = true;
  const uint64_t one = 1;
  (void)::write(wake_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::close(wake_fd_);
}

Status Listener::Subscribe(const std::string& channel, std::function<void(const std::string&)> fn) {
  if (channel.empty() || channel.size() > 40) {
    return InvalidArgument("postgres: channel names are 1 to 40 characters");
  }
  {
    std::lock_guard lock(mu_);
    subscribers_[ChannelName(channel)].push_back(std::move(fn));
    channels_dirty_ = true;
  }
  const uint64_t one = 1;
  (void)::write(wake_fd_, &one, sizeof one);
  return Ok();
}

bool Listener::Connect() {
  auto conn = PgConn::Open(options_);
  if (!conn.ok()) return false;
  conn_ = std::move(*conn);
  std::set<std::string> channels;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, fns] : subscribers_) channels.insert(name);
    channels_dirty_ = false;
  }
  for (const auto& name : channels) {
    const std::string sql = "LISTEN " + Quoted(conn_->get(), name);
    if (!conn_->Exec(sql.c_str(), "listen").ok()) {
      conn_.reset();
      return false;
    }
  }
  return true;
}

void Listener::Run() {
  bool connected_once = false;
  while (!stop_) {
    bool dirty = false;
    {
      std::lock_guard lock(mu_);
      dirty = channels_dirty_;
    }
    if (!conn_ || conn_->Broken() || dirty) {
      conn_.reset();
      bool want = false;
      {
        std::lock_guard lock(mu_);
        want = !subscribers_.empty();
      }
      if (want && !Connect()) {
        if (connected_once) log::Warn("postgres listener cannot reconnect; retrying");
        pollfd p{.fd = wake_fd_, .events = POLLIN, .revents = 0};
        (void)::poll(&p, 1, static_cast<int>(kReconnectPause.count()));
        uint64_t drained = 0;
        (void)::read(wake_fd_, &drained, sizeof drained);
        continue;
      }
      if (want) connected_once = true;
    }
    pollfd fds[2] = {{.fd = wake_fd_, .events = POLLIN, .revents = 0},
                     {.fd = conn_ ? PQsocket(conn_->get()) : -1, .events = POLLIN, .revents = 0}};
    (void)::poll(fds, conn_ ? 2 : 1, -1);
    if (fds[0].revents & POLLIN) {
      uint64_t drained = 0;
      (void)::read(wake_fd_, &drained, sizeof drained);
    }
    if (!conn_ || !(fds[1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    if (PQconsumeInput(conn_->get()) == 0) {
      conn_.reset();  // lost: reconnect on the next pass
      continue;
    }
    while (PGnotify* n = PQnotifies(conn_->get())) {
      const std::string channel = n->relname;
      const std::string payload = n->extra != nullptr ? n->extra : "";
      PQfreemem(n);
      std::vector<std::function<void(const std::string&)>> fns;
      {
        std::lock_guard lock(mu_);
        auto it = subscribers_.find(channel);
        if (it != subscribers_.end()) fns = it->second;
      }
      for (auto& fn : fns) fn(payload);
    }
  }
  conn_.reset();
}

}  // namespace certfleet::store::postgres
