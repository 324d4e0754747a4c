#include "bootstrap.h"

#include <arpa/inet.h>

#include <algorithm>

#include "base/files.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/validate.h"
#include "crypto/key.h"
#include "lifecycle/tokens.h"
#include "x509/certificate.h"

namespace certfleet::daemon {
namespace {

bool IsIpLiteral(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// A new API token for `principal_id`, expiring after `validity`, inserted in `tx` and written
// to `token_path` (a temporary 0600 file renamed into place) before the caller commits.
Result<model::ApiToken> IssueTokenToFile(store::Tx& tx, const Clock& clock, Random& random,
                                         const std::string& principal_id,
                                         const std::string& token_path, Seconds validity) {
  const TimePoint now = std::chrono::floor<std::chrono::seconds>(clock.Now());
  lifecycle::NewToken token = lifecycle::GenerateApiToken(random);
  model::ApiToken rec;
  rec.id = NewId(model::kTokenPrefix, clock, random);
  rec.principal_id = principal_id;
  rec.hash_hex = token.hash_hex;
  rec.created_at = now;
  rec.expires_at = now + validity;
  CF_TRY(tx.tokens().Insert(rec));
  SecretBytes line = token.token.Clone();
  line.Append("\n");
  CF_TRY(WriteFileAtomic(token_path, line.view(), 0600));
  return rec;
}

}  // namespace

Status EnsureDefaultAdmin(store::Store& store, const Clock& clock, Random& random,
                          const std::string& token_path, Seconds validity) {
  CF_ASSIGN_OR_RETURN(auto tx, store.Begin());
  CF_ASSIGN_OR_RETURN(auto accounts, tx->accounts().List());
  if (!accounts.empty()) return Ok();

  TimePoint now = std::chrono::floor<std::chrono::seconds>(clock.Now());
  model::Account account{NewId(model::kAccountPrefix, clock, random), kDefaultAccount, now};
  CF_TRY(tx->accounts().Insert(account));
  model::Principal admin;
  admin.id = NewId(model::kPrincipalPrefix, clock, random);
  admin.account_id = account.id;
  admin.name = kAdminPrincipal;
  admin.kind = model::PrincipalKind::kUser;
  admin.role = model::Role::kAdmin;
  admin.created_at = now;
  CF_TRY(tx->principals().Insert(admin));
  // The bootstrap token is the master key of a fresh install: it expires like any other
  // (issue #13); --rotate-admin-token replaces it. If the file cannot be written nothing is
  // committed, and if the commit fails the next start finds no account and replaces the file.
  CF_TRY(IssueTokenToFile(*tx, clock, random, admin.id, token_path, validity));
  CF_TRY(tx->Commit());
  log::Info("created default account and admin",
            {{"account_id", account.id}, {"principal_id", admin.id}, {"token_file", token_path}});
  return Ok();
}

Result<std::string> RotateAdminToken(store::Store& store, const Clock& clock, Random& random,
                                     const std::string& token_path, Seconds validity) {
  CF_ASSIGN_OR_RETURN(auto tx, store.Begin());
  auto account = tx->accounts().GetByName(kDefaultAccount);
  if (!account.ok() && account.error().code() == ErrorCode::kNotFound) {
    return FailedPrecondition("no bootstrap admin yet: start certfleetd once to create it");
  }
  if (!account.ok()) return std::move(account).error();
  auto admin = tx->principals().GetByName(account->id, kAdminPrincipal);
  if (!admin.ok() && admin.error().code() == ErrorCode::kNotFound) {
    return FailedPrecondition("the default account has no principal named \"admin\"");
  }
  if (!admin.ok()) return std::move(admin).error();
  CF_ASSIGN_OR_RETURN(auto old_tokens, tx->tokens().ListByPrincipal(admin->id));
  for (const model::ApiToken& t : old_tokens) {
    if (!t.revoked) CF_TRY(tx->tokens().Revoke(t.id));
  }
  // As at first start: the file first, then the commit. A failed write leaves the old token
  // working; a failed commit leaves a file whose token does not work yet, and running the rotation
  // again fixes both.
  CF_ASSIGN_OR_RETURN(model::ApiToken rec,
                      IssueTokenToFile(*tx, clock, random, admin->id, token_path, validity));
  CF_TRY(tx->Commit());
  lifecycle::NoteCredentialsChanged();
  log::Info("bootstrap admin token rotated", {{"token_id", rec.id},
                                              {"revoked", std::to_string(old_tokens.size())},
                                              {"token_file", token_path}});
  return rec.id;
}

Result<ListenerTls> IssueListenerCertificate(ca::CertificateAuthority& ca, const std::string& host,
                                             const std::vector<std::string>& server_names) {
  // "localhost" is a single label, which the lint refuses for any certificate; clients reach the
  // default listener by IP (https://127.0.0.1:8443).
  std::vector<std::string> dns;
  std::vector<std::string> ips = {"127.0.0.1", "::1"};
  auto add = [&](const std::string& name) {
    if (IsIpLiteral(name)) {
      // The wildcard listen addresses are nobody's name.
      if (name != "0.0.0.0" && name != "::" &&
          std::find(ips.begin(), ips.end(), name) == ips.end()) {
        ips.push_back(name);
      }
    } else if (ValidateDnsName(name, false).ok() &&
               std::find(dns.begin(), dns.end(), name) == dns.end()) {
      dns.push_back(name);
    }
  };
  add(host);
  for (const std::string& name : server_names) add(name);
  CF_ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::PrivateKey::Generate(crypto::KeyType::kP256));
  ca::LeafRequest req{.profile = "api-server",
                      .dns_names = dns,
                      .ip_addresses = ips,
                      .subject_public_key_der = key.public_key().spki_der(),
                      .key_type = crypto::KeyType::kP256};
  CF_ASSIGN_OR_RETURN(ca::IssuedLeaf leaf, ca.Issue(req));
  ListenerTls tls;
  tls.chain_pem = leaf.leaf.ToPem() + x509::ChainToPem(leaf.chain);
  tls.key_pem = key.ToPkcs8Pem();
  return tls;
}

}  // namespace certfleet::daemon
