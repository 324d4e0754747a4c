#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <set>

#include "base/time_util.h"
#include "base/validate.h"
#include "ca/profiles.h"

namespace certfleet::daemon {
namespace {
constexpr off_t kMaxConfigBytes = 1 << 20;
}  // namespace

Status ParseListen(const std::string& text, Config& c) {
  std::string host;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return InvalidArgument("--listen must be ADDR:PORT, e.g. 127.0.0.1:8443 or [::1]:8443");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      return InvalidArgument("--listen must be ADDR:PORT, e.g. 127.0.0.1:8443");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || p == 0 || p > 65535) {
    return InvalidArgument("--listen port must be 1 to 65535");
  }
  c.listen_address = host;
  c.listen_port = static_cast<uint16_t>(p);
  return Ok();
}

Status AddTrustedProxy(const std::string& cidr, Config& c) {
  auto network = net::Cidr::Parse(cidr);
  if (!network.ok()) return InvalidArgument("trusted proxy: " + network.error().message());
  c.trusted_proxies.push_back(*network);
  return Ok();
}

Status AddServerName(const std::string& name, Config& c) {
  std::string canonical;
  unsigned char raw[16];
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_pton(AF_INET, name.c_str(), raw) == 1) {
    canonical = inet_ntop(AF_INET, raw, text, sizeof text);
  } else if (inet_pton(AF_INET6, name.c_str(), raw) == 1) {
    canonical = inet_ntop(AF_INET6, raw, text, sizeof text);
  } else {
    // What the CA's lint accepts in a certificate (BR 7.1.2.7.12): a wildcard or a single label
    // ("localhost") would only fail later, when the listener certificate is issued at start.
    Status valid = ValidateDnsName(name, /*allow_wildcard=*/false);
    if (!valid.ok()) {
      return InvalidArgument("server name \"" + name +
                             "\" must be a DNS name of two or more labels or an IP address: " +
                             valid.error().message());
    }
    canonical = name;
    for (char& ch : canonical) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  if (std::find(c.server_names.begin(), c.server_names.end(), canonical) == c.server_names.end()) {
    c.server_names.push_back(std::move(canonical));
  }
  return Ok();
}

Status CheckConfigFilePermissions(const std::string& path, unsigned mode, unsigned uid,
                                  unsigned euid) {
  if (!S_ISREG(mode)) return InvalidArgument("config " + path + " is not a regular file");
  // Whoever can write this file chooses the programs certfleetd runs and the networks it
  // reaches (issue #13): only root or certfleetd's own user may.
  if ((mode & (S_IWGRP | S_IWOTH)) != 0) {
    return InvalidArgument("config " + path +
                           " is writable by group or others; it names the programs certfleetd "
                           "runs, so only its owner may write it (chmod go-w " +
                           path + ")");
  }
  if (uid != 0 && uid != euid) {
    return InvalidArgument("config " + path + " is owned by uid " + std::to_string(uid) +
                           "; it must be owned by root or by the user certfleetd runs as (uid " +
                           std::to_string(euid) + ")");
  }
  return Ok();
}

namespace {

Result<std::string> ReadConfigText(const std::string& path) {
  // Checked and read through one descriptor, so the file judged is the file parsed.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return InvalidArgument("config " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return InvalidArgument("config " + path + ": " + std::strerror(err));
  }
  Status perms = CheckConfigFilePermissions(path, st.st_mode, st.st_uid, ::geteuid());
  if (!perms.ok()) {
    ::close(fd);
    return std::move(perms).error();
  }
  if (st.st_size > kMaxConfigBytes) {
    ::close(fd);
    return InvalidArgument("config " + path + " is larger than 1 MiB");
  }
  std::string text;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return InvalidArgument("config " + path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > static_cast<size_t>(kMaxConfigBytes)) {
      ::close(fd);
      return InvalidArgument("config " + path + " is larger than 1 MiB");
    }
  }
  ::close(fd);
  return text;
}

Status UnknownKeys(const toml::table& t, const std::set<std::string>& known,
                   const std::string& where) {
  for (const auto& [k, v] : t) {
    if (!known.count(std::string(k.str()))) {
      return InvalidArgument(where + ": unknown key \"" + std::string(k.str()) + "\"");
    }
  }
  return Ok();
}

template <typename View>
Result<std::vector<std::string>> StringArray(const View& node, const std::string& where,
                                             bool required) {
  std::vector<std::string> out;
  if (!node) {
    if (required) return InvalidArgument(where + " is required");
    return out;
  }
  const toml::array* a = node.as_array();
  if (a == nullptr) return InvalidArgument(where + " must be an array of strings");
  for (const auto& e : *a) {
    auto v = e.value<std::string>();
    if (!v) return InvalidArgument(where + " must be an array of strings");
    out.push_back(*v);
  }
  return out;
}

