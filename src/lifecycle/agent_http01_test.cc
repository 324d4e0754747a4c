// http-01 answered by agents (lifecycle/agent_http01.h) on a real SQLite store: the test plays
// the agents by acknowledging from the solver's sleep hook. test/e2e/test_acme_issuer.py runs a
// real agent against Pebble.
#include "lifecycle/agent_http01.h"

#include <gtest/gtest.h>

#include <map>

#include "fakes/pki_env.h"

namespace certfleet::lifecycle {
namespace {

constexpr char kToken[] = "tok_abcDEF-123";
constexpr char kKeyAuth[] = "tok_abcDEF-123.thumbprint_xyz";

class RecordingNotifier : public AgentNotifier {
 public:
  void Notify(const std::string& agent_id) override { notified.push_back(agent_id); }
  std::vector<std::string> notified;
};

class AgentHttp01Test : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tx = env_.store->Begin();
    ASSERT_TRUE(tx.ok());
    for (const char* id : {"acc_a", "acc_b"}) {
      ASSERT_TRUE((*tx)->accounts().Insert({id, id, env_.clock.Now()}).ok());
      ASSERT_TRUE((*tx)
                      ->principals()
                      .Insert({.id = std::string("prn_") + id,
                               .account_id = id,
                               .name = "agents",
                               .kind = model::PrincipalKind::kAgent,
                               .role = model::Role::kAgent,
                               .created_at = env_.clock.Now()})
                      .ok());
    }
    ASSERT_TRUE((*tx)->Commit().ok());
    for (const char* id : {"acc_a", "acc_b"}) env_.ClaimDomain(id, "example.test");
    web1_ = AddAgent("agt_web1", "acc_a", {{"role", "web"}});
    web2_ = AddAgent("agt_web2", "acc_a", {{"role", "web"}, {"site", "b"}});
    AddAgent("agt_db", "acc_a", {{"role", "db"}});
    other_ = AddAgent("agt_other", "acc_b", {{"role", "web"}});
    model::Agent disabled = AddAgent("agt_disabled", "acc_a", {{"role", "web"}});
    disabled.status = model::AgentStatus::kDisabled;
    auto utx = env_.store->Begin();
    ASSERT_TRUE(utx.ok());
    ASSERT_TRUE((*utx)->agents().Update(disabled).ok());
    ASSERT_TRUE((*utx)->Commit().ok());
  }

  model::Agent AddAgent(const std::string& id, const std::string& account, model::Tags tags) {
    model::Agent a;
    a.id = id;
    a.account_id = account;
    a.principal_id = "prn_" + account;
    a.hostname = id.substr(4) + ".example.test";
    a.tags = std::move(tags);
    a.cert_serial_hex = "aa" + id;
    a.cert_not_after = env_.clock.Now() + std::chrono::hours(24);
    a.created_at = env_.clock.Now();
    a.updated_at = env_.clock.Now();
    auto tx = env_.store->Begin();
    EXPECT_TRUE(tx.ok());
    EXPECT_TRUE((*tx)->agents().Insert(a).ok());
    EXPECT_TRUE((*tx)->Commit().ok());
    return a;
  }

  // A solver for acc_a's role=web agents; `agent_turn` runs at every sleep (the agents' move).
  AgentHttp01Solver Solver(std::function<void()> agent_turn, int timeout_ms = 1000) {
    AgentHttp01Options o;
    o.selector = {{"role", "web"}};
    o.timeout = std::chrono::milliseconds(timeout_ms);
    o.poll = std::chrono::milliseconds(100);
    o.sleep = [this, agent_turn](std::chrono::milliseconds) {
      ++sleeps_;
      if (agent_turn) agent_turn();
    };
    return AgentHttp01Solver(*env_.store, env_.clock, &notifier_, "acc_a", std::move(o));
  }

  Status Ack(const model::Agent& agent, const std::string& state, const std::string& reason = "",
             const std::string& token = kToken) {
    return AcknowledgeAgentChallenge(*env_.store, env_.clock, agent, token, state, reason);
  }

  std::vector<store::AgentChallenge> Pending(const model::Agent& agent) {
    auto p = PendingAgentChallenges(*env_.store, agent);
    EXPECT_TRUE(p.ok());
    return p.ok() ? *p : std::vector<store::AgentChallenge>{};
  }

  testing::PkiEnv env_;
  RecordingNotifier notifier_;
  model::Agent web1_, web2_, other_;
  int sleeps_ = 0;
};

