// Conformance: durable jobs (JobRepo), in particular Claim(): due jobs only, expired leases
// taken over, live leases left alone, ordering, attempts.
#include <string>
#include <vector>

#include "store/conformance_test.h"

namespace certfleet::store::testing {
namespace {

const std::string kAcc1 = TestId(model::kAccountPrefix, 1);
const std::string kAcc2 = TestId(model::kAccountPrefix, 2);

std::string Job(int n) { return TestId(model::kJobPrefix, n); }

// A pending job of `type`, due at T(run_after), created at T(0).
model::Job MakeJob(int n, const std::string& type = "issue", int64_t run_after = 0) {
  model::Job j;
  j.id = Job(n);
  j.account_id = kAcc1;
  j.type = type;
  j.step = "start";
  j.state = model::JobState::kPending;
  j.attempts = 0;
  j.max_attempts = 3;
  j.input_json = R"({"n":)" + std::to_string(n) + "}";
  j.output_json = "{}";
  j.run_after = T(run_after);
  j.created_at = T(0);
  j.updated_at = T(0);
  return j;
}

std::vector<std::string> Ids(const std::vector<model::Job>& jobs) {
  std::vector<std::string> out;
  for (const auto& j : jobs) out.push_back(j.id);
  return out;
}

TEST_P(StoreConformanceTest, JobRoundTrip) {
  auto j = MakeJob(1);
  j.idempotency_key = "key-1";
  j.deadline = T(600);
  j.last_error = "previous";
  Commit([&](Tx& tx) { ASSERT_TRUE(IsOk(tx.jobs().Insert(j))); });
  auto tx = Begin();
  auto got = tx->jobs().Get(j.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->account_id, kAcc1);
  EXPECT_EQ(got->type, "issue");
  EXPECT_EQ(got->step, "start");
  EXPECT_EQ(got->state, model::JobState::kPending);
  EXPECT_EQ(got->attempts, 0);
  EXPECT_EQ(got->max_attempts, 3);
  EXPECT_EQ(got->input_json, j.input_json);
  EXPECT_EQ(got->output_json, "{}");
  EXPECT_EQ(got->last_error, "previous");
  EXPECT_EQ(got->idempotency_key, "key-1");
  EXPECT_EQ(got->lease_owner, "");
  EXPECT_FALSE(got->lease_expires_at.has_value());
  EXPECT_EQ(got->run_after, T(0));
  EXPECT_EQ(got->deadline, T(600));
  EXPECT_EQ(got->created_at, T(0));
  EXPECT_TRUE(HasCode(tx->jobs().Get("job_missing"), ErrorCode::kNotFound));
  EXPECT_TRUE(HasCode(tx->jobs().Insert(MakeJob(1)), ErrorCode::kConflict));
}

TEST_P(StoreConformanceTest, JobIdempotencyKeyIsUniquePerType) {
  auto tx = Begin();
  auto a = MakeJob(1, "issue");
  a.idempotency_key = "k";
  ASSERT_TRUE(IsOk(tx->jobs().Insert(a)));
  auto b = MakeJob(2, "issue");
  b.idempotency_key = "k";
  EXPECT_TRUE(HasCode(tx->jobs().Insert(b), ErrorCode::kConflict));
  // Another type may use the same key; empty keys never conflict.
  auto c = MakeJob(3, "deploy");
  c.idempotency_key = "k";
  EXPECT_TRUE(IsOk(tx->jobs().Insert(c)));
  EXPECT_TRUE(IsOk(tx->jobs().Insert(MakeJob(4, "issue"))));
  EXPECT_TRUE(IsOk(tx->jobs().Insert(MakeJob(5, "issue"))));

  auto got = tx->jobs().GetByIdempotencyKey("issue", "k");
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->id, Job(1));
  auto other = tx->jobs().GetByIdempotencyKey("deploy", "k");
  ASSERT_TRUE(IsOk(other));
  EXPECT_EQ(other->id, Job(3));
  EXPECT_TRUE(HasCode(tx->jobs().GetByIdempotencyKey("issue", "nope"), ErrorCode::kNotFound));
  EXPECT_TRUE(HasCode(tx->jobs().GetByIdempotencyKey("issue", ""), ErrorCode::kNotFound));
}

TEST_P(StoreConformanceTest, JobUpdateReplacesMutableFields) {
  Commit([&](Tx& tx) { ASSERT_TRUE(IsOk(tx.jobs().Insert(MakeJob(1)))); });
  auto tx = Begin();
  auto j = *tx->jobs().Get(Job(1));
  j.step = "finish";
  j.state = model::JobState::kRunning;
  j.attempts = 2;
  j.output_json = R"({"ok":true})";
  j.last_error = "boom";
  j.lease_owner = "w1";
  j.lease_expires_at = T(30);
  j.run_after = T(10);
  j.deadline = T(99);
  j.updated_at = T(5);
  j.created_at = T(1234);  // ignored
  ASSERT_TRUE(IsOk(tx->jobs().Update(j)));
  auto got = tx->jobs().Get(Job(1));
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ(got->step, "finish");
  EXPECT_EQ(got->state, model::JobState::kRunning);
  EXPECT_EQ(got->attempts, 2);
  EXPECT_EQ(got->output_json, R"({"ok":true})");
  EXPECT_EQ(got->last_error, "boom");
  EXPECT_EQ(got->lease_owner, "w1");
  EXPECT_EQ(got->lease_expires_at, T(30));
  EXPECT_EQ(got->run_after, T(10));
  EXPECT_EQ(got->deadline, T(99));
  EXPECT_EQ(got->updated_at, T(5));
  EXPECT_EQ(got->created_at, T(0));
  // Clearing optional fields.
  j.lease_expires_at.reset();
  j.deadline.reset();
  ASSERT_TRUE(IsOk(tx->jobs().Update(j)));
  EXPECT_FALSE(tx->jobs().Get(Job(1))->lease_expires_at.has_value());
  EXPECT_FALSE(tx->jobs().Get(Job(1))->deadline.has_value());
  j.id = Job(9);
  EXPECT_TRUE(HasCode(tx->jobs().Update(j), ErrorCode::kNotFound));
}

TEST_P(StoreConformanceTest, JobClaimTakesDueJobsInOrderAndMarksThem) {
  Commit([&](Tx& tx) {
    // Inserted out of order: due at 20, 10, 10 (ids 3 and 2 tie: id decides), future at 500.
    ASSERT_TRUE(IsOk(tx.jobs().Insert(MakeJob(1, "issue", 20))));
    ASSERT_TRUE(IsOk(tx.jobs().Insert(MakeJob(3, "issue", 10))));
    ASSERT_TRUE(IsOk(tx.jobs().Insert(MakeJob(2, "issue", 10))));
    ASSERT_TRUE(IsOk(tx.jobs().Insert(MakeJob(4, "issue", 500))));
    auto done = MakeJob(5, "issue", 0);
    done.state = model::JobState::kSucceeded;
    ASSERT_TRUE(IsOk(tx.jobs().Insert(done)));
  });
  auto tx = Begin();
  auto claimed = tx->jobs().Claim("w1", T(100), Seconds(30), {}, 10);
  ASSERT_TRUE(IsOk(claimed));
  EXPECT_EQ(Ids(*claimed), (std::vector<std::string>{Job(2), Job(3), Job(1)}));
  for (const auto& j : *claimed) {
    EXPECT_EQ(j.state, model::JobState::kRunning);
    EXPECT_EQ(j.lease_owner, "w1");
    EXPECT_EQ(j.lease_expires_at, T(130));
    EXPECT_EQ(j.attempts, 1);
    EXPECT_EQ(j.updated_at, T(100));
  }
  // Persisted, not only returned.
  EXPECT_EQ(tx->jobs().Get(Job(2))->lease_owner, "w1");
  // Nothing else is due: the live leases and the future job are not taken.
  auto again = tx->jobs().Claim("w2", T(100), Seconds(30), {}, 10);
  ASSERT_TRUE(IsOk(again));
  EXPECT_TRUE(again->empty());
}

TEST_P(StoreConformanceTest, JobClaimHonoursLimitAndTypes) {
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.jobs().Insert(MakeJob(1, "issue"))));
    ASSERT_TRUE(IsOk(tx.jobs().Insert(MakeJob(2, "deploy"))));
    ASSERT_TRUE(IsOk(tx.jobs().Insert(MakeJob(3, "issue"))));
    ASSERT_TRUE(IsOk(tx.jobs().Insert(MakeJob(4, "renew"))));
  });
  auto tx = Begin();
  auto one = tx->jobs().Claim("w1", T(1), Seconds(30), {"issue"}, 1);
  ASSERT_TRUE(IsOk(one));
  EXPECT_EQ(Ids(*one), (std::vector<std::string>{Job(1)}));
  auto two = tx->jobs().Claim("w1", T(1), Seconds(30), {"issue", "deploy"}, 10);
  ASSERT_TRUE(IsOk(two));
  EXPECT_EQ(Ids(*two), (std::vector<std::string>{Job(2), Job(3)}));
  auto none = tx->jobs().Claim("w1", T(1), Seconds(30), {"renew"}, 0);
  ASSERT_TRUE(IsOk(none));
  EXPECT_TRUE(none->empty());
}