template <typename View>
Result<size_t> Count(const View& node, const std::string& key) {
  auto v = node.template value<int64_t>();
  if (!v || *v < 1 || *v > 1000000) {
    return InvalidArgument(key + " must be a number from 1 to 1000000");
  }
  return static_cast<size_t>(*v);
}

Status ParseExecSolvers(const toml::table& t, const std::string& where, Config& c) {
  for (const auto& [k, v] : t) {
    const std::string name(k.str());
    const std::string at = where + ": [exec_solvers." + name + "]";
    CF_TRY(ValidateName("exec solver name", name));
    const toml::table* e = v.as_table();
    if (e == nullptr) return InvalidArgument(at + " must be a table");
    CF_TRY(UnknownKeys(*e, {"program", "args", "timeout", "accounts"}, at));
    const toml::table& et = *e;
    acme::ExecProgram p;
    p.name = name;
    auto program = et["program"].value<std::string>();
    if (!program || program->empty() || program->front() != '/') {
      return InvalidArgument(at + " program must be an absolute path");
    }
    p.program = *program;
    CF_ASSIGN_OR_RETURN(p.args, StringArray(et["args"], at + " args", false));
    if (auto timeout = et["timeout"].value<std::string>()) {
      auto d = ParseDuration(*timeout);
      if (!d.ok()) return InvalidArgument(at + " timeout: " + d.error().message());
      p.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
    } else if (et["timeout"]) {
      return InvalidArgument(at + " timeout must be a duration such as \"60s\"");
    }
    CF_ASSIGN_OR_RETURN(p.accounts, StringArray(et["accounts"], at + " accounts", true));
    if (p.accounts.empty()) {
      return InvalidArgument(at + " accounts must name at least one account (or \"*\")");
    }
    c.exec_solvers[name] = std::move(p);
  }
  return Ok();
}

Status ParseOutbound(const toml::table& t, const std::string& where, Config& c) {
  CF_TRY(UnknownKeys(t, {"allow"}, where + ": [outbound]"));
  if (!t["allow"]) return Ok();
  const toml::array* rules = t["allow"].as_array();
  if (rules == nullptr)
    return InvalidArgument(where + ": outbound.allow must be [[outbound.allow]]");
  for (const auto& r : *rules) {
    const toml::table* rt = r.as_table();
    const std::string at = where + ": [[outbound.allow]]";
    if (rt == nullptr) return InvalidArgument(at + " entries must be tables");
    CF_TRY(UnknownKeys(*rt, {"accounts", "networks"}, at));
    net::OutboundRule rule;
    CF_ASSIGN_OR_RETURN(rule.accounts, StringArray((*rt)["accounts"], at + " accounts", true));
    CF_ASSIGN_OR_RETURN(auto networks, StringArray((*rt)["networks"], at + " networks", true));
    if (rule.accounts.empty() || networks.empty()) {
      return InvalidArgument(at + " needs at least one account and one network");
    }
    for (const std::string& n : networks) {
      auto cidr = net::Cidr::Parse(n);
      if (!cidr.ok()) return InvalidArgument(at + " networks: " + cidr.error().message());
      rule.networks.push_back(*cidr);
    }
    c.outbound_allow.push_back(std::move(rule));
  }
  return Ok();
}

Status ParseNetwork(const toml::table& t, const std::string& where, Config& c) {
  CF_TRY(UnknownKeys(t, {"allow_private"}, where + ": [network]"));
  CF_ASSIGN_OR_RETURN(auto networks,
                      StringArray(t["allow_private"], where + ": network.allow_private", false));
  for (const std::string& n : networks) {
    auto cidr = net::Cidr::Parse(n);
    if (!cidr.ok()) {
      return InvalidArgument(where + ": network.allow_private: " + cidr.error().message());
    }
    c.network_allow_private.push_back(*cidr);
  }
  return Ok();
}

Status ParseUi(const toml::table& t, const std::string& where, Config& c) {
  CF_TRY(UnknownKeys(t, {"dir", "session_idle", "session_max"}, where + ": [ui]"));
  for (auto [key, field] :
       {std::pair{"dir", &c.ui.dir}, std::pair{"session_idle", &c.ui.session_idle},
        std::pair{"session_max", &c.ui.session_max}}) {
    if (!t[key]) continue;
    auto v = t[key].value<std::string>();
    if (!v) return InvalidArgument(where + ": ui." + key + " must be a string");
    *field = *v;
  }
  return Ok();
}