TEST_F(AgentHttp01Test, PresentWaitsForEveryMatchingAgentAndCleanUpWithdraws) {
  std::map<std::string, std::vector<store::AgentChallenge>> seen;
  AgentHttp01Solver solver = Solver([&] {
    // First look: both agents see the token in their poll; web1 answers at once, web2 later.
    if (sleeps_ == 1) {
      seen[web1_.id] = Pending(web1_);
      seen[web2_.id] = Pending(web2_);
      EXPECT_TRUE(Ack(web1_, "presented").ok());
    }
    if (sleeps_ == 3) {
      EXPECT_TRUE(Ack(web2_, "presented").ok());
    }
  });
  Status presented = solver.Present("web.example.test", kToken, kKeyAuth);
  ASSERT_TRUE(presented.ok()) << presented.error().ToString();
  EXPECT_EQ(sleeps_, 3);
  for (const auto& id : {web1_.id, web2_.id}) {
    ASSERT_EQ(seen[id].size(), 1u) << id;
    EXPECT_EQ(seen[id][0].token, kToken);
    EXPECT_EQ(seen[id][0].key_authorization, kKeyAuth);
    EXPECT_EQ(seen[id][0].state, "present");
    // The agent's listener answers the token only for this Host (issue #13).
    EXPECT_EQ(seen[id][0].identifier, "web.example.test");
  }
  // Another account's agent never sees the token, though its tags match the selector.
  EXPECT_TRUE(Pending(other_).empty());
  // Only the active role=web agents of acc_a, each woken once.
  EXPECT_EQ(notifier_.notified, (std::vector<std::string>{web1_.id, web2_.id}));
  EXPECT_TRUE(Pending(web1_).empty()) << "an acknowledged challenge is no longer work";

  ASSERT_TRUE(solver.CleanUp("web.example.test", kToken).ok());
  auto withdraw = Pending(web2_);
  ASSERT_EQ(withdraw.size(), 1u);
  EXPECT_EQ(withdraw[0].state, "remove");
  EXPECT_EQ(notifier_.notified.size(), 4u);
  EXPECT_EQ(Ack(web2_, "presented").error().code(), ErrorCode::kConflict);
  ASSERT_TRUE(Ack(web1_, "removed").ok());
  ASSERT_TRUE(Ack(web1_, "removed").ok()) << "a repeated acknowledgement is harmless";
  ASSERT_TRUE(Ack(web2_, "removed").ok());
  EXPECT_TRUE(Pending(web1_).empty());
  EXPECT_TRUE(Pending(web2_).empty());
  auto tx = env_.store->Begin();
  ASSERT_TRUE(tx.ok());
  auto rows = (*tx)->agent_challenges().ListByToken("acc_a", kToken);
  ASSERT_TRUE(rows.ok());
  EXPECT_TRUE(rows->empty());
}

