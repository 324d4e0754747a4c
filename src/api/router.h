// A small method + path-pattern router. Patterns are literal segments and "{name}" parameters
// ("/v1/certificates/{id}/export"). The route list is public so tests can enumerate every route
// (the authorization matrix fails when a route has no entry).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace certfleet::api {

using PathParams = std::map<std::string, std::string>;

template <typename HandlerT>
class Router {
 public:
  struct Route {
    std::string method;
    std::string pattern;
    HandlerT handler;
  };
  struct Match {
    const Route* route = nullptr;
    PathParams params;
    bool path_matched_other_method = false;  // for 405
    // The first route whose pattern matched the path with another method: its pattern labels a
    // 405 in the request metrics.
    const Route* other_method_route = nullptr;
  };

  void Add(std::string method, std::string pattern, HandlerT handler) {
    routes_.push_back({std::move(method), std::move(pattern), std::move(handler)});
  }
  const std::vector<Route>& routes() const { return routes_; }

  Match Find(std::string_view method, std::string_view path) const {
    Match m;
    for (const Route& r : routes_) {
      PathParams params;
      if (!MatchPattern(r.pattern, path, params)) continue;
      if (r.method != method) {
        if (!m.path_matched_other_method) m.other_method_route = &r;
        m.path_matched_other_method = true;
        continue;
      }
      m.route = &r;
      m.params = std::move(params);
      return m;
    }
    return m;
  }

 private:
  static std::vector<std::string_view> Split(std::string_view s) {
    std::vector<std::string_view> out;
    size_t start = 0;
    while (start <= s.size()) {
      size_t slash = s.find('/', start);
      if (slash == std::string_view::npos) slash = s.size();
      out.push_back(s.substr(start, slash - start));
      start = slash + 1;
    }
    return out;
  }
  static bool MatchPattern(std::string_view pattern, std::string_view path, PathParams& params) {
    auto ps = Split(pattern);
    auto xs = Split(path);
    if (ps.size() != xs.size()) return false;
    for (size_t i = 0; i < ps.size(); ++i) {
      if (ps[i].size() > 2 && ps[i].front() == '{' && ps[i].back() == '}') {
        if (xs[i].empty()) return false;
        params[std::string(ps[i].substr(1, ps[i].size() - 2))] = std::string(xs[i]);
      } else if (ps[i] != xs[i]) {
        return false;
      }
    }
    return true;
  }
  std::vector<Route> routes_;
};

}  // namespace certfleet::api
