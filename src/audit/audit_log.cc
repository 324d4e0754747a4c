#include "audit/audit_log.h"

#include <charconv>
#include <map>

#include "base/encoding.h"
#include "base/ids.h"
#include "base/log.h"
#include "base/time_util.h"
#include "crypto/hash.h"

namespace certfleet::audit {
namespace {

const std::string kGenesis(64, '0');
constexpr size_t kPage = 1000;

void Field(std::string& out, std::string_view v) {
  uint32_t n = static_cast<uint32_t>(v.size());
  for (int i = 3; i >= 0; --i) out += char((n >> (8 * i)) & 0xff);
  out.append(v);
}

struct Head {
  int64_t seq = 0;
  std::string hash = kGenesis;
};

bool ParseInt(std::string_view s, int64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

// "seq:hash" settings (chain heads).
Result<std::optional<Head>> ReadHead(store::Tx& tx, const std::string& key) {
  CF_ASSIGN_OR_RETURN(std::optional<std::string> v, tx.settings().Get(key));
  if (!v) return std::optional<Head>();
  size_t colon = v->find(':');
  Head h;
  if (colon == std::string::npos || !ParseInt(std::string_view(*v).substr(0, colon), h.seq)) {
    return Internal("audit chain head setting " + key + " is malformed");
  }
  h.hash = v->substr(colon + 1);
  return std::optional<Head>(h);
}

std::string HeadValue(int64_t seq, const std::string& hash) {
  return std::to_string(seq) + ":" + hash;
}

std::string ChainKey(const std::string& account_id) {
  return std::string(kChainHeadPrefix) + (account_id.empty() ? "system" : account_id);
}

// The newest seq: "audit.seq", or for a database written before keying, the unkeyed head.
Result<int64_t> ReadLastSeq(store::Tx& tx) {
  CF_ASSIGN_OR_RETURN(std::optional<std::string> v, tx.settings().Get(kSeqSetting));
  if (v) {
    int64_t n = 0;
    if (!ParseInt(*v, n)) return Internal("audit setting audit.seq is malformed");
    return n;
  }
  CF_ASSIGN_OR_RETURN(std::optional<Head> legacy, ReadHead(tx, kHeadSetting));
  return legacy ? legacy->seq : 0;
}

VerifyReport Fail(VerifyReport report, std::optional<int64_t> seq, std::string why) {
  report.ok = false;
  report.first_bad_seq = seq;
  report.reason = std::move(why);
  return report;
}

std::string Rec(int64_t seq) { return "record " + std::to_string(seq); }

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

std::string KeyedCanonicalBytes(const model::AuditRecord& r) {
  // A distinct prefix: an unkeyed record's bytes can never be a keyed record's, and the scheme
  // and the chain link are covered, so neither can be changed alone.
  std::string out = "certfleet audit v2";
  Field(out, r.scheme);
  Field(out, std::to_string(r.prev_seq));
  out += CanonicalBytes(r);
  return out;
}

std::string KeyedChainHash(const SecretBytes& key, const std::string& prev_hash_hex,
                           const model::AuditRecord& r) {
  return HexEncode(crypto::HmacSha256(key, prev_hash_hex + KeyedCanonicalBytes(r)));
}

std::string AuditLog::MarkerMac(int64_t seq) const {
  return HexEncode(crypto::HmacSha256(key_, "certfleet audit keyed-from|" + std::to_string(seq)));
}

Result<AuditLog::Marker> AuditLog::ReadMarker(store::Tx& tx) const {
  Marker m;
  CF_ASSIGN_OR_RETURN(std::optional<std::string> v, tx.settings().Get(kKeyedFromSetting));
  if (!v) return m;
  m.present = true;
  size_t colon = v->find(':');
  if (colon == std::string::npos ||
      !ParseInt(std::string_view(*v).substr(0, colon), m.keyed_from) || m.keyed_from < 1) {
    return m;
  }
  m.valid = crypto::ConstantTimeEquals(v->substr(colon + 1), MarkerMac(m.keyed_from));
  return m;
}

Status AuditLog::Start(store::Tx& tx) {
  CF_ASSIGN_OR_RETURN(Marker m, ReadMarker(tx));
  if (m.present) return Ok();  // an altered marker is Verify()'s to report, not ours to heal
  CF_ASSIGN_OR_RETURN(int64_t last, ReadLastSeq(tx));
  CF_TRY(
      tx.settings().Put(kKeyedFromSetting, std::to_string(last + 1) + ":" + MarkerMac(last + 1)));
  CF_TRY(tx.settings().Put(kSeqSetting, std::to_string(last)));
  log::Info("audit trail keyed", {{"keyed_from_seq", std::to_string(last + 1)}});
  return Ok();
}

Status AuditLog::Start() {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_TRY(Start(*tx));
  return tx->Commit();
}

Result<model::AuditRecord> AuditLog::Append(store::Tx& tx, const AuditEntry& e) {
  CF_ASSIGN_OR_RETURN(int64_t last, ReadLastSeq(tx));
  const std::string chain_key = ChainKey(e.account_id);
  CF_ASSIGN_OR_RETURN(std::optional<Head> head, ReadHead(tx, chain_key));
  model::AuditRecord r;
  r.seq = last + 1;
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
  r.scheme = kSchemeKeyed;
  r.prev_seq = head ? head->seq : 0;
  r.prev_hash = head ? head->hash : kGenesis;
  r.hash = KeyedChainHash(key_, r.prev_hash, r);
  CF_TRY(tx.audit().Insert(r));
  CF_TRY(tx.settings().Put(chain_key, HeadValue(r.seq, r.hash)));
  CF_TRY(tx.settings().Put(kSeqSetting, std::to_string(r.seq)));
  return r;
}

Status AuditLog::Record(const AuditEntry& entry) {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  auto appended = Append(*tx, entry);
  if (!appended.ok()) return std::move(appended).error();
  return tx->Commit();
}

// The unkeyed range [1, keyed_from): one global chain, checked whole (it cannot be checked in
// parts). With `only_account`, only that account's records count and name a seq.
Status AuditLog::VerifyUnkeyed(store::Tx& tx, int64_t keyed_from, const std::string* only_account,
                               VerifyReport& report, std::string& deferred_head_failure) {
  std::string prev = kGenesis;
  int64_t expected = 1;
  auto fail = [&](const model::AuditRecord* r, int64_t seq, std::string why) {
    if (only_account && (!r || r->account_id != *only_account)) {
      report = Fail(report, std::nullopt,
                    "a record of another account in the unkeyed range (before keying began) "
                    "fails; a system auditor can see which");
    } else {
      report = Fail(report, seq, std::move(why));
    }
    return Ok();
  };
  while (expected < keyed_from) {
    CF_ASSIGN_OR_RETURN(auto page, tx.audit().List({.after_seq = expected - 1, .limit = kPage}));
    if (page.empty()) break;
    for (const model::AuditRecord& r : page) {
      if (r.seq >= keyed_from) break;
      if (r.seq != expected) return fail(nullptr, expected, Rec(expected) + " is missing");
      if (r.scheme != kSchemeUnkeyed) {
        return fail(&r, r.seq,
                    Rec(r.seq) + " claims scheme \"" + r.scheme +
                        "\" in the range written before keying began");
      }
      if (r.prev_hash != prev) {
        return fail(&r, r.seq,
                    Rec(r.seq) + " does not follow its predecessor (removed or reordered records)");
      }
      if (ChainHash(r.prev_hash, r) != r.hash) return fail(&r, r.seq, Rec(r.seq) + " was changed");
      prev = r.hash;
      ++expected;
      if (!only_account || r.account_id == *only_account) ++report.checked;
    }
    if (page.back().seq >= keyed_from) break;
  }
  if (expected < keyed_from) return fail(nullptr, expected, Rec(expected) + " is missing");
  // The unkeyed head was frozen when keying began. A mismatch is reported only if the keyed
  // walk finds nothing earlier to name: a head moved forward usually comes with keyed records
  // rewritten as unkeyed, and those are the records to name.
  CF_ASSIGN_OR_RETURN(std::optional<Head> head, ReadHead(tx, kHeadSetting));
  Head h = head.value_or(Head{});
  if (h.seq != keyed_from - 1 || h.hash != prev) {
    deferred_head_failure = "the unkeyed chain ends at " + Rec(keyed_from - 1) +
                            " but its head says " + std::to_string(h.seq);
  }
  return Ok();
}

Result<VerifyReport> AuditLog::Verify() {
  VerifyReport report;
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(Marker marker, ReadMarker(*tx));
  if (!marker.present || !marker.valid) {
    // The key exists (this object holds it), so the marker must: it was written with the key.
    return Fail(report, marker.present ? std::optional<int64_t>(marker.keyed_from) : std::nullopt,
                marker.present ? "the record of where keying began was altered"
                               : "the record of where keying began is missing (the trail was "
                                 "rewritten as unkeyed?)");
  }
  std::string head_failure;
  CF_TRY(VerifyUnkeyed(*tx, marker.keyed_from, nullptr, report, head_failure));
  if (!report.ok) return report;

  std::map<std::string, Head> chains;  // account ("" = system) -> newest record seen
  int64_t expected = marker.keyed_from;
  while (true) {
    CF_ASSIGN_OR_RETURN(auto page, tx->audit().List({.after_seq = expected - 1, .limit = kPage}));
    if (page.empty()) break;
    for (const model::AuditRecord& r : page) {
      if (r.seq != expected) return Fail(report, expected, Rec(expected) + " is missing");
      if (r.scheme != kSchemeKeyed) {
        return Fail(report, r.seq,
                    Rec(r.seq) + " claims the unkeyed scheme after keying began at " +
                        Rec(marker.keyed_from));
      }
      Head& prev = chains[r.account_id];
      if (r.prev_seq != prev.seq || r.prev_hash != prev.hash) {
        return Fail(report, r.seq,
                    Rec(r.seq) + " does not follow the previous record of its account " +
                        "(removed, reordered or moved records)");
      }
      if (!crypto::ConstantTimeEquals(KeyedChainHash(key_, r.prev_hash, r), r.hash)) {
        return Fail(report, r.seq, Rec(r.seq) + " was changed");
      }
      prev = Head{r.seq, r.hash};
      ++expected;
      ++report.checked;
    }
  }
  if (!head_failure.empty()) return Fail(report, marker.keyed_from - 1, head_failure);
  CF_ASSIGN_OR_RETURN(int64_t last, ReadLastSeq(*tx));
  if (last != expected - 1) {
    return Fail(report, std::min(last, expected),
                "the trail ends at " + Rec(expected - 1) + " but its head says " +
                    std::to_string(last) + " (records removed from the end)");
  }
  for (const auto& [account, seen] : chains) {
    CF_ASSIGN_OR_RETURN(std::optional<Head> head, ReadHead(*tx, ChainKey(account)));
    if (!head || head->seq != seen.seq || head->hash != seen.hash) {
      return Fail(report, head ? std::max(head->seq, seen.seq) : seen.seq,
                  "the chain of " + (account.empty() ? std::string("the system") : account) +
                      " ends at " + Rec(seen.seq) + " but its head says " +
                      (head ? std::to_string(head->seq) : std::string("nothing")));
    }
  }
  return report;
}

Result<VerifyReport> AuditLog::VerifyAccount(const std::string& account_id) {
  VerifyReport report;
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(Marker marker, ReadMarker(*tx));
  if (!marker.present || !marker.valid) {
    return Fail(report, std::nullopt,
                "the record of where keying began is missing or altered; a system auditor can "
                "see more");
  }
  std::string head_failure;
  CF_TRY(VerifyUnkeyed(*tx, marker.keyed_from, &account_id, report, head_failure));
  if (!report.ok) return report;

  Head prev;
  int64_t after = marker.keyed_from - 1;
  while (true) {
    CF_ASSIGN_OR_RETURN(
        auto page,
        tx->audit().List({.account_id = account_id, .after_seq = after, .limit = kPage}));
    if (page.empty()) break;
    for (const model::AuditRecord& r : page) {
      after = r.seq;
      if (r.scheme != kSchemeKeyed) {
        return Fail(report, r.seq,
                    Rec(r.seq) + " claims the unkeyed scheme after keying began at " +
                        Rec(marker.keyed_from));
      }
      if (r.prev_seq != prev.seq) {
        // The link names the record that should come before: a gap means it was removed (or
        // moved to another account).
        const int64_t missing = r.prev_seq > prev.seq ? r.prev_seq : r.seq;
        return Fail(report, missing,
                    Rec(missing) +
                        " is missing from the chain of this account (removed, "
                        "reordered or moved records)");
      }
      if (r.prev_hash != prev.hash) {
        return Fail(report, r.seq, Rec(r.seq) + " does not follow its predecessor");
      }
      if (!crypto::ConstantTimeEquals(KeyedChainHash(key_, r.prev_hash, r), r.hash)) {
        return Fail(report, r.seq, Rec(r.seq) + " was changed");
      }
      prev = Head{r.seq, r.hash};
      ++report.checked;
    }
  }
  if (!head_failure.empty()) {
    return Fail(report, std::nullopt,
                "the head of the unkeyed range (before keying began) was moved; a system auditor "
                "can see more");
  }
  CF_ASSIGN_OR_RETURN(std::optional<Head> head, ReadHead(*tx, ChainKey(account_id)));
  Head h = head.value_or(Head{});
  if (h.seq != prev.seq || h.hash != prev.hash) {
    return Fail(report, std::max(h.seq, prev.seq),
                "the chain of this account ends at " + Rec(prev.seq) + " but its head says " +
                    std::to_string(h.seq) + " (records removed from the end)");
  }
  return report;
}

Result<model::AuditRecord> RequestScope::Append(store::Tx& tx, const ScopeNote& note) {
  AuditEntry e = template_;
  if (note.account_id) e.account_id = *note.account_id;
  if (note.resource) e.resource = *note.resource;
  e.outcome = note.outcome;
  e.status = note.status;
  e.detail = note.detail;
  CF_ASSIGN_OR_RETURN(model::AuditRecord r, log_.Append(tx, e));
  appended_.push_back(r);
  return r;
}

Status AppendInTx(RequestScope* scope, store::Tx& tx, const ScopeNote& note) {
  if (scope == nullptr) return Ok();
  auto r = scope->Append(tx, note);
  if (!r.ok()) return std::move(r).error();
  return Ok();
}

}  // namespace certfleet::audit
