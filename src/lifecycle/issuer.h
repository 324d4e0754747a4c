// The Issuer seam (docs/architecture.md "Plugin seams"): something that turns a key and a set of
// names into a signed certificate, now (internal CA) or later (ACME: "pending, retry after").
// Implementations are registered by the composition root and must be thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "crypto/key.h"
#include "x509/certificate.h"

namespace certfleet::lifecycle {

struct IssueInput {
  std::string account_id;
  std::string certificate_id;
  std::string profile;
  std::vector<std::string> domains;         // first is the subject CN
  const crypto::PrivateKey* key = nullptr;  // borrowed; issuers needing a CSR build one from it
  std::optional<Seconds> validity;
  // The account-scoped issuer configuration to use (ACME issuers: the issuer's name).
  std::string issuer_config;
  // Renewals: the current version's leaf, for ARI's `replaces` (RFC 9773 section 5).
  std::string previous_leaf_pem;
  // Called with a short description of each step as it starts (optional).
  std::function<void(std::string_view step)> on_step;
};

struct IssueOutcome {
  bool pending = false;  // true: not done yet, call again after retry_after
  std::optional<Seconds> retry_after;
  std::string detail;      // human-readable current step
  std::string leaf_pem;    // set when issued
  std::string chain_pem;   // issuing chain without the leaf
  std::string issuer_ref;  // e.g. the internal CA record id
  // The leaf as parsed by an issuer that already holds it (the internal CA), so the caller
  // need not parse leaf_pem back; empty otherwise.
  std::optional<x509::Certificate> leaf;
};

class Issuer {
 public:
  virtual ~Issuer() = default;
  virtual const std::string& name() const = 0;
  // True for issuers that talk to a remote CA and may take minutes (ACME): a request then
  // returns the certificate pending and a durable job issues it.
  virtual bool asynchronous() const { return false; }
  // Repeating a call with the same idempotency_key must not issue twice where the issuer can
  // tell (ACME orders); the internal CA issues synchronously, so a retry simply issues anew.
  virtual Result<IssueOutcome> Issue(const IssueInput& input,
                                     const std::string& idempotency_key) = 0;
};

// An optional ability of an issuer (CONVENTIONS.md #11: separate small interfaces): it publishes
// a CRL for what it issued. Revocations themselves are recorded in the store by the lifecycle
// (store::RevocationRepo, keyed by the issuing CA record) in the transaction that marks the
// certificate revoked; the publisher only renders them.
class CrlPublisher {
 public:
  virtual ~CrlPublisher() = default;
  // The current CRL, DER. Thread-safe.
  virtual Result<std::string> CurrentCrl() = 0;
};

// An optional ability of an issuer: its CA revokes certificates on request (ACME, RFC 8555
// section 7.6). The lifecycle asks the CA first, then records the revocation; a CA that refuses
// leaves the certificate as it was.
class RemoteRevoker {
 public:
  virtual ~RemoteRevoker() = default;
  // `leaf_pem` was issued through `issuer_config` of `account_id`; `reason` is an RFC 5280
  // CRLReason code. A certificate the CA reports as already revoked is Ok.
  virtual Status RevokeAtCa(const std::string& account_id, const std::string& issuer_config,
                            const std::string& leaf_pem, int reason) = 0;
};

// Name -> issuer. Built once by the composition root, then read-only (thread-safe reads).
class IssuerRegistry {
 public:
  void Register(std::unique_ptr<Issuer> issuer);
  // NotFound naming the unknown issuer.
  Result<Issuer*> Find(const std::string& name) const;

 private:
  std::map<std::string, std::unique_ptr<Issuer>> issuers_;
};

}  // namespace certfleet::lifecycle
