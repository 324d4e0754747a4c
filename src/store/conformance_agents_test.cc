// Conformance: agents, enrollment tokens, deployments and deployment targets (AgentRepo,
// EnrollmentTokenRepo, DeploymentRepo, DeploymentTargetRepo; docs/agents.md). In particular the
// one-time use of enrollment tokens, lookups by current and previous certificate serial, the
// agent's sequence counter, and the pending-target queue an agent polls.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "store/conformance_test.h"

namespace certfleet::store::testing {
namespace {

const std::string kAcc1 = TestId(model::kAccountPrefix, 1);
const std::string kAcc2 = TestId(model::kAccountPrefix, 2);
const std::string kPrn1 = TestId(model::kPrincipalPrefix, 1);
const std::string kPrn2 = TestId(model::kPrincipalPrefix, 2);
const std::string kCrt1 = TestId(model::kCertificatePrefix, 1);
const std::string kBadUtf8 = "\xc3\x28";

std::string Agt(int n) { return TestId(model::kAgentPrefix, n); }
std::string Enr(int n) { return TestId(model::kEnrollmentTokenPrefix, n); }
std::string Dep(int n) { return TestId(model::kDeploymentPrefix, n); }
std::string Dtg(int n) { return TestId(model::kTargetPrefix, n); }

// An active agent of account 1 (principal 1) with serial "a<n>", enrolled at T(n).
model::Agent MakeAgent(int n, const std::string& account_id = kAcc1,
                       const std::string& principal_id = kPrn1) {
  model::Agent a;
  a.id = Agt(n);
  a.account_id = account_id;
  a.principal_id = principal_id;
  a.hostname = "web-" + std::to_string(n);
  a.tags = {{"env", "dev"}, {"role", "web"}};
  a.cert_serial_hex = "a" + std::to_string(n);
  a.cert_not_after = T(n + 30 * 86400);
  a.enrollment_token_id = Enr(n);
  a.status = model::AgentStatus::kActive;
  a.created_at = T(n);
  a.updated_at = T(n);
  return a;
}

// An unused token of account 1 with hash "enrhash<n>", created at T(n), valid for an hour.
model::EnrollmentToken MakeEnrollmentToken(int n, const std::string& account_id = kAcc1) {
  return {.id = Enr(n),
          .account_id = account_id,
          .hash_hex = "enrhash" + std::to_string(n),
          .tags = {{"env", "dev"}},
          .created_by = kPrn1,
          .created_at = T(n),
          .expires_at = T(n + 3600),
          .used_at = std::nullopt,
          .used_by_agent_id = ""};
}

// A running first-generation deployment of certificate 1 (account 1) to account 2's agents.
model::Deployment MakeDeployment(int n, const std::string& target_account_id = kAcc2,
                                 const std::string& certificate_id = kCrt1) {
  model::Deployment d;
  d.id = Dep(n);
  d.account_id = kAcc1;
  d.certificate_id = certificate_id;
  d.target_account_id = target_account_id;
  d.selector = {{"env", "dev"}};
  d.profile = "nginx";
  d.state = model::DeploymentState::kRunning;
  d.generation = 1;
  d.created_by = kPrn1;
  d.created_at = T(n);
  d.updated_at = T(n);
  return d;
}

// A pending target, first generation, with sequence number `seq`.
model::DeploymentTarget MakeTarget(int n, const std::string& deployment_id,
                                   const std::string& agent_id, int64_t seq = 1) {
  model::DeploymentTarget t;
  t.id = Dtg(n);
  t.deployment_id = deployment_id;
  t.agent_id = agent_id;
  t.account_id = kAcc2;
  t.generation = 1;
  t.version_id = TestId(model::kVersionPrefix, 1);
  t.seq = seq;
  t.state = model::TargetState::kPending;
  t.created_at = T(n);
  t.updated_at = T(n);
  return t;
}

template <typename Row>
std::vector<std::string> Ids(const std::vector<Row>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.id);
  return out;
}

// Accounts 1 and 2, principal 1 in account 1, principal 2 in account 2, certificate 1 in
// account 1: every owner the rows below name.
void InsertOwners(Tx& tx) {
  ASSERT_TRUE(IsOk(tx.accounts().Insert(MakeAccount(1))));
  ASSERT_TRUE(IsOk(tx.accounts().Insert(MakeAccount(2))));
  ASSERT_TRUE(IsOk(tx.principals().Insert(MakePrincipal(kAcc1, 1))));
  ASSERT_TRUE(IsOk(tx.principals().Insert(MakePrincipal(kAcc2, 2))));
  ASSERT_TRUE(IsOk(tx.certificates().Insert(MakeCertificate(kAcc1, 1))));
}

// ---- agents

TEST_P(StoreConformanceTest, AgentRoundTrip) {
  Commit(InsertOwners);
  auto a = MakeAgent(1);
  a.prev_cert_serial_hex = "a0";
  a.last_seq = 7;
  a.last_seen_at = T(50);
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.agents().Insert(a)));
    ASSERT_TRUE(IsOk(tx.agents().Insert(MakeAgent(2))));
  });
  auto tx = Begin();
  auto got = tx->agents().Get(a.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->id, a.id);
  EXPECT_EQ(got->account_id, kAcc1);
  EXPECT_EQ(got->principal_id, kPrn1);
  EXPECT_EQ(got->hostname, "web-1");
  EXPECT_EQ(got->tags, a.tags);
  EXPECT_EQ(got->cert_serial_hex, "a1");
  EXPECT_EQ(got->prev_cert_serial_hex, "a0");
  EXPECT_EQ(got->cert_not_after, a.cert_not_after);
  EXPECT_EQ(got->enrollment_token_id, Enr(1));
  EXPECT_EQ(got->last_seq, 7);
  EXPECT_EQ(got->status, model::AgentStatus::kActive);
  EXPECT_EQ(got->last_seen_at, T(50));
  EXPECT_EQ(got->created_at, T(1));
  EXPECT_EQ(got->updated_at, T(1));
  auto never_seen = tx->agents().Get(Agt(2));
  ASSERT_TRUE(IsOk(never_seen));
  EXPECT_FALSE(never_seen->last_seen_at.has_value());
  EXPECT_EQ(never_seen->prev_cert_serial_hex, "");
  EXPECT_TRUE(HasCode(tx->agents().Get("agt_missing"), ErrorCode::kNotFound));
  // The same id again, with a fresh serial: Conflict.
  auto dup = MakeAgent(1);
  dup.cert_serial_hex = "fresh";
  EXPECT_TRUE(HasCode(tx->agents().Insert(dup), ErrorCode::kConflict));
}

