#include "x509/crl.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>

#include "base/encoding.h"
#include "base/validate.h"
#include "x509/ossl.h"

namespace certfleet::x509 {
namespace {

using internal::OsslError;
using internal::OsslPtr;

using X509CrlPtr = OsslPtr<X509_CRL, X509_CRL_free>;
using X509RevokedPtr = OsslPtr<X509_REVOKED, X509_REVOKED_free>;
using Asn1EnumeratedPtr = OsslPtr<ASN1_ENUMERATED, ASN1_ENUMERATED_free>;

struct ReasonName {
  RevocationReason reason;
  std::string_view name;
  bool subscriber;  // may be asked for through the API
};

constexpr std::array<ReasonName, 10> kReasons = {{
    {RevocationReason::kUnspecified, "unspecified", true},
    {RevocationReason::kKeyCompromise, "key-compromise", true},
    {RevocationReason::kCaCompromise, "ca-compromise", false},
    {RevocationReason::kAffiliationChanged, "affiliation-changed", true},
    {RevocationReason::kSuperseded, "superseded", true},
    {RevocationReason::kCessationOfOperation, "cessation-of-operation", true},
    {RevocationReason::kCertificateHold, "certificate-hold", false},
    {RevocationReason::kRemoveFromCrl, "remove-from-crl", false},
    {RevocationReason::kPrivilegeWithdrawn, "privilege-withdrawn", true},
    {RevocationReason::kAaCompromise, "aa-compromise", false},
}};

const char* DigestFor(crypto::KeyType type) {
  switch (type) {
    case crypto::KeyType::kP256:
      return "SHA256";
    case crypto::KeyType::kP384:
      return "SHA384";
    case crypto::KeyType::kEd25519:
      return nullptr;  // pure EdDSA
    default:
      return "SHA256";
  }
}

Status SetTime(X509_CRL* crl, TimePoint t, bool next) {
  internal::Asn1TimePtr at(ASN1_TIME_set(
      nullptr, std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t))));
  if (!at) return OsslError(ErrorCode::kInternal, "ASN1_TIME_set");
  int ok = next ? X509_CRL_set1_nextUpdate(crl, at.get()) : X509_CRL_set1_lastUpdate(crl, at.get());
  if (ok != 1) return OsslError(ErrorCode::kInternal, "X509_CRL_set1_*Update");
  return Ok();
}

Result<internal::Asn1IntegerPtr> SerialInteger(const std::string& hex) {
  auto bytes = HexDecode(hex);
  if (!bytes.ok() || bytes->empty() || bytes->size() > 20) {
    return InvalidArgument("CRL entry: malformed serial " + QuoteForMessage(hex));
  }
  internal::BignumPtr bn(
      BN_bin2bn(internal::Bytes(*bytes), static_cast<int>(bytes->size()), nullptr));
  if (!bn) return OsslError(ErrorCode::kInternal, "BN_bin2bn");
  internal::Asn1IntegerPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial) return OsslError(ErrorCode::kInternal, "BN_to_ASN1_INTEGER");
  return serial;
}

Status AddEntry(X509_CRL* crl, const RevokedEntry& e) {
  X509RevokedPtr rev(X509_REVOKED_new());
  if (!rev) return OsslError(ErrorCode::kInternal, "X509_REVOKED_new");
  CF_ASSIGN_OR_RETURN(internal::Asn1IntegerPtr serial, SerialInteger(e.serial_hex));
  if (X509_REVOKED_set_serialNumber(rev.get(), serial.get()) != 1) {
    return OsslError(ErrorCode::kInternal, "X509_REVOKED_set_serialNumber");
  }
  internal::Asn1TimePtr at(
      ASN1_TIME_set(nullptr, std::chrono::system_clock::to_time_t(
                                 std::chrono::floor<std::chrono::seconds>(e.revoked_at))));
  if (!at || X509_REVOKED_set_revocationDate(rev.get(), at.get()) != 1) {
    return OsslError(ErrorCode::kInternal, "X509_REVOKED_set_revocationDate");
  }
  if (e.reason != RevocationReason::kUnspecified) {
    Asn1EnumeratedPtr code(ASN1_ENUMERATED_new());
    if (!code || ASN1_ENUMERATED_set(code.get(), static_cast<long>(e.reason)) != 1 ||
        X509_REVOKED_add1_ext_i2d(rev.get(), NID_crl_reason, code.get(), 0, 0) != 1) {
      return OsslError(ErrorCode::kInternal, "CRL entry reason code");
    }
  }
  // X509_CRL_add0_revoked takes ownership on success.
  if (X509_CRL_add0_revoked(crl, rev.get()) != 1) {
    return OsslError(ErrorCode::kInternal, "X509_CRL_add0_revoked");
  }
  (void)rev.release();
  return Ok();
}

}  // namespace

