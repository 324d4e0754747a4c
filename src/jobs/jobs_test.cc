// The job engine over a SQLite file store and a fake clock: steps, retries and backoff,
// failures, deadlines, idempotent enqueue, claim exclusivity, lease takeover, cancel, waiting.
#include "jobs/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "base/ids.h"
#include "base/time_util.h"
#include "fakes/pki_env.h"
#include "store/sqlite/sqlite_store.h"

namespace certfleet::jobs {
namespace {

using model::Job;
using model::JobState;

// Answers Uniform()'s 8-byte draws with a fixed value (so backoff is predictable) and
// everything else (ids) from the system source.
class JitterRandom final : public Random {
 public:
  explicit JitterRandom(uint64_t v) : v_(v) {}
  void Fill(void* out, size_t n) override {
    if (n == sizeof v_) {
      std::memcpy(out, &v_, n);
    } else {
      SystemRandomSource().Fill(out, n);
    }
  }
  uint64_t v_;
};
constexpr uint64_t kMaxJitter = (uint64_t{1} << 20) - 1;  // the whole cap

class JobEngineTest : public ::testing::Test {
 protected:
  JobEngineTest() : clock_(UtcDate(2026, 11, 27)), random_(kMaxJitter) {
    auto s = store::OpenSqliteStore({.path = dir_.file("jobs.db")});
    CF_CHECK(s.ok());
    store_ = std::move(*s);
  }

  std::unique_ptr<JobEngine> MakeEngine(const std::string& owner) {
    return std::make_unique<JobEngine>(*store_, clock_, random_,
                                       EngineOptions{.owner = owner,
                                                     .lease = Seconds(30),
                                                     .base_backoff = Seconds(2),
                                                     .max_backoff = Seconds(20)});
  }

  Job Enqueue(JobEngine& engine, NewJob spec) {
    auto tx = store_->Begin();
    CF_CHECK(tx.ok());
    auto job = engine.Enqueue(**tx, std::move(spec));
    EXPECT_TRUE(job.ok()) << job.error().ToString();
    CF_CHECK((*tx)->Commit().ok());
    return *job;
  }

  Job Reload(JobEngine& engine, const std::string& id) {
    auto j = engine.Get(id);
    CF_CHECK(j.ok());
    return *j;
  }

  int Run(JobEngine& engine) {
    auto n = engine.RunOnce();
    EXPECT_TRUE(n.ok()) << n.error().ToString();
    return n.ok() ? *n : -1;
  }