TEST_P(StoreConformanceTest, JobClaimTakesExpiredLeasesOnly) {
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.jobs().Insert(MakeJob(1))));
    ASSERT_TRUE(IsOk(tx.jobs().Insert(MakeJob(2))));
  });
  Commit([&](Tx& tx) {
    auto first = tx.jobs().Claim("w1", T(0), Seconds(30), {}, 1);  // job 1, lease until 30
    ASSERT_TRUE(IsOk(first));
    ASSERT_EQ(first->size(), 1u);
    auto second = tx.jobs().Claim("w1", T(20), Seconds(30), {}, 1);  // job 2, until 50
    ASSERT_TRUE(IsOk(second));
    ASSERT_EQ(second->size(), 1u);
  });
  auto tx = Begin();
  // At 30 no lease has expired yet (expiry is strictly before now).
  auto at30 = tx->jobs().Claim("w2", T(30), Seconds(30), {}, 10);
  ASSERT_TRUE(IsOk(at30));
  EXPECT_TRUE(at30->empty());
  // At 31, job 1's worker is presumed dead; job 2's lease is still live.
  auto at31 = tx->jobs().Claim("w2", T(31), Seconds(30), {}, 10);
  ASSERT_TRUE(IsOk(at31));
  ASSERT_EQ(Ids(*at31), (std::vector<std::string>{Job(1)}));
  EXPECT_EQ((*at31)[0].lease_owner, "w2");
  EXPECT_EQ((*at31)[0].lease_expires_at, T(61));
  EXPECT_EQ((*at31)[0].attempts, 2);
  EXPECT_EQ(tx->jobs().Get(Job(2))->lease_owner, "w1");
}