std::string_view RevocationReasonName(RevocationReason r) {
  for (const ReasonName& n : kReasons)
    if (n.reason == r) return n.name;
  return "unspecified";
}

Result<RevocationReason> ParseRevocationReason(std::string_view name) {
  std::string valid;
  for (const ReasonName& n : kReasons) {
    if (!n.subscriber) continue;
    if (n.name == name) return n.reason;
    if (!valid.empty()) valid += ", ";
    valid += n.name;
  }
  return InvalidArgument("unknown revocation reason " + QuoteForMessage(name) +
                         "; valid reasons: " + valid);
}

Result<std::string> BuildCrl(const CrlSpec& spec, const Certificate& issuer,
                             const crypto::PrivateKey& issuer_key) {
  if (!issuer.is_ca()) return InvalidArgument("CRL issuer is not a CA");
  if (!issuer.MatchesKey(issuer_key)) return InvalidArgument("CRL key is not the issuer's key");
  if (spec.number <= 0) return InvalidArgument("CRL number must be positive");
  if (spec.next_update <= spec.this_update) {
    return InvalidArgument("CRL nextUpdate must be after thisUpdate");
  }
  X509CrlPtr crl(X509_CRL_new());
  if (!crl) return OsslError(ErrorCode::kInternal, "X509_CRL_new");
  if (X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer.get())) != 1) {
    return OsslError(ErrorCode::kInternal, "X509_CRL header");
  }
  CF_TRY(SetTime(crl.get(), spec.this_update, false));
  CF_TRY(SetTime(crl.get(), spec.next_update, true));
  for (const RevokedEntry& e : spec.revoked) CF_TRY(AddEntry(crl.get(), e));

  // Extensions: authority key identifier (keyid of the issuer) and the CRL number.
  const std::string ski = issuer.subject_key_id();
  if (!ski.empty()) {
    internal::AuthorityKeyIdPtr akid(AUTHORITY_KEYID_new());
    if (!akid) return OsslError(ErrorCode::kInternal, "AUTHORITY_KEYID_new");
    akid->keyid = ASN1_OCTET_STRING_new();
    if (akid->keyid == nullptr ||
        ASN1_OCTET_STRING_set(akid->keyid, internal::Bytes(ski), static_cast<int>(ski.size())) !=
            1 ||
        X509_CRL_add1_ext_i2d(crl.get(), NID_authority_key_identifier, akid.get(), 0, 0) != 1) {
      return OsslError(ErrorCode::kInternal, "CRL authority key identifier");
    }
  }
  internal::Asn1IntegerPtr number(ASN1_INTEGER_new());
  if (!number || ASN1_INTEGER_set_int64(number.get(), spec.number) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, 0) != 1) {
    return OsslError(ErrorCode::kInternal, "CRL number");
  }
  // RFC 5280 5.1.2.6: entries in ascending serial order is not required, but sorting gives a
  // canonical encoding that relying parties can binary-search.
  if (X509_CRL_sort(crl.get()) != 1) return OsslError(ErrorCode::kInternal, "X509_CRL_sort");

  internal::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit_ex(ctx.get(), nullptr, DigestFor(issuer_key.type()), nullptr,
                                    nullptr, issuer_key.get(), nullptr) != 1) {
    return OsslError(ErrorCode::kInternal, "EVP_DigestSignInit_ex");
  }
  if (X509_CRL_sign_ctx(crl.get(), ctx.get()) <= 0) {
    return OsslError(ErrorCode::kInternal, "X509_CRL_sign_ctx");
  }
  std::string der = internal::ToDer(crl.get(), i2d_X509_CRL);
  if (der.empty()) return OsslError(ErrorCode::kInternal, "i2d_X509_CRL");
  return der;
}

}  // namespace certfleet::x509
