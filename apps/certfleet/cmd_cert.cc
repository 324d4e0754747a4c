// certfleet cert {request,list,show,export,renew,revoke}: the certificate commands (docs/api.md,
// "Certificates"). The command and flag names are a pinned public surface.
#include <sys/stat.h>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "acme_views.h"
#include "api_client.h"
#include "args.h"
#include "base/time_util.h"
#include "cli.h"
#include "files.h"
#include "output.h"
#include "paging.h"
#include "query.h"

namespace certfleet::cli {
namespace {

// A passphrase file is one short line; anything bigger is the wrong file.
constexpr size_t kMaxPassphraseFileBytes = 4096;

struct RequestArgs {
  std::string name;
  std::vector<std::string> domains;
  std::string key_type;
  std::string profile;
  bool exportable = false;
  std::vector<std::string> tags;
  std::string validity;
  std::string renew_before;
  std::string issuer;
  bool wait = false;
  std::string wait_timeout = "10m";
};

// `--wait` polls once a second: issuance through ACME takes seconds to minutes, and one GET per
// second is nothing for the server.
constexpr std::chrono::seconds kWaitPollInterval{1};

struct RenewArgs {
  std::string id;
  bool reuse_key = false;
};

struct RevokeArgs {
  std::string id;
  std::string reason = "unspecified";
};

struct ExportArgs {
  std::string id;
  std::string out_dir;
  std::string passphrase_file;
};

// `cert show` lines: label, then the API field (docs/api.md, certificate object).
constexpr std::pair<const char*, const char*> kCertificateFields[] = {
    {"id", "id"},
    {"crn", "crn"},
    {"name", "name"},
    {"domains", "domains"},
    {"key type", "key_type"},
    {"profile", "profile"},
    {"issuer", "issuer"},
    {"exportable", "exportable"},
    {"tags", "tags"},
    {"status", "status"},
    {"status detail", "status_detail"},
    {"version", "version"},
    {"version id", "version_id"},
    {"serial", "serial"},
    {"not before", "not_before"},
    {"not after", "not_after"},
    {"fingerprint", "fingerprint"},
    {"created at", "created_at"},
    {"updated at", "updated_at"},
};

void PrintCertificate(std::ostream& out, const nlohmann::json& c) {
  std::vector<std::pair<std::string, std::string>> lines;
  for (const auto& [label, key] : kCertificateFields) lines.emplace_back(label, Field(c, key));
  PrintKeyValues(out, lines);
}

// Polls GET /v1/certificates/{id} until the certificate is no longer pending or `timeout` has
// passed, leaving the last answer in `cert`; a poll that fails for a transient reason
// (Unavailable, Timeout, RateLimited: e.g. certfleetd restarting) is retried until then. Ok() once
// issued; FailedPrecondition with the server's status_detail if issuance failed; Timeout if it is
// still pending at the deadline.
Status WaitForIssuance(ApiClient& api, nlohmann::json& cert, std::chrono::seconds timeout) {
  const std::string id = cert.is_object() ? cert.value("id", "") : "";
  if (id.empty()) return Malformed("the server's certificate has no \"id\"");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    CF_ASSIGN_OR_RETURN(IssuanceState state, IssuanceStateOf(cert));
    if (state == IssuanceState::kDone) return Ok();
    if (state == IssuanceState::kFailed) {
      return FailedPrecondition("issuance of " + SanitizeForTerminal(id) +
                                " failed: " + Field(cert, "status_detail"));
    }
    if (std::chrono::steady_clock::now() + kWaitPollInterval > deadline) {
      return Error(ErrorCode::kTimeout, "certificate " + SanitizeForTerminal(id) +
                                            " is still pending after " + FormatDuration(timeout) +
                                            " (see: certfleet cert show " +
                                            SanitizeForTerminal(id) + ")");
    }
    std::this_thread::sleep_for(kWaitPollInterval);
    auto fresh = api.Get("/v1/certificates/" + PathSegment(id));
    if (fresh.ok()) {
      cert = std::move(*fresh);
      continue;
    }
    // A server restarting or a proxy hiccup is not the issuance's outcome: keep polling until
    // the deadline. Anything else (401, 404, ...) ends the wait.
    const ErrorCode code = fresh.error().code();
    if (code != ErrorCode::kUnavailable && code != ErrorCode::kTimeout &&
        code != ErrorCode::kRateLimited) {
      return std::move(fresh).error();
    }
    std::cerr << "certfleet: " << fresh.error().message() << "; still waiting\n";
  }
}

Status RunRequest(const GlobalOptions& global, const RequestArgs& args) {
  nlohmann::json body = {
      {"name", args.name}, {"domains", args.domains}, {"exportable", args.exportable}};
  if (!args.key_type.empty()) body["key_type"] = args.key_type;
  if (!args.profile.empty()) body["profile"] = args.profile;
  if (!args.tags.empty()) {
    CF_ASSIGN_OR_RETURN(auto tags, ParseTags(args.tags));  // already checked while parsing
    body["tags"] = tags;
  }
  if (!args.validity.empty()) body["validity"] = args.validity;
  if (!args.renew_before.empty()) body["renew_before"] = args.renew_before;
  if (!args.issuer.empty()) body["issuer"] = args.issuer;
  // Checked while parsing; parsed before the POST so a bad value cannot follow a request.
  CF_ASSIGN_OR_RETURN(std::chrono::seconds wait_timeout, ParseDuration(args.wait_timeout));

  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto cert, api->Post("/v1/certificates", body));
  Status outcome = Ok();
  if (args.wait) outcome = WaitForIssuance(*api, cert, wait_timeout);
  if (global.json) {
    PrintJson(std::cout, cert);
  } else {
    PrintCertificate(std::cout, cert);
  }
  return outcome;
}

