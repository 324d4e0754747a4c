// Decision-table tests for Lint(): every rule has a passing and a failing row, and a failing row
// must fail with exactly that rule's name.
#include <gtest/gtest.h>

#include <functional>

#include "base/time_util.h"
#include "x509/tbs.h"
#include "x509/test_util.h"

namespace certfleet::x509 {
namespace {

using testing::T0;
using testing::TestCa;

enum class IssuerKind { kNone, kRoot, kIntermediate, kLeaf };

struct Row {
  std::string name;
  std::string rule;  // empty: Lint must pass
  std::function<void(TbsSpec&, LintOptions&)> mutate;
  IssuerKind issuer = IssuerKind::kIntermediate;
  bool ca_spec = false;  // start from a CA spec instead of a leaf spec
};

class LintTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = new Env;
    env_->root = std::make_unique<TestCa>(testing::MakeRoot());
    env_->inter = std::make_unique<TestCa>(testing::MakeIntermediate(*env_->root));
    env_->p256 = testing::NewKey(crypto::KeyType::kP256);
    env_->p384 = testing::NewKey(crypto::KeyType::kP384);
    env_->ed25519 = testing::NewKey(crypto::KeyType::kEd25519);
    env_->rsa2048 = testing::NewKey(crypto::KeyType::kRsa2048);
    env_->rsa1024 = testing::RawSpki("RSA:1024");
    env_->rsa2052 = testing::RawSpki("RSA:2052");
    env_->rsa2056 = testing::RawSpki("RSA:2056");
    env_->p521 = testing::RawSpki("EC:secp521r1");
    env_->x25519 = testing::RawSpki("X25519");
    env_->leaf = std::make_unique<Certificate>(
        testing::Issue(*env_->inter, testing::LeafSpec(env_->p256->public_key())));
  }
  static void TearDownTestSuite() { delete env_; }

  struct Env {
    std::unique_ptr<TestCa> root, inter;
    std::unique_ptr<Certificate> leaf;
    std::shared_ptr<const crypto::PrivateKey> p256, p384, ed25519, rsa2048;
    std::string rsa1024, rsa2052, rsa2056, p521, x25519;
  };
  static Env* env_;

  static void RunRows(const std::vector<Row>& rows) {
    for (const Row& row : rows) {
      SCOPED_TRACE(row.name);
      TbsSpec spec = row.ca_spec ? testing::CaSpec(env_->p384->public_key(), "Sub CA")
                                 : testing::LeafSpec(env_->p256->public_key());
      if (row.ca_spec) {
        spec.not_before = T0();
        spec.not_after = T0() + std::chrono::hours(24 * 365);
      }
      LintOptions options;
      options.max_validity = Seconds(398 * 24 * 3600);
      row.mutate(spec, options);
      const Certificate* issuer = row.issuer == IssuerKind::kNone           ? nullptr
                                  : row.issuer == IssuerKind::kRoot         ? &env_->root->cert
                                  : row.issuer == IssuerKind::kIntermediate ? &env_->inter->cert
                                                                            : env_->leaf.get();
      Result<LintedTbs> linted = Lint(std::move(spec), options, issuer);
      if (row.rule.empty()) {
        EXPECT_TRUE(linted.ok()) << linted.error().ToString();
      } else {
        ASSERT_FALSE(linted.ok()) << "expected rule " << row.rule;
        EXPECT_EQ(linted.error().code(), ErrorCode::kInvalidArgument);
        EXPECT_EQ(linted.error().message().rfind("lint " + row.rule + ":", 0), 0u)
            << linted.error().message();
      }
    }
  }
};
LintTest::Env* LintTest::env_ = nullptr;

using S = TbsSpec;
using O = LintOptions;

TEST_F(LintTest, Baseline) {
  RunRows(
      {{"valid leaf", "", [](S&, O&) {}},
       {"valid sub CA under root", "", [](S& s, O&) { s.path_len = 0; }, IssuerKind::kRoot, true}});
}

