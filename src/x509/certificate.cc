#include "x509/certificate.h"

#include <openssl/objects.h>

#include "base/encoding.h"
#include "x509/asn1_util.h"
#include "x509/certificate_internal.h"
#include "x509/ext_view.h"
#include "x509/ossl.h"
#include "x509/pem.h"

namespace certfleet::x509 {

namespace {

const internal::Extensions* Exts(const X509* x) { return X509_get0_extensions(x); }

}  // namespace

Certificate WrapX509(std::shared_ptr<X509> x, std::string der) {
  return Certificate(std::move(x), std::move(der));
}

std::shared_ptr<X509> X509WithKey(const Certificate& cert) {
  if (X509_get0_pubkey(cert.x509_.get()) != nullptr) return cert.x509_;
  internal::ClearOsslErrors();
  const unsigned char* p = internal::Bytes(cert.der_);
  std::shared_ptr<X509> parsed(
      d2i_X509(nullptr, &p, static_cast<long>(cert.der_.size())),  // NOLINT
      X509_free);
  internal::ClearOsslErrors();
  // An undecodable key stays undecodable; callers then fail with OpenSSL's own reason.
  return parsed ? parsed : cert.x509_;
}

Result<Certificate> Certificate::FromDer(std::string_view der) {
  if (der.empty()) return Malformed("empty certificate");
  if (der.size() > static_cast<size_t>(INT32_MAX)) return TooLarge("certificate too large");
  const unsigned char* p = internal::Bytes(der);
  std::shared_ptr<X509> x(d2i_X509(nullptr, &p, static_cast<long>(der.size())),  // NOLINT
                          X509_free);
  if (!x) return internal::OsslError(ErrorCode::kMalformed, "invalid certificate DER");
  if (p != internal::Bytes(der) + der.size()) {
    return Malformed("trailing data after certificate DER");
  }
  // Caches the decoded extensions. EXFLAG_INVALID covers duplicate or undecodable extensions
  // (RFC 5280 section 4.2: an extension appears at most once) and signature algorithms OpenSSL
  // does not know, i.e. certificates nothing here could use.
  if (X509_get_extension_flags(x.get()) & EXFLAG_INVALID) {
    internal::ClearOsslErrors();
    return Malformed("certificate has duplicate or undecodable extensions");
  }
  return Certificate(std::move(x), std::string(der));
}

Result<Certificate> Certificate::FromPem(std::string_view pem) {
  CF_ASSIGN_OR_RETURN(std::vector<Certificate> certs, ParsePemChain(pem));
  if (certs.size() != 1) {
    return Malformed("expected exactly one CERTIFICATE PEM block, found " +
                     std::to_string(certs.size()));
  }
  return std::move(certs.front());
}

Result<std::vector<Certificate>> Certificate::ParsePemChain(std::string_view pem) {
  CF_ASSIGN_OR_RETURN(std::vector<std::string> blocks,
                      internal::ReadPemBlocks(pem, {"CERTIFICATE"}));
  std::vector<Certificate> certs;
  certs.reserve(blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    Result<Certificate> c = FromDer(blocks[i]);
    if (!c.ok()) {
      return Error(ErrorCode::kMalformed, "certificate " + std::to_string(i) + " in PEM chain")
          .WithCause(std::move(c).error());
    }
    certs.push_back(std::move(c).value());
  }
  return certs;
}

std::string Certificate::ToPem() const { return internal::WritePem("CERTIFICATE", der_); }

std::string Certificate::serial_bytes() const {
  return internal::IntegerMagnitude(X509_get0_serialNumber(x509_.get()));
}

std::string Certificate::serial_hex() const {
  std::string bytes = serial_bytes();
  return bytes.empty() ? "00" : HexEncode(bytes);
}

TimePoint Certificate::not_before() const {
  return internal::Asn1TimeToTimePoint(X509_get0_notBefore(x509_.get())).value_or(TimePoint{});
}

TimePoint Certificate::not_after() const {
  return internal::Asn1TimeToTimePoint(X509_get0_notAfter(x509_.get())).value_or(TimePoint{});
}

std::string Certificate::subject() const {
  return internal::NameOneLine(X509_get_subject_name(x509_.get()));
}

std::string Certificate::issuer() const {
  return internal::NameOneLine(X509_get_issuer_name(x509_.get()));
}

std::string Certificate::subject_der() const {
  return internal::ToDer(X509_get_subject_name(x509_.get()), i2d_X509_NAME);
}

std::string Certificate::subject_common_name() const {
  return internal::NameEntry(X509_get_subject_name(x509_.get()), NID_commonName);
}

std::vector<std::string> Certificate::dns_names() const {
  return internal::SubjectAltNames(Exts(x509_.get()), GEN_DNS);
}

std::vector<std::string> Certificate::ip_addresses() const {
  std::vector<std::string> out;
  for (const std::string& octets : internal::SubjectAltNames(Exts(x509_.get()), GEN_IPADD)) {
    out.push_back(internal::IpAddressToText(octets));
  }
  return out;
}

size_t Certificate::subject_alt_name_count() const {
  return internal::SubjectAltNameCount(Exts(x509_.get()));
}

std::vector<RawExtension> Certificate::extensions() const {
  std::vector<RawExtension> out;
  const internal::Extensions* exts = Exts(x509_.get());
  for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i) {
    // OpenSSL 3.0 takes these getters' argument as non-const; nothing is modified.
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts, i);
    RawExtension raw;
    char oid[128] = {};
    const int len = OBJ_obj2txt(oid, sizeof oid, X509_EXTENSION_get_object(ext), 1);
    // An OID too long for the buffer is kept truncated to nothing rather than misread.
    if (len > 0 && static_cast<size_t>(len) < sizeof oid) raw.oid = oid;
    raw.critical = X509_EXTENSION_get_critical(ext) > 0;
    raw.value = std::string(internal::AsView(X509_EXTENSION_get_data(ext)));
    out.push_back(std::move(raw));
  }
  internal::ClearOsslErrors();
  return out;
}