TEST_P(StoreConformanceTest, AgentCertSerialIsUnique) {
  Commit(InsertOwners);
  auto tx = Begin();
  ASSERT_TRUE(IsOk(tx->agents().Insert(MakeAgent(1))));
  auto same_serial = MakeAgent(2, kAcc2, kPrn2);
  same_serial.cert_serial_hex = "a1";
  EXPECT_TRUE(HasCode(tx->agents().Insert(same_serial), ErrorCode::kConflict));
  // The failed call changed nothing and the Tx is still usable.
  ASSERT_TRUE(IsOk(tx->agents().Insert(MakeAgent(3))));
  ASSERT_TRUE(IsOk(tx->Commit()));
  tx = Begin();
  EXPECT_TRUE(HasCode(tx->agents().Get(Agt(2)), ErrorCode::kNotFound));
  EXPECT_EQ(Ids(*tx->agents().List()), (std::vector<std::string>{Agt(1), Agt(3)}));
}

TEST_P(StoreConformanceTest, AgentNeedsItsAccountAndPrincipal) {
  Commit(InsertOwners);
  auto tx = Begin();
  EXPECT_TRUE(
      HasCode(tx->agents().Insert(MakeAgent(1, "acc_missing")), ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(HasCode(tx->agents().Insert(MakeAgent(2, kAcc1, "prn_missing")),
                      ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(IsOk(tx->agents().List()));
  EXPECT_TRUE(tx->agents().List()->empty());
}

TEST_P(StoreConformanceTest, AgentGetByCertSerialMatchesCurrentOrPrevious) {
  Commit(InsertOwners);
  Commit([](Tx& tx) {
    auto renewed = MakeAgent(1);
    renewed.cert_serial_hex = "b1";
    renewed.prev_cert_serial_hex = "a1";
    ASSERT_TRUE(IsOk(tx.agents().Insert(renewed)));
    ASSERT_TRUE(IsOk(tx.agents().Insert(MakeAgent(2))));  // never renewed: previous is ''
  });
  auto tx = Begin();
  auto by_current = tx->agents().GetByCertSerial("b1");
  ASSERT_TRUE(IsOk(by_current));
  EXPECT_EQ(by_current->id, Agt(1));
  auto by_previous = tx->agents().GetByCertSerial("a1");
  ASSERT_TRUE(IsOk(by_previous));
  EXPECT_EQ(by_previous->id, Agt(1));
  auto other = tx->agents().GetByCertSerial("a2");
  ASSERT_TRUE(IsOk(other));
  EXPECT_EQ(other->id, Agt(2));
  EXPECT_TRUE(HasCode(tx->agents().GetByCertSerial("ffff"), ErrorCode::kNotFound));
  // The empty "previous serial" of an agent that never renewed identifies no one.
  EXPECT_TRUE(HasCode(tx->agents().GetByCertSerial(""), ErrorCode::kNotFound));
}

TEST_P(StoreConformanceTest, AgentListsAreOrderedById) {
  Commit(InsertOwners);
  Commit([](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.agents().Insert(MakeAgent(3))));
    ASSERT_TRUE(IsOk(tx.agents().Insert(MakeAgent(2, kAcc2, kPrn2))));
    ASSERT_TRUE(IsOk(tx.agents().Insert(MakeAgent(1))));
    ASSERT_TRUE(IsOk(tx.agents().Insert(MakeAgent(4, kAcc2, kPrn2))));
  });
  auto tx = Begin();
  auto acc1 = tx->agents().ListByAccount(kAcc1);
  ASSERT_TRUE(IsOk(acc1));
  EXPECT_EQ(Ids(*acc1), (std::vector<std::string>{Agt(1), Agt(3)}));
  auto acc2 = tx->agents().ListByAccount(kAcc2);
  ASSERT_TRUE(IsOk(acc2));
  EXPECT_EQ(Ids(*acc2), (std::vector<std::string>{Agt(2), Agt(4)}));
  auto none = tx->agents().ListByAccount("acc_missing");
  ASSERT_TRUE(IsOk(none));
  EXPECT_TRUE(none->empty());
  auto all = tx->agents().List();
  ASSERT_TRUE(IsOk(all));
  EXPECT_EQ(Ids(*all), (std::vector<std::string>{Agt(1), Agt(2), Agt(3), Agt(4)}));
}

TEST_P(StoreConformanceTest, AgentUpdateChangesOnlyTheListedFields) {
  Commit(InsertOwners);
  Commit([](Tx& tx) {
    auto a = MakeAgent(1);
    a.last_seen_at = T(10);
    ASSERT_TRUE(IsOk(tx.agents().Insert(a)));
    ASSERT_TRUE(IsOk(tx.agents().Insert(MakeAgent(2))));
  });
  auto tx = Begin();
  auto a = *tx->agents().Get(Agt(1));
  a.hostname = "web-1b";
  a.tags = {{"env", "prod"}};
  a.cert_serial_hex = "b1";  // a renewal
  a.prev_cert_serial_hex = "a1";
  a.cert_not_after = T(99999);
  a.last_seq = 12;
  a.status = model::AgentStatus::kDisabled;
  a.last_seen_at = std::nullopt;
  a.updated_at = T(500);
  // Ignored: fixed at enrollment.
  a.account_id = kAcc2;
  a.principal_id = kPrn2;
  a.enrollment_token_id = Enr(9);
  a.created_at = T(1234);
  ASSERT_TRUE(IsOk(tx->agents().Update(a)));
  ASSERT_TRUE(IsOk(tx->Commit()));

  tx = Begin();
  auto got = tx->agents().Get(Agt(1));
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->hostname, "web-1b");
  EXPECT_EQ(got->tags, (model::Tags{{"env", "prod"}}));
  EXPECT_EQ(got->cert_serial_hex, "b1");
  EXPECT_EQ(got->prev_cert_serial_hex, "a1");
  EXPECT_EQ(got->cert_not_after, T(99999));
  EXPECT_EQ(got->last_seq, 12);
  EXPECT_EQ(got->status, model::AgentStatus::kDisabled);
  EXPECT_FALSE(got->last_seen_at.has_value());
  EXPECT_EQ(got->updated_at, T(500));
  EXPECT_EQ(got->account_id, kAcc1);
  EXPECT_EQ(got->principal_id, kPrn1);
  EXPECT_EQ(got->enrollment_token_id, Enr(1));
  EXPECT_EQ(got->created_at, T(1));
  EXPECT_EQ(tx->agents().GetByCertSerial("b1")->id, Agt(1));
  EXPECT_EQ(tx->agents().GetByCertSerial("a1")->id, Agt(1));
  EXPECT_TRUE(tx->agents().ListByAccount(kAcc2)->empty());

  // Taking another agent's current serial: Conflict, and nothing changes.
  auto b = *tx->agents().Get(Agt(2));
  b.cert_serial_hex = "b1";
  b.hostname = "changed";
  EXPECT_TRUE(HasCode(tx->agents().Update(b), ErrorCode::kConflict));
  EXPECT_EQ(tx->agents().Get(Agt(2))->hostname, "web-2");
  b.id = Agt(9);
  b.cert_serial_hex = "c9";
  EXPECT_TRUE(HasCode(tx->agents().Update(b), ErrorCode::kNotFound));
}

TEST_P(StoreConformanceTest, AgentNextSeqIncrementsAndReturnsTheNewValue) {
  Commit(InsertOwners);
  Commit([](Tx& tx) {
    auto a = MakeAgent(1);
    a.last_seq = 5;
    ASSERT_TRUE(IsOk(tx.agents().Insert(a)));
    ASSERT_TRUE(IsOk(tx.agents().Insert(MakeAgent(2))));
  });
  {
    auto tx = Begin();
    auto first = tx->agents().NextSeq(Agt(1));
    ASSERT_TRUE(IsOk(first));
    EXPECT_EQ(*first, 6);
    EXPECT_EQ(*tx->agents().NextSeq(Agt(1)), 7);
    EXPECT_EQ(*tx->agents().NextSeq(Agt(2)), 1);  // counters are per agent
    EXPECT_EQ(tx->agents().Get(Agt(1))->last_seq, 7);
    EXPECT_TRUE(HasCode(tx->agents().NextSeq("agt_missing"), ErrorCode::kNotFound));
    ASSERT_TRUE(IsOk(tx->Commit()));
  }
  {
    auto tx = Begin();
    EXPECT_EQ(*tx->agents().NextSeq(Agt(1)), 8);
  }  // rolled back: 8 was never handed out durably
  auto tx = Begin();
  EXPECT_EQ(tx->agents().Get(Agt(1))->last_seq, 7);
  EXPECT_EQ(*tx->agents().NextSeq(Agt(1)), 8);
}

TEST_P(StoreConformanceTest, AgentNextSeqNeverRepeatsAcrossThreads) {
  Commit(InsertOwners);
  Commit([](Tx& tx) { ASSERT_TRUE(IsOk(tx.agents().Insert(MakeAgent(1)))); });
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20;
  std::atomic<int> failures{0};
  std::vector<std::vector<int64_t>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto tx = store().Begin();
        if (!tx.ok()) {
          ++failures;
          continue;
        }
        auto seq = (*tx)->agents().NextSeq(Agt(1));
        if (!seq.ok() || !(*tx)->Commit().ok()) {
          ++failures;
          continue;
        }
        seen[t].push_back(*seq);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  std::vector<bool> hit(kThreads * kPerThread + 1, false);
  for (const auto& values : seen) {
    for (int64_t v : values) {
      ASSERT_GE(v, 1);
      ASSERT_LE(v, kThreads * kPerThread);
      EXPECT_FALSE(hit[v]) << "sequence number " << v << " handed out twice";
      hit[v] = true;
    }
  }
  auto tx = Begin();
  EXPECT_EQ(tx->agents().Get(Agt(1))->last_seq, kThreads * kPerThread);
}

// ---- enrollment tokens

TEST_P(StoreConformanceTest, EnrollmentTokenRoundTrip) {
  Commit(InsertOwners);
  auto used = MakeEnrollmentToken(2);
  used.used_at = T(30);
  used.used_by_agent_id = Agt(2);
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.enrollment_tokens().Insert(MakeEnrollmentToken(1))));
    ASSERT_TRUE(IsOk(tx.enrollment_tokens().Insert(used)));
  });
  auto tx = Begin();
  auto got = tx->enrollment_tokens().Get(Enr(1));
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->id, Enr(1));
  EXPECT_EQ(got->account_id, kAcc1);
  EXPECT_EQ(got->hash_hex, "enrhash1");
  EXPECT_EQ(got->tags, (model::Tags{{"env", "dev"}}));
  EXPECT_EQ(got->created_by, kPrn1);
  EXPECT_EQ(got->created_at, T(1));
  EXPECT_EQ(got->expires_at, T(3601));
  EXPECT_FALSE(got->used_at.has_value());
  EXPECT_EQ(got->used_by_agent_id, "");
  auto by_hash = tx->enrollment_tokens().GetByHash("enrhash2");
  ASSERT_TRUE(IsOk(by_hash));
  EXPECT_EQ(by_hash->id, Enr(2));
  EXPECT_EQ(by_hash->used_at, T(30));
  EXPECT_EQ(by_hash->used_by_agent_id, Agt(2));
  EXPECT_TRUE(HasCode(tx->enrollment_tokens().Get("enr_missing"), ErrorCode::kNotFound));
  EXPECT_TRUE(HasCode(tx->enrollment_tokens().GetByHash("nohash"), ErrorCode::kNotFound));
}