TEST_F(LintTest, Serial) {
  RunRows({
      {"16 octets", "", [](S&, O&) {}},
      {"20 octets, top bit clear", "", [](S& s, O&) { s.serial = std::string(20, '\x7f'); }},
      {"leading zero octet still counts as entropy", "",
       [](S& s, O&) { s.serial = std::string(1, '\0') + std::string(7, '\x11'); }},
      {"zero", "serial.positive", [](S& s, O&) { s.serial = std::string(16, '\0'); }},
      {"empty", "serial.positive", [](S& s, O&) { s.serial.clear(); }},
      {"20 octets with top bit set needs 21", "serial.length",
       [](S& s, O&) { s.serial = std::string(20, '\x80'); }},
      {"21 octets", "serial.length", [](S& s, O&) { s.serial = std::string(21, '\x01'); }},
      {"7 octets", "serial.entropy", [](S& s, O&) { s.serial = std::string(7, '\x01'); }},
  });
}

TEST_F(LintTest, Subject) {
  RunRows({
      {"64-char CN", "",
       [](S& s, O&) {
         s.subject_common_name = std::string(64 - 13, 'a') + ".example.test";
         s.dns_names = {s.subject_common_name};
       }},
      {"UTF-8 organization", "", [](S& s, O&) { s.subject_organization = "M\xc3\xbcller GmbH"; }},
      {"65-char organization", "subject.length",
       [](S& s, O&) { s.subject_organization = std::string(65, 'o'); }},
      {"control character", "subject.charset",
       [](S& s, O&) { s.subject_organization = "bad\nname"; }},
      {"invalid UTF-8", "subject.charset", [](S& s, O&) { s.subject_organization = "bad\xc3"; }},
      {"CA without CN", "subject.ca_common_name", [](S& s, O&) { s.subject_common_name.clear(); },
       IssuerKind::kRoot, true},
  });
}

TEST_F(LintTest, SubjectAltNames) {
  RunRows({
      {"wildcard allowed", "", [](S& s, O&) { s.dns_names.push_back("*.example.test"); }},
      {"wildcard disallowed", "san.dns_syntax",
       [](S& s, O& o) {
         s.dns_names.push_back("*.example.test");
         o.allow_wildcards = false;
       }},
      {"wildcard not leftmost", "san.dns_syntax",
       [](S& s, O&) { s.dns_names.push_back("a.*.example.test"); }},
      {"bad label", "san.dns_syntax", [](S& s, O&) { s.dns_names.push_back("-a.example.test"); }},
      {"single label", "san.dns_syntax", [](S& s, O&) { s.dns_names.push_back("localhost"); }},
      {"duplicate, case-insensitive", "san.dns_duplicate",
       [](S& s, O&) { s.dns_names.push_back("APP.example.test"); }},
      {"IPv4 and IPv6", "",
       [](S& s, O&) {
         s.ip_addresses = {"192.0.2.1", "2001:db8::2"};
       }},
      {"bad IP", "san.ip_syntax", [](S& s, O&) { s.ip_addresses = {"192.0.2.256"}; }},
      {"duplicate IP in two spellings", "san.ip_duplicate",
       [](S& s, O&) {
         s.ip_addresses = {"2001:db8::1", "2001:DB8:0::1"};
       }},
      {"no SAN", "san.required",
       [](S& s, O&) {
         s.dns_names.clear();
         s.subject_common_name.clear();
       }},
      {"no SAN but not required", "",
       [](S& s, O& o) {
         s.dns_names.clear();
         s.subject_common_name.clear();
         s.subject_organization = "certfleet";
         o.require_dns_names = false;
       }},
      {"empty subject and no SAN", "subject.empty",
       [](S& s, O& o) {
         s.dns_names.clear();
         s.subject_common_name.clear();
         o.require_dns_names = false;
       }},
      {"IP-only leaf", "",
       [](S& s, O&) {
         s.dns_names.clear();
         s.subject_common_name = "192.0.2.9";
         s.ip_addresses = {"192.0.2.9"};
       }},
      {"CN in SAN, other case", "", [](S& s, O&) { s.subject_common_name = "WWW.example.test"; }},
      {"empty CN", "", [](S& s, O&) { s.subject_common_name.clear(); }},
      {"CN not in SAN", "subject.cn_in_san",
       [](S& s, O&) { s.subject_common_name = "other.example.test"; }},
  });
}