TEST_P(StoreConformanceTest, JobLeaseIsExtendedOnlyByItsLiveOwner) {
  Commit([&](Tx& tx) { ASSERT_TRUE(IsOk(tx.jobs().Insert(MakeJob(1)))); });
  Commit([&](Tx& tx) { ASSERT_EQ(tx.jobs().Claim("w1", T(0), Seconds(30), {}, 1)->size(), 1u); });
  auto tx = Begin();
  // Another owner, or a stale expectation, changes nothing.
  auto other = tx->jobs().ExtendLease(Job(1), "w2", T(30), T(60));
  ASSERT_TRUE(IsOk(other));
  EXPECT_FALSE(*other);
  auto stale = tx->jobs().ExtendLease(Job(1), "w1", T(29), T(60));
  ASSERT_TRUE(IsOk(stale));
  EXPECT_FALSE(*stale);
  EXPECT_EQ(tx->jobs().Get(Job(1))->lease_expires_at, T(30));
  // The owner extends it, and the job is then not claimable when the first lease would have
  // run out.
  auto mine = tx->jobs().ExtendLease(Job(1), "w1", T(30), T(60));
  ASSERT_TRUE(IsOk(mine));
  EXPECT_TRUE(*mine);
  EXPECT_EQ(tx->jobs().Get(Job(1))->lease_expires_at, T(60));
  auto at31 = tx->jobs().Claim("w2", T(31), Seconds(30), {}, 10);
  ASSERT_TRUE(IsOk(at31));
  EXPECT_TRUE(at31->empty());
  // A finished job is not extended.
  auto job = *tx->jobs().Get(Job(1));
  job.state = model::JobState::kSucceeded;
  ASSERT_TRUE(IsOk(tx->jobs().Update(job)));
  auto done = tx->jobs().ExtendLease(Job(1), "w1", T(60), T(90));
  ASSERT_TRUE(IsOk(done));
  EXPECT_FALSE(*done);
  auto absent = tx->jobs().ExtendLease(Job(9), "w1", T(0), T(1));
  ASSERT_TRUE(IsOk(absent));
  EXPECT_FALSE(*absent);
}

