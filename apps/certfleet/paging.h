// The list commands' paging (docs/api.md "Pagination"), shared by every `list` command. Without
// --limit a command follows next_cursor to the end: `agent list` means every agent, never the
// first page of them. With --limit it shows one page and says on stderr how to get the rest
// (--cursor); --all follows every page whatever --limit says (then the page size).
// Not thread-safe (one command at a time).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "cli.h"
#include "output.h"
#include "query.h"

namespace certfleet::cli {

struct PageArgs {
  size_t limit = 0;  // 0: not given (follow every page, 1000 at a time)
  bool all = false;
  std::string cursor;  // where to start; "" for the beginning
};

// Adds --limit, --all and --cursor to `cmd`; `noun` names the items ("agents").
void AddPageOptions(CLI::App& cmd, PageArgs& args, std::string_view noun);

// One --tag filter, KEY:VALUE or KEY=VALUE with a non-empty key: "" when fine, else the message
// (for CLI::Validator).
std::string CheckTagFilter(const std::string& spec);
// Adds each --tag filter to `q` as tag=KEY:VALUE (the server's form).
void AddTagFilters(QueryString& q, const std::vector<std::string>& specs);

// What the commands read: every item fetched, and the cursor of the page after them ("" when
// the listing is complete).
struct Listing {
  nlohmann::json items = nlohmann::json::array();
  std::string next_cursor;
};

// GETs one page (a path with its query string) and returns the parsed body.
using PageGetter = std::function<Result<nlohmann::json>(const std::string& target)>;

// Reads `path` + `filters` page by page. Malformed, naming `noun`, when a page has no "items"
// array or a next_cursor that is neither a string nor null.
Result<Listing> FetchListing(const PageGetter& get, std::string_view path,
                             const QueryString& filters, const PageArgs& args,
                             std::string_view noun);

// The stderr notice for a listing that stopped before the end ("" when it is complete).
std::string MoreNotice(const Listing& listing, std::string_view noun);

// A whole list command: fetches, prints {"items", "next_cursor"} with --json or else `print`
// (the table), then the notice on stderr.
Status RunListing(const GlobalOptions& global, std::string_view path, const QueryString& filters,
                  const PageArgs& args, std::string_view noun,
                  const std::function<void(const nlohmann::json& items)>& print);
// The same with a table of `columns`.
Status RunListing(const GlobalOptions& global, std::string_view path, const QueryString& filters,
                  const PageArgs& args, std::string_view noun, const std::vector<Column>& columns);

// Adds `name` (usually "list") under `parent`: GET `path` with --account (id or name; default
// the caller's) and the paging options, printed as a table of `columns`. For the lists without
// other filters.
CLI::App* AddAccountListCommand(CLI::App& parent, CommandContext& ctx, const std::string& name,
                                const std::string& description, const std::string& path,
                                const std::string& noun, std::vector<Column> columns);

}  // namespace certfleet::cli
