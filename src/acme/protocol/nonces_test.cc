#include "acme/protocol/nonces.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "base/encoding.h"

namespace certfleet::acme {
namespace {

// A deterministic source: a counter from `seed`, so that two stores differ for sure.
class CountingRandom final : public Random {
 public:
  explicit CountingRandom(uint8_t seed) : next_(seed) {}
  void Fill(void* out, size_t n) override {
    auto* p = static_cast<uint8_t*>(out);
    for (size_t i = 0; i < n; ++i) p[i] = next_++;
  }

 private:
  uint8_t next_;
};

TEST(NonceStoreTest, NoncesArePrefixedBase64UrlAndSingleUse) {
  NonceStore store(SystemRandomSource());
  std::string a = store.Issue();
  std::string b = store.Issue();
  EXPECT_EQ(a.size(), 26u);
  EXPECT_TRUE(IsBase64Url(a));
  EXPECT_NE(a, b);
  EXPECT_EQ(a.substr(0, 4), b.substr(0, 4));  // the store's prefix
  EXPECT_EQ(store.outstanding(), 2u);
  EXPECT_TRUE(store.Consume(a));
  EXPECT_FALSE(store.Consume(a));  // replay
  EXPECT_EQ(store.outstanding(), 1u);
  EXPECT_TRUE(store.Consume(b));
  EXPECT_FALSE(store.Consume(b));
  EXPECT_EQ(store.outstanding(), 0u);
}

TEST(NonceStoreTest, UnknownMalformedAndForeignNoncesAreRefused) {
  CountingRandom r1(1), r2(100);
  NonceStore store(r1), other(r2);
  std::string mine = store.Issue();
  std::string theirs = other.Issue();
  ASSERT_NE(mine.substr(0, 4), theirs.substr(0, 4));
  EXPECT_FALSE(store.Consume(theirs));  // another replica's
  // Well-formed, right prefix, never issued.
  std::string unknown = mine;
  unknown[10] = unknown[10] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(store.Consume(unknown));
  EXPECT_FALSE(store.Consume(""));
  EXPECT_FALSE(store.Consume(mine.substr(0, 25)));
  EXPECT_FALSE(store.Consume(mine + "A"));
  EXPECT_FALSE(store.Consume(mine.substr(0, 25) + "="));
  EXPECT_FALSE(store.Consume(mine.substr(0, 25) + "+"));
  EXPECT_FALSE(store.Consume(std::string(mine.data(), 25) + std::string(1, '\0')));
  EXPECT_FALSE(store.Consume(std::string(10'000, 'A')));
  // None of that consumed the real one.
  EXPECT_TRUE(store.Consume(mine));
}

TEST(NonceStoreTest, IssuingPastTheCapacityForgetsTheOldest) {
  NonceStore store(SystemRandomSource(), 3);
  std::string a = store.Issue(), b = store.Issue(), c = store.Issue();
  EXPECT_EQ(store.outstanding(), 3u);
  std::string d = store.Issue();
  EXPECT_EQ(store.outstanding(), 3u);
  EXPECT_FALSE(store.Consume(a));  // forgotten: its holder gets badNonce and a fresh one
  EXPECT_TRUE(store.Consume(b));
  EXPECT_TRUE(store.Consume(c));
  EXPECT_TRUE(store.Consume(d));
}

TEST(NonceStoreTest, ConsumedNoncesDoNotCountAgainstTheCapacity) {
  NonceStore store(SystemRandomSource(), 3);
  std::string a = store.Issue(), b = store.Issue(), c = store.Issue();
  ASSERT_TRUE(store.Consume(b));
  std::string d = store.Issue();  // 3 outstanding again: nothing forgotten
  EXPECT_EQ(store.outstanding(), 3u);
  std::string e = store.Issue();  // now the oldest outstanding, a, goes
  EXPECT_EQ(store.outstanding(), 3u);
  EXPECT_FALSE(store.Consume(a));
  EXPECT_TRUE(store.Consume(c));
  EXPECT_TRUE(store.Consume(d));
  EXPECT_TRUE(store.Consume(e));
}

TEST(NonceStoreTest, StaysBoundedOverManyIssueConsumeRounds) {
  NonceStore store(SystemRandomSource(), 8);
  std::string kept = store.Issue();  // outstanding throughout, until 8 more are outstanding
  for (int i = 0; i < 20'000; ++i) {
    std::string n = store.Issue();
    ASSERT_TRUE(store.Consume(n)) << i;
  }
  EXPECT_EQ(store.outstanding(), 1u);
  EXPECT_TRUE(store.Consume(kept));
  std::vector<std::string> issued;
  for (int i = 0; i < 100; ++i) issued.push_back(store.Issue());
  EXPECT_EQ(store.outstanding(), 8u);
  for (int i = 0; i < 92; ++i) EXPECT_FALSE(store.Consume(issued[i])) << i;
  for (int i = 92; i < 100; ++i) EXPECT_TRUE(store.Consume(issued[i])) << i;
}

TEST(NonceStoreTest, ConcurrentIssueAndConsumeUseEachNonceOnce) {
  NonceStore store(SystemRandomSource(), 100'000);
  constexpr int kNonces = 4000;
  std::vector<std::string> shared;
  for (int i = 0; i < kNonces; ++i) shared.push_back(store.Issue());
  std::atomic<int> consumed{0};
  std::atomic<int> own_failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      // Every thread races the others for every shared nonce, and issues and consumes its own.
      for (int i = 0; i < kNonces; ++i) {
        if (store.Consume(shared[i])) consumed.fetch_add(1);
        std::string own = store.Issue();
        if (!store.Consume(own)) own_failures.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(consumed.load(), kNonces);  // each exactly once, whichever thread won it
  EXPECT_EQ(own_failures.load(), 0);
  EXPECT_EQ(store.outstanding(), 0u);
}

TEST(NonceStoreTest, ConcurrentIssuingPastTheCapacityStaysBounded) {
  NonceStore store(SystemRandomSource(), 50);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        std::string n = store.Issue();
        if (i % 3 == 0) store.Consume(n);
        EXPECT_LE(store.outstanding(), 50u);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  // Full but for the few consumed between the last issues.
  EXPECT_LE(store.outstanding(), 50u);
  EXPECT_GE(store.outstanding(), 46u);
}

}  // namespace
}  // namespace certfleet::acme
