// The internal CA (docs/architecture.md "ca"): a root whose key signs only intermediates, and one
// active issuing intermediate that signs leaves.
//
// Issuance is: choose validity from the profile -> draw a serial (159 CSPRNG bits) and persist it
// in its own committed transaction -> build the TBS -> pre-issuance lint -> sign -> parse the
// signed certificate back and compare (x509::Signer). The serial is durable before any signature
// exists, so a crash never lets one serial be signed twice.
//
// Thread-safe: Issue() may run concurrently; the decoded issuing key and signer are cached.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"
#include "base/random.h"
#include "ca/profiles.h"
#include "crypto/key.h"
#include "secrets/secret_store.h"
#include "store/store.h"
#include "x509/certificate.h"
#include "x509/tbs.h"

namespace certfleet::ca {

struct CaOptions {
  std::string organization = "certfleet";
  crypto::KeyType root_key_type = crypto::KeyType::kP384;
  crypto::KeyType intermediate_key_type = crypto::KeyType::kP256;
  Seconds root_validity = std::chrono::days(3650);
  Seconds intermediate_validity = std::chrono::days(1825);
  // Backdating of notBefore to absorb clock skew of relying parties (kept small: BR 7.1.2.4).
  Seconds backdate = std::chrono::seconds(60);
  // URL of the issuing CA's CRL, added as CRL Distribution Point of every leaf when set.
  // http:// (BR 7.1.2.11.2) or, this being a private CA, https:// when the CRL is served on
  // certfleetd's TLS listener.
  std::string crl_url;
  // nextUpdate - thisUpdate of published CRLs (RFC 5280 5.1.2.5), and how long one built CRL is
  // served before a new one (with the next CRL number) is signed if nothing was revoked.
  Seconds crl_validity = std::chrono::hours(24);
  Seconds crl_refresh = std::chrono::minutes(60);
};

struct LeafRequest {
  std::string profile;
  std::vector<std::string> dns_names;     // first is the subject CN
  std::vector<std::string> ip_addresses;  // only for profiles that allow them
  std::string subject_public_key_der;     // SPKI DER of the subject's key
  crypto::KeyType key_type = crypto::KeyType::kP256;
  std::optional<Seconds> validity;  // profile default if unset; capped by the profile
};

struct IssuedLeaf {
  x509::Certificate leaf;
  std::vector<x509::Certificate> chain;  // intermediate(s), without the root
  std::string ca_id;                     // the intermediate's CaRecord id
};

class CertificateAuthority {
 public:
  // Loads the active root and intermediate from the store, creating and sealing them on first
  // start. `store`, `secrets`, `clock` and `random` are borrowed and must outlive this object.
  static Result<std::unique_ptr<CertificateAuthority>> LoadOrCreate(store::Store& store,
                                                                    secrets::SecretStore& secrets,
                                                                    const Clock& clock,
                                                                    Random& random,
                                                                    CaOptions options = {});

  // InvalidArgument for a bad profile, name, key or validity (the message names the rule).
  Result<IssuedLeaf> Issue(const LeafRequest& request);

  const x509::Certificate& root() const { return root_; }
  const x509::Certificate& intermediate() const { return intermediate_; }
  // The issuing intermediate's CaRecord id (IssuedLeaf::ca_id of everything it signs).
  const std::string& intermediate_id() const { return intermediate_id_; }

  // The issuing intermediate's current CRL, DER (x509::BuildCrl): every revocation the store
  // holds for it, thisUpdate now (backdated like certificates), nextUpdate after crl_validity.
  // A CRL is re-signed with the next CRL number (persisted in the store's settings, so numbers
  // keep increasing across restarts and replicas sharing the store) when the revocations
  // changed or crl_refresh has passed; otherwise the cached one is returned. Store and OpenSSL
  // errors are returned. Thread-safe.
  Result<std::string> CurrentCrl();

 private:
  CertificateAuthority(store::Store& store, const Clock& clock, Random& random, CaOptions options,
                       x509::Certificate root, x509::Certificate intermediate,
                       std::string intermediate_id, x509::Signer signer,
                       std::shared_ptr<const crypto::PrivateKey> intermediate_key)
      : store_(store),
        clock_(clock),
        random_(random),
        options_(std::move(options)),
        root_(std::move(root)),
        intermediate_(std::move(intermediate)),
        intermediate_id_(std::move(intermediate_id)),
        signer_(std::move(signer)),
        intermediate_key_(std::move(intermediate_key)) {}

  // A serial for one certificate, durably reserved in the store before it is returned (no
  // certificate is ever signed without a durable record of its serial). Serials are reserved in
  // blocks of kSerialBlock in one transaction and handed out from memory, so the hot path makes
  // no commit of its own; a crash leaves the unused rest of a block reserved, never reused.
  Result<std::string> ReserveSerial();
  static constexpr size_t kSerialBlock = 256;

  store::Store& store_;
  const Clock& clock_;
  Random& random_;
  CaOptions options_;
  x509::Certificate root_;
  x509::Certificate intermediate_;
  std::string intermediate_id_;
  x509::Signer signer_;
  std::shared_ptr<const crypto::PrivateKey> intermediate_key_;

  struct CachedCrl {
    std::string der;
    std::string revocations_digest;  // what the CRL lists
    TimePoint built_at;
  };
  std::mutex crl_mu_;
  std::optional<CachedCrl> crl_;  // guarded by crl_mu_

  std::mutex serial_mu_;
  std::vector<std::string> reserved_serials_;  // guarded by serial_mu_
};

}  // namespace certfleet::ca
