#include "lifecycle/agent_http01.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <thread>

#include "acme/protocol/jws.h"
#include "base/log.h"
#include "base/validate.h"
#include "lifecycle/status_util.h"
#include "policy/tags.h"

namespace certfleet::lifecycle {
namespace {

constexpr char kPresent[] = "present";
constexpr char kPresented[] = "presented";
constexpr char kFailed[] = "failed";
constexpr char kRemove[] = "remove";
constexpr size_t kMaxReason = 1024;

std::string AgentWords(const model::Agent& a) {
  return "agent " + QuoteForMessage(a.hostname) + " (" + a.id + ")";
}

}  // namespace

Status AgentHttp01Solver::Present(std::string_view identifier_view, std::string_view token_view,
                                  std::string_view key_authorization) {
  if (!acme::IsValidToken(token_view)) {
    return InvalidArgument("http-01 token is not a valid ACME token");
  }
  std::string identifier(identifier_view);
  for (char& c : identifier) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!ValidateDnsName(identifier, /*allow_wildcard=*/false).ok()) {
    return InvalidArgument("http-01 identifier is not a DNS name");
  }
  if (options_.selector.empty()) {
    return FailedPrecondition("the agent http-01 solver has no selector");
  }
  const std::string token(token_view);
  std::vector<model::Agent> agents;
  std::vector<std::string> agents_to_wake;
  {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    // Only the ordering account's agents (issue #13): a token is never handed to another
    // account's host, whatever tags it carries.
    CF_ASSIGN_OR_RETURN(auto all, tx->agents().ListByAccount(account_id_));
    for (auto& a : all) {
      if (a.status == model::AgentStatus::kActive &&
          policy::SelectorMatches(options_.selector, a.tags)) {
        agents.push_back(std::move(a));
      }
    }
    if (agents.empty()) {
      return FailedPrecondition("no active agent of the account matches the http-01 selector " +
                                SelectorText(options_.selector));
    }
    const TimePoint now = clock_.Now();
    CF_ASSIGN_OR_RETURN(
        auto stale, tx->agent_challenges().ListStale(account_id_, now - kStaleChallengeAfter, 100));
    for (auto& r : stale) {
      r.state = kRemove;
      r.reason.clear();
      r.updated_at = now;
      CF_TRY(tx->agent_challenges().Put(r));
      agents_to_wake.push_back(r.agent_id);
    }
    for (const auto& a : agents) {
      CF_TRY(tx->agent_challenges().Put({.agent_id = a.id,
                                         .token = token,
                                         .account_id = account_id_,
                                         .key_authorization = std::string(key_authorization),
                                         .state = kPresent,
                                         .reason = "",
                                         .created_at = now,
                                         .updated_at = now,
                                         .identifier = identifier}));
    }
    CF_TRY(tx->Commit());
  }
  for (const auto& a : agents) agents_to_wake.push_back(a.id);
  if (notifier_ != nullptr) {
    std::sort(agents_to_wake.begin(), agents_to_wake.end());
    agents_to_wake.erase(std::unique(agents_to_wake.begin(), agents_to_wake.end()),
                         agents_to_wake.end());
    for (const auto& id : agents_to_wake) notifier_->Notify(id);
  }
  log::Info("http-01 token handed to agents", {{"account_id", account_id_},
                                               {"token", token},
                                               {"agents", std::to_string(agents.size())},
                                               {"selector", SelectorText(options_.selector)}});
  return WaitForAcknowledgements(token, agents);
}

