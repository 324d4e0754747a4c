// Clock: time is an input (CONVENTIONS.md #10). Everything that reasons about expiry, renewal,
// backoff, leases or nonces takes a Clock&. Tests use FakeClock and advance it.
// Both implementations are thread-safe.
#pragma once

#include <atomic>
#include <chrono>

namespace certfleet {

using TimePoint = std::chrono::system_clock::time_point;
using Seconds = std::chrono::seconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint start) : now_(start.time_since_epoch().count()) {}
  TimePoint Now() const override { return TimePoint(TimePoint::duration(now_.load())); }
  void Advance(std::chrono::nanoseconds d) {
    now_ += std::chrono::duration_cast<TimePoint::duration>(d).count();
  }
  void Set(TimePoint t) { now_ = t.time_since_epoch().count(); }

 private:
  std::atomic<TimePoint::rep> now_;
};

// The system clock moved by an adjustable offset. certfleetd uses it for its test clock
// (--test-clock-file): end-to-end tests move the whole control plane's time, days at a step,
// instead of waiting. With a zero offset it is the system clock.
class OffsetClock final : public Clock {
 public:
  TimePoint Now() const override {
    return std::chrono::system_clock::now() + std::chrono::seconds(offset_.load());
  }
  void SetOffset(Seconds offset) { offset_ = offset.count(); }
  Seconds offset() const { return Seconds(offset_.load()); }

 private:
  std::atomic<Seconds::rep> offset_{0};
};

}  // namespace certfleet
