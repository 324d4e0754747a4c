// The CRL builder, checked with OpenSSL's own command line tools as relying parties use them.
#include "x509/crl.h"

#include <gtest/gtest.h>

#include "x509/test_util.h"

namespace certfleet::x509 {
namespace {

using testing::CommandResult;
using testing::RunCommand;

TEST(RevocationReasonTest, NamesRoundTripAndCaOnlyReasonsAreRefused) {
  for (const char* name : {"unspecified", "key-compromise", "affiliation-changed", "superseded",
                           "cessation-of-operation", "privilege-withdrawn"}) {
    auto r = ParseRevocationReason(name);
    ASSERT_TRUE(r.ok()) << name;
    EXPECT_EQ(RevocationReasonName(*r), name);
  }
  for (const char* name :
       {"ca-compromise", "certificate-hold", "remove-from-crl", "keyCompromise", ""}) {
    auto r = ParseRevocationReason(name);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_NE(ParseRevocationReason("nope").error().message().find("key-compromise"),
            std::string::npos);
}

class CrlTest : public ::testing::Test {
 protected:
  testing::TestCa root_ = testing::MakeRoot(crypto::KeyType::kP384);
  testing::TestCa inter_ = testing::MakeIntermediate(root_);
  testing::TempDir dir_;
};

TEST_F(CrlTest, OpensslReadsTheCrlAndRejectsARevokedLeaf) {
  auto leaf_key = testing::NewKey(crypto::KeyType::kP256);
  auto spec = testing::LeafSpec(leaf_key->public_key());
  TimePoint now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  spec.not_before = now - std::chrono::hours(1);
  spec.not_after = now + std::chrono::hours(24);
  Certificate revoked = testing::Issue(inter_, spec);
  spec.serial = testing::Serial(99);
  Certificate good = testing::Issue(inter_, spec);

  CrlSpec crl{.number = 42,
              .this_update = now - std::chrono::minutes(1),
              .next_update = now + std::chrono::hours(24),
              .revoked = {{revoked.serial_hex(), now - std::chrono::minutes(2),
                           RevocationReason::kKeyCompromise}}};
  auto der = BuildCrl(crl, inter_.cert, *inter_.key);
  ASSERT_TRUE(der.ok()) << der.error().ToString();

  const std::string crl_path = dir_.Write("crl.der", *der);
  CommandResult text = RunCommand("openssl crl -inform DER -noout -text -in " + crl_path);
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_NE(text.output.find("X509v3 CRL Number"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("42"), std::string::npos);
  EXPECT_NE(text.output.find("Key Compromise"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("Next Update"), std::string::npos);
  EXPECT_NE(text.output.find("X509v3 Authority Key Identifier"), std::string::npos);

  // Signature check against the issuer.
  const std::string inter_pem = dir_.Write("inter.pem", inter_.cert.ToPem());
  CommandResult sig =
      RunCommand("openssl crl -inform DER -noout -in " + crl_path + " -CAfile " + inter_pem);
  EXPECT_EQ(sig.exit_code, 0) << sig.output;
  EXPECT_NE(sig.output.find("verify OK"), std::string::npos) << sig.output;

  // openssl verify -crl_check: the revoked leaf fails, the other one passes.
  CommandResult pem =
      RunCommand("openssl crl -inform DER -in " + crl_path + " -out " + dir_.path() + "/crl.pem");
  ASSERT_EQ(pem.exit_code, 0) << pem.output;
  const std::string root_pem = dir_.Write("root.pem", root_.cert.ToPem());
  const std::string verify = "openssl verify -crl_check -CAfile " + root_pem + " -untrusted " +
                             inter_pem + " -CRLfile " + dir_.path() + "/crl.pem ";
  CommandResult bad = RunCommand(verify + dir_.Write("revoked.pem", revoked.ToPem()));
  EXPECT_NE(bad.exit_code, 0) << bad.output;
  EXPECT_NE(bad.output.find("revoked"), std::string::npos) << bad.output;
  CommandResult ok = RunCommand(verify + dir_.Write("good.pem", good.ToPem()));
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
}

TEST_F(CrlTest, RejectsBadSpecs) {
  TimePoint now = testing::T0();
  CrlSpec spec{.number = 1, .this_update = now, .next_update = now + std::chrono::hours(1)};
  EXPECT_TRUE(BuildCrl(spec, inter_.cert, *inter_.key).ok());
  EXPECT_EQ(BuildCrl(spec, inter_.cert, *root_.key).error().code(), ErrorCode::kInvalidArgument);
  CrlSpec zero = spec;
  zero.number = 0;
  EXPECT_EQ(BuildCrl(zero, inter_.cert, *inter_.key).error().code(), ErrorCode::kInvalidArgument);
  CrlSpec backwards = spec;
  backwards.next_update = now;
  EXPECT_EQ(BuildCrl(backwards, inter_.cert, *inter_.key).error().code(),
            ErrorCode::kInvalidArgument);
  CrlSpec bad_serial = spec;
  bad_serial.revoked = {{"zz", now, RevocationReason::kSuperseded}};
  EXPECT_EQ(BuildCrl(bad_serial, inter_.cert, *inter_.key).error().code(),
            ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace certfleet::x509
