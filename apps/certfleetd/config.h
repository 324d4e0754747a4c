// certfleetd configuration: safe defaults, an optional TOML file, then command-line flags, in
// that order of precedence (docs/architecture.md "Config").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "acme/client/exec_solver.h"
#include "base/error.h"
#include "net/address_policy.h"

namespace certfleet::daemon {

inline constexpr int kMaxWorkerThreads = 1024;

struct Config {
  std::string data_dir = "var";
  // The store (issue #15): empty for SQLite in data_dir/certfleet.db; "sqlite:PATH"; or
  // "postgres://USER@HOST:PORT/DB[?sslmode=...]", with no password in it.
  std::string store;
  // The PostgreSQL password, first line of this file (mode 0600). Empty: libpq's PGPASSFILE or
  // ~/.pgpass, or no password (trust, certificates).
  std::string store_password_file;
  std::string listen_address = "127.0.0.1";
  uint16_t listen_port = 8443;
  std::string log_level = "info";
  int pkcs8_iterations = 600000;
  // Request workers. Most of a worker's time in a write is spent waiting for its group commit
  // (docs/design/2026-12-07-group-commit.md), so there are many more than cores.
  int worker_threads = 32;
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
  // Connection limits of the HTTPS listener (issue #13): connections beyond them are closed at
  // accept and counted (certfleet_connections_refused_total).
  size_t max_connections = 4096;
  size_t max_connections_per_address = 256;
  // Replicas behind a load balancer (issue #15): after SIGTERM, how long certfleetd keeps
  // serving while GET /readyz answers 503 and every response closes its connection, so that the
  // balancer takes it out of rotation first ("5s"; longer than the balancer's check interval
  // times its fall count). Empty: stop at once, as a single server may.
  std::string drain_period;
  // Load balancers that send the PROXY protocol (issue #15; HAProxy's send-proxy-v2): connections
  // from these networks must start with a PROXY header, and the client address it carries is the
  // one certfleetd counts, logs and audits. Connections from elsewhere are plain TLS. Default:
  // none (config key trusted_proxies, flag --trusted-proxy CIDR, repeatable).
  std::vector<net::Cidr> trusted_proxies;
  // Names the listener certificate carries besides the --listen address and loopback: the load
  // balancer's DNS name or address that clients dial (issue #15). DNS names (lower-cased) and IP
  // addresses (canonical form). Config key server_names, flag --server-name NAME, repeatable.
  std::vector<std::string> server_names;

  // Server-side settings no API call can change (issue #13; docs/security.md "Server
  // configuration"). File only: they are structured.
  // [exec_solvers.NAME]: the only programs exec solvers may run, with the accounts allowed each.
  acme::ExecPrograms exec_solvers;
  // [[outbound.allow]]: the private, loopback and reserved networks each account's outbound
  // connections (ACME directories, RFC 2136 servers, webhooks) may reach. Default: none.
  std::vector<net::OutboundRule> outbound_allow;

  // The ACME server (issue #16), at /acme/directory on the main listener.
  // Where its validator connects: http-01 and tls-alpn-01 ports (flags --acme-http01-port,
  // --acme-tls-alpn01-port), and the DNS server for dns-01 and CAA, "HOST:PORT"
  // (--acme-resolver; empty: the system's first nameserver).
  uint16_t acme_http01_port = 80;
  uint16_t acme_tls_alpn01_port = 443;
  std::string acme_resolver;
  // [network] allow_private: non-public networks the validator may reach ("127.0.0.0/8" in
  // tests). Default: public addresses only. File only.
  std::vector<net::Cidr> network_allow_private;
  // [acme_server], file only: on by default, with external account binding required.
  struct AcmeServer {
    bool enabled = true;
    bool eab_required = true;
    // Without EAB: the account (name) and principal (name in it) every new ACME account binds
    // to. Required when eab_required is false.
    std::string open_account;
    std::string open_principal;
    // Tests and private networks only: an identifier that a domain claim of the ordering
    // account covers is authorized without a challenge.
    bool authorize_claimed_domains = false;
    // CAA issuer domains naming this CA; empty: CAA is not checked.
    std::vector<std::string> caa_identities;
    // The URL prefix clients reach certfleetd by ("https://certfleet.example.com:8443");
    // empty: from each request's Host.
    std::string base_url;
    // The profile of orders that name none (draft-ietf-acme-profiles); "short-lived" lets
    // clients without profile support order IP identifiers.
    std::string default_profile = "tls-server";
    int64_t orders_per_hour = 300;
    int64_t pending_authorizations = 1000;
    int64_t failed_validations_per_hour = 60;
  } acme_server;
  // [ui]: the web console (issue #17, docs/console.md). `dir` (flag --ui-dir) is the directory
  // of its built assets that /ui/ serves; empty: /ui answers 404. Console sessions end after
  // `session_idle` without use or `session_max` after login.
  struct Ui {
    std::string dir;
    std::string session_idle = "15m";
    std::string session_max = "8h";
  } ui;
};

// Reads the TOML file at `path` over `config`. Unknown keys are errors. The file is refused
// (InvalidArgument) unless it is a regular file owned by root or by certfleetd's effective user
// and not writable by group or others: it decides which programs certfleetd runs and which
// networks it reaches, so whoever can write it owns the server (CheckConfigFilePermissions).
Status LoadConfigFile(const std::string& path, Config& config);
// The ownership and mode rule above, on an open file's status (`euid`: certfleetd's).
Status CheckConfigFilePermissions(const std::string& path, unsigned mode, unsigned uid,
                                  unsigned euid);
// "ADDR:PORT" or "[v6]:PORT".
Status ParseListen(const std::string& text, Config& config);
// One trusted_proxies entry ("10.0.0.0/24", "2001:db8::5"; a bare address is one host), appended
// to config.trusted_proxies. InvalidArgument for anything else, and for host bits set below the
// prefix (net::Cidr::Parse).
Status AddTrustedProxy(const std::string& cidr, Config& config);
// One server_names entry, appended to config.server_names unless already there: a DNS name of
// at least two labels (no wildcard, no trailing dot; lower-cased) or an IPv4/IPv6 address
// (canonical form). InvalidArgument for anything else.
Status AddServerName(const std::string& name, Config& config);

}  // namespace certfleet::daemon
