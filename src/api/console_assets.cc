#include "api/console_assets.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <memory>

#include "api/problem.h"

namespace certfleet::api {
namespace {

constexpr std::string_view kPrefix = "/ui/";
// Larger files are not console assets; refusing them bounds what one request reads.
constexpr off_t kMaxAssetBytes = 32 * 1024 * 1024;

bool SafeChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("-._~@+,=").find(c) != std::string_view::npos;
}

// InvalidArgument unless `rel` is a plain relative path (see the header).
Status CheckRelativePath(std::string_view rel) {
  const Error bad = InvalidArgument("not a console path");
  if (rel.empty() || rel.size() > 512) return bad;
  while (!rel.empty()) {
    const size_t slash = rel.find('/');
    std::string_view seg = rel.substr(0, slash);
    if (seg.empty() || seg.front() == '.') return bad;
    for (char c : seg) {
      if (!SafeChar(c)) return bad;
    }
    if (slash == std::string_view::npos) break;
    rel.remove_prefix(slash + 1);
    if (rel.empty()) return bad;  // a trailing slash names a directory
  }
  return Ok();
}

// The real path of `p`, or "" if it does not resolve.
std::string RealPath(const std::string& p) {
  std::unique_ptr<char, decltype(&std::free)> r(::realpath(p.c_str(), nullptr), &std::free);
  return r ? std::string(r.get()) : std::string();
}

Result<std::string> ReadRegularFile(const std::string& path) {
  const Error missing = NotFound("no such console file");
  // O_NOFOLLOW: the real path has no links left; one put there since is not followed.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return missing;
  struct stat st;
  std::string out;
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= kMaxAssetBytes;
  if (ok) {
    out.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < out.size()) {
      const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    out.resize(got);
  }
  ::close(fd);
  if (!ok) return missing;
  return out;
}

net::HttpResponse Problem(const Error& e, const std::string& request_id, int status = 0) {
  net::HttpResponse r = ProblemResponse(e, request_id, status);
  AddConsoleHeaders(r);
  return r;
}

}  // namespace

bool IsConsolePath(std::string_view path) { return path == "/ui" || path.starts_with(kPrefix); }

void AddConsoleHeaders(net::HttpResponse& r) {
  r.headers["Content-Security-Policy"] = kConsoleCsp;
  r.headers["X-Content-Type-Options"] = "nosniff";
  r.headers["Referrer-Policy"] = "no-referrer";
  r.headers["X-Frame-Options"] = "DENY";
}

std::string_view ConsoleContentType(std::string_view name) {
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".json", "application/json"},
      {".woff2", "font/woff2"},
      {".map", "application/json"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"}};
  for (const auto& [ext, type] : kTypes) {
    if (name.ends_with(ext)) return type;
  }
  return "application/octet-stream";
}

net::HttpResponse ServeConsoleAsset(const std::string& ui_dir, const net::HttpRequest& request,
                                    const std::string& request_id) {
  if (request.method != "GET" && request.method != "HEAD") {
    net::HttpResponse r = Problem(
        InvalidArgument("method " + request.method + " is not allowed here"), request_id, 405);
    r.headers["Allow"] = "GET, HEAD";
    return r;
  }
  const std::string_view path = request.path();
  if (path == "/ui") {
    net::HttpResponse r;
    r.status = 301;
    r.headers["Location"] = "/ui/";
    AddConsoleHeaders(r);
    return r;
  }
  if (ui_dir.empty()) return Problem(NotFound("console assets not installed"), request_id);
  std::string_view rel = path.substr(kPrefix.size());
  if (rel.empty()) rel = "index.html";
  if (Status st = CheckRelativePath(rel); !st.ok()) return Problem(st.error(), request_id);
  const std::string root = RealPath(ui_dir);
  if (root.empty()) return Problem(NotFound("console assets not installed"), request_id);
  const std::string real = RealPath(root + "/" + std::string(rel));
  // Inside the directory, after every link is resolved (a link pointing out is not followed).
  if (real.empty() || !real.starts_with(root + "/")) {
    return Problem(
        NotFound(path == kPrefix ? "console assets not installed" : "no such console file"),
        request_id);
  }
  auto body = ReadRegularFile(real);
  if (!body.ok()) return Problem(body.error(), request_id);
  net::HttpResponse r;
  r.status = 200;
  r.headers["Content-Type"] = std::string(ConsoleContentType(real));
  r.body = std::move(*body);
  AddConsoleHeaders(r);
  return r;
}

}  // namespace certfleet::api
