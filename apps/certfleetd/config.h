// certfleetd configuration: safe defaults, an optional TOML file, then command-line flags, in
// that order of precedence (ARCHITECTURE.md "Config").
#pragma once

#include <cstdint>
#include <string>

#include "base/error.h"

namespace certfleet::daemon {

struct Config {
  std::string data_dir = "var";
  std::string listen_address = "127.0.0.1";
  uint16_t listen_port = 8443;
  std::string log_level = "info";
  int pkcs8_iterations = 600000;
  int worker_threads = 4;
  // Key-encryption key provider: "file" (data_dir/kek.key) or "pkcs11".
  std::string kek_provider = "file";
  std::string pkcs11_module = "/usr/lib/softhsm/libsofthsm2.so";
  std::string pkcs11_token_label;
  std::string pkcs11_key_label = "certfleet-kek";
  std::string pkcs11_pin_file;
  // Agents (issue #4): lifetime of agents' client certificates ("30d").
  std::string agent_cert_validity = "30d";
  // Renewal (issue #5): how often the renewal scheduler looks for due certificates ("1m"; "1s"
  // for tests and demos).
  std::string scheduler_interval = "1m";
  // URL of the internal CA's CRL, written into the certificates it issues. Empty: derived from
  // the listener, https://ADDR:PORT/crl/intermediate.crl (set it when clients reach certfleetd
  // by another name, or through an http:// proxy as BR 7.1.2.11.2 prefers).
  std::string crl_url;
  // An active agent not seen for this long is offline: agent.offline is emitted once, and
  // /metrics stops counting it as online ("5m").
  std::string agent_offline_after = "5m";
  // ACME http-01 (issue #6): "ADDR:PORT" of certfleetd's plain-HTTP challenge listener, which
  // serves /.well-known/acme-challenge/ for the built-in "http01" solver. Empty: off.
  std::string http01_listen;
  // Tests and demos only: a file holding a signed offset in seconds that is added to the system
  // clock, re-read while running, so that tests move time instead of waiting (README, certfleetd).
  // Empty: the system clock.
  std::string test_clock_file;
};

// Reads the TOML file at `path` over `config`. Unknown keys are errors.
Status LoadConfigFile(const std::string& path, Config& config);
// "ADDR:PORT" or "[v6]:PORT".
Status ParseListen(const std::string& text, Config& config);

}  // namespace certfleet::daemon
