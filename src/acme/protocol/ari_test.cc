#include "acme/protocol/ari.h"

#include <gtest/gtest.h>

#include "base/time_util.h"

namespace certfleet::acme {
namespace {

std::string Hex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

TEST(AriTest, CertIdMatchesRfc9773Example) {
  // RFC 9773 section 4.1: keyIdentifier 69:88:5B:...:C8:D4, serial 0x87654321 (DER 00 87 65 43 21).
  std::string aki = Hex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4");
  EXPECT_EQ(CertIdFromParts(aki, Hex("87654321")), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
  EXPECT_EQ(CertIdFromParts(aki, Hex("0087654321")), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
  // No sign octet when the top bit is clear.
  EXPECT_EQ(CertIdFromParts(aki, Hex("12")), "aYhba4dGQEHhs3uEe6CuLN4ByNQ.Eg");
}

TEST(AriTest, ParsesSuggestedWindow) {
  auto info = ParseRenewalInfo(
      R"({"suggestedWindow":{"start":"2026-01-02T04:00:00Z","end":"2026-01-03T04:00:00Z"},)"
      R"("explanationURL":"https://ca.example/docs/ari"})",
      false);
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_EQ(FormatRfc3339(info->window_start), "2026-01-02T04:00:00Z");
  EXPECT_EQ(FormatRfc3339(info->window_end), "2026-01-03T04:00:00Z");
  EXPECT_EQ(info->explanation_url, "https://ca.example/docs/ari");
}

TEST(AriTest, RefusesBadWindows) {
  for (const char* body :
       {"", "[]", "{}", R"({"suggestedWindow":{"start":"x","end":"2026-01-03T04:00:00Z"}})",
        R"({"suggestedWindow":{"start":"2026-01-03T04:00:00Z","end":"2026-01-02T04:00:00Z"}})",
        R"({"suggestedWindow":{"start":1,"end":2}})"}) {
    auto info = ParseRenewalInfo(body, false);
    ASSERT_FALSE(info.ok()) << body;
    EXPECT_EQ(info.error().code(), ErrorCode::kMalformed) << body;
  }
  EXPECT_FALSE(
      ParseRenewalInfo(
          R"({"suggestedWindow":{"start":"2026-01-02T04:00:00Z","end":"2026-01-03T04:00:00Z"},)"
          R"("explanationURL":"http://ca.example/"})",
          false)
          .ok());
}

}  // namespace
}  // namespace certfleet::acme
