// Signer: builds certificates from linted TBS data on the fast OpenSSL 3.0 path (RECIPES.md):
// extensions are encoded from their structures (never X509V3_EXT_nconf), the subject public key
// bytes are copied into the certificate without decoding the key, and everything that depends
// only on the issuer is prepared once in Create().
#include <openssl/objects.h>

#include "x509/asn1_util.h"
#include "x509/certificate_internal.h"
#include "x509/extensions.h"
#include "x509/issued_check.h"
#include "x509/ossl.h"
#include "x509/tbs.h"

namespace certfleet::x509 {

using internal::OsslError;

// Immutable after Create(), shared by concurrent Sign() calls. OpenSSL objects here are only
// read (X509_add_ext and X509_set_issuer_name copy them), which OpenSSL 3 allows concurrently.
struct Signer::Cache {
  bool self_signed = false;
  internal::X509NamePtr issuer_name;                  // null when self-signed (issuer = subject)
  internal::X509ExtensionPtr authority_key_id;        // null when self-signed (AKID = own SKID)
  internal::X509ExtensionPtr leaf_basic_constraints;  // critical, cA FALSE
  internal::EvpMdPtr sha1;                            // for key identifiers
  // EVP_DigestSignInit_ex done once; each Sign() copies it (EVP_MD_CTX_copy_ex only reads the
  // template), which skips the per-call algorithm fetch and key export checks.
  internal::EvpMdCtxPtr sign_template;
  internal::IssuerExpectations expected;  // issuer-side fields for the parse-back check
  std::string issuer_spki;                // the signing key's SubjectPublicKeyInfo
};

namespace {

// RFC 5758 section 3.2 (ECDSA), RFC 4055 (RSA PKCS#1 v1.5), RFC 8410 section 6 (Ed25519).
std::pair<const char*, int> SignatureAlgorithm(crypto::KeyType type) {
  switch (type) {
    case crypto::KeyType::kP256:
      return {"SHA256", NID_ecdsa_with_SHA256};
    case crypto::KeyType::kP384:
      return {"SHA384", NID_ecdsa_with_SHA384};
    case crypto::KeyType::kEd25519:
      return {nullptr, NID_ED25519};
    default:
      return {"SHA256", NID_sha256WithRSAEncryption};
  }
}

// Copies the SubjectPublicKeyInfo into the certificate without building an EVP_PKEY:
// X509_set_pubkey would run OpenSSL 3.0's key encoder and decoder (the slow path RECIPES.md
// measured). Lint() admitted only the BR 7.1.3.1 AlgorithmIdentifiers, whose parameters are a
// curve OID (EC), NULL (RSA) or absent (Ed25519).
Status SetSubjectPublicKey(X509* x, const internal::SpkiParts& parts) {
  const unsigned char* p = internal::Bytes(parts.algorithm_der);
  internal::X509AlgorPtr alg(
      d2i_X509_ALGOR(nullptr, &p, static_cast<long>(parts.algorithm_der.size())));  // NOLINT
  if (!alg) return OsslError(ErrorCode::kInternal, "SubjectPublicKeyInfo algorithm");
  const ASN1_OBJECT* obj = nullptr;
  int ptype = 0;
  const void* pval = nullptr;
  X509_ALGOR_get0(&obj, &ptype, &pval, alg.get());
  if (ptype != V_ASN1_OBJECT && ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF) {
    return Internal("unexpected SubjectPublicKeyInfo algorithm parameters");
  }
  // X509_PUBKEY_set0_param takes ownership of the object, the parameter and the key bytes.
  internal::Asn1ObjectPtr obj_copy(OBJ_dup(obj));
  internal::Asn1ObjectPtr curve_copy(
      ptype == V_ASN1_OBJECT ? OBJ_dup(static_cast<const ASN1_OBJECT*>(pval)) : nullptr);
  auto* bits =
      static_cast<unsigned char*>(OPENSSL_memdup(parts.key_bits.data(), parts.key_bits.size()));
  if (!obj_copy || (ptype == V_ASN1_OBJECT && !curve_copy) || bits == nullptr ||
      X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x), obj_copy.get(), ptype, curve_copy.get(), bits,
                             static_cast<int>(parts.key_bits.size())) != 1) {
    OPENSSL_free(bits);
    return OsslError(ErrorCode::kInternal, "X509_PUBKEY_set0_param");
  }
  obj_copy.release();
  curve_copy.release();
  return Ok();
}

