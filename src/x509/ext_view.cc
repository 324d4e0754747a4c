#include "x509/ext_view.h"

#include <openssl/objects.h>

namespace certfleet::x509::internal {
namespace {

template <typename T, auto Free>
OsslPtr<T, Free> Decode(const Extensions* exts, int nid) {
  // X509V3_get_d2i returns null for absent, duplicated (crit -2) and undecodable extensions.
  OsslPtr<T, Free> p(static_cast<T*>(X509V3_get_d2i(exts, nid, nullptr, nullptr)));
  ClearOsslErrors();
  return p;
}

}  // namespace

std::vector<std::string> SubjectAltNames(const Extensions* exts, int gen_type) {
  std::vector<std::string> out;
  auto names = Decode<GENERAL_NAMES, GENERAL_NAMES_free>(exts, NID_subject_alt_name);
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    int type = 0;
    const void* v = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(names.get(), i), &type);
    if (type == gen_type) out.emplace_back(AsView(static_cast<const ASN1_STRING*>(v)));
  }
  return out;
}

size_t SubjectAltNameCount(const Extensions* exts) {
  auto names = Decode<GENERAL_NAMES, GENERAL_NAMES_free>(exts, NID_subject_alt_name);
  if (!names) return 0;
  return static_cast<size_t>(sk_GENERAL_NAME_num(names.get()));
}

BasicConstraintsView GetBasicConstraints(const Extensions* exts) {
  BasicConstraintsView view;
  auto bc = Decode<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>(exts, NID_basic_constraints);
  if (!bc || bc->ca == 0) return view;
  view.ca = true;
  int64_t v = 0;
  if (bc->pathlen != nullptr) {
    if (ASN1_INTEGER_get_int64(&v, bc->pathlen) == 1 && v >= 0 && v <= INT32_MAX) {
      view.path_len = static_cast<int>(v);
    } else {
      ClearOsslErrors();
      view.path_len = -1;  // present but unusable: never equal to a linted value
    }
  }
  return view;
}

KeyUsage GetKeyUsage(const Extensions* exts) {
  KeyUsage ku;
  auto bits = Decode<ASN1_BIT_STRING, ASN1_BIT_STRING_free>(exts, NID_key_usage);
  if (!bits) return ku;
  // RFC 5280 section 4.2.1.3 bit positions.
  ku.digital_signature = ASN1_BIT_STRING_get_bit(bits.get(), 0) == 1;
  ku.key_encipherment = ASN1_BIT_STRING_get_bit(bits.get(), 2) == 1;
  ku.key_cert_sign = ASN1_BIT_STRING_get_bit(bits.get(), 5) == 1;
  ku.crl_sign = ASN1_BIT_STRING_get_bit(bits.get(), 6) == 1;
  return ku;
}

std::vector<ExtendedKeyUsage> GetExtendedKeyUsage(const Extensions* exts) {
  std::vector<ExtendedKeyUsage> out;
  auto eku = Decode<EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free>(exts, NID_ext_key_usage);
  if (!eku) return out;
  for (int i = 0; i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
    switch (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), i))) {
      case NID_server_auth:
        out.push_back(ExtendedKeyUsage::kServerAuth);
        break;
      case NID_client_auth:
        out.push_back(ExtendedKeyUsage::kClientAuth);
        break;
      case NID_OCSP_sign:
        out.push_back(ExtendedKeyUsage::kOcspSigning);
        break;
      default:
        break;
    }
  }
  return out;
}

std::string GetSubjectKeyId(const Extensions* exts) {
  auto id = Decode<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>(exts, NID_subject_key_identifier);
  return std::string(AsView(id.get()));
}

std::string GetAuthorityKeyId(const Extensions* exts) {
  auto akid = Decode<AUTHORITY_KEYID, AUTHORITY_KEYID_free>(exts, NID_authority_key_identifier);
  return akid ? std::string(AsView(akid->keyid)) : std::string();
}

std::vector<std::string> GetCrlDistributionPoints(const Extensions* exts) {
  std::vector<std::string> out;
  auto dps = Decode<CRL_DIST_POINTS, CRL_DIST_POINTS_free>(exts, NID_crl_distribution_points);
  if (!dps) return out;
  for (int i = 0; i < sk_DIST_POINT_num(dps.get()); ++i) {
    const DIST_POINT* dp = sk_DIST_POINT_value(dps.get(), i);
    if (dp->distpoint == nullptr || dp->distpoint->type != 0) continue;  // fullName only
    const GENERAL_NAMES* names = dp->distpoint->name.fullname;
    for (int j = 0; j < sk_GENERAL_NAME_num(names); ++j) {
      int type = 0;
      const void* v = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(names, j), &type);
      if (type == GEN_URI) out.emplace_back(AsView(static_cast<const ASN1_STRING*>(v)));
    }
  }
  return out;
}

bool HasExtension(const Extensions* exts, int nid, bool critical) {
  int idx = X509v3_get_ext_by_NID(exts, nid, -1);
  if (idx < 0 || X509v3_get_ext_by_NID(exts, nid, idx) >= 0) return false;
  return (X509_EXTENSION_get_critical(X509v3_get_ext(exts, idx)) != 0) == critical;
}

}  // namespace certfleet::x509::internal