TEST_P(StoreConformanceTest, EnrollmentTokenIdAndHashAreUniqueAndAccountMustExist) {
  Commit(InsertOwners);
  auto tx = Begin();
  ASSERT_TRUE(IsOk(tx->enrollment_tokens().Insert(MakeEnrollmentToken(1))));
  auto same_hash = MakeEnrollmentToken(2, kAcc2);
  same_hash.hash_hex = "enrhash1";
  EXPECT_TRUE(HasCode(tx->enrollment_tokens().Insert(same_hash), ErrorCode::kConflict));
  auto same_id = MakeEnrollmentToken(1);
  same_id.hash_hex = "other";
  EXPECT_TRUE(HasCode(tx->enrollment_tokens().Insert(same_id), ErrorCode::kConflict));
  EXPECT_TRUE(HasCode(tx->enrollment_tokens().Insert(MakeEnrollmentToken(3, "acc_missing")),
                      ErrorCode::kFailedPrecondition));
  auto all = tx->enrollment_tokens().ListByAccount(kAcc1);
  ASSERT_TRUE(IsOk(all));
  EXPECT_EQ(Ids(*all), std::vector<std::string>{Enr(1)});
}

TEST_P(StoreConformanceTest, EnrollmentTokenListByAccountIsOrderedById) {
  Commit(InsertOwners);
  Commit([](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.enrollment_tokens().Insert(MakeEnrollmentToken(3))));
    ASSERT_TRUE(IsOk(tx.enrollment_tokens().Insert(MakeEnrollmentToken(2, kAcc2))));
    ASSERT_TRUE(IsOk(tx.enrollment_tokens().Insert(MakeEnrollmentToken(1))));
  });
  auto tx = Begin();
  auto acc1 = tx->enrollment_tokens().ListByAccount(kAcc1);
  ASSERT_TRUE(IsOk(acc1));
  EXPECT_EQ(Ids(*acc1), (std::vector<std::string>{Enr(1), Enr(3)}));
  auto acc2 = tx->enrollment_tokens().ListByAccount(kAcc2);
  ASSERT_TRUE(IsOk(acc2));
  EXPECT_EQ(Ids(*acc2), std::vector<std::string>{Enr(2)});
}