struct ListArgs {
  PageArgs page;
  bool csv = false;
  std::string status;
  std::vector<std::string> tags;
  std::string domain;
  std::string issuer;
  std::string expires_before;
  std::string expires_after;
  std::string account;
  std::string sort;
};

// GET /v1/certificates pages with an opaque cursor (paging.h); --csv asks the server for the
// whole filtered inventory at once.
Status RunList(const GlobalOptions& global, const ListArgs& args) {
  QueryString filters;
  filters.Add("status", args.status)
      .Add("domain", args.domain)
      .Add("issuer", args.issuer)
      .Add("expires_before", args.expires_before)
      .Add("expires_after", args.expires_after)
      .Add("account", args.account)
      .Add("sort", args.sort);
  AddTagFilters(filters, args.tags);
  if (args.csv) {
    // The server exports the whole filtered inventory itself (or refuses past its bound).
    filters.Add("format", "csv");
    CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
    CF_ASSIGN_OR_RETURN(std::string csv,
                        api->GetText(filters.Append("/v1/certificates"), "text/csv"));
    std::cout << csv;
    return Ok();
  }
  return RunListing(global, "/v1/certificates", filters, args.page, "certificates",
                    [](const nlohmann::json& items) {
                      Table table({"ID", "NAME", "STATUS", "PROFILE", "KEY", "SERIAL", "NOT AFTER",
                                   "EXPORTABLE"});
                      for (const auto& c : items) {
                        table.AddRow({Field(c, "id"), Field(c, "name"), Field(c, "status"),
                                      Field(c, "profile"), Field(c, "key_type"), Field(c, "serial"),
                                      Field(c, "not_after"), Field(c, "exportable")});
                      }
                      table.Print(std::cout);
                    });
}

Status RunShow(const GlobalOptions& global, const std::string& id) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto cert, api->Get("/v1/certificates/" + PathSegment(id)));
  if (global.json) {
    PrintJson(std::cout, cert);
  } else {
    PrintCertificate(std::cout, cert);
  }
  return Ok();
}