Status AgentHttp01Solver::WaitForAcknowledgements(const std::string& token,
                                                  const std::vector<model::Agent>& agents) {
  const auto poll = std::max(options_.poll, std::chrono::milliseconds(1));
  // Counted in polls rather than read from the clock, so a test clock that jumps does not cut
  // the wait short and a clock that stands still does not make it endless.
  const int64_t max_looks = options_.timeout / poll + 1;
  std::vector<const model::Agent*> silent;
  for (int64_t look = 0; look < max_looks; ++look) {
    std::map<std::string, store::AgentChallenge> rows;
    {
      CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
      CF_ASSIGN_OR_RETURN(auto found, tx->agent_challenges().ListByToken(account_id_, token));
      for (auto& r : found) rows.emplace(r.agent_id, std::move(r));
    }
    silent.clear();
    for (const auto& a : agents) {
      auto it = rows.find(a.id);
      if (it == rows.end()) {
        return Conflict("the http-01 challenge for " + AgentWords(a) +
                        " was withdrawn while waiting for it");
      }
      if (it->second.state == kFailed) {
        return FailedPrecondition(AgentWords(a) +
                                  " could not serve the http-01 token: " + it->second.reason);
      }
      if (it->second.state != kPresented) silent.push_back(&a);
    }
    if (silent.empty()) return Ok();
    if (look + 1 == max_looks) break;
    if (options_.sleep) {
      options_.sleep(poll);
    } else {
      std::this_thread::sleep_for(poll);
    }
  }
  std::string names;
  for (const auto* a : silent) names += (names.empty() ? "" : ", ") + AgentWords(*a);
  return Error(ErrorCode::kTimeout, "no acknowledgement of the http-01 token within " +
                                        std::to_string(options_.timeout.count() / 1000) +
                                        " s from " + names);
}

Status AgentHttp01Solver::CleanUp(std::string_view /*identifier*/, std::string_view token_view) {
  if (!acme::IsValidToken(token_view)) return Ok();
  const std::string token(token_view);
  std::vector<std::string> notify;
  {
    CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
    CF_ASSIGN_OR_RETURN(auto rows, tx->agent_challenges().ListByToken(account_id_, token));
    if (rows.empty()) return Ok();
    const TimePoint now = clock_.Now();
    for (auto& r : rows) {
      r.state = kRemove;
      r.reason.clear();
      r.updated_at = now;
      CF_TRY(tx->agent_challenges().Put(r));
      notify.push_back(r.agent_id);
    }
    CF_TRY(tx->Commit());
  }
  if (notifier_ != nullptr) {
    for (const auto& id : notify) notifier_->Notify(id);
  }
  return Ok();
}

Result<std::vector<store::AgentChallenge>> PendingAgentChallenges(store::Store& store,
                                                                  const model::Agent& agent) {
  CF_ASSIGN_OR_RETURN(auto tx, store.Begin());
  return tx->agent_challenges().ListWork(agent.id, kMaxChallengesPerPoll);
}

Status AcknowledgeAgentChallenge(store::Store& store, const Clock& clock, const model::Agent& agent,
                                 const std::string& token, const std::string& state,
                                 const std::string& reason) {
  if (!acme::IsValidToken(token)) return InvalidArgument("not a valid http-01 token");
  if (state != kPresented && state != kFailed && state != "removed") {
    return InvalidArgument("state must be \"presented\", \"failed\" or \"removed\"");
  }
  if (reason.size() > kMaxReason) return InvalidArgument("reason is longer than 1024 bytes");
  if (!IsPrintableAscii(reason)) return InvalidArgument("reason must be printable ASCII");
  CF_ASSIGN_OR_RETURN(auto tx, store.Begin());
  CF_ASSIGN_OR_RETURN(auto row, tx->agent_challenges().Get(agent.id, token));
  if (!row) {
    if (state == "removed") return Ok();
    return NotFound("this agent holds no http-01 challenge for that token");
  }
  if (state == "removed") {
    if (row->state != kRemove) {
      return Conflict("the http-01 token is still to be served, not withdrawn");
    }
    CF_TRY(tx->agent_challenges().Delete(agent.id, token));
  } else {
    if (row->state == kRemove) return Conflict("the http-01 token is being withdrawn");
    row->state = state;
    row->reason = state == kFailed ? reason : "";
    row->updated_at = clock.Now();
    CF_TRY(tx->agent_challenges().Put(*row));
  }
  CF_TRY(tx->Commit());
  log::Info("http-01 challenge acknowledged",
            {{"agent_id", agent.id}, {"token", token}, {"state", state}});
  return Ok();
}

}  // namespace certfleet::lifecycle
