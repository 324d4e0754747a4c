// Prometheus text exposition format 0.0.4 (issue #5, docs/metrics.md): label escaping, sample
// values, a writer for metric families, and HttpMetrics, the in-memory registry of HTTP request
// counters and latency histograms that ApiService fills for every request.
//
// Format reference: https://prometheus.io/docs/instrumenting/exposition_formats/ ("Text format
// details"): one "# HELP" and one "# TYPE" line per family, then its samples
// `name{label="value",...} value`, every sample of a family together.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace certfleet::api {

// Content-Type of a /metrics answer.
inline constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// A label value with backslash, double quote and line feed escaped (\\, \", \n); every other
// byte is kept as it is (label values are UTF-8).
std::string EscapeLabelValue(std::string_view value);

// A HELP text with backslash and line feed escaped (\\, \n).
std::string EscapeHelp(std::string_view help);

// A sample value as Prometheus parses it (Go's ParseFloat): the shortest decimal form that reads
// back as the same double ("0", "1.5", "1798761600", "1e+21"), "+Inf", "-Inf" or "NaN".
std::string FormatValue(double value);

// "GET", "POST", ... for the methods the API knows; "other" for anything else, so that a client
// sending made-up methods cannot create new series.
std::string_view MetricMethod(std::string_view method);

struct Label {
  std::string_view name;   // a valid label name ([a-zA-Z_][a-zA-Z0-9_]*), not escaped
  std::string_view value;  // escaped by the writer
};

// Builds one exposition document. Not thread-safe (one per scrape). Names are checked with
// CF_CHECK: they are constants of this program, never input.
class ExpositionWriter {
 public:
  enum class Type { kCounter, kGauge, kHistogram };

  // Starts a family: its HELP and TYPE lines. The samples that follow until the next Family()
  // belong to it; for a histogram they are named `<name>_bucket`, `<name>_sum` and `<name>_count`.
  void Family(std::string_view name, Type type, std::string_view help);
  // One sample line: `name{labels} value` (no braces without labels).
  void Sample(std::string_view name, const std::vector<Label>& labels, double value);
  void Sample(std::string_view name, double value) { Sample(name, {}, value); }

  const std::string& text() const { return out_; }
  std::string Take() && { return std::move(out_); }

 private:
  std::string out_;
};

// HTTP request counters and latency histograms, keyed by route pattern, method and status code.
// Callers pass route PATTERNS ("/v1/certificates/{id}") and MetricMethod() values, never raw
// paths, so the number of series stays bounded by the route table. Thread-safe: Observe may be
// called from every server worker while Write runs.
class HttpMetrics {
 public:
  // Upper bounds in seconds, ascending: .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10 30 (+Inf implied).
  static std::vector<double> DefaultBuckets();

  // `bounds` must be finite and strictly ascending (CF_CHECK).
  explicit HttpMetrics(std::vector<double> bounds = DefaultBuckets());

  // Records one answered request that took `seconds` (negative values count as 0).
  void Observe(std::string_view route, std::string_view method, int code, double seconds);

  // Writes the families certfleet_http_requests_total{route,method,code} (counter) and
  // certfleet_http_request_duration_seconds{route,method} (histogram), HELP and TYPE lines
  // included even when nothing was observed yet.
  void Write(ExpositionWriter& out) const;

  // Counts one failed authentication (a 401) for certfleet_auth_failures_total{reason}; `reason`
  // is one of AuthFailureReasons() (anything else counts as "other"), so series stay bounded.
  void CountAuthFailure(std::string_view reason);
  // Writes certfleet_auth_failures_total{reason} (counter), every reason, 0 included.
  void WriteAuthFailures(ExpositionWriter& out) const;
  static const std::vector<std::string_view>& AuthFailureReasons();

 private:
  struct Histogram {
    std::vector<uint64_t> buckets;  // per bound, not cumulative; the last one is +Inf
    double sum = 0;
    uint64_t count = 0;
  };

  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests_;  // guarded by mu_
  std::map<std::pair<std::string, std::string>, Histogram> durations_;      // guarded by mu_
  std::map<std::string, uint64_t, std::less<>> auth_failures_;              // guarded by mu_
};

}  // namespace certfleet::api
