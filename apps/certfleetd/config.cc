#include "config.h"

#include <toml++/toml.h>

#include <charconv>
#include <set>

namespace certfleet::daemon {

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

Status LoadConfigFile(const std::string& path, Config& c) {
  // Debian's toml++ is a shared library built with exceptions; they stop here (CONVENTIONS.md #1).
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return InvalidArgument("config " + path + ": " + std::string(e.description()));
  }
  static const std::set<std::string> kKnown = {"data_dir",
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
                                               "http01_listen"};
  for (const auto& [k, v] : t) {
    if (!kKnown.count(std::string(k.str()))) {
      return InvalidArgument("config " + path + ": unknown key \"" + std::string(k.str()) + "\"");
    }
  }
  if (auto v = t["data_dir"].value<std::string>()) c.data_dir = *v;
  if (auto v = t["listen"].value<std::string>()) CF_TRY(ParseListen(*v, c));
  if (auto v = t["log_level"].value<std::string>()) c.log_level = *v;
  if (auto v = t["pkcs8_iterations"].value<int64_t>()) c.pkcs8_iterations = int(*v);
  if (auto v = t["worker_threads"].value<int64_t>()) c.worker_threads = int(*v);
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
  return Ok();
}

}  // namespace certfleet::daemon