TEST_P(StoreConformanceTest, JobClaimIsUndoneWithItsTx) {
  Commit([&](Tx& tx) { ASSERT_TRUE(IsOk(tx.jobs().Insert(MakeJob(1)))); });
  {
    auto tx = Begin();
    ASSERT_EQ(tx->jobs().Claim("w1", T(0), Seconds(30), {}, 10)->size(), 1u);
  }  // rolled back
  auto tx = Begin();
  auto j = tx->jobs().Get(Job(1));
  ASSERT_TRUE(IsOk(j));
  EXPECT_EQ(j->state, model::JobState::kPending);
  EXPECT_EQ(j->attempts, 0);
}

TEST_P(StoreConformanceTest, JobListFilters) {
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.jobs().Insert(MakeJob(1, "issue"))));
    auto b = MakeJob(2, "deploy");
    b.account_id = kAcc2;
    ASSERT_TRUE(IsOk(tx.jobs().Insert(b)));
    auto c = MakeJob(3, "issue");
    c.state = model::JobState::kFailed;
    ASSERT_TRUE(IsOk(tx.jobs().Insert(c)));
    auto d = MakeJob(4, "issue");
    d.account_id = kAcc2;
    ASSERT_TRUE(IsOk(tx.jobs().Insert(d)));
  });
  auto tx = Begin();
  auto all = tx->jobs().List({});
  ASSERT_TRUE(IsOk(all));
  EXPECT_EQ(Ids(*all), (std::vector<std::string>{Job(1), Job(2), Job(3), Job(4)}));
  EXPECT_EQ(Ids(*tx->jobs().List({.account_id = kAcc2})),
            (std::vector<std::string>{Job(2), Job(4)}));
  EXPECT_EQ(Ids(*tx->jobs().List({.state = model::JobState::kFailed})),
            (std::vector<std::string>{Job(3)}));
  EXPECT_EQ(Ids(*tx->jobs().List({.type = std::string("issue")})),
            (std::vector<std::string>{Job(1), Job(3), Job(4)}));
  EXPECT_EQ(Ids(*tx->jobs().List(
                {.account_id = kAcc1, .state = model::JobState::kPending, .type = "issue"})),
            (std::vector<std::string>{Job(1)}));
  EXPECT_EQ(Ids(*tx->jobs().List({.limit = 2})), (std::vector<std::string>{Job(1), Job(2)}));
  EXPECT_TRUE(tx->jobs().List({.limit = 0})->empty());
}

}  // namespace
}  // namespace certfleet::store::testing
