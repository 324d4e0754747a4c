#include "x509/extensions.h"

#include <openssl/objects.h>

namespace certfleet::x509::internal {
namespace {

Result<GeneralNamePtr> Ia5Name(int type, std::string_view value) {
  GeneralNamePtr gn(GENERAL_NAME_new());
  ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
  if (!gn || ia5 == nullptr ||
      ASN1_STRING_set(ia5, value.data(), static_cast<int>(value.size())) != 1) {
    ASN1_IA5STRING_free(ia5);
    return OsslError(ErrorCode::kInternal, "GENERAL_NAME");
  }
  GENERAL_NAME_set0_value(gn.get(), type, ia5);
  return gn;
}

Status PushName(GENERAL_NAMES* names, Result<GeneralNamePtr> gn) {
  if (!gn.ok()) return std::move(gn).error();
  if (sk_GENERAL_NAME_push(names, gn->get()) <= 0) {
    return OsslError(ErrorCode::kInternal, "sk_GENERAL_NAME_push");
  }
  gn->release();  // now owned by the stack
  return Ok();
}

Result<Asn1OctetStringPtr> OctetString(std::string_view bytes) {
  Asn1OctetStringPtr os(ASN1_OCTET_STRING_new());
  if (!os || ASN1_OCTET_STRING_set(os.get(), Bytes(bytes), static_cast<int>(bytes.size())) != 1) {
    return OsslError(ErrorCode::kInternal, "ASN1_OCTET_STRING_set");
  }
  return os;
}

}  // namespace

Status ExtensionSink::Put(int nid, bool critical, void* value) {
  if (target_ != nullptr) {
    // X509V3_ADD_APPEND: no search for an existing one; Sign() adds each extension once.
    if (X509_add1_ext_i2d(target_, nid, value, critical ? 1 : 0, X509V3_ADD_APPEND) != 1) {
      return OsslError(ErrorCode::kInternal, std::string("add ") + OBJ_nid2sn(nid));
    }
    return Ok();
  }
  kept_.reset(X509V3_EXT_i2d(nid, critical ? 1 : 0, value));
  if (!kept_) return OsslError(ErrorCode::kInternal, std::string("encode ") + OBJ_nid2sn(nid));
  return Ok();
}

int EkuNid(ExtendedKeyUsage eku) {
  switch (eku) {
    case ExtendedKeyUsage::kServerAuth:
      return NID_server_auth;
    case ExtendedKeyUsage::kClientAuth:
      return NID_client_auth;
    case ExtendedKeyUsage::kOcspSigning:
      return NID_OCSP_sign;
  }
  return NID_undef;
}

Status BasicConstraintsExtension(ExtensionSink& sink, bool ca, std::optional<int> path_len) {
  BasicConstraintsPtr bc(BASIC_CONSTRAINTS_new());
  if (!bc) return OsslError(ErrorCode::kInternal, "BASIC_CONSTRAINTS_new");
  bc->ca = ca ? 0xff : 0;
  if (ca && path_len.has_value()) {
    bc->pathlen = ASN1_INTEGER_new();
    if (bc->pathlen == nullptr || ASN1_INTEGER_set(bc->pathlen, *path_len) != 1) {
      return OsslError(ErrorCode::kInternal, "pathLenConstraint");
    }
  }
  return sink.Put(NID_basic_constraints, true, bc.get());
}

Status KeyUsageExtension(ExtensionSink& sink, const KeyUsage& ku) {
  Asn1BitStringPtr bits(ASN1_BIT_STRING_new());
  if (!bits) return OsslError(ErrorCode::kInternal, "ASN1_BIT_STRING_new");
  // RFC 5280 section 4.2.1.3 bit positions. i2d trims trailing zero bits, as DER requires.
  const std::pair<bool, int> kBits[] = {
      {ku.digital_signature, 0}, {ku.key_encipherment, 2}, {ku.key_cert_sign, 5}, {ku.crl_sign, 6}};
  for (auto [set, bit] : kBits) {
    if (set && ASN1_BIT_STRING_set_bit(bits.get(), bit, 1) != 1) {
      return OsslError(ErrorCode::kInternal, "ASN1_BIT_STRING_set_bit");
    }
  }
  return sink.Put(NID_key_usage, true, bits.get());
}

Status ExtendedKeyUsageExtension(ExtensionSink& sink, const std::vector<ExtendedKeyUsage>& ekus) {
  ExtendedKeyUsagePtr eku(sk_ASN1_OBJECT_new_null());
  if (!eku) return OsslError(ErrorCode::kInternal, "EXTENDED_KEY_USAGE");
  for (ExtendedKeyUsage e : ekus) {
    // OBJ_nid2obj returns a static object, so the stack's pop_free leaves it alone.
    if (sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(EkuNid(e))) <= 0) {
      return OsslError(ErrorCode::kInternal, "sk_ASN1_OBJECT_push");
    }
  }
  return sink.Put(NID_ext_key_usage, false, eku.get());
}