TEST_P(StoreConformanceTest, EnrollmentTokenCanBeUsedOnce) {
  Commit(InsertOwners);
  Commit([](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.enrollment_tokens().Insert(MakeEnrollmentToken(1))));
    auto used = MakeEnrollmentToken(2);
    used.used_at = T(5);
    used.used_by_agent_id = Agt(5);
    ASSERT_TRUE(IsOk(tx.enrollment_tokens().Insert(used)));
  });
  {
    auto tx = Begin();
    EXPECT_TRUE(HasCode(tx->enrollment_tokens().MarkUsed("enr_missing", Agt(1), T(10)),
                        ErrorCode::kNotFound));
    ASSERT_TRUE(IsOk(tx->enrollment_tokens().MarkUsed(Enr(1), Agt(1), T(10))));
    // Again in the same Tx: Conflict, and the first use stands.
    EXPECT_TRUE(
        HasCode(tx->enrollment_tokens().MarkUsed(Enr(1), Agt(2), T(11)), ErrorCode::kConflict));
    // Stored as used already: Conflict as well.
    EXPECT_TRUE(
        HasCode(tx->enrollment_tokens().MarkUsed(Enr(2), Agt(3), T(12)), ErrorCode::kConflict));
    ASSERT_TRUE(IsOk(tx->Commit()));
  }
  auto tx = Begin();
  EXPECT_TRUE(
      HasCode(tx->enrollment_tokens().MarkUsed(Enr(1), Agt(4), T(20)), ErrorCode::kConflict));
  auto got = tx->enrollment_tokens().Get(Enr(1));
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->used_at, T(10));
  EXPECT_EQ(got->used_by_agent_id, Agt(1));
  auto pre = tx->enrollment_tokens().Get(Enr(2));
  ASSERT_TRUE(IsOk(pre));
  EXPECT_EQ(pre->used_at, T(5));
  EXPECT_EQ(pre->used_by_agent_id, Agt(5));
}

TEST_P(StoreConformanceTest, EnrollmentTokenUseIsUndoneWithItsTx) {
  Commit(InsertOwners);
  Commit([](Tx& tx) { ASSERT_TRUE(IsOk(tx.enrollment_tokens().Insert(MakeEnrollmentToken(1)))); });
  {
    auto tx = Begin();
    ASSERT_TRUE(IsOk(tx->enrollment_tokens().MarkUsed(Enr(1), Agt(1), T(10))));
  }  // rolled back: the enrollment failed later on, the token is still good
  auto tx = Begin();
  EXPECT_FALSE(tx->enrollment_tokens().Get(Enr(1))->used_at.has_value());
  EXPECT_TRUE(IsOk(tx->enrollment_tokens().MarkUsed(Enr(1), Agt(2), T(20))));
}

TEST_P(StoreConformanceTest, RacingEnrollmentsWithOneTokenHaveOneWinner) {
  Commit(InsertOwners);
  Commit([](Tx& tx) { ASSERT_TRUE(IsOk(tx.enrollment_tokens().Insert(MakeEnrollmentToken(1)))); });
  constexpr int kThreads = 4;
  std::atomic<int> wins{0};
  std::atomic<int> conflicts{0};
  std::atomic<int> other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto tx = store().Begin();
      if (!tx.ok()) {
        ++other;
        return;
      }
      auto marked = (*tx)->enrollment_tokens().MarkUsed(Enr(1), Agt(t + 1), T(t));
      if (marked.ok() && (*tx)->Commit().ok()) {
        ++wins;
      } else if (!marked.ok() && marked.error().code() == ErrorCode::kConflict) {
        ++conflicts;
      } else {
        ++other;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(conflicts.load(), kThreads - 1);
  EXPECT_EQ(other.load(), 0);
}

// ---- deployments

TEST_P(StoreConformanceTest, DeploymentRoundTrip) {
  Commit(InsertOwners);
  auto d = MakeDeployment(1);
  d.state_detail = "0 of 2 targets verified";
  d.version_id = TestId(model::kVersionPrefix, 1);
  d.key_blob_id = TestId(model::kBlobPrefix, 1);
  d.secret_id = TestId(model::kSecretPrefix, 1);
  d.secret_version = 1;
  d.job_id = TestId(model::kJobPrefix, 1);
  d.deadline = T(900);
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.deployments().Insert(d)));
    ASSERT_TRUE(IsOk(tx.deployments().Insert(MakeDeployment(2, kAcc1))));
  });
  auto tx = Begin();
  auto got = tx->deployments().Get(d.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->id, d.id);
  EXPECT_EQ(got->account_id, kAcc1);
  EXPECT_EQ(got->certificate_id, kCrt1);
  EXPECT_EQ(got->target_account_id, kAcc2);
  EXPECT_EQ(got->selector, (model::Tags{{"env", "dev"}}));
  EXPECT_EQ(got->profile, "nginx");
  EXPECT_EQ(got->state, model::DeploymentState::kRunning);
  EXPECT_EQ(got->state_detail, d.state_detail);
  EXPECT_EQ(got->generation, 1);
  EXPECT_EQ(got->version_id, d.version_id);
  EXPECT_EQ(got->key_blob_id, d.key_blob_id);
  EXPECT_EQ(got->secret_id, d.secret_id);
  EXPECT_EQ(got->secret_version, 1);
  EXPECT_EQ(got->job_id, d.job_id);
  EXPECT_EQ(got->deadline, T(900));
  EXPECT_EQ(got->created_by, kPrn1);
  EXPECT_EQ(got->created_at, T(1));
  EXPECT_EQ(got->updated_at, T(1));
  // Not yet exported: empty references, no deadline; same-account deployments are allowed.
  auto fresh = tx->deployments().Get(Dep(2));
  ASSERT_TRUE(IsOk(fresh));
  EXPECT_EQ(fresh->target_account_id, kAcc1);
  EXPECT_EQ(fresh->version_id, "");
  EXPECT_EQ(fresh->secret_version, 0);
  EXPECT_FALSE(fresh->deadline.has_value());
  EXPECT_TRUE(HasCode(tx->deployments().Get("dep_missing"), ErrorCode::kNotFound));
  EXPECT_TRUE(HasCode(tx->deployments().Insert(MakeDeployment(1)), ErrorCode::kConflict));
}

