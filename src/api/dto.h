// Wire shapes (JSON) of the v1 API, converted at the edge (CONVENTIONS.md #7). docs/api.md is
// the reference for every field.
#pragma once

#include <nlohmann/json.hpp>

#include "api/json_body.h"
#include "lifecycle/certificate_service.h"
#include "lifecycle/deployment_service.h"
#include "lifecycle/export_service.h"
#include "lifecycle/governance_service.h"

namespace certfleet::api {

std::string Crn(const std::string& account_id, const std::string& kind, const std::string& id);

nlohmann::json CertificateJson(const lifecycle::CertificateView& view);
nlohmann::json ExportJson(const lifecycle::ExportResult& result);

// Reads POST /v1/certificates. Unknown fields are errors.
Result<lifecycle::CertificateRequest> ParseCertificateRequest(JsonBody& body);

}  // namespace certfleet::api

namespace certfleet::api {

nlohmann::json AccountJson(const model::Account& a);
nlohmann::json PrincipalJson(const model::Principal& p);
nlohmann::json GrantJson(const model::Grant& g);
nlohmann::json PolicyJson(const model::PolicyDocument& d);
nlohmann::json SecretJson(const model::Secret& s);
nlohmann::json AuditJson(const model::AuditRecord& r);
nlohmann::json ExportReportJson(const lifecycle::ExportReportRow& r);

}  // namespace certfleet::api

namespace certfleet::api {

// Agents and deployments (docs/agents.md).
nlohmann::json EnrollmentTokenJson(const model::EnrollmentToken& t);
nlohmann::json AgentJson(const model::Agent& a);
nlohmann::json DeploymentJson(const model::Deployment& d);  // without targets
nlohmann::json DeploymentViewJson(const lifecycle::DeploymentView& v);
nlohmann::json InventoryJson(const lifecycle::InventoryRow& r);
nlohmann::json AgentJobJson(const lifecycle::AgentJob& j);

}  // namespace certfleet::api
