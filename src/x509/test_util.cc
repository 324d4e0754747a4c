#include "x509/test_util.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "base/time_util.h"
#include "x509/asn1_util.h"
#include "x509/ossl.h"

namespace certfleet::x509::testing {

std::shared_ptr<const crypto::PrivateKey> NewKey(crypto::KeyType type) {
  Result<crypto::PrivateKey> key = crypto::PrivateKey::Generate(type);
  CF_CHECK(key.ok());
  return std::make_shared<const crypto::PrivateKey>(std::move(key).value());
}

std::string RawSpki(std::string_view spec) {
  internal::EvpPkeyPtr pkey;
  std::string s(spec);
  if (s.rfind("RSA:", 0) == 0) {
    pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t(std::stoul(s.substr(4)))));
  } else if (s.rfind("EC:", 0) == 0) {
    pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", s.substr(3).c_str()));
  } else {
    pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, s.c_str()));
  }
  CF_CHECK(pkey != nullptr);
  return internal::ToDer(pkey.get(), i2d_PUBKEY);
}

TimePoint T0() { return UtcDate(2026, 1, 1); }

std::string Serial(uint64_t n) {
  std::string s(16, '\0');
  s[0] = 0x70;
  for (int i = 0; i < 8; ++i) s[15 - i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

TbsSpec LeafSpec(const crypto::PublicKey& key) {
  TbsSpec spec;
  spec.serial = Serial(1);
  spec.subject_common_name = "app.example.test";
  spec.dns_names = {"app.example.test", "www.example.test"};
  spec.not_before = T0();
  spec.not_after = T0() + std::chrono::hours(24 * 90) - Seconds(1);
  spec.subject_public_key_der = key.spki_der();
  spec.key_usage.digital_signature = true;
  spec.extended_key_usage = {ExtendedKeyUsage::kServerAuth};
  return spec;
}

TbsSpec CaSpec(const crypto::PublicKey& key, std::string_view cn) {
  TbsSpec spec;
  spec.serial = Serial(1000);
  spec.subject_common_name = std::string(cn);
  spec.subject_organization = "certfleet";
  spec.not_before = T0() - std::chrono::hours(24 * 365);
  spec.not_after = T0() + std::chrono::hours(24 * 3650);
  spec.subject_public_key_der = key.spki_der();
  spec.is_ca = true;
  spec.key_usage.key_cert_sign = true;
  spec.key_usage.crl_sign = true;
  spec.key_usage.digital_signature = true;
  return spec;
}

namespace {
Signer MustSigner(std::optional<Certificate> issuer,
                  std::shared_ptr<const crypto::PrivateKey> key) {
  Result<Signer> s = Signer::Create(std::move(issuer), std::move(key));
  if (!s.ok()) ADD_FAILURE() << s.error().ToString();
  CF_CHECK(s.ok());
  return std::move(s).value();
}
}  // namespace

TestCa MakeRoot(crypto::KeyType type) {
  auto key = NewKey(type);
  Signer self = MustSigner(std::nullopt, key);
  TbsSpec spec = CaSpec(key->public_key(), "certfleet Test Root");
  LintOptions options;
  options.allow_ed25519 = true;
  Result<LintedTbs> linted = Lint(std::move(spec), options, nullptr);
  if (!linted.ok()) ADD_FAILURE() << linted.error().ToString();
  CF_CHECK(linted.ok());
  Result<Certificate> cert = self.Sign(std::move(linted).value());
  if (!cert.ok()) ADD_FAILURE() << cert.error().ToString();
  CF_CHECK(cert.ok());
  Certificate c = std::move(cert).value();
  return TestCa{c, key, MustSigner(c, key)};
}

TestCa MakeIntermediate(const TestCa& parent, crypto::KeyType type) {
  auto key = NewKey(type);
  TbsSpec spec = CaSpec(key->public_key(), "certfleet Test Intermediate");
  spec.serial = Serial(2000);
  spec.not_before = parent.cert.not_before();
  spec.not_after = parent.cert.not_after();
  spec.path_len = 0;
  spec.extended_key_usage = {ExtendedKeyUsage::kServerAuth, ExtendedKeyUsage::kClientAuth};
  Certificate c = Issue(parent, std::move(spec));
  return TestCa{c, key, MustSigner(c, key)};
}

Certificate Issue(const TestCa& ca, TbsSpec spec) {
  LintOptions options;
  options.allow_ed25519 = true;
  Result<LintedTbs> linted = Lint(std::move(spec), options, &ca.cert);
  if (!linted.ok()) ADD_FAILURE() << linted.error().ToString();
  CF_CHECK(linted.ok());
  Result<Certificate> cert = ca.signer.Sign(std::move(linted).value());
  if (!cert.ok()) ADD_FAILURE() << cert.error().ToString();
  CF_CHECK(cert.ok());
  return std::move(cert).value();
}

Certificate MakeAcmeTlsAlpnCert(const crypto::PrivateKey& key, const AcmeTlsAlpnCertSpec& spec) {
  internal::X509Ptr x(X509_new());
  CF_CHECK(x != nullptr);
  CF_CHECK(X509_set_version(x.get(), X509_VERSION_3) == 1);
  CF_CHECK(ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 0x7e57) == 1);
  X509_NAME* name = X509_get_subject_name(x.get());
  CF_CHECK(X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_ASC,
                                      reinterpret_cast<const unsigned char*>("acme-tls-alpn-test"),
                                      -1, -1, 0) == 1);
  CF_CHECK(X509_set_issuer_name(x.get(), name) == 1);
  CF_CHECK(X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600) != nullptr);
  CF_CHECK(X509_gmtime_adj(X509_getm_notAfter(x.get()), 86400) != nullptr);
  CF_CHECK(X509_set_pubkey(x.get(), key.get()) == 1);

  if (!spec.dns_names.empty() || !spec.ip_addresses.empty()) {
    internal::GeneralNamesPtr names(GENERAL_NAMES_new());
    CF_CHECK(names != nullptr);
    auto add = [&](int type, std::string_view value) {
      internal::GeneralNamePtr gn(GENERAL_NAME_new());
      ASN1_STRING* str =
          ASN1_STRING_type_new(type == GEN_DNS ? V_ASN1_IA5STRING : V_ASN1_OCTET_STRING);
      CF_CHECK(gn != nullptr && str != nullptr);
      CF_CHECK(ASN1_STRING_set(str, value.data(), static_cast<int>(value.size())) == 1);
      GENERAL_NAME_set0_value(gn.get(), type, str);
      CF_CHECK(sk_GENERAL_NAME_push(names.get(), gn.release()) > 0);
    };
    for (const std::string& d : spec.dns_names) add(GEN_DNS, d);
    for (const std::string& ip : spec.ip_addresses) {
      std::optional<std::string> octets = internal::ParseIpAddress(ip);
      CF_CHECK(octets.has_value());
      add(GEN_IPADD, *octets);
    }
    CF_CHECK(X509_add1_ext_i2d(x.get(), NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) ==
             1);
  }

  if (spec.acme_identifier.has_value()) {
    internal::Asn1OctetStringPtr inner(ASN1_OCTET_STRING_new());
    CF_CHECK(inner != nullptr);
    CF_CHECK(ASN1_OCTET_STRING_set(inner.get(), internal::Bytes(*spec.acme_identifier),
                                   static_cast<int>(spec.acme_identifier->size())) == 1);
    const std::string der = internal::ToDer(inner.get(), i2d_ASN1_OCTET_STRING);
    CF_CHECK(!der.empty());
    internal::Asn1OctetStringPtr ext_value(ASN1_OCTET_STRING_new());
    CF_CHECK(ext_value != nullptr);
    CF_CHECK(ASN1_OCTET_STRING_set(ext_value.get(), internal::Bytes(der),
                                   static_cast<int>(der.size())) == 1);
    internal::Asn1ObjectPtr oid(OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1));
    CF_CHECK(oid != nullptr);
    internal::X509ExtensionPtr ext(X509_EXTENSION_create_by_OBJ(
        nullptr, oid.get(), spec.acme_identifier_critical ? 1 : 0, ext_value.get()));
    CF_CHECK(ext != nullptr);
    CF_CHECK(X509_add_ext(x.get(), ext.get(), -1) == 1);
  }

  CF_CHECK(X509_sign(x.get(), key.get(), EVP_sha256()) > 0);
  Result<Certificate> cert = Certificate::FromDer(internal::ToDer(x.get(), i2d_X509));
  if (!cert.ok()) ADD_FAILURE() << cert.error().ToString();
  CF_CHECK(cert.ok());
  return std::move(cert).value();
}

CommandResult RunCommand(const std::string& command) {
  CommandResult r;
  FILE* f = popen(("( " + command + " ) 2>&1").c_str(), "r");
  if (f == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) r.output.append(buf, n);
  int status = pclose(f);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "x509_test.XXXXXX").string();
  CF_CHECK(mkdtemp(tmpl.data()) != nullptr);
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Write(std::string_view name, std::string_view data) const {
  std::string p = path_ + "/" + std::string(name);
  std::ofstream(p, std::ios::binary) << data;
  return p;
}

}  // namespace certfleet::x509::testing