TEST_F(LintTest, Keys) {
  RunRows({
      {"P-384", "",
       [](S& s, O&) { s.subject_public_key_der = env_->p384->public_key().spki_der(); }},
      {"RSA-2048", "",
       [](S& s, O&) { s.subject_public_key_der = env_->rsa2048->public_key().spki_der(); }},
      {"RSA-2056 (multiple of 8)", "", [](S& s, O&) { s.subject_public_key_der = env_->rsa2056; }},
      {"RSA-1024", "key.rsa_size", [](S& s, O&) { s.subject_public_key_der = env_->rsa1024; }},
      {"RSA-2052", "key.rsa_size", [](S& s, O&) { s.subject_public_key_der = env_->rsa2052; }},
      {"P-521", "key.ec_curve", [](S& s, O&) { s.subject_public_key_der = env_->p521; }},
      {"Ed25519 allowed", "",
       [](S& s, O& o) {
         s.subject_public_key_der = env_->ed25519->public_key().spki_der();
         o.allow_ed25519 = true;
       }},
      {"Ed25519 not allowed", "key.ed25519",
       [](S& s, O&) { s.subject_public_key_der = env_->ed25519->public_key().spki_der(); }},
      {"X25519", "key.type", [](S& s, O&) { s.subject_public_key_der = env_->x25519; }},
      {"empty", "key.present", [](S& s, O&) { s.subject_public_key_der.clear(); }},
      {"garbage", "key.parse", [](S& s, O&) { s.subject_public_key_der = "\x30\x03\x02\x01\x01"; }},
      {"compressed EC point", "key.ec_point",
       [](S& s, O&) {
         const std::string& k = s.subject_public_key_der;  // 21-octet alg, 65-octet point
         std::string point = k.substr(k.size() - 65);
         std::string compressed(1, (point.back() & 1) ? '\x03' : '\x02');
         compressed += point.substr(1, 32);
         s.subject_public_key_der =
             "\x30\x39" + k.substr(2, 21) + std::string("\x03\x22\x00", 3) + compressed;
       }},
      {"EC point off the curve", "key.ec_point",
       [](S& s, O&) { s.subject_public_key_der.back() ^= 0x01; }},
      {"RSA even exponent", "key.rsa_exponent",
       [](S& s, O&) {
         s.subject_public_key_der = env_->rsa2048->public_key().spki_der();
         ASSERT_EQ(s.subject_public_key_der.substr(s.subject_public_key_der.size() - 5),
                   std::string("\x02\x03\x01\x00\x01", 5));
         s.subject_public_key_der.back() = '\0';  // 65536
       }},
      {"trailing byte", "key.parse", [](S& s, O&) { s.subject_public_key_der += '\0'; }},
      {"BER long-form length", "key.parse",
       [](S& s, O&) {
         // 0x30 0x59 ... -> 0x30 0x81 0x59 ...: same value, not DER.
         std::string& k = s.subject_public_key_der;
         k = std::string("\x30\x81", 2) + k.substr(1);
       }},
  });
}

TEST_F(LintTest, Validity) {
  RunRows({
      {"exactly 398 days inclusive", "",
       [](S& s, O&) { s.not_after = s.not_before + Seconds(398 * 24 * 3600) - Seconds(1); }},
      {"398 days + 1 s", "validity.max",
       [](S& s, O&) { s.not_after = s.not_before + Seconds(398 * 24 * 3600); }},
      {"no limit", "",
       [](S& s, O& o) {
         s.not_after = s.not_before + std::chrono::hours(24 * 3000);
         o.max_validity = Seconds(0);
       }},
      {"notAfter before notBefore", "validity.order",
       [](S& s, O&) { s.not_after = s.not_before - Seconds(1); }},
      {"zero length", "validity.order", [](S& s, O&) { s.not_after = s.not_before; }},
      {"sub-second part is floored", "",
       [](S& s, O&) { s.not_before += std::chrono::milliseconds(900); }},
      {"before 1950", "validity.range",
       [](S& s, O& o) {
         s.not_before = UtcDate(1949, 12, 31);
         o.max_validity = Seconds(0);
       },
       IssuerKind::kRoot, true},
      {"starts before issuer", "validity.issuer",
       [](S& s, O& o) {
         s.not_before = env_->inter->cert.not_before() - Seconds(1);
         o.max_validity = Seconds(0);
       }},
      {"ends after issuer", "validity.issuer",
       [](S& s, O& o) {
         s.not_after = env_->inter->cert.not_after() + Seconds(1);
         o.max_validity = Seconds(0);
       }},
  });
}