  testing::TempDir dir_;
  FakeClock clock_;
  JitterRandom random_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(JobEngineTest, MultiStepJobRunsToCompletionAcrossRunOnceCalls) {
  auto engine = MakeEngine("w1");
  std::vector<std::string> seen;
  engine->Register("issue", [&](const Job& j) {
    seen.push_back(j.step);
    if (j.step == "start") return StepResult::Next("sign", R"({"csr":"ok"})");
    if (j.step == "sign") {
      EXPECT_EQ(j.output_json, R"({"csr":"ok"})");
      return StepResult::Next("store");
    }
    return StepResult::Done(R"({"serial":"01"})");
  });
  const Job job =
      Enqueue(*engine, {.account_id = "acc_1", .type = "issue", .input_json = R"({"cn":"a"})"});
  EXPECT_EQ(job.state, JobState::kPending);
  EXPECT_EQ(job.step, "start");
  EXPECT_TRUE(IsValidId(job.id, model::kJobPrefix));

  EXPECT_EQ(Run(*engine), 1);
  Job j = Reload(*engine, job.id);
  EXPECT_EQ(j.state, JobState::kPending);  // persisted between steps
  EXPECT_EQ(j.step, "sign");
  EXPECT_EQ(j.attempts, 0);
  EXPECT_EQ(j.lease_owner, "");
  EXPECT_EQ(Run(*engine), 1);
  EXPECT_EQ(Run(*engine), 1);
  EXPECT_EQ(Run(*engine), 0);
  j = Reload(*engine, job.id);
  EXPECT_EQ(j.state, JobState::kSucceeded);
  EXPECT_EQ(j.output_json, R"({"serial":"01"})");
  EXPECT_EQ(j.input_json, R"({"cn":"a"})");
  EXPECT_EQ(seen, (std::vector<std::string>{"start", "sign", "store"}));
}

TEST_F(JobEngineTest, RetryBacksOffExponentiallyUpToTheCap) {
  auto engine = MakeEngine("w1");
  engine->Register("flaky", [](const Job&) { return StepResult::Retry("CA unavailable"); });
  const Job job = Enqueue(*engine, {.type = "flaky", .max_attempts = 10});
  // With the jitter at its maximum the delay is the cap: 2, 4, 8, 16, then 20 (max_backoff).
  const std::vector<int64_t> expected = {2, 4, 8, 16, 20, 20};
  for (int64_t want : expected) {
    const TimePoint now = clock_.Now();
    ASSERT_EQ(Run(*engine), 1);
    Job j = Reload(*engine, job.id);
    EXPECT_EQ(j.state, JobState::kPending);
    EXPECT_EQ(j.last_error, "CA unavailable");
    EXPECT_EQ(j.run_after - now, Seconds(want));
    // Not due before run_after.
    clock_.Advance(Seconds(want - 1));
    EXPECT_EQ(Run(*engine), 0);
    clock_.Advance(Seconds(1));
  }
  // With the jitter at its minimum the retry is due at once.
  random_.v_ = 0;
  const TimePoint now = clock_.Now();
  ASSERT_EQ(Run(*engine), 1);
  EXPECT_EQ(Reload(*engine, job.id).run_after, now);
}

TEST_F(JobEngineTest, PermanentFailureStopsTheJob) {
  auto engine = MakeEngine("w1");
  int calls = 0;
  engine->Register("bad", [&](const Job&) {
    ++calls;
    return StepResult::Fail("domain not allowed by policy");
  });
  const Job job = Enqueue(*engine, {.type = "bad"});
  EXPECT_EQ(Run(*engine), 1);
  clock_.Advance(Seconds(3600));
  EXPECT_EQ(Run(*engine), 0);
  const Job j = Reload(*engine, job.id);
  EXPECT_EQ(j.state, JobState::kFailed);
  EXPECT_EQ(j.last_error, "domain not allowed by policy");
  EXPECT_EQ(calls, 1);
}

TEST_F(JobEngineTest, MaxAttemptsFailsWithTheLastError) {
  auto engine = MakeEngine("w1");
  int calls = 0;
  engine->Register("flaky", [&](const Job&) {
    ++calls;
    return StepResult::Retry("timeout #" + std::to_string(calls));
  });
  const Job job = Enqueue(*engine, {.type = "flaky", .max_attempts = 3});
  for (int i = 0; i < 5; ++i) {
    (void)Run(*engine);
    clock_.Advance(Seconds(60));
  }
  const Job j = Reload(*engine, job.id);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(j.state, JobState::kFailed);
  EXPECT_EQ(j.attempts, 3);
  EXPECT_EQ(j.last_error, "timeout #3");
}

TEST_F(JobEngineTest, ThrowingStepIsRetriedWithItsMessage) {
  auto engine = MakeEngine("w1");
  int calls = 0;
  engine->Register("throws", [&](const Job&) -> StepResult {
    if (++calls == 1) throw std::runtime_error("parse error");
    return StepResult::Done();
  });
  const Job job = Enqueue(*engine, {.type = "throws"});
  EXPECT_EQ(Run(*engine), 1);
  Job j = Reload(*engine, job.id);
  EXPECT_EQ(j.state, JobState::kPending);
  EXPECT_NE(j.last_error.find("parse error"), std::string::npos);
  clock_.Advance(Seconds(60));
  EXPECT_EQ(Run(*engine), 1);
  EXPECT_EQ(Reload(*engine, job.id).state, JobState::kSucceeded);
}

TEST_F(JobEngineTest, JobPastItsDeadlineFailsWithoutRunning) {
  auto engine = MakeEngine("w1");
  int calls = 0;
  engine->Register("slow", [&](const Job&) {
    ++calls;
    return StepResult::Wait(Seconds(60));
  });
  const Job job = Enqueue(*engine, {.type = "slow", .deadline = clock_.Now() + Seconds(100)});
  EXPECT_EQ(Run(*engine), 1);  // at 0
  clock_.Advance(Seconds(60));
  EXPECT_EQ(Run(*engine), 1);  // at 60
  clock_.Advance(Seconds(60));
  EXPECT_EQ(Run(*engine), 1);  // at 120: past the deadline
  const Job j = Reload(*engine, job.id);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(j.state, JobState::kFailed);
  EXPECT_EQ(j.last_error, "deadline exceeded");
}

TEST_F(JobEngineTest, UnknownTypeFails) {
  auto engine = MakeEngine("w1");
  const Job job = Enqueue(*engine, {.type = "nobody.handles.this"});
  EXPECT_EQ(Run(*engine), 1);
  const Job j = Reload(*engine, job.id);
  EXPECT_EQ(j.state, JobState::kFailed);
  EXPECT_NE(j.last_error.find("unknown job type"), std::string::npos);
}

TEST_F(JobEngineTest, EnqueueIsIdempotentByTypeAndKey) {
  auto engine = MakeEngine("w1");
  const Job a = Enqueue(
      *engine, {.type = "issue", .input_json = R"({"v":1})", .idempotency_key = "crt_1:v1"});
  const Job b = Enqueue(
      *engine, {.type = "issue", .input_json = R"({"v":2})", .idempotency_key = "crt_1:v1"});
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(b.input_json, R"({"v":1})");
  const Job c = Enqueue(*engine, {.type = "deploy", .idempotency_key = "crt_1:v1"});
  EXPECT_NE(c.id, a.id);
  const Job d = Enqueue(*engine, {.type = "issue"});
  const Job e = Enqueue(*engine, {.type = "issue"});
  EXPECT_NE(d.id, e.id);

  auto tx = store_->Begin();
  ASSERT_TRUE(tx.ok());
  EXPECT_EQ(engine->Enqueue(**tx, {.type = ""}).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(engine->Enqueue(**tx, {.type = "x", .input_json = "{"}).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(engine->Enqueue(**tx, {.type = "x", .max_attempts = 0}).error().code(),
            ErrorCode::kInvalidArgument);
}

TEST_F(JobEngineTest, TwoEnginesNeverRunTheSameJobConcurrently) {
  auto e1 = MakeEngine("w1");
  auto e2 = MakeEngine("w2");
  std::mutex mu;
  std::set<std::string> in_flight;
  std::map<std::string, int> runs;
  std::atomic<bool> overlap{false};
  auto step = [&](const Job& j) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!in_flight.insert(j.id).second) overlap = true;
      ++runs[j.id + "/" + j.step];
    }
    std::this_thread::yield();
    {
      std::lock_guard<std::mutex> lock(mu);
      in_flight.erase(j.id);
    }
    return j.step == "start" ? StepResult::Next("finish") : StepResult::Done();
  };
  e1->Register("t", step);
  e2->Register("t", step);
  constexpr int kJobs = 40;
  for (int i = 0; i < kJobs; ++i) Enqueue(*e1, {.type = "t"});

