#include "agent/agent_config.h"

#include <grp.h>
#include <pwd.h>

#include <charconv>

#include <toml++/toml.h>

#include "agent/safe_path.h"
#include "base/files.h"
#include "base/time_util.h"
#include "base/validate.h"

namespace certfleet::agent {

std::string_view InstallerKindName(InstallerKind kind) {
  switch (kind) {
    case InstallerKind::kFiles:
      return "files";
    case InstallerKind::kNginx:
      return "nginx";
    case InstallerKind::kHaproxy:
      return "haproxy";
    case InstallerKind::kPkcs12:
      return "pkcs12";
    case InstallerKind::kExec:
      return "exec";
  }
  return "?";
}

Result<const Profile*> AgentConfig::FindProfile(std::string_view name) const {
  auto it = profiles.find(std::string(name));
  if (it == profiles.end()) return NotFound("no agent profile " + QuoteForMessage(name));
  return &it->second;
}

Result<std::chrono::seconds> ParseDuration(std::string_view field, std::string_view text) {
  // One duration syntax for the whole project (base/time_util.h); reload timeouts are short.
  auto d = certfleet::ParseDuration(text);
  if (!d.ok()) {
    return InvalidArgument(std::string(field) + " must look like \"30s\", \"5m\" or \"1h\"");
  }
  if (*d > std::chrono::hours(1)) {
    return InvalidArgument(std::string(field) + " must be at most 1h");
  }
  return *d;
}

namespace {

Result<InstallerKind> ParseInstallerKind(const std::string& field, std::string_view s) {
  for (InstallerKind k : {InstallerKind::kFiles, InstallerKind::kNginx, InstallerKind::kHaproxy,
                          InstallerKind::kPkcs12, InstallerKind::kExec}) {
    if (s == InstallerKindName(k)) return k;
  }
  return InvalidArgument(field + " must be one of files, nginx, haproxy, pkcs12, exec");
}

Result<std::string> GetString(const toml::node& n, const std::string& field) {
  auto v = n.value<std::string>();
  if (!n.is_string() || !v) return InvalidArgument(field + " must be a string");
  return *v;
}

// Commands are argv lists, never strings: no shell ever sees them.
Result<std::vector<std::string>> GetArgv(const toml::node& n, const std::string& field) {
  const toml::array* arr = n.as_array();
  if (!arr) return InvalidArgument(field + " must be an argv list of strings, not a string");
  std::vector<std::string> out;
  for (const toml::node& e : *arr) {
    if (!e.is_string()) return InvalidArgument(field + " must contain only strings");
    std::string s = *e.value<std::string>();
    if (s.find('\0') != std::string::npos) return InvalidArgument(field + " contains NUL");
    out.push_back(std::move(s));
  }
  if (out.empty()) return InvalidArgument(field + " must not be empty");
  if (out[0].empty() || out[0][0] != '/') {
    return InvalidArgument(field + " program must be an absolute path");
  }
  CF_TRY(ValidateAbsolutePath(field + "[0]", out[0]));
  return out;
}

Result<std::string> RootFor(const std::string& field, const std::string& dir,
                            const std::vector<std::string>& roots) {
  CF_TRY(ValidateAbsolutePath(field, dir));
  for (const std::string& root : roots) {
    if (RelativeBeneath(root, dir).ok()) return root;
  }
  return InvalidArgument(field + " " + QuoteForMessage(dir) + " is not inside any allowed root");
}

Result<Profile> ParseProfile(const std::string& pname, const toml::table& t,
                             const std::vector<std::string>& roots) {
  const std::string pfx = "profiles." + pname + ".";
  CF_TRY(ValidateName("profile name", pname));
  Profile p;
  p.profile_name = pname;
  p.name = pname;
  bool have_installer = false;
  for (const auto& [k, v] : t) {
    const std::string key(k.str());
    const std::string field = pfx + key;
    if (key == "installer") {
      CF_ASSIGN_OR_RETURN(std::string s, GetString(v, field));
      have_installer = true;
      CF_ASSIGN_OR_RETURN(p.installer, ParseInstallerKind(field, s));
    } else if (key == "cert_dir") {
      CF_ASSIGN_OR_RETURN(p.cert_dir, GetString(v, field));
    } else if (key == "key_dir") {
      CF_ASSIGN_OR_RETURN(p.key_dir, GetString(v, field));
    } else if (key == "owner") {
      CF_ASSIGN_OR_RETURN(std::string s, GetString(v, field));
      struct passwd* pw = ::getpwnam(s.c_str());
      if (!pw) return InvalidArgument(field + ": unknown user " + QuoteForMessage(s));
      p.uid = pw->pw_uid;
    } else if (key == "group") {
      CF_ASSIGN_OR_RETURN(std::string s, GetString(v, field));
      struct group* gr = ::getgrnam(s.c_str());
      if (!gr) return InvalidArgument(field + ": unknown group " + QuoteForMessage(s));
      p.gid = gr->gr_gid;
    } else if (key == "key_encrypted") {
      if (!v.is_boolean()) return InvalidArgument(field + " must be a boolean");
      p.key_encrypted = *v.value<bool>();
    } else if (key == "keep_previous") {
      if (!v.is_boolean()) return InvalidArgument(field + " must be a boolean");
      p.keep_previous = *v.value<bool>();
    } else if (key == "reload") {
      CF_ASSIGN_OR_RETURN(p.reload, GetArgv(v, field));
    } else if (key == "test") {
      CF_ASSIGN_OR_RETURN(p.test, GetArgv(v, field));
    } else if (key == "exec") {
      CF_ASSIGN_OR_RETURN(p.exec, GetArgv(v, field));
    } else if (key == "reload_timeout") {
      CF_ASSIGN_OR_RETURN(std::string s, GetString(v, field));
      CF_ASSIGN_OR_RETURN(p.reload_timeout, ParseDuration(field, s));
    } else if (key == "verify_address") {
      CF_ASSIGN_OR_RETURN(p.verify_address, GetString(v, field));
      size_t colon = p.verify_address.rfind(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == p.verify_address.size() ||
          !IsPrintableAscii(p.verify_address)) {
        return InvalidArgument(field + " must be \"host:port\"");
      }
    } else if (key == "verify_sni") {
      CF_ASSIGN_OR_RETURN(p.verify_sni, GetString(v, field));
      CF_TRY(ValidateDnsName(p.verify_sni, /*allow_wildcard=*/false));
    } else if (key == "name") {
      CF_ASSIGN_OR_RETURN(p.name, GetString(v, field));
      CF_TRY(ValidateName(field, p.name));
    } else {
      return InvalidArgument("unknown key " + QuoteForMessage(field));
    }
  }
  if (!have_installer) return InvalidArgument(pfx + "installer is required");
  if (p.cert_dir.empty()) return InvalidArgument(pfx + "cert_dir is required");
  if (p.key_dir.empty()) p.key_dir = p.cert_dir;
  CF_ASSIGN_OR_RETURN(p.cert_root, RootFor(pfx + "cert_dir", p.cert_dir, roots));
  CF_ASSIGN_OR_RETURN(p.key_root, RootFor(pfx + "key_dir", p.key_dir, roots));
  if (p.installer == InstallerKind::kExec && p.exec.empty()) {
    return InvalidArgument(pfx + "exec is required for the exec installer");
  }
  if (p.installer != InstallerKind::kExec && !p.exec.empty()) {
    return InvalidArgument(pfx + "exec is only valid for the exec installer");
  }
  if (!p.verify_sni.empty() && p.verify_address.empty()) {
    return InvalidArgument(pfx + "verify_sni needs verify_address");
  }
  return p;
}

// "host:port": IPv4 or a name before the last colon, or "[IPv6]:port". The host is resolved (or
// refused) when the listener starts; here only its shape is checked.
Status ParseHostPort(const std::string& field, const std::string& text, std::string& host,
                     uint16_t& port) {
  const Error bad = InvalidArgument(field + " must be \"host:port\" with a port 1..65535");
  if (text.empty() || !IsPrintableAscii(text) || text.find(' ') != std::string::npos) return bad;
  size_t colon = std::string::npos;
  if (text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos || close < 2 || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      return bad;
    }
    host = text.substr(1, close - 1);
    if (host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos) return bad;
    colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) return bad;
    host = text.substr(0, colon);
    if (host.find(':') != std::string::npos) return bad;  // IPv6 needs brackets
    if (host.find_first_not_of(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") !=
        std::string::npos) {
      return bad;
    }
  }
  const std::string digits = text.substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || digits.size() > 5 || ec != std::errc() ||
      end != digits.data() + digits.size() || value < 1 || value > 65535) {
    return bad;
  }
  port = static_cast<uint16_t>(value);
  return Ok();
}

