// What the load generators in bench/ share (issue_load, acme_server_load): fatal flag errors,
// number parsing, random names, file reading, process CPU time and percentiles. Header-only;
// each program names itself with SetProgramName() for Die()'s messages.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace certfleet::bench {

inline std::string& ProgramName() {
  static std::string name = "bench";
  return name;
}
inline void SetProgramName(std::string name) { ProgramName() = std::move(name); }

[[noreturn]] inline void Die(const std::string& message, int code = 2) {
  std::cerr << ProgramName() << ": " << message << "\n";
  std::exit(code);
}

template <typename T>
T ParseNumber(const std::string& flag, const std::string& text, T min, T max) {
  T value{};
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || p != text.data() + text.size() || value < min || value > max) {
    std::ostringstream o;
    o << flag << " must be a number from " << min << " to " << max << ", not \"" << text << "\"";
    Die(o.str());
  }
  return value;
}

inline std::string RandomHex(size_t bytes) {
  std::random_device rd;
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    unsigned v = rd() & 0xff;
    out += kHex[v >> 4];
    out += kHex[v & 15];
  }
  return out;
}

inline std::string ReadFile(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Die("cannot read the " + what + " " + path + ": " + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) Die("cannot read the " + what + " " + path);
  return s.str();
}

// User plus system CPU of this process so far.
inline double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

// Nearest rank: the smallest value with at least p of the samples at or below it.
inline double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p * sorted.size()));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

}  // namespace certfleet::bench