Status ParseAcmeServer(const toml::table& t, const std::string& where, Config& c) {
  const std::string at = where + ": [acme_server]";
  CF_TRY(UnknownKeys(t,
                     {"enabled", "eab_required", "open_account", "open_principal",
                      "authorize_claimed_domains", "caa_identities", "base_url", "orders_per_hour",
                      "pending_authorizations", "failed_validations_per_hour", "default_profile"},
                     at));
  Config::AcmeServer& a = c.acme_server;
  if (auto v = t["enabled"].value<bool>()) a.enabled = *v;
  if (auto v = t["eab_required"].value<bool>()) a.eab_required = *v;
  if (auto v = t["open_account"].value<std::string>()) a.open_account = *v;
  if (auto v = t["open_principal"].value<std::string>()) a.open_principal = *v;
  if (auto v = t["authorize_claimed_domains"].value<bool>()) a.authorize_claimed_domains = *v;
  if (auto v = t["base_url"].value<std::string>()) {
    if (!v->starts_with("https://") || v->back() == '/') {
      return InvalidArgument(at + " base_url must be https://HOST[:PORT] without a trailing /");
    }
    a.base_url = *v;
  }
  if (t["default_profile"]) {
    auto v = t["default_profile"].value<std::string>();
    const std::vector<std::string> listed = ca::ListedProfileNames();
    if (!v || std::find(listed.begin(), listed.end(), *v) == listed.end()) {
      std::string names;
      for (const std::string& n : listed) names += (names.empty() ? "" : ", ") + n;
      return InvalidArgument(at + " default_profile must be one of " + names);
    }
    a.default_profile = *v;
  }
  CF_ASSIGN_OR_RETURN(a.caa_identities, StringArray(t["caa_identities"], at + " caa_identities",
                                                    /*required=*/false));
  for (const char* key :
       {"orders_per_hour", "pending_authorizations", "failed_validations_per_hour"}) {
    if (!t[key]) continue;
    auto v = t[key].value<int64_t>();
    if (!v || *v < 1 || *v > 1'000'000) {
      return InvalidArgument(at + " " + key + " must be an integer from 1 to 1000000");
    }
    if (std::string_view(key) == "orders_per_hour") a.orders_per_hour = *v;
    if (std::string_view(key) == "pending_authorizations") a.pending_authorizations = *v;
    if (std::string_view(key) == "failed_validations_per_hour") {
      a.failed_validations_per_hour = *v;
    }
  }
  if (!a.eab_required && (a.open_account.empty() || a.open_principal.empty())) {
    return InvalidArgument(at + " eab_required = false needs open_account and open_principal");
  }
  return Ok();
}

}  // namespace

