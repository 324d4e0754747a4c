#include "api/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "base/check.h"

namespace certfleet::api {
namespace {

bool IsNameChar(char c, bool first, bool colon_ok) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (alpha || (colon_ok && c == ':')) return true;
  return !first && c >= '0' && c <= '9';
}

// Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*; label names: [a-zA-Z_][a-zA-Z0-9_]* (data model).
bool IsValidName(std::string_view name, bool colon_ok) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], i == 0, colon_ok)) return false;
  }
  return true;
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == 0) return "0";  // also for -0.0
  // Without a format argument to_chars gives the shortest form that round-trips, fixed or
  // scientific, whichever is shorter; both are valid Go float literals.
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  CF_CHECK(ec == std::errc());
  return std::string(buf, end);
}

std::string_view MetricMethod(std::string_view method) {
  for (std::string_view known : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    if (method == known) return known;
  }
  return "other";
}

void ExpositionWriter::Family(std::string_view name, Type type, std::string_view help) {
  CF_CHECK(IsValidName(name, /*colon_ok=*/true));
  const char* type_name = type == Type::kCounter ? "counter"
                          : type == Type::kGauge ? "gauge"
                                                 : "histogram";
  out_.append("# HELP ").append(name).append(" ").append(EscapeHelp(help)).append("\n");
  out_.append("# TYPE ").append(name).append(" ").append(type_name).append("\n");
}

void ExpositionWriter::Sample(std::string_view name, const std::vector<Label>& labels,
                              double value) {
  CF_CHECK(IsValidName(name, /*colon_ok=*/true));
  out_.append(name);
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      CF_CHECK(IsValidName(labels[i].name, /*colon_ok=*/false));
      if (i > 0) out_ += ',';
      out_.append(labels[i].name).append("=\"").append(EscapeLabelValue(labels[i].value));
      out_ += '"';
    }
    out_ += '}';
  }
  out_.append(" ").append(FormatValue(value)).append("\n");
}

std::vector<double> HttpMetrics::DefaultBuckets() {
  return {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30};
}

HttpMetrics::HttpMetrics(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    CF_CHECK(std::isfinite(bounds_[i]));
    CF_CHECK(i == 0 || bounds_[i - 1] < bounds_[i]);
  }
}

void HttpMetrics::Observe(std::string_view route, std::string_view method, int code,
                          double seconds) {
  if (!(seconds > 0)) seconds = 0;  // also NaN
  // The first bound >= seconds ("le" is inclusive); bounds_.size() is the +Inf bucket.
  size_t bucket = 0;
  while (bucket < bounds_.size() && seconds > bounds_[bucket]) ++bucket;
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{std::string(route), std::string(method), code}];
  Histogram& h = durations_[{std::string(route), std::string(method)}];
  if (h.buckets.empty()) h.buckets.assign(bounds_.size() + 1, 0);
  ++h.buckets[bucket];
  h.sum += seconds;
  ++h.count;
}

const std::vector<std::string_view>& HttpMetrics::AuthFailureReasons() {
  static const auto* const kReasons = new std::vector<std::string_view>{
      "missing",  "malformed",         "invalid", "revoked", "expired",
      "disabled", "agent_certificate", "session", "other"};
  return *kReasons;
}

void HttpMetrics::CountAuthFailure(std::string_view reason) {
  const auto& known = AuthFailureReasons();
  if (std::find(known.begin(), known.end(), reason) == known.end()) reason = "other";
  std::lock_guard<std::mutex> lock(mu_);
  auto it = auth_failures_.find(reason);
  if (it == auth_failures_.end()) it = auth_failures_.emplace(std::string(reason), 0).first;
  ++it->second;
}

void HttpMetrics::WriteAuthFailures(ExpositionWriter& out) const {
  decltype(auth_failures_) auth_failures;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auth_failures = auth_failures_;
  }
  // Every reason is written, 0 included, so that rate() and alerts work from the first scrape.
  out.Family("certfleet_auth_failures_total", ExpositionWriter::Type::kCounter,
             "Requests refused with 401 (failed authentication), by reason.");
  for (std::string_view reason : AuthFailureReasons()) {
    auto it = auth_failures.find(reason);
    out.Sample("certfleet_auth_failures_total", {{"reason", reason}},
               double(it == auth_failures.end() ? 0 : it->second));
  }
}

void HttpMetrics::Write(ExpositionWriter& out) const {
  // Copy under the lock, format outside it: request threads never wait for a scrape's output.
  decltype(requests_) requests;
  decltype(durations_) durations;
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests = requests_;
    durations = durations_;
  }
  out.Family("certfleet_http_requests_total", ExpositionWriter::Type::kCounter,
             "HTTP requests answered by the API, by route pattern, method and status code.");
  for (const auto& [key, n] : requests) {
    const auto& [route, method, code] = key;
    const std::string code_text = std::to_string(code);
    out.Sample("certfleet_http_requests_total",
               {{"route", route}, {"method", method}, {"code", code_text}}, double(n));
  }
  out.Family("certfleet_http_request_duration_seconds", ExpositionWriter::Type::kHistogram,
             "Time from the start of routing to the handler's answer, by route pattern and "
             "method.");
  for (const auto& [key, h] : durations) {
    const auto& [route, method] = key;
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= bounds_.size(); ++i) {
      cumulative += h.buckets[i];
      const std::string le = i < bounds_.size() ? FormatValue(bounds_[i]) : "+Inf";
      out.Sample("certfleet_http_request_duration_seconds_bucket",
                 {{"route", route}, {"method", method}, {"le", le}}, double(cumulative));
    }
    out.Sample("certfleet_http_request_duration_seconds_sum",
               {{"route", route}, {"method", method}}, h.sum);
    out.Sample("certfleet_http_request_duration_seconds_count",
               {{"route", route}, {"method", method}}, double(h.count));
  }
}

}  // namespace certfleet::api
