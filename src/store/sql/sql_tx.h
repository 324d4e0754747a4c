// The Tx of every SQL backend: one Session and the shared row mappers over it (store/sql/rows.h).
// A backend subclasses it with how its connection is held and how a transaction ends.
#pragma once

#include <memory>

#include "store/sql/rows.h"
#include "store/store.h"

namespace certfleet::store::sql {

// How a backend holds the connection of one transaction and ends it.
class TxLease {
 public:
  virtual ~TxLease() = default;  // rolls back if Commit() was not called
  virtual Conn& conn() = 0;
  virtual Status Commit() = 0;
};

class SqlTx : public Tx {
 public:
  explicit SqlTx(std::unique_ptr<TxLease> lease);
  ~SqlTx() override;

  // The open transaction's connection (backend-specific queries such as the schema version).
  Conn& conn() { return lease_->conn(); }

  Status Commit() override;

  AccountRepo& accounts() override { return accounts_; }
  PrincipalRepo& principals() override { return principals_; }
  TokenRepo& tokens() override { return tokens_; }
  CertificateRepo& certificates() override { return certificates_; }
  VersionRepo& versions() override { return versions_; }
  BlobRepo& blobs() override { return blobs_; }
  SecretRepo& secrets() override { return secrets_; }
  ExportRepo& exports() override { return exports_; }
  CaRepo& cas() override { return cas_; }
  SerialRepo& serials() override { return serials_; }
  SettingRepo& settings() override { return settings_; }
  GrantRepo& grants() override { return grants_; }
  PolicyRepo& policies() override { return policies_; }
  AuditRepo& audit() override { return audit_; }
  JobRepo& jobs() override { return jobs_; }
  AgentRepo& agents() override { return agents_; }
  EnrollmentTokenRepo& enrollment_tokens() override { return enrollment_tokens_; }
  DeploymentRepo& deployments() override { return deployments_; }
  DeploymentTargetRepo& deployment_targets() override { return deployment_targets_; }
  EventRepo& events() override { return events_; }
  WebhookRepo& webhooks() override { return webhooks_; }
  WebhookDeliveryRepo& webhook_deliveries() override { return webhook_deliveries_; }
  RenewalRepo& renewals() override { return renewals_; }
  LeaseRepo& leases() override { return leases_; }
  RevocationRepo& revocations() override { return revocations_; }
  NoticeRepo& notices() override { return notices_; }
  AcmeConfigRepo& acme_configs() override { return acme_configs_; }
  AcmeOrderRepo& acme_orders() override { return acme_orders_; }
  AgentChallengeRepo& agent_challenges() override { return agent_challenges_; }
  StatsRepo& stats() override { return stats_; }
  AgentCertificateRepo& agent_certificates() override { return agent_certificates_; }
  DomainClaimRepo& domain_claims() override { return domain_claims_; }
  Http01TokenRepo& http01_tokens() override { return http01_tokens_; }
  AcmeServerRepo& acme_server() override { return acme_server_; }

 private:
  std::unique_ptr<TxLease> lease_;  // empty once the transaction is over
  Session session_;
  SqlAccounts accounts_;
  SqlPrincipals principals_;
  SqlTokens tokens_;
  SqlCertificates certificates_;
  SqlVersions versions_;
  SqlBlobs blobs_;
  SqlSecrets secrets_;
  SqlExports exports_;
  SqlCas cas_;
  SqlSerials serials_;
  SqlSettings settings_;
  SqlGrants grants_;
  SqlPolicies policies_;
  SqlAudit audit_;
  SqlJobs jobs_;
  SqlAgents agents_;
  SqlEnrollmentTokens enrollment_tokens_;
  SqlDeployments deployments_;
  SqlDeploymentTargets deployment_targets_;
  SqlEvents events_;
  SqlWebhooks webhooks_;
  SqlWebhookDeliveries webhook_deliveries_;
  SqlRenewals renewals_;
  SqlLeases leases_;
  SqlRevocations revocations_;
  SqlNotices notices_;
  SqlAcmeConfigs acme_configs_;
  SqlAcmeOrders acme_orders_;
  SqlAgentChallenges agent_challenges_;
  SqlStats stats_;
  SqlAgentCertificates agent_certificates_;
  SqlDomainClaims domain_claims_;
  SqlHttp01Tokens http01_tokens_;
  SqlAcmeServer acme_server_;
};

}  // namespace certfleet::store::sql