// X509_add_ext copies the extension, so a cached original is only read.
Status AddCopy(X509* x, const X509_EXTENSION* ext) {
  if (X509_add_ext(x, const_cast<X509_EXTENSION*>(ext), -1) != 1) {
    return OsslError(ErrorCode::kInternal, "X509_add_ext");
  }
  return Ok();
}

Result<internal::EvpMdCtxPtr> NewSignContext(EVP_PKEY* key, const char* digest) {
  internal::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx ||
      EVP_DigestSignInit_ex(ctx.get(), nullptr, digest, nullptr, nullptr, key, nullptr) != 1) {
    return OsslError(ErrorCode::kInternal, "EVP_DigestSignInit_ex");
  }
  return ctx;
}

}  // namespace

Result<Signer> Signer::Create(std::optional<Certificate> issuer,
                              std::shared_ptr<const crypto::PrivateKey> issuer_key) {
  if (!issuer_key || issuer_key->get() == nullptr) return InvalidArgument("signer needs a key");
  auto cache = std::make_shared<Cache>();
  cache->sha1.reset(EVP_MD_fetch(nullptr, "SHA1", nullptr));
  if (!cache->sha1) return OsslError(ErrorCode::kInternal, "fetch SHA1");
  auto [digest, nid] = SignatureAlgorithm(issuer_key->type());
  CF_ASSIGN_OR_RETURN(cache->sign_template, NewSignContext(issuer_key->get(), digest));
  cache->expected.signature_nid = nid;
  cache->issuer_spki = issuer_key->public_key().spki_der();
  internal::ExtensionSink keep;
  CF_TRY(internal::BasicConstraintsExtension(keep, false, std::nullopt));
  cache->leaf_basic_constraints = keep.Take();
  if (!issuer.has_value()) {
    cache->self_signed = true;
  } else {
    if (!issuer->is_ca() || !issuer->key_usage().key_cert_sign) {
      return InvalidArgument("issuer certificate is not a CA with keyCertSign");
    }
    if (!issuer->MatchesKey(*issuer_key)) {
      return InvalidArgument("issuer key does not match the issuer certificate");
    }
    cache->issuer_name.reset(X509_NAME_dup(X509_get_subject_name(issuer->get())));
    if (!cache->issuer_name) return OsslError(ErrorCode::kInternal, "X509_NAME_dup");
    // Encoding once also clears the name's "modified" flag, so later copies only read it.
    cache->expected.issuer_name_der = internal::ToDer(cache->issuer_name.get(), i2d_X509_NAME);
    // RFC 5280 section 4.2.1.1: the AKID keyIdentifier is the issuer's SKID; for an issuer
    // without one, derive it the same way our own SKIDs are made (method 1).
    std::string key_id = issuer->subject_key_id();
    if (key_id.empty()) {
      CF_ASSIGN_OR_RETURN(internal::SpkiParts parts, internal::SplitSpki(cache->issuer_spki));
      key_id = internal::KeyIdentifier(parts.key_bits, cache->sha1.get());
    }
    cache->expected.authority_key_id = key_id;
    CF_TRY(internal::AuthorityKeyIdExtension(keep, key_id));
    cache->authority_key_id = keep.Take();
  }
  return Signer(std::move(issuer), std::move(issuer_key), std::move(cache));
}

