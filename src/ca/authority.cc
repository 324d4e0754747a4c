#include "ca/authority.h"

#include "base/encoding.h"
#include "base/ids.h"
#include "base/log.h"
#include "crypto/hash.h"
#include "crypto/key.h"
#include "x509/crl.h"

namespace certfleet::ca {
namespace {

using x509::ExtendedKeyUsage;

constexpr char kCaKeyPurpose[] = "ca-key";

TimePoint Whole(TimePoint t) { return std::chrono::floor<std::chrono::seconds>(t); }

// 20 octets with the top bit clear: positive, at most 20 octets (RFC 5280 4.1.2.2), and 159 bits
// from the CSPRNG, well above the 64 bits BR 7.1 requires. A zero first octet is replaced so the
// length is always 20.
std::string DrawSerial(Random& random) {
  std::string s = random.Bytes(20);
  s[0] = char(uint8_t(s[0]) & 0x7f);
  if (s[0] == 0) s[0] = 0x01;
  return s;
}

struct LoadedCa {
  model::CaRecord record;
  x509::Certificate cert;
  std::shared_ptr<const crypto::PrivateKey> key;
};

Result<LoadedCa> Load(store::Tx& tx, secrets::SecretStore& secrets, model::CaRole role) {
  CF_ASSIGN_OR_RETURN(model::CaRecord rec, tx.cas().GetActive(role));
  CF_ASSIGN_OR_RETURN(x509::Certificate cert, x509::Certificate::FromPem(rec.cert_pem));
  CF_ASSIGN_OR_RETURN(SecretBytes der, secrets.OpenBlob(tx, rec.key_blob_id));
  CF_ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::PrivateKey::FromPkcs8Der(der));
  if (!cert.MatchesKey(key)) {
    return Internal("CA record " + rec.id + ": sealed key does not match its certificate");
  }
  return LoadedCa{std::move(rec), std::move(cert),
                  std::make_shared<const crypto::PrivateKey>(std::move(key))};
}

Result<LoadedCa> CreateCa(store::Tx& tx, secrets::SecretStore& secrets, const Clock& clock,
                          Random& random, const CaOptions& o, const LoadedCa* parent) {
  const bool is_root = parent == nullptr;
  CF_ASSIGN_OR_RETURN(
      crypto::PrivateKey key,
      crypto::PrivateKey::Generate(is_root ? o.root_key_type : o.intermediate_key_type));
  TimePoint now = Whole(clock.Now());
  x509::TbsSpec spec;
  spec.serial = DrawSerial(random);
  spec.subject_common_name = is_root ? o.organization + " Root CA" : o.organization + " Issuing CA";
  spec.subject_organization = o.organization;
  spec.not_before = now - o.backdate;
  spec.not_after = now + (is_root ? o.root_validity : o.intermediate_validity);
  if (!is_root && spec.not_after > parent->cert.not_after())
    spec.not_after = parent->cert.not_after();
  spec.subject_public_key_der = key.public_key().spki_der();
  spec.is_ca = true;
  spec.path_len = is_root ? std::optional<int>() : std::optional<int>(0);
  spec.key_usage = {.digital_signature = true, .key_cert_sign = true, .crl_sign = true};
  CF_TRY(tx.serials().Reserve(HexEncode(spec.serial), "", now));
  x509::LintOptions lint{.require_dns_names = false};
  CF_ASSIGN_OR_RETURN(x509::LintedTbs linted,
                      x509::Lint(std::move(spec), lint, is_root ? nullptr : &parent->cert));
  auto shared_key = std::make_shared<const crypto::PrivateKey>(std::move(key));
  CF_ASSIGN_OR_RETURN(x509::Signer signer, is_root
                                               ? x509::Signer::Create(std::nullopt, shared_key)
                                               : x509::Signer::Create(parent->cert, parent->key));
  CF_ASSIGN_OR_RETURN(x509::Certificate cert, signer.Sign(std::move(linted)));

  CF_ASSIGN_OR_RETURN(std::string blob_id,
                      secrets.SealBlob(tx, shared_key->ToPkcs8Der(), kCaKeyPurpose));
  model::CaRecord rec;
  rec.id = NewId(model::kCaPrefix, clock, random);
  rec.role = is_root ? model::CaRole::kRoot : model::CaRole::kIntermediate;
  rec.cert_pem = cert.ToPem();
  rec.key_blob_id = blob_id;
  rec.parent_id = is_root ? "" : parent->record.id;
  rec.created_at = now;
  CF_TRY(tx.cas().Insert(rec));
  log::Info("created internal CA certificate", {{"ca_id", rec.id},
                                                {"role", std::string(model::CaRoleName(rec.role))},
                                                {"subject", cert.subject()},
                                                {"serial", cert.serial_hex()}});
  return LoadedCa{std::move(rec), std::move(cert), std::move(shared_key)};
}

}  // namespace

