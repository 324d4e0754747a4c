#include "acme/server/jwk_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "crypto/jws.h"
#include "crypto/key.h"

namespace certfleet::acme::server {
namespace {

std::string JwkOf(const crypto::PrivateKey& key) {
  auto jwk = crypto::PublicJwk(key.public_key());
  EXPECT_TRUE(jwk.ok());
  return *jwk;
}

TEST(JwkCacheTest, ReturnsTheKeyOfTheTextAndKeepsIt) {
  JwkCache cache(8);
  auto a = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  auto b = crypto::PrivateKey::Generate(crypto::KeyType::kP384);
  ASSERT_TRUE(a.ok() && b.ok());
  for (int i = 0; i < 3; ++i) {
    auto ka = cache.Get(JwkOf(*a));
    auto kb = cache.Get(JwkOf(*b));
    ASSERT_TRUE(ka.ok() && kb.ok());
    EXPECT_EQ(ka->spki_der(), a->public_key().spki_der());
    EXPECT_EQ(kb->spki_der(), b->public_key().spki_der());
    auto sig = a->Sign("data");
    ASSERT_TRUE(sig.ok());
    EXPECT_TRUE(ka->Verify("data", *sig));
    EXPECT_FALSE(kb->Verify("data", *sig));
  }
  EXPECT_EQ(cache.size(), 2u);
}

TEST(JwkCacheTest, ErrorsAreReturnedAndNotKept) {
  JwkCache cache(8);
  EXPECT_FALSE(cache.Get("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}").ok());
  EXPECT_FALSE(cache.Get("not json").ok());
  EXPECT_EQ(cache.size(), 0u);
}

TEST(JwkCacheTest, StaysWithinItsCapacity) {
  JwkCache cache(3);
  std::vector<std::string> jwks;
  for (int i = 0; i < 7; ++i) {
    auto k = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
    ASSERT_TRUE(k.ok());
    jwks.push_back(JwkOf(*k));
    auto got = cache.Get(jwks.back());
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->spki_der(), k->public_key().spki_der());
    EXPECT_LE(cache.size(), 3u);
  }
  // Evicted keys are parsed again.
  for (const std::string& jwk : jwks) EXPECT_TRUE(cache.Get(jwk).ok());
  EXPECT_LE(cache.size(), 3u);
  JwkCache none(0);
  EXPECT_TRUE(none.Get(jwks[0]).ok());
  EXPECT_EQ(none.size(), 0u);
}

TEST(JwkCacheTest, ManyThreadsShareIt) {
  JwkCache cache(16);
  auto k = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  ASSERT_TRUE(k.ok());
  const std::string jwk = JwkOf(*k);
  auto sig = k->Sign("payload");
  ASSERT_TRUE(sig.ok());
  std::vector<std::thread> threads;
  std::atomic<int> verified{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto key = cache.Get(jwk);
        if (key.ok() && key->Verify("payload", *sig)) ++verified;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(verified.load(), 400);
  EXPECT_EQ(cache.size(), 1u);
}

}  // namespace
}  // namespace certfleet::acme::server