Status RunRenew(const GlobalOptions& global, const RenewArgs& args) {
  nlohmann::json body = nlohmann::json::object();
  if (args.reuse_key) body["reuse_key"] = true;
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto cert,
                      api->Post("/v1/certificates/" + PathSegment(args.id) + "/renew", body));
  if (global.json) {
    PrintJson(std::cout, cert);
  } else {
    PrintCertificate(std::cout, cert);
  }
  return Ok();
}

Status RunRevoke(const GlobalOptions& global, const RevokeArgs& args) {
  nlohmann::json body = {{"reason", args.reason}};
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(auto cert,
                      api->Post("/v1/certificates/" + PathSegment(args.id) + "/revoke", body));
  if (global.json) {
    PrintJson(std::cout, cert);
    return Ok();
  }
  PrintCertificate(std::cout, cert);
  auto revoked = cert.find("revoked_versions");
  if (revoked != cert.end() && revoked->is_array() && !revoked->empty()) {
    Table table({"VERSION", "SERIAL", "REASON", "REVOKED AT"});
    for (const auto& r : *revoked) {
      table.AddRow(
          {Field(r, "version_id"), Field(r, "serial"), Field(r, "reason"), Field(r, "revoked_at")});
    }
    table.Print(std::cout);
  }
  return Ok();
}

// The PEM members of an export response, checked before anything is written.
Result<std::string> PemMember(const nlohmann::json& response, const char* key) {
  auto it = response.find(key);
  if (it == response.end() || !it->is_string() || it->get<std::string>().empty()) {
    return Malformed(std::string("the export response has no \"") + key + "\"");
  }
  return it->get<std::string>();
}

Status RunExport(const GlobalOptions& global, const ExportArgs& args) {
  // Read local inputs first: a typo in a path should not cost an export (exports are audited).
  SecretBytes body = SecretBytes::FromView("{}");
  if (!args.passphrase_file.empty()) {
    auto content = ReadSmallSecretFile(args.passphrase_file, kMaxPassphraseFileBytes);
    if (!content.ok()) {
      return Error(content.error().code(),
                   "cannot read --passphrase-file: " + content.error().message());
    }
    auto passphrase = PassphraseFromFile(std::move(content).value());
    if (!passphrase.ok()) {
      return InvalidArgument(args.passphrase_file + ": " + passphrase.error().message());
    }
    body = ExportBodyWithPassphrase(*passphrase);
  }

  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(
      auto response, api->PostSecret("/v1/certificates/" + PathSegment(args.id) + "/export", body));
  if (!response.is_object()) return Malformed("the export response is not a JSON object");
  CF_ASSIGN_OR_RETURN(std::string leaf, PemMember(response, "certificate_pem"));
  CF_ASSIGN_OR_RETURN(std::string chain, PemMember(response, "chain_pem"));
  CF_ASSIGN_OR_RETURN(std::string fullchain, PemMember(response, "fullchain_pem"));
  CF_ASSIGN_OR_RETURN(std::string key, PemMember(response, "private_key_pem"));
  // Defense in depth: never put a plaintext key on disk, whatever the server sent.
  if (key.rfind("-----BEGIN ENCRYPTED PRIVATE KEY-----", 0) != 0) {
    return Malformed("the server returned a private key that is not encrypted PKCS#8; not written");
  }

  CF_TRY(EnsureDirectory(args.out_dir));
  // The key first, so a failure half-way never leaves new certificates beside an old key
  // unnoticed: the command fails and says which file it could not write.
  struct Output {
    const char* name;
    const std::string& data;
    mode_t mode;
    const char* what;
  };
  const Output outputs[] = {
      {"key.pem", key, 0600, "private key (encrypted PKCS#8)"},
      {"cert.pem", leaf, 0644, "certificate"},
      {"chain.pem", chain, 0644, "issuing chain"},
      {"fullchain.pem", fullchain, 0644, "certificate and chain"},
  };
  for (const Output& o : outputs) CF_TRY(WriteFileAtomic(args.out_dir, o.name, o.data, o.mode));

  const nlohmann::json secret_id = response.value("passphrase_secret_id", nlohmann::json());
  if (global.json) {
    // The API's JSON without the PEM bodies (they are in the files), plus where they went.
    nlohmann::json summary = response;
    for (const char* k : {"certificate_pem", "chain_pem", "fullchain_pem", "private_key_pem"}) {
      summary.erase(k);
    }
    summary["files"] = nlohmann::json::object();
    for (const Output& o : outputs) summary["files"][o.name] = args.out_dir + "/" + o.name;
    PrintJson(std::cout, summary);
    return Ok();
  }
  std::cout << "exported " << Field(response, "certificate_id") << " version "
            << Field(response, "version") << " (serial " << Field(response, "serial") << ")\n";
  Table files({"FILE", "CONTENT"});
  for (const Output& o : outputs) files.AddRow({args.out_dir + "/" + o.name, o.what});
  files.Print(std::cout);
  if (secret_id.is_string()) {
    std::cout << "the key passphrase was generated by certfleet and stored as secret "
              << Cell(secret_id) << '\n';
  }
  return Ok();
}

}  // namespace

