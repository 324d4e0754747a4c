#include "paging.h"

#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "api_client.h"

namespace certfleet::cli {

void AddPageOptions(CLI::App& cmd, PageArgs& args, std::string_view noun) {
  const std::string n(noun);
  cmd.add_option("--limit", args.limit,
                 "Show one page of at most N " + n + " (1-1000); with --all, the page size")
      ->check(CLI::Range(1, 1000));
  cmd.add_flag("--all", args.all, "Follow every page to the end (the default)");
  cmd.add_option("--cursor", args.cursor, "Continue from the next_cursor a previous page printed");
}

std::string CheckTagFilter(const std::string& spec) {
  const size_t sep = spec.find_first_of("=:");
  return sep == std::string::npos || sep == 0 ? "expected KEY:VALUE or KEY=VALUE" : "";
}

void AddTagFilters(QueryString& q, const std::vector<std::string>& specs) {
  for (const std::string& tag : specs) {
    const size_t sep = tag.find_first_of("=:");
    q.Add("tag", tag.substr(0, sep) + ":" + tag.substr(sep + 1));
  }
}

Result<Listing> FetchListing(const PageGetter& get, std::string_view path,
                             const QueryString& filters, const PageArgs& args,
                             std::string_view noun) {
  const bool one_page = args.limit > 0 && !args.all;
  Listing out;
  std::string cursor = args.cursor;
  do {
    QueryString q = filters;
    // Following every page: the largest pages, for the fewest round trips.
    q.Add("limit", std::to_string(args.limit > 0 ? args.limit : 1000));
    q.Add("cursor", cursor);
    CF_ASSIGN_OR_RETURN(auto page, get(q.Append(path)));
    if (!page.is_object() || !page.contains("items") || !page["items"].is_array()) {
      return Malformed("the server's " + std::string(noun) + " list has no \"items\" array");
    }
    for (auto& item : page["items"]) out.items.push_back(std::move(item));
    const nlohmann::json next = page.value("next_cursor", nlohmann::json(nullptr));
    if (!next.is_null() && !next.is_string()) {
      return Malformed("the server's " + std::string(noun) +
                       " list has a next_cursor that is not a string");
    }
    cursor = next.is_string() ? next.get<std::string>() : "";
  } while (!one_page && !cursor.empty());
  out.next_cursor = cursor;
  return out;
}

std::string MoreNotice(const Listing& listing, std::string_view noun) {
  if (listing.next_cursor.empty()) return "";
  return "certfleet: showing " + std::to_string(listing.items.size()) + " " + std::string(noun) +
         ", and more exist: use --all to list them all, or --cursor " + listing.next_cursor +
         " for the next page\n";
}

Status RunListing(const GlobalOptions& global, std::string_view path, const QueryString& filters,
                  const PageArgs& args, std::string_view noun,
                  const std::function<void(const nlohmann::json& items)>& print) {
  CF_ASSIGN_OR_RETURN(auto api, ApiClient::Create(global));
  CF_ASSIGN_OR_RETURN(Listing listing,
                      FetchListing([&](const std::string& target) { return api->Get(target); },
                                   path, filters, args, noun));
  if (global.json) {
    nlohmann::json next = nullptr;
    if (!listing.next_cursor.empty()) next = listing.next_cursor;
    PrintJson(std::cout, {{"items", listing.items}, {"next_cursor", next}});
  } else {
    print(listing.items);
  }
  std::cerr << MoreNotice(listing, noun);
  return Ok();
}

Status RunListing(const GlobalOptions& global, std::string_view path, const QueryString& filters,
                  const PageArgs& args, std::string_view noun, const std::vector<Column>& columns) {
  return RunListing(global, path, filters, args, noun,
                    [&](const nlohmann::json& items) { PrintItems(std::cout, items, columns); });
}

CLI::App* AddAccountListCommand(CLI::App& parent, CommandContext& ctx, const std::string& name,
                                const std::string& description, const std::string& path,
                                const std::string& noun, std::vector<Column> columns) {
  struct Args {
    std::string account;
    PageArgs page;
  };
  auto args = std::make_shared<Args>();
  CLI::App* list = parent.add_subcommand(name, description);
  list->add_option("--account", args->account, "Account id or name (default: the caller's)");
  AddPageOptions(*list, args->page, noun);
  list->callback([&ctx, args, path, noun, columns = std::move(columns)] {
    ctx.action = [args, path, noun, columns](const GlobalOptions& g) {
      return RunListing(g, path, QueryString().Add("account", args->account), args->page, noun,
                        columns);
    };
  });
  return list;
}

}  // namespace certfleet::cli
