#include "args.h"

#include <gtest/gtest.h>

namespace certfleet::cli {
namespace {

TEST(ParseTags, SplitsAtFirstEquals) {
  auto tags = ParseTags({"env=prod", "team=a=b", "empty="});
  ASSERT_TRUE(tags.ok()) << tags.error().message();
  EXPECT_EQ(tags->at("env"), "prod");
  EXPECT_EQ(tags->at("team"), "a=b");
  EXPECT_EQ(tags->at("empty"), "");
}

TEST(ParseTags, RejectsMalformed) {
  for (const char* bad : {"noequals", "=value", "bad key=x", "-lead=x"}) {
    auto tags = ParseTags({bad});
    ASSERT_FALSE(tags.ok()) << bad;
    EXPECT_EQ(tags.error().code(), ErrorCode::kInvalidArgument);
  }
  auto missing = ParseTags({"env"});
  EXPECT_NE(missing.error().message().find("KEY=VALUE"), std::string::npos);
}

TEST(ParseTags, RejectsDuplicateKeys) {
  auto tags = ParseTags({"env=a", "env=b"});
  ASSERT_FALSE(tags.ok());
  EXPECT_NE(tags.error().message().find("more than once"), std::string::npos);
}

TEST(PassphraseFromFile, StripsTrailingNewlines) {
  auto p = PassphraseFromFile(SecretBytes::FromView("correct horse\r\n"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->view(), "correct horse");
  auto q = PassphraseFromFile(SecretBytes::FromView("no-newline"));
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->view(), "no-newline");
}

TEST(PassphraseFromFile, RejectsEmptyAndBinary) {
  EXPECT_FALSE(PassphraseFromFile(SecretBytes::FromView("\n")).ok());
  EXPECT_FALSE(PassphraseFromFile(SecretBytes::FromView("")).ok());
  auto binary = PassphraseFromFile(SecretBytes::FromView(std::string_view("Zq9\0x", 5)));
  ASSERT_FALSE(binary.ok());
  // The message must not echo the content.
  EXPECT_EQ(binary.error().message().find("Zq9"), std::string::npos);
  EXPECT_FALSE(PassphraseFromFile(SecretBytes::FromView("two\nlines")).ok());
}

TEST(ExportBodyWithPassphrase, EscapesJson) {
  auto body = ExportBodyWithPassphrase(SecretBytes::FromView(R"(a"b\c)"));
  EXPECT_EQ(body.view(), R"({"passphrase":"a\"b\\c"})");
  auto ctl = ExportBodyWithPassphrase(SecretBytes::FromView(std::string_view("x\x01", 2)));
  EXPECT_EQ(ctl.view(), R"({"passphrase":"x\u0001"})");
}

}  // namespace
}  // namespace certfleet::cli

namespace certfleet::cli {
namespace {

TEST(CheckSpecs, AcceptValidValues) {
  EXPECT_EQ(CheckTagSpec("env=prod"), "");
  EXPECT_EQ(CheckDurationSpec("30d"), "");
  EXPECT_EQ(CheckTimestampSpec("2026-01-31"), "");
  EXPECT_EQ(CheckTimestampSpec("2026-01-31T12:00:00Z"), "");
}

TEST(CheckSpecs, ExplainBadValues) {
  EXPECT_NE(CheckTagSpec("env").find("KEY=VALUE"), std::string::npos);
  EXPECT_NE(CheckDurationSpec("30 days").find("duration"), std::string::npos);
  EXPECT_NE(CheckTimestampSpec("yesterday").find("\"yesterday\""), std::string::npos);
}

}  // namespace
}  // namespace certfleet::cli
