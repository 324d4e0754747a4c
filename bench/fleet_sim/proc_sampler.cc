#include "proc_sampler.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace certfleet::bench {

bool ReadProc(int pid, int64_t* rss_kib, int64_t* cpu_ticks) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  bool have_rss = false;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      *rss_kib = std::stoll(line.substr(6));
      have_rss = true;
      break;
    }
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces and parentheses: fields count from the last ')'.
  size_t close = text.rfind(')');
  if (!have_rss || close == std::string::npos) return false;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  int64_t utime = 0, stime = 0;
  // After ')': field 3 (state) is index 0; utime is field 14, stime field 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  *cpu_ticks = utime + stime;
  return true;
}

double LoadAverage1() {
  std::ifstream f("/proc/loadavg");
  double load = -1;
  f >> load;
  return load;
}

ProcSampler::ProcSampler(int pid, std::chrono::milliseconds interval)
    : pid_(pid), interval_(interval) {
  int64_t rss = 0, cpu = 0;
  if (ReadProc(pid_, &rss, &cpu)) {
    phase_peak_kib_ = total_peak_kib_ = rss;
    phase_cpu_base_ = total_cpu_base_ = cpu;
  }
  thread_ = std::thread([this] { Loop(); });
}

ProcSampler::~ProcSampler() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ProcSampler::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    int64_t rss = 0, cpu = 0;
    const bool ok = ReadProc(pid_, &rss, &cpu);
    lock.lock();
    if (ok) {
      phase_peak_kib_ = std::max(phase_peak_kib_, rss);
      total_peak_kib_ = std::max(total_peak_kib_, rss);
    }
    cv_.wait_for(lock, interval_, [this] { return stop_; });
  }
}

ProcFigures ProcSampler::Figures(int64_t cpu_base, int64_t peak_kib) {
  ProcFigures f;
  int64_t rss = 0, cpu = 0;
  if (!ReadProc(pid_, &rss, &cpu)) return f;
  static const double ticks = double(sysconf(_SC_CLK_TCK));
  f.ok = true;
  f.rss_mib = double(rss) / 1024;
  f.peak_rss_mib = double(std::max(peak_kib, rss)) / 1024;
  f.cpu_seconds = double(cpu - cpu_base) / ticks;
  return f;
}

ProcFigures ProcSampler::Phase() {
  std::lock_guard lock(mu_);
  ProcFigures f = Figures(phase_cpu_base_, phase_peak_kib_);
  int64_t rss = 0, cpu = 0;
  if (ReadProc(pid_, &rss, &cpu)) {
    phase_cpu_base_ = cpu;
    phase_peak_kib_ = rss;
  }
  return f;
}

ProcFigures ProcSampler::Total() {
  std::lock_guard lock(mu_);
  return Figures(total_cpu_base_, total_peak_kib_);
}

}  // namespace certfleet::bench