std::string Certificate::fingerprint_sha256_hex() const {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(der_.data(), der_.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    internal::ClearOsslErrors();
    return {};
  }
  return HexEncode(std::string_view(reinterpret_cast<char*>(md), len));
}

std::string Certificate::spki_der() const {
  return internal::ToDer(X509_get_X509_PUBKEY(x509_.get()), i2d_X509_PUBKEY);
}

Result<crypto::PublicKey> Certificate::public_key() const {
  return crypto::PublicKey::FromSpkiDer(spki_der());
}

bool Certificate::is_ca() const { return internal::GetBasicConstraints(Exts(x509_.get())).ca; }

std::optional<int> Certificate::path_len() const {
  std::optional<int> len = internal::GetBasicConstraints(Exts(x509_.get())).path_len;
  return len.has_value() && *len < 0 ? std::nullopt : len;
}

KeyUsage Certificate::key_usage() const { return internal::GetKeyUsage(Exts(x509_.get())); }

std::vector<ExtendedKeyUsage> Certificate::extended_key_usage() const {
  return internal::GetExtendedKeyUsage(Exts(x509_.get()));
}

std::string Certificate::subject_key_id() const {
  return internal::GetSubjectKeyId(Exts(x509_.get()));
}

std::string Certificate::authority_key_id() const {
  return internal::GetAuthorityKeyId(Exts(x509_.get()));
}

std::vector<std::string> Certificate::crl_distribution_points() const {
  return internal::GetCrlDistributionPoints(Exts(x509_.get()));
}

bool Certificate::MatchesKey(const crypto::PrivateKey& key) const {
  // The same SubjectPublicKeyInfo bytes are the same key. This is the common case (a certificate
  // just issued for the key) and avoids re-parsing the certificate to decode its key.
  if (spki_der() == key.public_key().spki_der()) return true;
  std::shared_ptr<X509> x = X509WithKey(*this);
  EVP_PKEY* cert_key = X509_get0_pubkey(x.get());
  bool match = cert_key != nullptr && key.get() != nullptr && EVP_PKEY_eq(cert_key, key.get()) == 1;
  internal::ClearOsslErrors();
  return match;
}

}  // namespace certfleet::x509
