// The console's static files under /ui/ (issue #17, docs/console.md "Server side"): served
// without a token from one directory (certfleetd --ui-dir, config [ui] dir), GET and HEAD only.
//
// Only plain relative paths are served: every segment made of letters, digits and "-._~@+,=",
// none empty, none starting with a dot (so no "..", no hidden files), no percent-escapes (so no
// encoded slashes or NUL), no backslash. The resolved real path must stay inside the directory's
// real path (a symbolic link out of it is refused) and be a regular file. Anything else answers
// 400 or 404 before any file is opened outside the directory.
//
// Every answer, errors included, carries the console's security headers (ConsoleHeaders): a
// strict Content-Security-Policy (no inline script or style, nothing from other origins),
// nosniff, no referrer, no framing. "/ui" redirects to "/ui/"; "/ui/" is index.html. The server
// sends Cache-Control: no-store on every response (net/https_server.cc), so index.html is never
// cached either.
//
// Pure function of the request and the directory; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "net/http.h"

namespace certfleet::api {

inline constexpr char kConsoleCsp[] =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'";

// Whether `path` (without the query) is the console's: "/ui" or under "/ui/".
bool IsConsolePath(std::string_view path);

// Answers a request for a console path. `ui_dir` empty: 404 "console assets not installed".
net::HttpResponse ServeConsoleAsset(const std::string& ui_dir, const net::HttpRequest& request,
                                    const std::string& request_id);

// The security headers of every /ui answer, added to `response`.
void AddConsoleHeaders(net::HttpResponse& response);

// The Content-Type for a file name, by extension; application/octet-stream when unknown.
std::string_view ConsoleContentType(std::string_view file_name);

}  // namespace certfleet::api
