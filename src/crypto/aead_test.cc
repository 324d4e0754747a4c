#include "crypto/aead.h"

#include <gtest/gtest.h>
#include <openssl/err.h>

#include <string>

#include "base/random.h"

namespace certfleet::crypto {
namespace {

SecretBytes NewKey() { return SystemRandomSource().SecretOfSize(kAes256KeySize); }

constexpr size_t kNonce = 12;
constexpr size_t kTag = 16;

TEST(AeadTest, RoundTripWithLayout) {
  SecretBytes key = NewKey();
  auto sealed = AesGcmSeal(key, "top secret record", "record-id-1");
  ASSERT_TRUE(sealed.ok()) << sealed.error().ToString();
  EXPECT_EQ(sealed->size(), kNonce + 17 + kTag);
  EXPECT_EQ(sealed->find("top secret"), std::string::npos);
  auto opened = AesGcmOpen(key, *sealed, "record-id-1");
  ASSERT_TRUE(opened.ok()) << opened.error().ToString();
  EXPECT_EQ(opened->view(), "top secret record");
}

TEST(AeadTest, EmptyPlaintextAndAad) {
  SecretBytes key = NewKey();
  auto sealed = AesGcmSeal(key, "", "");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->size(), kNonce + kTag);
  auto opened = AesGcmOpen(key, *sealed, "");
  ASSERT_TRUE(opened.ok());
  EXPECT_TRUE(opened->empty());
  // Even with no ciphertext the tag authenticates the AAD.
  auto other_aad = AesGcmOpen(key, *sealed, "x");
  ASSERT_FALSE(other_aad.ok());
  EXPECT_EQ(other_aad.error().code(), ErrorCode::kUnauthorized);
}

TEST(AeadTest, LargePlaintext) {
  SecretBytes key = NewKey();
  std::string big(1 << 20, 'z');
  auto sealed = AesGcmSeal(key, big, "aad");
  ASSERT_TRUE(sealed.ok());
  auto opened = AesGcmOpen(key, *sealed, "aad");
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->view(), big);
}

TEST(AeadTest, NoncesAreFresh) {
  SecretBytes key = NewKey();
  auto a = AesGcmSeal(key, "same", "aad");
  auto b = AesGcmSeal(key, "same", "aad");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->substr(0, kNonce), b->substr(0, kNonce));
  EXPECT_NE(*a, *b);
}

// Flipping any single bit of any region (nonce, ciphertext, tag) must fail authentication.
TEST(AeadTest, TamperingAnyRegionFails) {
  SecretBytes key = NewKey();
  auto sealed = AesGcmSeal(key, "payload bytes", "aad");
  ASSERT_TRUE(sealed.ok());
  struct Region {
    const char* name;
    size_t offset;
  };
  for (Region r :
       {Region{"nonce", 0}, Region{"nonce-end", kNonce - 1}, Region{"ciphertext", kNonce + 3},
        Region{"tag", sealed->size() - kTag}, Region{"tag-end", sealed->size() - 1}}) {
    std::string bad = *sealed;
    bad[r.offset] ^= 0x01;
    auto opened = AesGcmOpen(key, bad, "aad");
    ASSERT_FALSE(opened.ok()) << r.name;
    EXPECT_EQ(opened.error().code(), ErrorCode::kUnauthorized) << r.name;
  }
  auto wrong_aad = AesGcmOpen(key, *sealed, "aae");
  ASSERT_FALSE(wrong_aad.ok());
  EXPECT_EQ(wrong_aad.error().code(), ErrorCode::kUnauthorized);
  auto truncated = AesGcmOpen(key, sealed->substr(0, sealed->size() - 1), "aad");
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.error().code(), ErrorCode::kUnauthorized);
  auto too_short = AesGcmOpen(key, sealed->substr(0, kNonce + kTag - 1), "aad");
  ASSERT_FALSE(too_short.ok());
  EXPECT_EQ(too_short.error().code(), ErrorCode::kUnauthorized);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(AeadTest, WrongKeyFails) {
  auto sealed = AesGcmSeal(NewKey(), "payload", "aad");
  ASSERT_TRUE(sealed.ok());
  auto opened = AesGcmOpen(NewKey(), *sealed, "aad");
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code(), ErrorCode::kUnauthorized);
}

TEST(AeadTest, RejectsWrongKeySize) {
  SecretBytes short_key = SystemRandomSource().SecretOfSize(16);
  auto sealed = AesGcmSeal(short_key, "x", "");
  ASSERT_FALSE(sealed.ok());
  EXPECT_EQ(sealed.error().code(), ErrorCode::kInvalidArgument);
  auto opened = AesGcmOpen(short_key, std::string(40, '\0'), "");
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code(), ErrorCode::kInvalidArgument);
}

// A published vector pins the layout and proves we run standard GCM, not something merely
// self-consistent.
TEST(AeadTest, OpensKnownVector) {
  auto hex = [](std::string_view h) {
    std::string out;
    for (size_t i = 0; i < h.size(); i += 2) {
      out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
    }
    return out;
  };
  // Test Case 14 of the original GCM spec (McGrew & Viega): zero key, zero IV, zero block.
  SecretBytes key(kAes256KeySize);
  std::string nonce(kNonce, '\0');
  std::string ct = hex("cea7403d4d606b6e074ec5d3baf39d18");
  std::string tag = hex("d0d1c8a799996bf0265b98b5d48ab919");
  auto opened = AesGcmOpen(key, nonce + ct + tag, "");
  ASSERT_TRUE(opened.ok()) << opened.error().ToString();
  EXPECT_EQ(opened->view(), std::string(16, '\0'));
}

}  // namespace
}  // namespace certfleet::crypto
