#include "deployments.h"

#include <gtest/gtest.h>

namespace certfleet::cli {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

TEST(CheckDurationWithin, AcceptsBoundsAndRejectsOutside) {
  EXPECT_EQ(CheckDeploymentDeadline("1m"), "");
  EXPECT_EQ(CheckDeploymentDeadline("24h"), "");
  EXPECT_EQ(CheckDeploymentDeadline("15m"), "");
  EXPECT_NE(CheckDeploymentDeadline("30s").find("between 1m and 1d"), std::string::npos)
      << CheckDeploymentDeadline("30s");
  EXPECT_NE(CheckDeploymentDeadline("25h"), "");
  EXPECT_EQ(CheckEnrollmentExpiry("30d"), "");
  EXPECT_NE(CheckEnrollmentExpiry("31d"), "");
  EXPECT_NE(CheckEnrollmentExpiry("59s"), "");
  EXPECT_EQ(CheckWaitTimeout("1s"), "");
}

TEST(CheckDurationWithin, ExplainsSyntaxErrors) {
  for (const char* bad : {"", "15", "15 m", "m", "-1m", "1w"}) {
    std::string message = CheckDeploymentDeadline(bad);
    EXPECT_NE(message.find("not a duration"), std::string::npos) << bad << ": " << message;
  }
}

TEST(DeploymentState, RequiresAStringState) {
  EXPECT_EQ(*DeploymentState(json{{"state", "running"}}), "running");
  for (const json& bad : {json::object(), json{{"state", 1}}, json::array(), json(nullptr)}) {
    auto state = DeploymentState(bad);
    ASSERT_FALSE(state.ok()) << bad.dump();
    EXPECT_EQ(state.error().code(), ErrorCode::kMalformed);
  }
  EXPECT_TRUE(*DeploymentRunning(json{{"state", "running"}}));
  EXPECT_FALSE(*DeploymentRunning(json{{"state", "no_targets"}}));
}

TEST(DeploymentOutcome, SucceededIsOk) {
  EXPECT_TRUE(DeploymentOutcome(json{{"id", "dep_1"}, {"state", "succeeded"}}).ok());
}

TEST(DeploymentOutcome, FailedNamesTheTargetsThatDidNotSucceed) {
  json dep = {{"id", "dep_1"},
              {"state", "failed"},
              {"state_detail", "1 of 2 targets failed"},
              {"targets",
               {{{"agent", "agt_a"}, {"hostname", "web-1"}, {"state", "verified"}},
                {{"agent", "agt_b"},
                 {"hostname", "web-2"},
                 {"state", "rolled_back"},
                 {"reason", "nginx -t failed\x1b[31m"}}}}};
  Status s = DeploymentOutcome(dep);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kFailedPrecondition);
  const std::string& m = s.error().message();
  EXPECT_NE(m.find("deployment dep_1 failed: 1 of 2 targets failed"), std::string::npos) << m;
  EXPECT_NE(m.find("agt_b (web-2): rolled_back: nginx -t failed?[31m"), std::string::npos) << m;
  EXPECT_EQ(m.find("agt_a"), std::string::npos) << m;
  EXPECT_EQ(m.find('\x1b'), std::string::npos) << m;
}

TEST(DeploymentOutcome, NoTargetsAndRunningAreErrors) {
  Status none = DeploymentOutcome(json{{"id", "dep_2"}, {"state", "no_targets"}});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message(), "deployment dep_2 no_targets: no agent matches the selector");
  Status running = DeploymentOutcome(json{{"id", "dep_3"}, {"state", "running"}});
  ASSERT_FALSE(running.ok());
  EXPECT_EQ(running.error().code(), ErrorCode::kTimeout);
  EXPECT_FALSE(DeploymentOutcome(json{{"id", "dep_4"}, {"state", "exploded"}}).ok());
  EXPECT_FALSE(DeploymentOutcome(json::object()).ok());
}

TEST(DeploymentOutcome, BoundsTheNumberOfTargetsListed) {
  json targets = json::array();
  for (int i = 0; i < 25; ++i) {
    targets.push_back({{"agent", "agt_" + std::to_string(i)}, {"state", "failed"}});
  }
  Status s = DeploymentOutcome(json{{"id", "dep_5"}, {"state", "failed"}, {"targets", targets}});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("and 5 more targets"), std::string::npos);
}

TEST(RetryableWhileWaiting, OnlyTransientErrors) {
  EXPECT_TRUE(RetryableWhileWaiting(Unavailable("connection refused")));
  EXPECT_TRUE(RetryableWhileWaiting(Error(ErrorCode::kTimeout, "slow")));
  EXPECT_TRUE(RetryableWhileWaiting(Error(ErrorCode::kRateLimited, "later")));
  EXPECT_FALSE(RetryableWhileWaiting(NotFound("deployment not found")));
  EXPECT_FALSE(RetryableWhileWaiting(Forbidden("no")));
  EXPECT_FALSE(RetryableWhileWaiting(Malformed("garbage")));
}

TEST(NextPollDelay, BacksOffToACap) {
  milliseconds d = NextPollDelay(milliseconds(0));
  EXPECT_EQ(d, milliseconds(250));
  d = NextPollDelay(d);
  EXPECT_EQ(d, milliseconds(500));
  for (int i = 0; i < 10; ++i) d = NextPollDelay(d);
  EXPECT_EQ(d, milliseconds(2000));
}

TEST(TargetVersion, PrefersTheNumber) {
  EXPECT_EQ(TargetVersion(json{{"version", 3}, {"version_id", "crv_x"}}), "3");
  EXPECT_EQ(TargetVersion(json{{"version_id", "crv_x"}}), "crv_x");
  EXPECT_EQ(TargetVersion(json::object()), "-");
}

}  // namespace
}  // namespace certfleet::cli