Result<Certificate> Signer::Sign(LintedTbs&& tbs) const {
  const LintedTbs linted = std::move(tbs);  // consumed: one token, one certificate
  const TbsSpec& spec = linted.spec();
  const Cache& cache = *cache_;
  if (cache.self_signed && spec.subject_public_key_der != cache.issuer_spki) {
    return InvalidArgument("a self-signed certificate must certify the signing key");
  }
  CF_ASSIGN_OR_RETURN(internal::SpkiParts spki, internal::SplitSpki(spec.subject_public_key_der));
  std::string key_id = internal::KeyIdentifier(spki.key_bits, cache.sha1.get());
  if (key_id.empty()) return Internal("cannot compute subjectKeyIdentifier");

  internal::X509Ptr x(X509_new());
  if (!x) return OsslError(ErrorCode::kInternal, "X509_new");
  if (X509_set_version(x.get(), X509_VERSION_3) != 1) {
    return OsslError(ErrorCode::kInternal, "X509_set_version");
  }
  CF_TRY(internal::SetPositiveInteger(X509_get_serialNumber(x.get()), spec.serial));
  CF_TRY(internal::SetAsn1Time(X509_getm_notBefore(x.get()), spec.not_before));
  CF_TRY(internal::SetAsn1Time(X509_getm_notAfter(x.get()), spec.not_after));
  // The subject is filled in place (no copy); a self-signed issuer is a copy of it.
  X509_NAME* subject = X509_get_subject_name(x.get());
  CF_TRY(internal::AddNameEntries(subject, spec.subject_common_name, spec.subject_organization));
  if (X509_set_issuer_name(x.get(), cache.self_signed ? subject : cache.issuer_name.get()) != 1) {
    return OsslError(ErrorCode::kInternal, "X509_set_issuer_name");
  }
  CF_TRY(SetSubjectPublicKey(x.get(), spki));

  // Extensions in the order BR 7.1.2.7.6 lists them for subscribers. Per-certificate ones are
  // encoded straight into the certificate; the leaf basicConstraints and the AKID are copies of
  // the cached ones.
  internal::ExtensionSink sink(x.get());
  if (spec.is_ca) {
    CF_TRY(internal::BasicConstraintsExtension(sink, true, spec.path_len));
  } else {
    CF_TRY(AddCopy(x.get(), cache.leaf_basic_constraints.get()));
  }
  CF_TRY(internal::KeyUsageExtension(sink, spec.key_usage));
  if (!spec.extended_key_usage.empty()) {
    CF_TRY(internal::ExtendedKeyUsageExtension(sink, spec.extended_key_usage));
  }
  if (!spec.dns_names.empty() || !spec.ip_addresses.empty()) {
    std::vector<std::string> ips;
    for (const std::string& ip : spec.ip_addresses) {
      std::optional<std::string> octets = internal::ParseIpAddress(ip);
      if (!octets) return Internal("linted IP address does not parse");
      ips.push_back(std::move(*octets));
    }
    // RFC 5280 section 4.2.1.6: critical when the subject is empty.
    bool empty_subject = spec.subject_common_name.empty() && spec.subject_organization.empty();
    CF_TRY(internal::SubjectAltNameExtension(sink, spec.dns_names, ips, empty_subject));
  }
  CF_TRY(internal::SubjectKeyIdExtension(sink, key_id));
  if (cache.self_signed) {
    CF_TRY(internal::AuthorityKeyIdExtension(sink, key_id));
  } else {
    CF_TRY(AddCopy(x.get(), cache.authority_key_id.get()));
  }
  if (!spec.crl_distribution_points.empty()) {
    CF_TRY(internal::CrlDistributionPointsExtension(sink, spec.crl_distribution_points));
  }

  internal::EvpMdCtxPtr md_ctx(EVP_MD_CTX_new());
  if (!md_ctx || EVP_MD_CTX_copy_ex(md_ctx.get(), cache.sign_template.get()) != 1) {
    // Not expected with OpenSSL's providers; a fresh context is only slower.
    internal::ClearOsslErrors();
    CF_ASSIGN_OR_RETURN(md_ctx,
                        NewSignContext(key_->get(), SignatureAlgorithm(key_->type()).first));
  }
  if (X509_sign_ctx(x.get(), md_ctx.get()) <= 0) {
    return OsslError(ErrorCode::kInternal, "X509_sign_ctx");
  }
  std::string der = internal::ToDer(x.get(), i2d_X509);
  if (der.empty()) return OsslError(ErrorCode::kInternal, "i2d_X509");

  // Decode what OpenSSL produced, not the object we built, and compare it with the linted spec.
  internal::IssuerExpectations expected_self;
  const internal::IssuerExpectations* expected = &cache.expected;
  if (cache.self_signed) {
    expected_self = {internal::ToDer(subject, i2d_X509_NAME), key_id, cache.expected.signature_nid};
    expected = &expected_self;
  }
  CF_TRY(internal::CheckIssuedMatchesSpec(der, spec, *expected));
  // The returned certificate keeps the X509 it was encoded from (certificate_internal.h).
  return WrapX509(std::shared_ptr<X509>(x.release(), X509_free), std::move(der));
}

}  // namespace certfleet::x509