Status LoadConfigFile(const std::string& path, Config& c) {
  CF_ASSIGN_OR_RETURN(std::string text, ReadConfigText(path));
  // Debian's toml++ is a shared library built with exceptions; they stop here (CONVENTIONS.md #1).
  toml::table t;
  try {
    t = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return InvalidArgument("config " + path + ": " + std::string(e.description()));
  }
  static const std::set<std::string> kKnown = {"data_dir",
                                               "store",
                                               "store_password_file",
                                               "listen",
                                               "log_level",
                                               "pkcs8_iterations",
                                               "worker_threads",
                                               "kek_provider",
                                               "pkcs11_module",
                                               "pkcs11_token_label",
                                               "pkcs11_key_label",
                                               "pkcs11_pin_file",
                                               "agent_cert_validity",
                                               "scheduler_interval",
                                               "crl_url",
                                               "agent_offline_after",
                                               "http01_listen",
                                               "test_clock_file",
                                               "max_connections",
                                               "max_connections_per_address",
                                               "drain_period",
                                               "trusted_proxies",
                                               "server_names",
                                               "exec_solvers",
                                               "outbound",
                                               "network",
                                               "acme_server",
                                               "ui",
                                               "acme_http01_port",
                                               "acme_tls_alpn01_port",
                                               "acme_resolver"};
  CF_TRY(UnknownKeys(t, kKnown, "config " + path));
  if (auto v = t["data_dir"].value<std::string>()) c.data_dir = *v;
  if (auto v = t["store"].value<std::string>()) c.store = *v;
  if (auto v = t["store_password_file"].value<std::string>()) c.store_password_file = *v;
  if (auto v = t["listen"].value<std::string>()) CF_TRY(ParseListen(*v, c));
  if (auto v = t["log_level"].value<std::string>()) c.log_level = *v;
  if (auto v = t["pkcs8_iterations"].value<int64_t>()) c.pkcs8_iterations = int(*v);
  if (auto v = t["worker_threads"].value<int64_t>()) {
    if (*v < 1 || *v > kMaxWorkerThreads) {
      return InvalidArgument("config " + path + ": worker_threads must be 1 to " +
                             std::to_string(kMaxWorkerThreads));
    }
    c.worker_threads = int(*v);
  }
  if (auto v = t["kek_provider"].value<std::string>()) c.kek_provider = *v;
  if (auto v = t["pkcs11_module"].value<std::string>()) c.pkcs11_module = *v;
  if (auto v = t["pkcs11_token_label"].value<std::string>()) c.pkcs11_token_label = *v;
  if (auto v = t["pkcs11_key_label"].value<std::string>()) c.pkcs11_key_label = *v;
  if (auto v = t["pkcs11_pin_file"].value<std::string>()) c.pkcs11_pin_file = *v;
  if (auto v = t["agent_cert_validity"].value<std::string>()) c.agent_cert_validity = *v;
  if (auto v = t["scheduler_interval"].value<std::string>()) c.scheduler_interval = *v;
  if (auto v = t["crl_url"].value<std::string>()) c.crl_url = *v;
  if (auto v = t["agent_offline_after"].value<std::string>()) c.agent_offline_after = *v;
  if (auto v = t["http01_listen"].value<std::string>()) c.http01_listen = *v;
  if (auto v = t["test_clock_file"].value<std::string>()) c.test_clock_file = *v;
  if (auto v = t["drain_period"].value<std::string>()) c.drain_period = *v;
  if (t["max_connections"]) {
    CF_ASSIGN_OR_RETURN(c.max_connections, Count(t["max_connections"], "max_connections"));
  }
  if (t["max_connections_per_address"]) {
    CF_ASSIGN_OR_RETURN(c.max_connections_per_address,
                        Count(t["max_connections_per_address"], "max_connections_per_address"));
  }
  const std::string where = "config " + path;
  CF_ASSIGN_OR_RETURN(auto proxies, StringArray(t["trusted_proxies"], where + ": trusted_proxies",
                                                /*required=*/false));
  for (const std::string& p : proxies) {
    Status st = AddTrustedProxy(p, c);
    if (!st.ok()) return InvalidArgument(where + ": trusted_proxies: " + st.error().message());
  }
  CF_ASSIGN_OR_RETURN(auto names,
                      StringArray(t["server_names"], where + ": server_names", /*required=*/false));
  for (const std::string& n : names) {
    Status st = AddServerName(n, c);
    if (!st.ok()) return InvalidArgument(where + ": server_names: " + st.error().message());
  }
  if (t["exec_solvers"]) {
    const toml::table* e = t["exec_solvers"].as_table();
    if (e == nullptr) return InvalidArgument("config " + path + ": exec_solvers must be a table");
    CF_TRY(ParseExecSolvers(*e, "config " + path, c));
  }
  if (t["outbound"]) {
    const toml::table* o = t["outbound"].as_table();
    if (o == nullptr) return InvalidArgument("config " + path + ": outbound must be a table");
    CF_TRY(ParseOutbound(*o, "config " + path, c));
  }
  for (const char* key : {"acme_http01_port", "acme_tls_alpn01_port"}) {
    if (!t[key]) continue;
    auto v = t[key].value<int64_t>();
    if (!v || *v < 1 || *v > 65535) {
      return InvalidArgument(where + ": " + key + " must be a port number (1-65535)");
    }
    (std::string_view(key) == "acme_http01_port" ? c.acme_http01_port : c.acme_tls_alpn01_port) =
        static_cast<uint16_t>(*v);
  }
  if (auto v = t["acme_resolver"].value<std::string>()) c.acme_resolver = *v;
  if (t["network"]) {
    const toml::table* n = t["network"].as_table();
    if (n == nullptr) return InvalidArgument(where + ": network must be a table");
    CF_TRY(ParseNetwork(*n, where, c));
  }
  if (t["acme_server"]) {
    const toml::table* a = t["acme_server"].as_table();
    if (a == nullptr) return InvalidArgument(where + ": acme_server must be a table");
    CF_TRY(ParseAcmeServer(*a, where, c));
  }
  if (t["ui"]) {
    const toml::table* u = t["ui"].as_table();
    if (u == nullptr) return InvalidArgument(where + ": ui must be a table");
    CF_TRY(ParseUi(*u, where, c));
  }
  return Ok();
}

}  // namespace certfleet::daemon
