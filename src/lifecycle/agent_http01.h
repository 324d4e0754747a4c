// http-01 answered by agents (issue #6: "served by the agent on the host that answers for the
// name, via a webroot directory or a short-lived listener from its local config").
//
// The server side of a small protocol carried by the agent channel (docs/agents.md, "http-01
// challenges"), with the store as the only shared state so that any replica may run the job and
// any replica may answer the agent's poll:
//  - AgentHttp01Solver::Present writes one agent_challenges row ("present") for every active
//    agent of the account whose tags match the solver's selector, wakes those agents' long polls,
//    and returns once every one of them has acknowledged "presented". An agent that answers
//    "failed" (e.g. no [http01] section in its configuration) ends the wait at once with its
//    reason; an agent that stays silent past the timeout is named in a Timeout error. No
//    matching agent is FailedPrecondition.
//  - AgentHttp01Solver::CleanUp marks the token's rows "remove"; the agents withdraw the token
//    and acknowledge "removed", which deletes the row. Rows a crashed issuance left behind are
//    withdrawn the same way by the account's next Present (kStaleChallengeAfter).
//  - PendingAgentChallenges is what the poll hands an agent; AcknowledgeAgentChallenge takes its
//    answer.
// Key authorizations are not secret (the CA fetches them over plain HTTP); still, none is
// logged or put into an error message.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "acme/client/http01.h"
#include "base/clock.h"
#include "base/error.h"
#include "lifecycle/deployment_service.h"
#include "model/model.h"
#include "store/store.h"

namespace certfleet::lifecycle {

inline constexpr size_t kMaxChallengesPerPoll = 100;
// A challenge not withdrawn after this long was left by an issuance that died (certfleetd killed
// between Present and CleanUp); the next Present in the account withdraws it.
inline constexpr Seconds kStaleChallengeAfter = std::chrono::hours(1);

struct AgentHttp01Options {
  model::Tags selector;  // which of the account's agents answer for the names; not empty
  // How long Present waits for every agent's acknowledgement.
  std::chrono::milliseconds timeout{60000};
  std::chrono::milliseconds poll{200};
  // Tests: replaces the real sleep between looks at the store.
  std::function<void(std::chrono::milliseconds)> sleep;
};

class AgentHttp01Solver final : public acme::Http01Solver {
 public:
  // `notifier` may be null (agents then see the challenge at their next regular poll).
  AgentHttp01Solver(store::Store& store, const Clock& clock, AgentNotifier* notifier,
                    std::string account_id, AgentHttp01Options options)
      : store_(store),
        clock_(clock),
        notifier_(notifier),
        account_id_(std::move(account_id)),
        options_(std::move(options)) {}

  // Only agents of `account_id` (the ordering account) get the challenge; the row carries the
  // identifier, and the agent's listener answers the token only for that Host (issue #13).
  Status Present(std::string_view identifier, std::string_view token,
                 std::string_view key_authorization) override;
  Status CleanUp(std::string_view identifier, std::string_view token) override;

 private:
  Status WaitForAcknowledgements(const std::string& token, const std::vector<model::Agent>& agents);
  store::Store& store_;
  const Clock& clock_;
  AgentNotifier* notifier_;
  const std::string account_id_;
  const AgentHttp01Options options_;
};

// The challenges to hand `agent` in its poll ("present" and "remove" rows), at most
// kMaxChallengesPerPoll, oldest first.
Result<std::vector<store::AgentChallenge>> PendingAgentChallenges(store::Store& store,
                                                                  const model::Agent& agent);

// The agent's answer for `token`: "presented" or "failed" (with `reason`) for a token it was
// asked to present, "removed" for one it was asked to withdraw. InvalidArgument for another
// state or a malformed token; NotFound when the agent holds no such challenge ("removed" for an
// unknown token is Ok: acknowledgements may be repeated); Conflict for "presented"/"failed" on a
// token already being withdrawn, or "removed" for one still to be presented.
Status AcknowledgeAgentChallenge(store::Store& store, const Clock& clock, const model::Agent& agent,
                                 const std::string& token, const std::string& state,
                                 const std::string& reason);

}  // namespace certfleet::lifecycle