TEST_P(StoreConformanceTest, DeploymentNeedsItsCertificateAndBothAccounts) {
  Commit(InsertOwners);
  auto tx = Begin();
  EXPECT_TRUE(HasCode(tx->deployments().Insert(MakeDeployment(1, kAcc2, "crt_missing")),
                      ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(HasCode(tx->deployments().Insert(MakeDeployment(2, "acc_missing")),
                      ErrorCode::kFailedPrecondition));
  auto no_account = MakeDeployment(3);
  no_account.account_id = "acc_missing";
  EXPECT_TRUE(HasCode(tx->deployments().Insert(no_account), ErrorCode::kFailedPrecondition));
  auto none = tx->deployments().List({});
  ASSERT_TRUE(IsOk(none));
  EXPECT_TRUE(none->empty());
}

TEST_P(StoreConformanceTest, DeploymentListFiltersAndPages) {
  Commit(InsertOwners);
  Commit([](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.certificates().Insert(MakeCertificate(kAcc2, 2))));
    const std::string crt2 = TestId(model::kCertificatePrefix, 2);
    ASSERT_TRUE(IsOk(tx.deployments().Insert(MakeDeployment(4, kAcc2))));
    ASSERT_TRUE(IsOk(tx.deployments().Insert(MakeDeployment(1, kAcc1))));
    auto of_acc2 = MakeDeployment(2, kAcc1, crt2);
    of_acc2.account_id = kAcc2;
    ASSERT_TRUE(IsOk(tx.deployments().Insert(of_acc2)));
    ASSERT_TRUE(IsOk(tx.deployments().Insert(MakeDeployment(3, kAcc2))));
  });
  auto tx = Begin();
  auto list = [&](const DeploymentFilter& f) {
    auto r = tx->deployments().List(f);
    EXPECT_TRUE(IsOk(r));
    return r.ok() ? Ids(*r) : std::vector<std::string>{};
  };
  EXPECT_EQ(list({}), (std::vector<std::string>{Dep(1), Dep(2), Dep(3), Dep(4)}));
  EXPECT_EQ(list({.account_id = kAcc1}), (std::vector<std::string>{Dep(1), Dep(3), Dep(4)}));
  EXPECT_EQ(list({.target_account_id = kAcc1}), (std::vector<std::string>{Dep(1), Dep(2)}));
  EXPECT_EQ(list({.certificate_id = kCrt1}), (std::vector<std::string>{Dep(1), Dep(3), Dep(4)}));
  // Conditions are ANDed.
  EXPECT_EQ(list({.account_id = kAcc1, .target_account_id = kAcc2}),
            (std::vector<std::string>{Dep(3), Dep(4)}));
  EXPECT_EQ(list({.account_id = kAcc2,
                  .target_account_id = kAcc1,
                  .certificate_id = TestId(model::kCertificatePrefix, 2)}),
            std::vector<std::string>{Dep(2)});
  EXPECT_TRUE(list({.account_id = kAcc2, .certificate_id = kCrt1}).empty());
  // Keyset pagination.
  EXPECT_EQ(list({.limit = 2}), (std::vector<std::string>{Dep(1), Dep(2)}));
  EXPECT_EQ(list({.limit = 2, .after_id = Dep(2)}), (std::vector<std::string>{Dep(3), Dep(4)}));
  EXPECT_EQ(list({.account_id = kAcc1, .limit = 1, .after_id = Dep(1)}),
            std::vector<std::string>{Dep(3)});
  EXPECT_TRUE(list({.after_id = Dep(4)}).empty());
  EXPECT_TRUE(list({.limit = 0}).empty());
}

TEST_P(StoreConformanceTest, DeploymentUpdateChangesOnlyTheListedFields) {
  Commit(InsertOwners);
  Commit([](Tx& tx) {
    auto d = MakeDeployment(1);
    d.deadline = T(900);
    ASSERT_TRUE(IsOk(tx.deployments().Insert(d)));
  });
  auto tx = Begin();
  auto d = *tx->deployments().Get(Dep(1));
  d.state = model::DeploymentState::kSucceeded;
  d.state_detail = "2 of 2 targets verified";
  d.generation = 2;
  d.version_id = TestId(model::kVersionPrefix, 2);
  d.key_blob_id = TestId(model::kBlobPrefix, 2);
  d.secret_id = TestId(model::kSecretPrefix, 1);
  d.secret_version = 2;
  d.job_id = TestId(model::kJobPrefix, 2);
  d.deadline = std::nullopt;
  d.updated_at = T(1000);
  // Ignored: fixed at creation.
  d.account_id = kAcc2;
  d.certificate_id = "crt_other";
  d.target_account_id = kAcc1;
  d.selector = {{"env", "prod"}};
  d.profile = "haproxy";
  d.created_by = kPrn2;
  d.created_at = T(1234);
  ASSERT_TRUE(IsOk(tx->deployments().Update(d)));
  ASSERT_TRUE(IsOk(tx->Commit()));

  tx = Begin();
  auto got = tx->deployments().Get(Dep(1));
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->state, model::DeploymentState::kSucceeded);
  EXPECT_EQ(got->state_detail, "2 of 2 targets verified");
  EXPECT_EQ(got->generation, 2);
  EXPECT_EQ(got->version_id, TestId(model::kVersionPrefix, 2));
  EXPECT_EQ(got->key_blob_id, TestId(model::kBlobPrefix, 2));
  EXPECT_EQ(got->secret_id, TestId(model::kSecretPrefix, 1));
  EXPECT_EQ(got->secret_version, 2);
  EXPECT_EQ(got->job_id, TestId(model::kJobPrefix, 2));
  EXPECT_FALSE(got->deadline.has_value());
  EXPECT_EQ(got->updated_at, T(1000));
  EXPECT_EQ(got->account_id, kAcc1);
  EXPECT_EQ(got->certificate_id, kCrt1);
  EXPECT_EQ(got->target_account_id, kAcc2);
  EXPECT_EQ(got->selector, (model::Tags{{"env", "dev"}}));
  EXPECT_EQ(got->profile, "nginx");
  EXPECT_EQ(got->created_by, kPrn1);
  EXPECT_EQ(got->created_at, T(1));
  d.id = Dep(9);
  EXPECT_TRUE(HasCode(tx->deployments().Update(d), ErrorCode::kNotFound));
}

