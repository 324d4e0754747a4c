#include "query.h"

#include <gtest/gtest.h>

namespace certfleet::cli {
namespace {

TEST(QueryString, EmptyWhenNothingAdded) {
  EXPECT_EQ(QueryString().str(), "");
  EXPECT_EQ(QueryString().Add("account", "").Append("/v1/grants"), "/v1/grants");
}

TEST(QueryString, JoinsInOrderAndEncodes) {
  QueryString q;
  q.Add("account", "team a").Add("since", "2026-01-01T00:00:00+02:00").Add("limit", "5");
  EXPECT_EQ(q.Append("/v1/audit"),
            "/v1/audit?account=team%20a&since=2026-01-01T00%3A00%3A00%2B02%3A00&limit=5");
}

TEST(QueryString, EncodesSeparatorsInValues) {
  // A value cannot add parameters of its own.
  EXPECT_EQ(QueryString().Add("resource", "x&account=other#f").str(),
            "?resource=x%26account%3Dother%23f");
}

}  // namespace
}  // namespace certfleet::cli
