#include "agent/http01_challenges.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "agent/safe_path.h"
#include "base/encoding.h"
#include "base/validate.h"

namespace certfleet::agent {
namespace {

// Same bounds as the protocol client's (agent_client.cc) and net's responder: the token becomes
// a file name and a map key, so it is checked again here rather than trusted.
constexpr size_t kMaxKeyAuthorizationBytes = 512;

bool IsToken(std::string_view token) {
  return !token.empty() && token.size() <= net::kMaxHttp01TokenLength && IsBase64Url(token);
}

// RFC 8555 section 8.1: keyAuthorization = token || '.' || base64url(Thumbprint(accountKey)).
bool IsKeyAuthorization(std::string_view token, std::string_view ka) {
  return ka.size() <= kMaxKeyAuthorizationBytes && ka.size() > token.size() + 1 &&
         ka.substr(0, token.size()) == token && ka[token.size()] == '.' &&
         IsBase64Url(ka.substr(token.size() + 1));
}

// The challenge directory beneath the webroot's allowed root ("" components never occur: both
// paths were validated by ParseAgentConfig).
Result<UniqueFd> OpenChallengeDir(const Http01Config& c, bool create) {
  CF_ASSIGN_OR_RETURN(std::string rel, RelativeBeneath(c.webroot_root, c.webroot));
  CF_ASSIGN_OR_RETURN(UniqueFd root, OpenRootDir(c.webroot_root));
  std::string dir =
      rel.empty() ? std::string(kHttp01ChallengeDir) : rel + "/" + std::string(kHttp01ChallengeDir);
  OpenBeneathOptions o;
  o.create = create;
  o.create_mode = 0755;
  o.exact_mode = true;  // the web server, another user, must traverse them
  return OpenDirBeneath(root.get(), dir, o);
}

}  // namespace

Result<std::string> ResolveListenHost(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || !res) {
    return InvalidArgument("http01.listen host " + QuoteForMessage(host) +
                           " does not resolve: " + ::gai_strerror(rc));
  }
  char buf[INET6_ADDRSTRLEN] = {};
  const void* addr = nullptr;
  if (res->ai_family == AF_INET) {
    addr = &reinterpret_cast<const sockaddr_in*>(res->ai_addr)->sin_addr;
  } else if (res->ai_family == AF_INET6) {
    addr = &reinterpret_cast<const sockaddr_in6*>(res->ai_addr)->sin6_addr;
  }
  const bool ok = addr && ::inet_ntop(res->ai_family, addr, buf, sizeof buf) != nullptr;
  const int family = res->ai_family;
  ::freeaddrinfo(res);
  if (!ok) {
    return InvalidArgument("http01.listen host " + QuoteForMessage(host) +
                           " resolves to an unsupported address family " + std::to_string(family));
  }
  return std::string(buf);
}

Http01Challenges::~Http01Challenges() { StopListener(); }

Status Http01Challenges::Present(std::string_view identifier_view, std::string_view token,
                                 std::string_view key_authorization) {
  if (!config_) {
    return FailedPrecondition("this agent has no [http01] section in its configuration");
  }
  if (!IsToken(token)) return InvalidArgument("http-01 token is not 1 to 256 base64url characters");
  if (!IsKeyAuthorization(token, key_authorization)) {
    return InvalidArgument("http-01 key authorization is not \"<token>.<thumbprint>\"");
  }
  std::string identifier = net::NormalizeHttp01Host(identifier_view);
  if (!config_->listen.empty() &&
      (identifier.empty() || !ValidateDnsName(identifier, /*allow_wildcard=*/false).ok())) {
    return InvalidArgument(
        "http-01 token comes without a valid identifier; the listener answers only for a named "
        "host");
  }
  if (!config_->webroot.empty()) CF_TRY(WriteWebrootFile(token, key_authorization));
  if (!config_->listen.empty()) {
    Status held = Ok();
    {
      std::lock_guard lock(mu_);
      auto it = tokens_.find(token);
      if (it != tokens_.end()) {
        it->second = Held{identifier, std::string(key_authorization)};
      } else if (tokens_.size() >= kMaxTokens) {
        held =
            TooLarge("the agent already holds " + std::to_string(kMaxTokens) + " http-01 tokens");
      } else {
        tokens_.emplace(std::string(token), Held{identifier, std::string(key_authorization)});
      }
    }
    if (held.ok()) held = StartListener();
    if (!held.ok()) {
      // Undo this token only; others keep being served.
      (void)Remove(token);
      return held;
    }
  }
  return Ok();
}