// ---- deployment targets

// InsertOwners, deployments 1 and 2, agents 1 and 2 of account 2.
void InsertDeploymentsAndAgents(Tx& tx) {
  InsertOwners(tx);
  ASSERT_TRUE(IsOk(tx.deployments().Insert(MakeDeployment(1))));
  ASSERT_TRUE(IsOk(tx.deployments().Insert(MakeDeployment(2))));
  ASSERT_TRUE(IsOk(tx.agents().Insert(MakeAgent(1, kAcc2, kPrn2))));
  ASSERT_TRUE(IsOk(tx.agents().Insert(MakeAgent(2, kAcc2, kPrn2))));
}

TEST_P(StoreConformanceTest, DeploymentTargetRoundTrip) {
  Commit(InsertDeploymentsAndAgents);
  auto t = MakeTarget(1, Dep(1), Agt(1), 3);
  t.state = model::TargetState::kVerified;
  t.paths = {"/srv/nginx/certs/web-fullchain.pem", "/srv/nginx/certs/web-key.pem"};
  t.delivered_at = T(10);
  t.installed_at = T(20);
  t.verified_at = T(30);
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.deployment_targets().Insert(t)));
    ASSERT_TRUE(IsOk(tx.deployment_targets().Insert(MakeTarget(2, Dep(1), Agt(2)))));
  });
  auto tx = Begin();
  auto got = tx->deployment_targets().Get(t.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->id, t.id);
  EXPECT_EQ(got->deployment_id, Dep(1));
  EXPECT_EQ(got->agent_id, Agt(1));
  EXPECT_EQ(got->account_id, kAcc2);
  EXPECT_EQ(got->generation, 1);
  EXPECT_EQ(got->version_id, t.version_id);
  EXPECT_EQ(got->seq, 3);
  EXPECT_EQ(got->state, model::TargetState::kVerified);
  EXPECT_EQ(got->reason, "");
  EXPECT_EQ(got->paths, t.paths);
  EXPECT_EQ(got->delivered_at, T(10));
  EXPECT_EQ(got->installed_at, T(20));
  EXPECT_EQ(got->verified_at, T(30));
  EXPECT_EQ(got->created_at, T(1));
  EXPECT_EQ(got->updated_at, T(1));
  auto pending = tx->deployment_targets().GetByDeploymentAgent(Dep(1), Agt(2));
  ASSERT_TRUE(IsOk(pending));
  EXPECT_EQ(pending->id, Dtg(2));
  EXPECT_TRUE(pending->paths.empty());
  EXPECT_FALSE(pending->delivered_at.has_value());
  EXPECT_FALSE(pending->installed_at.has_value());
  EXPECT_FALSE(pending->verified_at.has_value());
  EXPECT_TRUE(HasCode(tx->deployment_targets().Get("dtg_missing"), ErrorCode::kNotFound));
  EXPECT_TRUE(
      HasCode(tx->deployment_targets().GetByDeploymentAgent(Dep(2), Agt(1)), ErrorCode::kNotFound));
  auto same_id = MakeTarget(1, Dep(2), Agt(1));
  EXPECT_TRUE(HasCode(tx->deployment_targets().Insert(same_id), ErrorCode::kConflict));
}

TEST_P(StoreConformanceTest, DeploymentTargetIsUniquePerDeploymentAndAgent) {
  Commit(InsertDeploymentsAndAgents);
  auto tx = Begin();
  ASSERT_TRUE(IsOk(tx->deployment_targets().Insert(MakeTarget(1, Dep(1), Agt(1)))));
  EXPECT_TRUE(HasCode(tx->deployment_targets().Insert(MakeTarget(2, Dep(1), Agt(1))),
                      ErrorCode::kConflict));
  // The same agent in another deployment, and another agent in the same one, are fine.
  EXPECT_TRUE(IsOk(tx->deployment_targets().Insert(MakeTarget(3, Dep(2), Agt(1)))));
  EXPECT_TRUE(IsOk(tx->deployment_targets().Insert(MakeTarget(4, Dep(1), Agt(2)))));
  EXPECT_TRUE(HasCode(tx->deployment_targets().Get(Dtg(2)), ErrorCode::kNotFound));
}

TEST_P(StoreConformanceTest, DeploymentTargetNeedsItsDeploymentAndAgent) {
  Commit(InsertDeploymentsAndAgents);
  auto tx = Begin();
  EXPECT_TRUE(HasCode(tx->deployment_targets().Insert(MakeTarget(1, "dep_missing", Agt(1))),
                      ErrorCode::kFailedPrecondition));
  EXPECT_TRUE(HasCode(tx->deployment_targets().Insert(MakeTarget(2, Dep(1), "agt_missing")),
                      ErrorCode::kFailedPrecondition));
  auto none = tx->deployment_targets().ListByDeployment(Dep(1));
  ASSERT_TRUE(IsOk(none));
  EXPECT_TRUE(none->empty());
}

TEST_P(StoreConformanceTest, DeploymentTargetListsByDeploymentAndByAgent) {
  Commit(InsertDeploymentsAndAgents);
  Commit([](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.deployment_targets().Insert(MakeTarget(4, Dep(1), Agt(2)))));
    ASSERT_TRUE(IsOk(tx.deployment_targets().Insert(MakeTarget(3, Dep(2), Agt(1)))));
    ASSERT_TRUE(IsOk(tx.deployment_targets().Insert(MakeTarget(1, Dep(1), Agt(1)))));
    ASSERT_TRUE(IsOk(tx.deployment_targets().Insert(MakeTarget(2, Dep(2), Agt(2)))));
  });
  auto tx = Begin();
  auto d1 = tx->deployment_targets().ListByDeployment(Dep(1));
  ASSERT_TRUE(IsOk(d1));
  EXPECT_EQ(Ids(*d1), (std::vector<std::string>{Dtg(1), Dtg(4)}));
  auto d2 = tx->deployment_targets().ListByDeployment(Dep(2));
  ASSERT_TRUE(IsOk(d2));
  EXPECT_EQ(Ids(*d2), (std::vector<std::string>{Dtg(2), Dtg(3)}));
  auto a1 = tx->deployment_targets().ListByAgent(Agt(1));
  ASSERT_TRUE(IsOk(a1));
  EXPECT_EQ(Ids(*a1), (std::vector<std::string>{Dtg(1), Dtg(3)}));
  auto a2 = tx->deployment_targets().ListByAgent(Agt(2));
  ASSERT_TRUE(IsOk(a2));
  EXPECT_EQ(Ids(*a2), (std::vector<std::string>{Dtg(2), Dtg(4)}));
  EXPECT_TRUE(tx->deployment_targets().ListByAgent("agt_missing")->empty());
}