Result<Http01Config> ParseHttp01(const toml::table& t, const std::vector<std::string>& roots) {
  Http01Config h;
  for (const auto& [k, v] : t) {
    const std::string key(k.str());
    const std::string field = "http01." + key;
    if (key == "webroot") {
      CF_ASSIGN_OR_RETURN(h.webroot, GetString(v, field));
      if (h.webroot.empty()) return InvalidArgument(field + " must not be empty");
      CF_ASSIGN_OR_RETURN(h.webroot_root, RootFor(field, h.webroot, roots));
    } else if (key == "listen") {
      CF_ASSIGN_OR_RETURN(h.listen, GetString(v, field));
      CF_TRY(ParseHostPort(field, h.listen, h.listen_host, h.listen_port));
    } else {
      return InvalidArgument("unknown key " + QuoteForMessage(field));
    }
  }
  if (h.webroot.empty() && h.listen.empty()) {
    return InvalidArgument("http01 needs webroot, listen or both");
  }
  return h;
}

Result<AgentConfig> ParseTable(const toml::table& root) {
  AgentConfig cfg;
  const toml::table* profiles = nullptr;
  const toml::table* http01 = nullptr;
  for (const auto& [k, v] : root) {
    const std::string key(k.str());
    if (key == "allowed_roots") {
      const toml::array* arr = v.as_array();
      if (!arr) return InvalidArgument("allowed_roots must be a list of absolute paths");
      for (const toml::node& e : *arr) {
        CF_ASSIGN_OR_RETURN(std::string r, GetString(e, "allowed_roots[]"));
        CF_TRY(ValidateAbsolutePath("allowed_roots[]", r));
        cfg.allowed_roots.push_back(std::move(r));
      }
    } else if (key == "profiles") {
      profiles = v.as_table();
      if (!profiles) return InvalidArgument("profiles must be a table");
    } else if (key == "http01") {
      http01 = v.as_table();
      if (!http01) return InvalidArgument("http01 must be a table");
    } else {
      return InvalidArgument("unknown key " + QuoteForMessage(key));
    }
  }
  if (cfg.allowed_roots.empty()) return InvalidArgument("allowed_roots must not be empty");
  if (profiles) {
    for (const auto& [k, v] : *profiles) {
      const std::string name(k.str());
      const toml::table* t = v.as_table();
      if (!t) return InvalidArgument("profiles." + QuoteForMessage(name) + " must be a table");
      CF_ASSIGN_OR_RETURN(Profile p, ParseProfile(name, *t, cfg.allowed_roots));
      cfg.profiles.emplace(name, std::move(p));
    }
  }
  if (http01) {
    CF_ASSIGN_OR_RETURN(Http01Config h, ParseHttp01(*http01, cfg.allowed_roots));
    cfg.http01 = std::move(h);
  }
  return cfg;
}

}  // namespace

Result<AgentConfig> ParseAgentConfig(std::string_view toml_text) {
  try {
    toml::table root = toml::parse(toml_text);
    return ParseTable(root);
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    return InvalidArgument("agent config line " + std::to_string(src.begin.line) + ": " +
                           std::string(e.description()));
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("agent config: ") + e.what());
  }
}

Result<AgentConfig> LoadAgentConfig(const std::string& path) {
  CF_ASSIGN_OR_RETURN(std::string text, ReadFileLimited(path, 1 << 20));
  return ParseAgentConfig(text);
}

}  // namespace certfleet::agent