void RegisterCertCommands(CLI::App& root, CommandContext& ctx) {
  CLI::App* cert = root.add_subcommand("cert", "Request, inspect and export certificates");
  cert->require_subcommand(1);

  auto request_args = std::make_shared<RequestArgs>();
  CLI::App* request = cert->add_subcommand("request", "Request a new certificate");
  request->add_option("--name", request_args->name, "Certificate name, unique per account")
      ->required();
  request->add_option("--domain", request_args->domains, "DNS name (repeatable; first is the CN)")
      ->required()
      ->allow_extra_args(false);
  request->add_option("--key-type", request_args->key_type, "Key type (default p256)")
      ->check(CLI::IsMember({"p256", "p384", "rsa2048", "rsa3072", "rsa4096", "ed25519"}));
  request->add_option("--profile", request_args->profile, "Profile (default tls-server)")
      ->check(CLI::IsMember({"tls-server", "tls-client", "short-lived"}));
  request->add_flag("--exportable", request_args->exportable,
                    "Allow exporting the private key (fixed forever at request time)");
  request->add_option("--tag", request_args->tags, "Tag KEY=VALUE (repeatable)")
      ->allow_extra_args(false)
      ->check(CLI::Validator(CheckTagSpec, "KEY=VALUE"));
  request
      ->add_option("--validity", request_args->validity,
                   "Validity such as 90d, 12h, 1h30m (capped by the profile)")
      ->check(CLI::Validator(CheckDurationSpec, "DURATION"));
  request
      ->add_option("--renew-before", request_args->renew_before,
                   "Renew this long before expiry, such as 30d or 1h (default: when a third of "
                   "the lifetime remains, half for lifetimes up to 10 days)")
      ->check(CLI::Validator(CheckDurationSpec, "DURATION"));
  request->add_option("--issuer", request_args->issuer,
                      "Issuer: \"internal\" (default) or an ACME issuer of the account "
                      "(certfleet issuer list)");
  request->add_flag("--wait", request_args->wait,
                    "Wait until the certificate is issued or failed (ACME issuers issue in the "
                    "background); exit status 1 if it failed or is still pending at the timeout");
  request
      ->add_option("--wait-timeout", request_args->wait_timeout,
                   "How long --wait waits, such as 10m or 1h")
      ->capture_default_str()
      ->check(CLI::Validator(CheckDurationSpec, "DURATION"));
  request->callback([&ctx, request_args] {
    // Each --tag is checked on its own above; duplicates need the whole list.
    if (auto tags = ParseTags(request_args->tags); !tags.ok()) {
      throw CLI::ValidationError("--tag", tags.error().message());
    }
    ctx.action = [request_args](const GlobalOptions& g) { return RunRequest(g, *request_args); };
  });

  auto list_args = std::make_shared<ListArgs>();
  CLI::App* list = cert->add_subcommand(
      "list",
      "List certificates: all of them, page by page, unless --limit asks for one page (then a "
      "notice on stderr says how to get the rest)");
  AddPageOptions(*list, list_args->page, "certificates");
  list->add_flag("--csv", list_args->csv,
                 "Print the filtered inventory as CSV (RFC 4180; no PEM, no keys)");
  list->add_option("--status", list_args->status, "Only this status")
      ->check(CLI::IsMember({"pending", "issued", "failed", "revoked", "expired"}));
  list->add_option("--tag", list_args->tags,
                   "Only certificates with tag KEY=VALUE or KEY:VALUE (repeatable; all must match)")
      ->check(CLI::Validator(CheckTagFilter, "KEY=VALUE"));
  list->add_option("--domain", list_args->domain,
                   "Only certificates with a domain containing this text (case-insensitive)");
  list->add_option("--issuer", list_args->issuer, "Only certificates of this issuer");
  list->add_option("--expires-before", list_args->expires_before,
                   "Only certificates whose current version expires before this RFC 3339 time");
  list->add_option("--expires-after", list_args->expires_after,
                   "Only certificates whose current version expires at or after this time");
  list->add_option("--account", list_args->account,
                   "Account id or name (system principals; default: your own)");
  list->add_option("--sort", list_args->sort, "Order: created_at (default) or not_after")
      ->check(CLI::IsMember({"created_at", "not_after"}));
  list->callback([&ctx, list, list_args] {
    if (list_args->csv && (list->count("--limit") > 0 || list->count("--cursor") > 0)) {
      throw CLI::ValidationError("--csv",
                                 "exports the whole filtered inventory: drop --limit "
                                 "and --cursor");
    }
    ctx.action = [list_args](const GlobalOptions& g) { return RunList(g, *list_args); };
  });

  auto show_id = std::make_shared<std::string>();
  CLI::App* show = cert->add_subcommand("show", "Show one certificate");
  show->add_option("id", *show_id, "Certificate id (crt_...)")->required();
  show->callback([&ctx, show_id] {
    ctx.action = [show_id](const GlobalOptions& g) { return RunShow(g, *show_id); };
  });

  auto renew_args = std::make_shared<RenewArgs>();
  CLI::App* renew = cert->add_subcommand("renew", "Renew a certificate now (a new version)");
  renew->add_option("id", renew_args->id, "Certificate id (crt_...)")->required();
  renew->add_flag("--reuse-key", renew_args->reuse_key,
                  "Keep the current private key (default: generate a new one)");
  renew->callback([&ctx, renew_args] {
    ctx.action = [renew_args](const GlobalOptions& g) { return RunRenew(g, *renew_args); };
  });

  auto revoke_args = std::make_shared<RevokeArgs>();
  CLI::App* revoke = cert->add_subcommand(
      "revoke", "Revoke a certificate (every unexpired version); the CA lists it in its CRL");
  revoke->add_option("id", revoke_args->id, "Certificate id (crt_...)")->required();
  revoke->add_option("--reason", revoke_args->reason, "RFC 5280 reason (default unspecified)")
      ->check(CLI::IsMember({"unspecified", "key-compromise", "affiliation-changed", "superseded",
                             "cessation-of-operation", "privilege-withdrawn"}));
  revoke->callback([&ctx, revoke_args] {
    ctx.action = [revoke_args](const GlobalOptions& g) { return RunRevoke(g, *revoke_args); };
  });

  auto export_args = std::make_shared<ExportArgs>();
  CLI::App* exp = cert->add_subcommand(
      "export", "Export certificate, chain and encrypted private key into a directory");
  exp->add_option("id", export_args->id, "Certificate id (crt_...)")->required();
  exp->add_option("--out", export_args->out_dir, "Output directory (created 0700 if missing)")
      ->required();
  exp->add_option("--passphrase-file", export_args->passphrase_file,
                  "File holding the key passphrase (default: certfleet generates one and "
                  "stores it as a secret)");
  exp->callback([&ctx, export_args] {
    ctx.action = [export_args](const GlobalOptions& g) { return RunExport(g, *export_args); };
  });
}

}  // namespace certfleet::cli
