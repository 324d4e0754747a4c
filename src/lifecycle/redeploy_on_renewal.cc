#include "lifecycle/redeploy_on_renewal.h"

#include <set>

#include "base/check.h"
#include "base/log.h"
#include "lifecycle/caller.h"

namespace certfleet::lifecycle {
namespace {

constexpr std::string_view kRenewedType = "certificate.renewed";

Result<int64_t> ReadCursor(store::Tx& tx) {
  CF_ASSIGN_OR_RETURN(std::optional<std::string> v,
                      tx.settings().Get(std::string(kRedeployCursorSetting)));
  if (!v) return int64_t{0};
  try {
    return static_cast<int64_t>(std::stoll(*v));
  } catch (const std::exception&) {
    return Internal("setting " + std::string(kRedeployCursorSetting) + " is not a number");
  }
}

}  // namespace

RedeployOnRenewal::RedeployOnRenewal(store::Store& store, jobs::JobEngine& engine,
                                     DeploymentService& deployments, size_t batch)
    : store_(store), engine_(engine), deployments_(deployments), batch_(batch) {
  CF_CHECK(batch_ > 0);
}

void RedeployOnRenewal::RegisterJobs() {
  engine_.Register(std::string(kRedeployJobType),
                   [this](const model::Job& job) { return RunStep(job); });
}

Result<size_t> RedeployOnRenewal::RunOnce() {
  CF_ASSIGN_OR_RETURN(auto tx, store_.Begin());
  CF_ASSIGN_OR_RETURN(int64_t cursor, ReadCursor(*tx));
  CF_ASSIGN_OR_RETURN(std::vector<model::Event> events, tx->events().ListAfter(cursor, batch_));
  if (events.empty()) return size_t{0};
  for (const model::Event& e : events) {
    if (e.type != kRenewedType) continue;
    nlohmann::json data = nlohmann::json::parse(e.data_json, nullptr, false);
    nlohmann::json input = {{"certificate_id", e.subject}, {"event_id", e.id}};
    if (data.is_object() && data.contains("version_id") && data["version_id"].is_string()) {
      input["version_id"] = data["version_id"];
    }
    CF_ASSIGN_OR_RETURN(model::Job job, engine_.Enqueue(*tx, {.account_id = e.account_id,
                                                              .type = std::string(kRedeployJobType),
                                                              .input_json = input.dump(),
                                                              .idempotency_key = e.id,
                                                              .max_attempts = 5}));
    log::Info("redeploy after renewal enqueued",
              {{"certificate_id", e.subject}, {"event_id", e.id}, {"job_id", job.id}});
  }
  CF_TRY(
      tx->settings().Put(std::string(kRedeployCursorSetting), std::to_string(events.back().seq)));
  CF_TRY(tx->Commit());
  return events.size();
}

jobs::StepResult RedeployOnRenewal::RunStep(const model::Job& job) {
  nlohmann::json input = nlohmann::json::parse(job.input_json, nullptr, false);
  if (!input.is_object() || !input.contains("certificate_id") ||
      !input["certificate_id"].is_string()) {
    return jobs::StepResult::Fail("malformed redeploy job input");
  }
  const std::string id = input["certificate_id"].get<std::string>();
  nlohmann::json out = nlohmann::json::parse(job.output_json, nullptr, false);
  if (!out.is_object()) out = nlohmann::json::object();
  // Deployments an earlier try of this step redeployed, so a retry after a partial failure does
  // not start their generation again.
  std::set<std::string> done;
  if (out.contains("redeployed") && out["redeployed"].is_array()) {
    for (const auto& d : out["redeployed"])
      if (d.is_string()) done.insert(d.get<std::string>());
  }
  std::vector<model::Deployment> deps;
  std::string account_id, current_version_id;
  {
    auto tx = store_.Begin();
    if (!tx.ok()) return jobs::StepResult::Retry(tx.error().ToString());
    auto cert = (*tx)->certificates().Get(id);
    if (!cert.ok()) {
      if (cert.error().code() == ErrorCode::kNotFound) return jobs::StepResult::Done();
      return jobs::StepResult::Retry(cert.error().ToString());
    }
    if (cert->status != model::CertificateStatus::kIssued) {
      return jobs::StepResult::Done();  // revoked since: nothing to place
    }
    account_id = cert->account_id;
    current_version_id = cert->current_version_id;
    store::DeploymentFilter f{.certificate_id = id};
    while (true) {
      auto page = (*tx)->deployments().List(f);
      if (!page.ok()) return jobs::StepResult::Retry(page.error().ToString());
      if (page->empty()) break;
      f.after_id = page->back().id;
      for (model::Deployment& d : *page) deps.push_back(std::move(d));
    }
  }
  int failed = 0;
  std::string last_error;
  for (const model::Deployment& d : deps) {
    if (d.version_id == current_version_id || done.count(d.id)) continue;
    // A generation that has not exported yet will export the current version (StepExport
    // checks the version again when it commits): redeploying it would only supersede it.
    if (d.version_id.empty() && d.state == model::DeploymentState::kRunning) continue;
    auto r = deployments_.Redeploy(SystemCaller(account_id, "system:renewal"), d.id);
    if (!r.ok()) {
      ++failed;
      last_error = d.id + ": " + r.error().ToString();
      log::Warn("redeploy after renewal failed",
                {{"certificate_id", id}, {"deployment_id", d.id}, {"error", r.error().ToString()}});
      continue;
    }
    done.insert(d.id);
    log::Info("redeploying after renewal", {{"certificate_id", id},
                                            {"deployment_id", d.id},
                                            {"version_id", current_version_id},
                                            {"generation", std::to_string(r->generation)}});
  }
  out["redeployed"] = done;
  out["version_id"] = current_version_id;
  if (failed > 0) {
    jobs::StepResult retry = jobs::StepResult::Retry(last_error);
    retry.output_json = out.dump();
    return retry;
  }
  return jobs::StepResult::Done(out.dump());
}

}  // namespace certfleet::lifecycle