TEST_F(AgentHttp01Test, AFailedAgentEndsTheWaitWithItsReason) {
  AgentHttp01Solver solver = Solver([&] {
    if (sleeps_ == 1) {
      EXPECT_TRUE(Ack(web1_, "presented").ok());
      EXPECT_TRUE(Ack(web2_, "failed", "this agent has no [http01] section").ok());
    }
  });
  Status presented = solver.Present("web.example.test", kToken, kKeyAuth);
  ASSERT_FALSE(presented.ok());
  EXPECT_EQ(presented.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(presented.error().message().find("web2.example.test"), std::string::npos)
      << presented.error().message();
  EXPECT_NE(presented.error().message().find("no [http01] section"), std::string::npos);
  EXPECT_EQ(presented.error().message().find(kKeyAuth), std::string::npos);
  EXPECT_EQ(sleeps_, 1);
  // The caller cleans up after a failed Present: both rows are withdrawn.
  ASSERT_TRUE(solver.CleanUp("web.example.test", kToken).ok());
  EXPECT_EQ(Pending(web1_).at(0).state, "remove");
  EXPECT_EQ(Pending(web2_).at(0).state, "remove");
}

TEST_F(AgentHttp01Test, ASilentAgentIsNamedAfterTheTimeout) {
  AgentHttp01Solver solver = Solver([&] {
    if (sleeps_ == 1) {
      EXPECT_TRUE(Ack(web1_, "presented").ok());
    }
  });
  Status presented = solver.Present("web.example.test", kToken, kKeyAuth);
  ASSERT_FALSE(presented.ok());
  EXPECT_EQ(presented.error().code(), ErrorCode::kTimeout);
  EXPECT_NE(presented.error().message().find("agt_web2"), std::string::npos)
      << presented.error().message();
  EXPECT_EQ(presented.error().message().find("agt_web1"), std::string::npos);
  EXPECT_EQ(sleeps_, 10);  // 1 s in 100 ms looks, bounded although the clock never moves
}

TEST_F(AgentHttp01Test, NoMatchingAgentOrABadTokenIsRefusedBeforeAnythingIsStored) {
  AgentHttp01Options o;
  o.selector = {{"role", "mail"}};
  AgentHttp01Solver none(*env_.store, env_.clock, &notifier_, "acc_a", o);
  Status st = none.Present("web.example.test", kToken, kKeyAuth);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(st.error().message().find("role=mail"), std::string::npos);
  AgentHttp01Solver solver = Solver(nullptr);
  EXPECT_EQ(solver.Present("web.example.test", "../etc/passwd", "x.y").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_TRUE(solver.CleanUp("web.example.test", "../etc/passwd").ok());
  EXPECT_TRUE(notifier_.notified.empty());
  EXPECT_TRUE(Pending(web1_).empty());
}

TEST_F(AgentHttp01Test, ChallengesACrashedIssuanceLeftBehindAreWithdrawnByTheNextOne) {
  // A row "presented" two hours ago whose CleanUp never came (certfleetd was killed), and one
  // from a few minutes ago that may still be in use.
  auto put = [&](const std::string& token, std::chrono::minutes age) {
    auto tx = env_.store->Begin();
    ASSERT_TRUE(tx.ok());
    const TimePoint at = env_.clock.Now() - age;
    ASSERT_TRUE((*tx)
                    ->agent_challenges()
                    .Put({.agent_id = web1_.id,
                          .token = token,
                          .account_id = "acc_a",
                          .key_authorization = token + ".thumb",
                          .state = "presented",
                          .reason = "",
                          .created_at = at,
                          .updated_at = at})
                    .ok());
    ASSERT_TRUE((*tx)->Commit().ok());
  };
  put("leftover", std::chrono::minutes(120));
  put("recent", std::chrono::minutes(10));
  AgentHttp01Solver solver = Solver([&] {
    if (sleeps_ == 1) {
      EXPECT_TRUE(Ack(web1_, "presented").ok());
      EXPECT_TRUE(Ack(web2_, "presented").ok());
    }
  });
  ASSERT_TRUE(solver.Present("web.example.test", kToken, kKeyAuth).ok());
  auto work = Pending(web1_);
  ASSERT_EQ(work.size(), 1u);
  EXPECT_EQ(work[0].token, "leftover");
  EXPECT_EQ(work[0].state, "remove");
  ASSERT_TRUE(Ack(web1_, "removed", "", "leftover").ok());
  auto tx = env_.store->Begin();
  ASSERT_TRUE(tx.ok());
  auto recent = (*tx)->agent_challenges().Get(web1_.id, "recent");
  ASSERT_TRUE(recent.ok() && recent->has_value());
  EXPECT_EQ((*recent)->state, "presented");
}

TEST_F(AgentHttp01Test, AcknowledgementsAreValidated) {
  EXPECT_EQ(Ack(web1_, "presented").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(Ack(web1_, "presented", "", "../x").error().code(), ErrorCode::kInvalidArgument);
  auto tx = env_.store->Begin();
  ASSERT_TRUE(tx.ok());
  ASSERT_TRUE((*tx)
                  ->agent_challenges()
                  .Put({.agent_id = web1_.id,
                        .token = kToken,
                        .account_id = "acc_a",
                        .key_authorization = kKeyAuth,
                        .state = "present",
                        .reason = "",
                        .created_at = env_.clock.Now(),
                        .updated_at = env_.clock.Now()})
                  .ok());
  ASSERT_TRUE((*tx)->Commit().ok());
  EXPECT_EQ(Ack(web1_, "served").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Ack(web1_, "failed", "bad\nline").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Ack(web1_, "failed", std::string(1025, 'x')).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(Ack(web1_, "removed").error().code(), ErrorCode::kConflict);
  // Another agent cannot answer for web1.
  EXPECT_EQ(Ack(web2_, "presented").error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(Pending(web1_).at(0).state, "present");
}

}  // namespace
}  // namespace certfleet::lifecycle
