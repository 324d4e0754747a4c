// Samples a process's resident memory and CPU time from /proc/<pid> on a background thread
// (bench/fleet_sim --server-pid: certfleetd's RSS and CPU during a run).
//
// Phase(): the figures since the previous Phase() call (or Start): peak RSS seen by the
// sampler (and the current RSS, so a peak between samples is only missed if shorter than the
// interval) and CPU seconds (utime + stime). Thread-safe. A pid that cannot be read (exited,
// not ours) yields zeros and `ok` false.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace certfleet::bench {

struct ProcFigures {
  bool ok = false;
  double rss_mib = 0;       // now
  double peak_rss_mib = 0;  // the highest sample in the phase
  double cpu_seconds = 0;   // consumed in the phase
};

// One reading of /proc/<pid>: RSS in KiB and CPU in clock ticks; false if unreadable.
bool ReadProc(int pid, int64_t* rss_kib, int64_t* cpu_ticks);
// The 1-minute load average from /proc/loadavg, or -1.
double LoadAverage1();

class ProcSampler {
 public:
  ProcSampler(int pid, std::chrono::milliseconds interval);
  ~ProcSampler();
  ProcFigures Phase();
  // Figures over the whole run (since construction).
  ProcFigures Total();

 private:
  void Loop();
  ProcFigures Figures(int64_t cpu_base, int64_t peak_kib);

  const int pid_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  int64_t phase_peak_kib_ = 0;
  int64_t total_peak_kib_ = 0;
  int64_t phase_cpu_base_ = 0;
  int64_t total_cpu_base_ = 0;
  std::thread thread_;
};

}  // namespace certfleet::bench