TEST_F(LintTest, Usages) {
  RunRows({
      {"self-signed leaf", "root.is_ca", [](S&, O&) {}, IssuerKind::kNone},
      {"root", "", [](S&, O&) {}, IssuerKind::kNone, true},
      {"root with EKU", "root.eku",
       [](S& s, O&) { s.extended_key_usage = {ExtendedKeyUsage::kServerAuth}; }, IssuerKind::kNone,
       true},
      {"sub CA with EKU", "",
       [](S& s, O&) {
         s.extended_key_usage = {ExtendedKeyUsage::kServerAuth};
         s.path_len = 0;
       },
       IssuerKind::kRoot, true},
      {"CA without cRLSign", "ca.key_usage", [](S& s, O&) { s.key_usage.crl_sign = false; },
       IssuerKind::kNone, true},
      {"CA without keyCertSign", "ca.key_usage",
       [](S& s, O&) { s.key_usage.key_cert_sign = false; }, IssuerKind::kNone, true},
      {"CA pathLen 3 under root", "", [](S& s, O&) { s.path_len = 3; }, IssuerKind::kRoot, true},
      {"negative pathLen", "ca.path_len", [](S& s, O&) { s.path_len = -1; }, IssuerKind::kRoot,
       true},
      {"leaf with pathLen", "ca.path_len", [](S& s, O&) { s.path_len = 0; }},
      {"leaf with keyCertSign", "leaf.key_cert_sign",
       [](S& s, O&) { s.key_usage.key_cert_sign = true; }},
      {"leaf without digitalSignature", "leaf.digital_signature",
       [](S& s, O&) { s.key_usage.digital_signature = false; }},
      {"RSA leaf with keyEncipherment", "",
       [](S& s, O&) {
         s.subject_public_key_der = env_->rsa2048->public_key().spki_der();
         s.key_usage.key_encipherment = true;
       }},
      {"ECDSA leaf with keyEncipherment", "leaf.key_encipherment",
       [](S& s, O&) { s.key_usage.key_encipherment = true; }},
      {"leaf without EKU", "leaf.eku", [](S& s, O&) { s.extended_key_usage.clear(); }},
      {"duplicate EKU", "eku.duplicate",
       [](S& s, O&) { s.extended_key_usage.push_back(ExtendedKeyUsage::kServerAuth); }},
      {"server + client EKU", "",
       [](S& s, O&) { s.extended_key_usage.push_back(ExtendedKeyUsage::kClientAuth); }},
  });
}

TEST_F(LintTest, CrlDistributionPoints) {
  RunRows({
      {"http URL", "", [](S& s, O&) { s.crl_distribution_points = {"http://crl.example.test/1"}; }},
      {"https URL", "crl.uri",
       [](S& s, O&) { s.crl_distribution_points = {"https://crl.example.test/1"}; }},
      {"space in URL", "crl.uri",
       [](S& s, O&) { s.crl_distribution_points = {"http://crl.example.test/a b"}; }},
      {"scheme only", "crl.uri", [](S& s, O&) { s.crl_distribution_points = {"http://"}; }},
  });
}

TEST_F(LintTest, Issuer) {
  RunRows({
      {"leaf under intermediate", "", [](S&, O&) {}, IssuerKind::kIntermediate},
      {"leaf under root", "", [](S&, O&) {}, IssuerKind::kRoot},
      {"issuer is a leaf", "issuer.ca", [](S&, O&) {}, IssuerKind::kLeaf},
      {"sub CA under pathLen 0 intermediate", "issuer.path_len", [](S& s, O&) { s.path_len = 0; },
       IssuerKind::kIntermediate, true},
  });
}

TEST_F(LintTest, FloorsTimesToSeconds) {
  TbsSpec spec = testing::LeafSpec(env_->p256->public_key());
  spec.not_before += std::chrono::milliseconds(250);
  Result<LintedTbs> linted = Lint(std::move(spec), LintOptions{}, &env_->inter->cert);
  ASSERT_TRUE(linted.ok()) << linted.error().ToString();
  EXPECT_EQ(linted->spec().not_before, T0());
}

}  // namespace
}  // namespace certfleet::x509