  auto worker = [&](JobEngine& e) {
    for (int i = 0; i < 200; ++i) {
      auto n = e.RunOnce();
      ASSERT_TRUE(n.ok()) << n.error().ToString();
    }
  };
  std::thread t1(worker, std::ref(*e1));
  std::thread t2(worker, std::ref(*e2));
  t1.join();
  t2.join();
  EXPECT_FALSE(overlap);
  // The clock never moved, so no lease expired: every step ran exactly once.
  EXPECT_EQ(runs.size(), 2u * kJobs);
  for (const auto& [key, n] : runs) EXPECT_EQ(n, 1) << key;
  auto tx = store_->Begin();
  ASSERT_TRUE(tx.ok());
  auto done = (*tx)->jobs().List({.state = JobState::kSucceeded});
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->size(), static_cast<size_t>(kJobs));
}

TEST_F(JobEngineTest, JobOfACrashedWorkerIsTakenOverAfterItsLeaseExpires) {
  auto survivor = MakeEngine("w2");
  int calls = 0;
  survivor->Register("t", [&](const Job& j) {
    ++calls;
    EXPECT_EQ(j.attempts, 2);
    return StepResult::Done();
  });
  const Job job = Enqueue(*survivor, {.type = "t"});
  {
    // "w1" claims the job and dies before reporting.
    auto tx = store_->Begin();
    ASSERT_TRUE(tx.ok());
    auto claimed = (*tx)->jobs().Claim("w1", clock_.Now(), Seconds(30), {}, 10);
    ASSERT_TRUE(claimed.ok());
    ASSERT_EQ(claimed->size(), 1u);
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  EXPECT_EQ(Run(*survivor), 0);  // the lease is live
  clock_.Advance(Seconds(30));
  EXPECT_EQ(Run(*survivor), 0);  // expires strictly after 30 s
  clock_.Advance(Seconds(1));
  EXPECT_EQ(Run(*survivor), 1);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(Reload(*survivor, job.id).state, JobState::kSucceeded);
}

TEST_F(JobEngineTest, OutcomeOfAWorkerThatLostItsLeaseIsDropped) {
  auto slow = MakeEngine("w1");
  auto fast = MakeEngine("w2");
  fast->Register("t", [](const Job&) { return StepResult::Done(R"({"by":"w2"})"); });
  slow->Register("t", [&](const Job&) {
    // w1 stalls past its lease; w2 takes the job over and finishes it meanwhile.
    clock_.Advance(Seconds(31));
    EXPECT_EQ(Run(*fast), 1);
    return StepResult::Fail("w1's late verdict");
  });
  const Job job = Enqueue(*slow, {.type = "t"});
  EXPECT_EQ(Run(*slow), 1);
  const Job j = Reload(*slow, job.id);
  EXPECT_EQ(j.state, JobState::kSucceeded);
  EXPECT_EQ(j.output_json, R"({"by":"w2"})");
}

// Issue #15: a slow step is never claimed twice while its owner is alive. The step outlasts its
// first lease three times over; the worker's keeper extends the lease meanwhile, so another
// worker finds nothing to take over, and the slow worker's outcome is the one persisted.
TEST_F(JobEngineTest, ASlowStepKeepsItsLeaseWhileItsWorkerLives) {
  auto slow = std::make_unique<JobEngine>(
      *store_, clock_, random_,
      EngineOptions{
          .owner = "w1", .lease = Seconds(30), .lease_keep_period = std::chrono::milliseconds(20)});
  auto other = MakeEngine("w2");
  int other_calls = 0;
  other->Register("t", [&](const Job&) {
    ++other_calls;
    return StepResult::Done(R"({"by":"w2"})");
  });
  slow->Register("t", [&](const Job& claimed) {
    TimePoint lease = *claimed.lease_expires_at;
    for (int i = 0; i < 4; ++i) {
      clock_.Advance(Seconds(25));
      // Wait (real time) for the keeper to move the lease past the new now.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (std::chrono::steady_clock::now() < deadline) {
        auto j = slow->Get(claimed.id);
        if (j.ok() && j->lease_expires_at && *j->lease_expires_at > clock_.Now()) {
          lease = *j->lease_expires_at;
          break;
        }
        std::this_thread::yield();
      }
      EXPECT_GT(lease, clock_.Now()) << "the lease was not extended";
      EXPECT_EQ(Run(*other), 0) << "a live worker's job was taken over";
    }
    return StepResult::Done(R"({"by":"w1"})");
  });
  const Job job = Enqueue(*slow, {.type = "t"});
  EXPECT_EQ(Run(*slow), 1);
  EXPECT_EQ(other_calls, 0);
  const Job j = Reload(*slow, job.id);
  EXPECT_EQ(j.state, JobState::kSucceeded);
  EXPECT_EQ(j.output_json, R"({"by":"w1"})");
}

TEST_F(JobEngineTest, CancelStopsAJob) {
  auto engine = MakeEngine("w1");
  int calls = 0;
  engine->Register("t", [&](const Job&) {
    ++calls;
    return StepResult::Wait(Seconds(10));
  });
  const Job job = Enqueue(*engine, {.type = "t"});
  EXPECT_EQ(Run(*engine), 1);
  ASSERT_TRUE(engine->Cancel(job.id).ok());
  EXPECT_TRUE(engine->Cancel(job.id).ok());  // again: fine
  clock_.Advance(Seconds(60));
  EXPECT_EQ(Run(*engine), 0);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(Reload(*engine, job.id).state, JobState::kCancelled);
  EXPECT_EQ(engine->Cancel("job_missing").error().code(), ErrorCode::kNotFound);

  // Cancelled while its step runs: the step's outcome is dropped.
  engine->Register("u", [&](const Job& j) {
    EXPECT_TRUE(engine->Cancel(j.id).ok());
    return StepResult::Done();
  });
  const Job u = Enqueue(*engine, {.type = "u"});
  EXPECT_EQ(Run(*engine), 1);
  EXPECT_EQ(Reload(*engine, u.id).state, JobState::kCancelled);

  // A finished job cannot be cancelled.
  engine->Register("v", [](const Job&) { return StepResult::Done(); });
  const Job v = Enqueue(*engine, {.type = "v"});
  EXPECT_EQ(Run(*engine), 1);
  EXPECT_EQ(engine->Cancel(v.id).error().code(), ErrorCode::kFailedPrecondition);
}

TEST_F(JobEngineTest, WaitDoesNotConsumeAttempts) {
  auto engine = MakeEngine("w1");
  int polls = 0;
  engine->Register("deploy", [&](const Job& j) {
    EXPECT_EQ(j.attempts, 1);
    if (++polls < 5)
      return StepResult::Wait(Seconds(15), R"({"reported":)" + std::to_string(polls) + "}");
    return StepResult::Done();
  });
  // One attempt only, yet five polls.
  const Job job = Enqueue(*engine, {.type = "deploy", .max_attempts = 1});
  for (int i = 0; i < 4; ++i) {
    const TimePoint now = clock_.Now();
    EXPECT_EQ(Run(*engine), 1);
    const Job j = Reload(*engine, job.id);
    EXPECT_EQ(j.state, JobState::kPending);
    EXPECT_EQ(j.attempts, 0);
    EXPECT_EQ(j.run_after, now + Seconds(15));
    clock_.Advance(Seconds(15));
  }
  EXPECT_EQ(Run(*engine), 1);
  const Job j = Reload(*engine, job.id);
  EXPECT_EQ(j.state, JobState::kSucceeded);
  EXPECT_EQ(j.output_json, R"({"reported":4})");
  EXPECT_EQ(polls, 5);
}

}  // namespace
}  // namespace certfleet::jobs