TEST_P(StoreConformanceTest, DeploymentTargetListPendingByAgentIsOrderedBySeq) {
  Commit([](Tx& tx) {
    InsertDeploymentsAndAgents(tx);
    ASSERT_TRUE(IsOk(tx.deployments().Insert(MakeDeployment(3))));
    ASSERT_TRUE(IsOk(tx.deployments().Insert(MakeDeployment(4))));
  });
  Commit([](Tx& tx) {
    // Agent 1: ids and seqs in opposite orders; one target no longer pending.
    ASSERT_TRUE(IsOk(tx.deployment_targets().Insert(MakeTarget(1, Dep(1), Agt(1), 9))));
    ASSERT_TRUE(IsOk(tx.deployment_targets().Insert(MakeTarget(2, Dep(2), Agt(1), 4))));
    auto done = MakeTarget(3, Dep(3), Agt(1), 1);
    done.state = model::TargetState::kInstalled;
    ASSERT_TRUE(IsOk(tx.deployment_targets().Insert(done)));
    ASSERT_TRUE(IsOk(tx.deployment_targets().Insert(MakeTarget(4, Dep(4), Agt(1), 6))));
    // Agent 2's pending target is not agent 1's business.
    ASSERT_TRUE(IsOk(tx.deployment_targets().Insert(MakeTarget(5, Dep(1), Agt(2), 2))));
  });
  auto tx = Begin();
  auto pending = tx->deployment_targets().ListPendingByAgent(Agt(1));
  ASSERT_TRUE(IsOk(pending));
  EXPECT_EQ(Ids(*pending), (std::vector<std::string>{Dtg(2), Dtg(4), Dtg(1)}));
  for (const auto& t : *pending) EXPECT_EQ(t.state, model::TargetState::kPending);

  // Reporting a target moves it out of the queue; a redeploy puts it back with a new seq.
  auto t = *tx->deployment_targets().Get(Dtg(2));
  t.state = model::TargetState::kFailed;
  ASSERT_TRUE(IsOk(tx->deployment_targets().Update(t)));
  EXPECT_EQ(Ids(*tx->deployment_targets().ListPendingByAgent(Agt(1))),
            (std::vector<std::string>{Dtg(4), Dtg(1)}));
  t.state = model::TargetState::kPending;
  t.seq = 10;
  ASSERT_TRUE(IsOk(tx->deployment_targets().Update(t)));
  EXPECT_EQ(Ids(*tx->deployment_targets().ListPendingByAgent(Agt(1))),
            (std::vector<std::string>{Dtg(4), Dtg(1), Dtg(2)}));
  EXPECT_EQ(Ids(*tx->deployment_targets().ListPendingByAgent(Agt(2))),
            std::vector<std::string>{Dtg(5)});
  EXPECT_TRUE(tx->deployment_targets().ListPendingByAgent("agt_missing")->empty());
}

TEST_P(StoreConformanceTest, DeploymentTargetUpdateChangesOnlyTheListedFields) {
  Commit(InsertDeploymentsAndAgents);
  Commit([](Tx& tx) {
    auto t = MakeTarget(1, Dep(1), Agt(1), 1);
    t.delivered_at = T(5);
    ASSERT_TRUE(IsOk(tx.deployment_targets().Insert(t)));
  });
  auto tx = Begin();
  auto t = *tx->deployment_targets().Get(Dtg(1));
  t.generation = 2;
  t.version_id = TestId(model::kVersionPrefix, 2);
  t.seq = 8;
  t.state = model::TargetState::kRolledBack;
  t.reason = "verify failed: wrong serial";
  t.paths = {"/etc/ssl/a.pem"};
  t.delivered_at = std::nullopt;
  t.installed_at = T(40);
  t.verified_at = T(41);
  t.updated_at = T(42);
  // Ignored: a target never moves between deployments, agents or accounts.
  t.deployment_id = Dep(2);
  t.agent_id = Agt(2);
  t.account_id = kAcc1;
  t.created_at = T(1234);
  ASSERT_TRUE(IsOk(tx->deployment_targets().Update(t)));
  ASSERT_TRUE(IsOk(tx->Commit()));

  tx = Begin();
  auto got = tx->deployment_targets().Get(Dtg(1));
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->generation, 2);
  EXPECT_EQ(got->version_id, TestId(model::kVersionPrefix, 2));
  EXPECT_EQ(got->seq, 8);
  EXPECT_EQ(got->state, model::TargetState::kRolledBack);
  EXPECT_EQ(got->reason, "verify failed: wrong serial");
  EXPECT_EQ(got->paths, std::vector<std::string>{"/etc/ssl/a.pem"});
  EXPECT_FALSE(got->delivered_at.has_value());
  EXPECT_EQ(got->installed_at, T(40));
  EXPECT_EQ(got->verified_at, T(41));
  EXPECT_EQ(got->updated_at, T(42));
  EXPECT_EQ(got->deployment_id, Dep(1));
  EXPECT_EQ(got->agent_id, Agt(1));
  EXPECT_EQ(got->account_id, kAcc2);
  EXPECT_EQ(got->created_at, T(1));
  EXPECT_TRUE(
      HasCode(tx->deployment_targets().GetByDeploymentAgent(Dep(2), Agt(2)), ErrorCode::kNotFound));
  t.id = Dtg(9);
  EXPECT_TRUE(HasCode(tx->deployment_targets().Update(t), ErrorCode::kNotFound));
}

// ---- values the backend cannot store