Status SubjectAltNameExtension(ExtensionSink& sink, const std::vector<std::string>& dns_names,
                               const std::vector<std::string>& ip_octets, bool critical) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) return OsslError(ErrorCode::kInternal, "GENERAL_NAMES");
  for (const std::string& dns : dns_names) CF_TRY(PushName(names.get(), Ia5Name(GEN_DNS, dns)));
  for (const std::string& ip : ip_octets) {
    CF_ASSIGN_OR_RETURN(Asn1OctetStringPtr os, OctetString(ip));
    GeneralNamePtr gn(GENERAL_NAME_new());
    if (!gn) return OsslError(ErrorCode::kInternal, "GENERAL_NAME_new");
    GENERAL_NAME_set0_value(gn.get(), GEN_IPADD, os.release());
    CF_TRY(PushName(names.get(), std::move(gn)));
  }
  return sink.Put(NID_subject_alt_name, critical, names.get());
}

Status SubjectKeyIdExtension(ExtensionSink& sink, std::string_view key_id) {
  CF_ASSIGN_OR_RETURN(Asn1OctetStringPtr os, OctetString(key_id));
  return sink.Put(NID_subject_key_identifier, false, os.get());
}

Status AuthorityKeyIdExtension(ExtensionSink& sink, std::string_view key_id) {
  AuthorityKeyIdPtr akid(AUTHORITY_KEYID_new());
  if (!akid) return OsslError(ErrorCode::kInternal, "AUTHORITY_KEYID_new");
  CF_ASSIGN_OR_RETURN(Asn1OctetStringPtr os, OctetString(key_id));
  akid->keyid = os.release();
  return sink.Put(NID_authority_key_identifier, false, akid.get());
}

Status CrlDistributionPointsExtension(ExtensionSink& sink, const std::vector<std::string>& uris) {
  CrlDistPointsPtr dps(sk_DIST_POINT_new_null());
  if (!dps) return OsslError(ErrorCode::kInternal, "CRL_DIST_POINTS");
  for (const std::string& uri : uris) {
    DistPointPtr dp(DIST_POINT_new());
    GeneralNamesPtr full(sk_GENERAL_NAME_new_null());
    if (!dp || !full) return OsslError(ErrorCode::kInternal, "DIST_POINT");
    CF_TRY(PushName(full.get(), Ia5Name(GEN_URI, uri)));
    dp->distpoint = DIST_POINT_NAME_new();
    if (dp->distpoint == nullptr) return OsslError(ErrorCode::kInternal, "DIST_POINT_NAME_new");
    dp->distpoint->type = 0;  // fullName
    dp->distpoint->name.fullname = full.release();
    if (sk_DIST_POINT_push(dps.get(), dp.get()) <= 0) {
      return OsslError(ErrorCode::kInternal, "sk_DIST_POINT_push");
    }
    dp.release();
  }
  return sink.Put(NID_crl_distribution_points, false, dps.get());
}

}  // namespace certfleet::x509::internal
