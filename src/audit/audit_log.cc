#include "audit/audit_log.h"

#include <charconv>

#include "base/encoding.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/time_util.h"
#include "crypto/hash.h"

namespace certfleet::audit {
namespace {

const std::string kGenesis(64, '0');

void Field(std::string& out, std::string_view v) {
  uint32_t n = static_cast<uint32_t>(v.size());
  for (int i = 3; i >= 0; --i) out += char((n >> (8 * i)) & 0xff);
  out.append(v);
}

struct Head {
  int64_t seq = 0;
  std::string hash = kGenesis;
};

Result<Head> ReadHead(store::Tx& tx) {
  CF_ASSIGN_OR_RETURN(std::optional<std::string> v, tx.settings().Get(kHeadSetting));
  Head h;
  if (!v) return h;
  size_t colon = v->find(':');
  auto [p, ec] =
      std::from_chars(v->data(), v->data() + (colon == std::string::npos ? 0 : colon), h.seq);
  if (colon == std::string::npos || ec != std::errc() || p != v->data() + colon) {
    return Internal("audit chain head setting is malformed");
  }
  h.hash = v->substr(colon + 1);
  return h;
}

}  // namespace

std::string CanonicalBytes(const model::AuditRecord& r) {
  std::string out = "certfleet audit v1";
  Field(out, std::to_string(r.seq));
  Field(out, r.id);
  Field(out, std::to_string(ToUnixSeconds(r.at)));
  Field(out, r.account_id);
  Field(out, r.principal_id);
  Field(out, r.action);
  Field(out, r.resource);
  Field(out, model::AuditOutcomeName(r.outcome));
  Field(out, std::to_string(r.status));
  Field(out, r.source);
  Field(out, r.detail);
  return out;
}

std::string ChainHash(const std::string& prev_hash_hex, const model::AuditRecord& r) {
  return crypto::Sha256Hex(prev_hash_hex + CanonicalBytes(r));
}

Result<model::AuditRecord> AuditLog::Append(store::Tx& tx, const AuditEntry& e) {
  CF_ASSIGN_OR_RETURN(Head head, ReadHead(tx));
  model::AuditRecord r;
  r.seq = head.seq + 1;
  r.id = NewId(model::kAuditPrefix, clock_, random_);
  r.at = std::chrono::floor<std::chrono::seconds>(clock_.Now());
  r.account_id = e.account_id;
  r.principal_id = e.principal_id;
  r.action = e.action;
  r.resource = e.resource;
  r.outcome = e.outcome;
  r.status = e.status;
  r.source = e.source;
  r.detail = e.detail.substr(0, 512);
  r.prev_hash = head.hash;
  r.hash = ChainHash(r.prev_hash, r);
  CF_TRY(tx.audit().Insert(r));
  CF_TRY(tx.settings().Put(kHeadSetting, std::to_string(r.seq) + ":" + r.hash));
  return r;
}

Status AuditLog::Record(const AuditEntry& entry) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  auto appended = Append(*tx, entry);
  if (!appended.ok()) return std::move(appended).error();
  return tx->Commit();
}

Result<VerifyReport> AuditLog::Verify() {
  VerifyReport report;
  auto fail = [&](int64_t seq, std::string why) {
    report.ok = false;
    report.first_bad_seq = seq;
    report.reason = std::move(why);
    return report;
  };
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  std::string prev = kGenesis;
  int64_t expected = 1;
  while (true) {
    CF_ASSIGN_OR_RETURN(auto page, tx->audit().List({.after_seq = expected - 1, .limit = 1000}));
    if (page.empty()) break;
    for (const model::AuditRecord& r : page) {
      if (r.seq != expected) {
        return fail(expected, "record " + std::to_string(expected) + " is missing");
      }
      if (r.prev_hash != prev) {
        return fail(r.seq, "record " + std::to_string(r.seq) +
                               " does not follow its predecessor (removed or reordered records)");
      }
      if (ChainHash(r.prev_hash, r) != r.hash) {
        return fail(r.seq, "record " + std::to_string(r.seq) + " was changed");
      }
      prev = r.hash;
      ++expected;
      ++report.checked;
    }
  }
  CF_ASSIGN_OR_RETURN(Head head, ReadHead(*tx));
  if (head.seq != report.checked || head.hash != prev) {
    return fail(report.checked + 1 > head.seq ? head.seq : report.checked + 1,
                "the chain ends at record " + std::to_string(report.checked) +
                    " but its head says " + std::to_string(head.seq) +
                    " (records removed from the end)");
  }
  return report;
}

}  // namespace certfleet::audit