Result<std::unique_ptr<CertificateAuthority>> CertificateAuthority::LoadOrCreate(
    store::Store& store, secrets::SecretStore& secrets, const Clock& clock, Random& random,
    CaOptions options) {
  CF_ASSIGN_OR_RETURN(auto tx, store.Begin());
  auto root = Load(*tx, secrets, model::CaRole::kRoot);
  if (!root.ok() && root.error().code() == ErrorCode::kNotFound) {
    root = CreateCa(*tx, secrets, clock, random, options, nullptr);
  }
  if (!root.ok()) return std::move(root).error();
  auto inter = Load(*tx, secrets, model::CaRole::kIntermediate);
  if (!inter.ok() && inter.error().code() == ErrorCode::kNotFound) {
    inter = CreateCa(*tx, secrets, clock, random, options, &*root);
  }
  if (!inter.ok()) return std::move(inter).error();
  CF_TRY(tx->Commit());
  CF_ASSIGN_OR_RETURN(x509::Signer signer, x509::Signer::Create(inter->cert, inter->key));
  return std::unique_ptr<CertificateAuthority>(new CertificateAuthority(
      store, clock, random, std::move(options), std::move(root->cert), std::move(inter->cert),
      inter->record.id, std::move(signer), inter->key));
}

Result<std::string> CertificateAuthority::ReserveSerial() {
  std::lock_guard lock(serial_mu_);
  if (reserved_serials_.empty()) {
    // One transaction for the whole block: with group commit it shares its durable commit with
    // whatever else is committing. A collision among 159 random bits means a broken RNG: a few
    // redraws, then fail loudly.
    std::vector<std::string> block;
    block.reserve(kSerialBlock);
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    const TimePoint now = Whole(clock_.Now());
    int collisions = 0;
    while (block.size() < kSerialBlock) {
      std::string serial = DrawSerial(random_);
      Status st = tx->serials().Reserve(HexEncode(serial), intermediate_id_, now);
      if (st.ok()) {
        block.push_back(std::move(serial));
        continue;
      }
      if (st.error().code() != ErrorCode::kConflict || ++collisions > 3) {
        if (st.error().code() == ErrorCode::kConflict) {
          return Internal("could not reserve a unique serial number");
        }
        return std::move(st).error();
      }
    }
    CF_TRY(tx->Commit());
    reserved_serials_ = std::move(block);
  }
  std::string serial = std::move(reserved_serials_.back());
  reserved_serials_.pop_back();
  return serial;
}