TEST_P(StoreConformanceTest, AgentAndDeploymentStringsMustBeValidUtf8) {
  Commit(InsertDeploymentsAndAgents);
  auto tx = Begin();
  auto agent = MakeAgent(3, kAcc2, kPrn2);
  agent.tags = {{"env", kBadUtf8}};
  EXPECT_TRUE(HasCode(tx->agents().Insert(agent), ErrorCode::kInvalidArgument));
  auto existing = *tx->agents().Get(Agt(1));
  existing.tags = {{kBadUtf8, "x"}};
  EXPECT_TRUE(HasCode(tx->agents().Update(existing), ErrorCode::kInvalidArgument));
  auto token = MakeEnrollmentToken(1);
  token.tags = {{"env", kBadUtf8}};
  EXPECT_TRUE(HasCode(tx->enrollment_tokens().Insert(token), ErrorCode::kInvalidArgument));
  auto deployment = MakeDeployment(3);
  deployment.selector = {{"env", kBadUtf8}};
  EXPECT_TRUE(HasCode(tx->deployments().Insert(deployment), ErrorCode::kInvalidArgument));
  auto target = MakeTarget(1, Dep(1), Agt(1));
  target.paths = {"/ok", "/srv/" + kBadUtf8};
  EXPECT_TRUE(HasCode(tx->deployment_targets().Insert(target), ErrorCode::kInvalidArgument));
  target.paths = {"/ok"};
  ASSERT_TRUE(IsOk(tx->deployment_targets().Insert(target)));
  target.paths = {kBadUtf8};
  EXPECT_TRUE(HasCode(tx->deployment_targets().Update(target), ErrorCode::kInvalidArgument));
  // Nothing was written by the refused calls.
  EXPECT_EQ(tx->agents().Get(Agt(1))->tags, (model::Tags{{"env", "dev"}, {"role", "web"}}));
  EXPECT_EQ(tx->deployment_targets().Get(Dtg(1))->paths, std::vector<std::string>{"/ok"});
  EXPECT_TRUE(HasCode(tx->agents().Get(Agt(3)), ErrorCode::kNotFound));
}

// ---- http-01 challenges handed to agents (migration 9)

AgentChallenge MakeChallenge(const std::string& agent_id, const std::string& token,
                             const std::string& state, int t) {
  return {.agent_id = agent_id,
          .token = token,
          .account_id = kAcc1,
          .key_authorization = token + ".thumb",
          .state = state,
          .reason = "",
          .created_at = T(t),
          .updated_at = T(t),
          .identifier = "web.example.test"};
}

TEST_P(StoreConformanceTest, AgentChallengesAreWorkUntilAcknowledged) {
  Commit(InsertOwners);
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.agents().Insert(MakeAgent(1))));
    ASSERT_TRUE(IsOk(tx.agents().Insert(MakeAgent(2))));
    ASSERT_TRUE(IsOk(tx.agent_challenges().Put(MakeChallenge(Agt(1), "tokB", "present", 20))));
    ASSERT_TRUE(IsOk(tx.agent_challenges().Put(MakeChallenge(Agt(1), "tokA", "present", 10))));
    ASSERT_TRUE(IsOk(tx.agent_challenges().Put(MakeChallenge(Agt(2), "tokA", "present", 10))));
    ASSERT_TRUE(IsOk(tx.agent_challenges().Put(MakeChallenge(Agt(1), "tokC", "presented", 5))));
  });
  {
    auto tx = Begin();
    auto work = tx->agent_challenges().ListWork(Agt(1), 10);
    ASSERT_TRUE(IsOk(work));
    ASSERT_EQ(work->size(), 2u);  // tokC is acknowledged already
    EXPECT_EQ((*work)[0].token, "tokA");
    EXPECT_EQ((*work)[0].key_authorization, "tokA.thumb");
    EXPECT_EQ((*work)[0].identifier, "web.example.test");
    EXPECT_EQ((*work)[1].token, "tokB");
    auto limited = tx->agent_challenges().ListWork(Agt(1), 1);
    ASSERT_TRUE(IsOk(limited));
    EXPECT_EQ(limited->size(), 1u);
    auto by_token = tx->agent_challenges().ListByToken(kAcc1, "tokA");
    ASSERT_TRUE(IsOk(by_token));
    ASSERT_EQ(by_token->size(), 2u);
    EXPECT_EQ((*by_token)[0].agent_id, Agt(1));
    EXPECT_EQ((*by_token)[1].agent_id, Agt(2));
    auto other_account = tx->agent_challenges().ListByToken(kAcc2, "tokA");
    ASSERT_TRUE(IsOk(other_account));
    EXPECT_TRUE(other_account->empty());
  }
  // Acknowledge: replace keeps created_at; remove; delete.
  Commit([&](Tx& tx) {
    auto ack = MakeChallenge(Agt(1), "tokA", "failed", 30);
    ack.reason = "no webroot";
    ASSERT_TRUE(IsOk(tx.agent_challenges().Put(ack)));
    ASSERT_TRUE(IsOk(tx.agent_challenges().Put(MakeChallenge(Agt(1), "tokB", "remove", 40))));
    ASSERT_TRUE(IsOk(tx.agent_challenges().Delete(Agt(2), "tokA")));
    ASSERT_TRUE(IsOk(tx.agent_challenges().Delete(Agt(2), "absent")));
  });
  auto tx = Begin();
  auto a = tx->agent_challenges().Get(Agt(1), "tokA");
  ASSERT_TRUE(IsOk(a) && a->has_value());
  EXPECT_EQ((*a)->state, "failed");
  EXPECT_EQ((*a)->reason, "no webroot");
  EXPECT_EQ((*a)->created_at, T(10));
  EXPECT_EQ((*a)->updated_at, T(30));
  // Stale: not being withdrawn and older than the cut-off (tokC at T(5); tokA updated at T(30)).
  auto stale = tx->agent_challenges().ListStale(kAcc1, T(31), 10);
  ASSERT_TRUE(IsOk(stale));
  ASSERT_EQ(stale->size(), 2u);
  EXPECT_EQ((*stale)[0].token, "tokC");
  EXPECT_EQ((*stale)[1].token, "tokA");
  auto older = tx->agent_challenges().ListStale(kAcc1, T(30), 10);
  ASSERT_TRUE(IsOk(older));
  ASSERT_EQ(older->size(), 1u);
  EXPECT_EQ((*older)[0].token, "tokC");
  auto other = tx->agent_challenges().ListStale(kAcc2, T(1000), 10);
  ASSERT_TRUE(IsOk(other));
  EXPECT_TRUE(other->empty());
  auto gone = tx->agent_challenges().Get(Agt(2), "tokA");
  ASSERT_TRUE(IsOk(gone));
  EXPECT_FALSE(gone->has_value());
  auto work = tx->agent_challenges().ListWork(Agt(1), 10);
  ASSERT_TRUE(IsOk(work));
  ASSERT_EQ(work->size(), 1u);
  EXPECT_EQ((*work)[0].token, "tokB");
  EXPECT_EQ((*work)[0].state, "remove");
}

}  // namespace
}  // namespace certfleet::store::testing