Status Http01Challenges::Remove(std::string_view token) {
  if (!IsToken(token)) return InvalidArgument("http-01 token is not 1 to 256 base64url characters");
  if (!config_) return Ok();  // nothing can have been presented
  Status removed = Ok();
  if (!config_->webroot.empty()) removed = RemoveWebrootFile(token);
  bool empty = false;
  {
    std::lock_guard lock(mu_);
    auto it = tokens_.find(token);
    if (it != tokens_.end()) tokens_.erase(it);
    empty = tokens_.empty();
  }
  if (empty) StopListener();
  return removed;
}

Status Http01Challenges::WriteWebrootFile(std::string_view token,
                                          std::string_view key_authorization) {
  CF_ASSIGN_OR_RETURN(UniqueFd dir, OpenChallengeDir(*config_, /*create=*/true));
  const std::string name(token);
  // A dot file the web server is unlikely to serve, unique to this process; one left by a crash
  // is replaced.
  const std::string temp = "." + name + ".tmp-" + std::to_string(::getpid());
  ::unlinkat(dir.get(), temp.c_str(), 0);
  int raw =
      ::openat(dir.get(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (raw < 0) return Unavailable(ErrnoMessage("create http-01 file for token " + name, errno));
  UniqueFd fd(raw);
  auto fail = [&](Error e) -> Status {
    ::unlinkat(dir.get(), temp.c_str(), 0);
    return e;
  };
  // The web server (another user) must read it: 0644 whatever the umask.
  if (::fchmod(fd.get(), 0644) != 0) return fail(Unavailable(ErrnoMessage("fchmod", errno)));
  if (Status st = WriteAll(fd.get(), key_authorization, "write http-01 file"); !st.ok()) {
    return fail(std::move(st).error());
  }
  if (::fsync(fd.get()) != 0) return fail(Unavailable(ErrnoMessage("fsync", errno)));
  // rename replaces the final name itself: a symlink planted there is replaced, not followed.
  if (::renameat(dir.get(), temp.c_str(), dir.get(), name.c_str()) != 0) {
    return fail(Unavailable(ErrnoMessage("rename http-01 file for token " + name, errno)));
  }
  return Ok();
}

Status Http01Challenges::RemoveWebrootFile(std::string_view token) {
  Result<UniqueFd> dir = OpenChallengeDir(*config_, /*create=*/false);
  if (!dir.ok()) {
    if (dir.error().code() == ErrorCode::kNotFound) return Ok();  // never created: nothing to do
    return std::move(dir).error();
  }
  const std::string name(token);
  if (::unlinkat(dir->get(), name.c_str(), 0) != 0 && errno != ENOENT) {
    return Unavailable(ErrnoMessage("remove http-01 file for token " + name, errno));
  }
  return Ok();
}

Status Http01Challenges::StartListener() {
  if (responder_) return Ok();
  CF_ASSIGN_OR_RETURN(std::string address, ResolveListenHost(config_->listen_host));
  net::Http01ResponderOptions o;
  o.address = address;
  o.port = config_->listen_port;
  auto responder = net::Http01Responder::Create(
      std::move(o),
      [this](std::string_view host, std::string_view t) -> std::optional<std::string> {
        std::lock_guard lock(mu_);
        auto it = tokens_.find(t);
        // The CA asks for the token under the name it validates; any other Host (another name
        // routed here, a bare IP) gets 404.
        if (it == tokens_.end() || host.empty() || it->second.identifier != host) {
          return std::nullopt;
        }
        return it->second.key_authorization;
      });
  if (!responder.ok()) return std::move(responder).error();
  CF_TRY((*responder)->Start());
  responder_ = std::move(*responder);
  return Ok();
}

void Http01Challenges::StopListener() {
  if (!responder_) return;
  responder_->Stop();
  responder_.reset();
}

std::optional<uint16_t> Http01Challenges::listen_port() const {
  if (!responder_) return std::nullopt;
  return responder_->port();
}

size_t Http01Challenges::held() const {
  std::lock_guard lock(mu_);
  return tokens_.size();
}

}  // namespace certfleet::agent