Result<IssuedLeaf> CertificateAuthority::Issue(const LeafRequest& req) {
  CF_ASSIGN_OR_RETURN(Profile profile, FindProfile(req.profile));
  if (!req.ip_addresses.empty() && !profile.allow_ip_addresses) {
    return InvalidArgument("profile " + profile.name + " does not allow IP address names");
  }
  if (req.dns_names.empty() && req.ip_addresses.empty()) {
    return InvalidArgument("at least one domain name is required");
  }
  TimePoint now = Whole(clock_.Now());
  const Seconds max = MaxValidity(profile, now);
  Seconds validity = req.validity.value_or(std::min(profile.default_validity, max));
  if (validity < profile.min_validity) {
    return InvalidArgument("validity for profile " + profile.name + " must be at least " +
                           std::to_string(profile.min_validity.count()) + " seconds");
  }
  if (validity > max) {
    return InvalidArgument(
        "validity for profile " + profile.name + " must be at most " +
        std::to_string(std::chrono::duration_cast<std::chrono::days>(max).count()) +
        " days at this date");
  }

  x509::TbsSpec spec;
  // BR 7.1.4.3: the CN, if present, repeats a SAN; IP-only listener certificates carry none.
  spec.subject_common_name = req.dns_names.empty() ? "" : req.dns_names.front();
  spec.dns_names = req.dns_names;
  spec.ip_addresses = req.ip_addresses;
  // The lifetime counts from notBefore inclusive (RFC 5280 4.1.2.5), so the last second is
  // validity - 1 after notBefore; backdating shortens nothing the caller asked for beyond skew.
  spec.not_before = now - options_.backdate;
  spec.not_after = spec.not_before + validity - std::chrono::seconds(1);
  if (spec.not_after > intermediate_.not_after()) {
    return FailedPrecondition("the issuing CA expires before the requested validity ends");
  }
  spec.subject_public_key_der = req.subject_public_key_der;
  spec.key_usage.digital_signature = true;
  // RSA key transport (TLS 1.2 RSA key exchange) needs keyEncipherment (RFC 5280 4.2.1.3).
  const bool rsa = req.key_type == crypto::KeyType::kRsa2048 ||
                   req.key_type == crypto::KeyType::kRsa3072 ||
                   req.key_type == crypto::KeyType::kRsa4096;
  spec.key_usage.key_encipherment = rsa;
  spec.extended_key_usage = profile.ekus;
  if (!options_.crl_url.empty()) spec.crl_distribution_points = {options_.crl_url};

  x509::LintOptions lint{.max_validity = max,
                         .require_dns_names = req.ip_addresses.empty(),
                         .allow_wildcards = true,
                         .allow_ed25519 = profile.allow_ed25519,
                         .allow_https_crl_url = true};
  CF_ASSIGN_OR_RETURN(spec.serial, ReserveSerial());
  CF_ASSIGN_OR_RETURN(x509::LintedTbs linted, x509::Lint(std::move(spec), lint, &intermediate_));
  CF_ASSIGN_OR_RETURN(x509::Certificate leaf, signer_.Sign(std::move(linted)));
  return IssuedLeaf{std::move(leaf), {intermediate_}, intermediate_id_};
}

Result<std::string> CertificateAuthority::CurrentCrl() {
  std::lock_guard lk(crl_mu_);
  const TimePoint now = Whole(clock_.Now());
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(auto revocations, tx->revocations().ListByCa(intermediate_id_));
  std::string listed;
  for (const model::Revocation& r : revocations) {
    listed += r.serial_hex + ":" + std::to_string(r.reason) + ":" +
              std::to_string(std::chrono::system_clock::to_time_t(r.revoked_at)) + ";";
  }
  const std::string digest = crypto::Sha256Hex(listed);
  if (crl_ && crl_->revocations_digest == digest && now - crl_->built_at < options_.crl_refresh) {
    return crl_->der;
  }
  // The CRL number is persisted before the CRL is served, in the same transaction that read the
  // revocations, so that two CRLs never share a number (RFC 5280 5.2.3).
  const std::string key = "ca.crl_number." + intermediate_id_;
  CF_ASSIGN_OR_RETURN(std::optional<std::string> stored, tx->settings().Get(key));
  int64_t number = 1;
  if (stored) {
    try {
      number = std::stoll(*stored) + 1;
    } catch (const std::exception&) {
      return Internal("setting " + key + " is not a number");
    }
  }
  CF_TRY(tx->settings().Put(key, std::to_string(number)));
  x509::CrlSpec spec{.number = number,
                     .this_update = now - options_.backdate,
                     .next_update = now + options_.crl_validity};
  for (const model::Revocation& r : revocations) {
    spec.revoked.push_back(
        {r.serial_hex, r.revoked_at, static_cast<x509::RevocationReason>(r.reason)});
  }
  CF_ASSIGN_OR_RETURN(std::string der, x509::BuildCrl(spec, intermediate_, *intermediate_key_));
  CF_TRY(tx->Commit());
  crl_ = CachedCrl{der, digest, now};
  log::Info("CRL signed", {{"ca_id", intermediate_id_},
                           {"crl_number", std::to_string(number)},
                           {"entries", std::to_string(revocations.size())}});
  return der;
}

}  // namespace certfleet::ca
