#include "x509/csr.h"

#include <openssl/objects.h>

#include <optional>

#include "base/validate.h"
#include "x509/asn1_util.h"
#include "x509/extensions.h"
#include "x509/ossl.h"
#include "x509/pem.h"

namespace certfleet::x509 {

using internal::OsslError;

namespace {

// RFC 5758 section 3.2 / RFC 8410 section 3: the digest follows the key; Ed25519 signs the
// message itself, so no digest is given.
const EVP_MD* DigestFor(crypto::KeyType type) {
  switch (type) {
    case crypto::KeyType::kP384:
      return EVP_sha384();
    case crypto::KeyType::kEd25519:
      return nullptr;
    default:
      return EVP_sha256();
  }
}

Result<std::shared_ptr<X509_REQ>> DecodeRequest(std::string_view der) {
  if (der.empty()) return Malformed("empty CSR");
  if (der.size() > static_cast<size_t>(INT32_MAX)) return TooLarge("CSR too large");
  const unsigned char* p = internal::Bytes(der);
  std::shared_ptr<X509_REQ> req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())),  // NOLINT
                                X509_REQ_free);
  if (!req) return OsslError(ErrorCode::kMalformed, "invalid CSR DER");
  if (p != internal::Bytes(der) + der.size()) return Malformed("trailing data after CSR DER");
  return req;
}

struct RequestedNames {
  std::vector<std::string> dns;
  std::vector<std::string> ips;  // textual
};

// dNSName and iPAddress entries of the requested subjectAltName extension (PKCS#9
// extensionRequest).
Result<RequestedNames> RequestedSans(const X509_REQ* req) {
  RequestedNames out;
  internal::X509ExtensionStackPtr exts(X509_REQ_get_extensions(const_cast<X509_REQ*>(req)));
  internal::ClearOsslErrors();  // an absent extensionRequest is not an error
  if (!exts) return out;
  int found = 0;
  for (int i = 0; i < sk_X509_EXTENSION_num(exts.get()); ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts.get(), i);
    if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_subject_alt_name) continue;
    if (++found > 1) return Malformed("CSR requests subjectAltName more than once");
    internal::GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext)));
    if (!names) return OsslError(ErrorCode::kMalformed, "invalid subjectAltName in CSR");
    for (int j = 0; j < sk_GENERAL_NAME_num(names.get()); ++j) {
      int type = 0;
      const void* v = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(names.get(), j), &type);
      const std::string_view value = internal::AsView(static_cast<const ASN1_STRING*>(v));
      if (type == GEN_DNS) out.dns.emplace_back(value);
      if (type == GEN_IPADD) {
        if (value.size() != 4 && value.size() != 16) {
          return Malformed("CSR requests an iPAddress that is neither 4 nor 16 octets");
        }
        out.ips.push_back(internal::IpAddressToText(value));
      }
    }
  }
  return out;
}

}  // namespace

Result<Csr> Csr::Build(const crypto::PrivateKey& key, std::string_view common_name,
                       const std::vector<std::string>& dns_names,
                       const std::vector<std::string>& ip_addresses) {
  if (key.get() == nullptr) return InvalidArgument("CSR key is empty");
  for (const std::string& name : dns_names) CF_TRY(ValidateDnsName(name));
  std::vector<std::string> ip_octets;
  std::vector<std::string> ip_texts;
  for (const std::string& ip : ip_addresses) {
    std::optional<std::string> octets = internal::ParseIpAddress(ip);
    if (!octets.has_value()) {
      return InvalidArgument("not an IP address: " + QuoteForMessage(ip));
    }
    ip_texts.push_back(internal::IpAddressToText(*octets));
    ip_octets.push_back(std::move(*octets));
  }
  internal::X509ReqPtr req(X509_REQ_new());
  if (!req) return OsslError(ErrorCode::kInternal, "X509_REQ_new");
  CF_ASSIGN_OR_RETURN(internal::X509NamePtr subject, internal::BuildName(common_name, ""));
  if (X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1 ||
      X509_REQ_set_subject_name(req.get(), subject.get()) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.get()) != 1) {
    return OsslError(ErrorCode::kInternal, "fill CSR");
  }
  if (!dns_names.empty() || !ip_octets.empty()) {
    // RFC 5280 section 4.2.1.6: critical when the subject is empty.
    internal::ExtensionSink keep;
    CF_TRY(internal::SubjectAltNameExtension(keep, dns_names, ip_octets, common_name.empty()));
    internal::X509ExtensionPtr san = keep.Take();
    internal::X509ExtensionStackPtr exts(sk_X509_EXTENSION_new_null());
    if (!exts || sk_X509_EXTENSION_push(exts.get(), san.get()) <= 0) {
      return OsslError(ErrorCode::kInternal, "extension stack");
    }
    san.release();
    if (X509_REQ_add_extensions(req.get(), exts.get()) != 1) {
      return OsslError(ErrorCode::kInternal, "X509_REQ_add_extensions");
    }
  }
  if (X509_REQ_sign(req.get(), key.get(), DigestFor(key.type())) <= 0) {
    return OsslError(ErrorCode::kInternal, "X509_REQ_sign");
  }
  std::string der = internal::ToDer(req.get(), i2d_X509_REQ);
  if (der.empty()) return OsslError(ErrorCode::kInternal, "i2d_X509_REQ");
  return Csr(std::shared_ptr<X509_REQ>(req.release(), X509_REQ_free), std::move(der),
             key.public_key(), std::string(common_name), dns_names, std::move(ip_texts));
}

Result<Csr> Csr::FromDer(std::string_view der) {
  CF_ASSIGN_OR_RETURN(std::shared_ptr<X509_REQ> req, DecodeRequest(der));
  std::string spki = internal::ToDer(X509_REQ_get_X509_PUBKEY(req.get()), i2d_X509_PUBKEY);
  if (spki.empty()) return OsslError(ErrorCode::kMalformed, "CSR public key");
  Result<crypto::PublicKey> pub = crypto::PublicKey::FromSpkiDer(spki);
  if (!pub.ok()) {
    return Error(ErrorCode::kMalformed, "unsupported CSR public key").WithCause(pub.error());
  }
  CF_ASSIGN_OR_RETURN(RequestedNames names, RequestedSans(req.get()));
  std::string cn = internal::NameEntry(X509_REQ_get_subject_name(req.get()), NID_commonName);
  return Csr(std::move(req), std::string(der), std::move(pub).value(), std::move(cn),
             std::move(names.dns), std::move(names.ips));
}

Result<Csr> Csr::FromPem(std::string_view pem) {
  // "NEW CERTIFICATE REQUEST" is the pre-RFC 7468 label some tools still write.
  CF_ASSIGN_OR_RETURN(
      std::vector<std::string> blocks,
      internal::ReadPemBlocks(pem, {"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"}));
  if (blocks.size() != 1) {
    return Malformed("expected exactly one CERTIFICATE REQUEST PEM block, found " +
                     std::to_string(blocks.size()));
  }
  return FromDer(blocks.front());
}

std::string Csr::ToPem() const { return internal::WritePem("CERTIFICATE REQUEST", der_); }

Status Csr::VerifySignature() const {
  // X509_REQ_verify only reads the request (it signs over the encoding cached at parse time).
  if (X509_REQ_verify(req_.get(), public_key_.get()) != 1) {
    return OsslError(ErrorCode::kMalformed, "CSR signature does not verify");
  }
  return Ok();
}

}  // namespace certfleet::x509
