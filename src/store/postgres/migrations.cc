#include "store/postgres/migrations.h"

#include <string>

namespace certfleet::store::postgres {
namespace {

constexpr char kCreateMigrationsTable[] = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    BIGINT PRIMARY KEY,
  applied_at BIGINT NOT NULL
);
)sql";

// Held for the migration's transaction: replicas starting at once migrate one after another, and
// the later ones find nothing to do.
constexpr char kMigrationLock[] = "SELECT pg_advisory_xact_lock(hashtext('certfleet.migrations'))";

// The schema of SQLite's migrations 1-13 in one step.
constexpr char kMigration1[] = R"sql(
CREATE DOMAIN cf_text AS TEXT COLLATE "C";
CREATE TABLE accounts (
  id         cf_text PRIMARY KEY,
  name       cf_text NOT NULL UNIQUE,
  created_at BIGINT NOT NULL
);
CREATE TABLE principals (
  id         cf_text PRIMARY KEY,
  account_id cf_text NOT NULL REFERENCES accounts(id),
  name       cf_text NOT NULL,
  kind       cf_text NOT NULL,
  role       cf_text NOT NULL,
  tags       cf_text NOT NULL DEFAULT '{}',
  disabled   BIGINT NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  created_at BIGINT NOT NULL,
  UNIQUE (account_id, name)
);
CREATE INDEX principals_by_account ON principals (account_id, id);
CREATE TABLE tokens (
  id           cf_text PRIMARY KEY,
  principal_id cf_text NOT NULL REFERENCES principals(id),
  hash_hex     cf_text NOT NULL UNIQUE,
  created_at   BIGINT NOT NULL,
  expires_at   BIGINT,
  revoked      BIGINT NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);
CREATE INDEX tokens_by_principal ON tokens (principal_id, id);
CREATE TABLE certificates (
  id                   cf_text PRIMARY KEY,
  account_id           cf_text NOT NULL REFERENCES accounts(id),
  name                 cf_text NOT NULL,
  domains              cf_text NOT NULL,
  key_type             cf_text NOT NULL,
  profile              cf_text NOT NULL,
  issuer               cf_text NOT NULL,
  exportable           BIGINT NOT NULL CHECK (exportable IN (0, 1)),
  tags                 cf_text NOT NULL DEFAULT '{}',
  status               cf_text NOT NULL,
  status_detail        cf_text NOT NULL DEFAULT '',
  validity_seconds     BIGINT,
  renew_before_seconds BIGINT,
  current_version_id   cf_text NOT NULL DEFAULT '',
  created_by           cf_text NOT NULL,
  created_at           BIGINT NOT NULL,
  updated_at           BIGINT NOT NULL,
  UNIQUE (account_id, name)
);
CREATE INDEX certificates_by_account ON certificates (account_id, id);
CREATE INDEX certificates_by_status ON certificates (status, id);
CREATE TABLE sealed_blobs (
  id          cf_text PRIMARY KEY,
  kek_id      cf_text NOT NULL,
  wrapped_dek BYTEA NOT NULL,
  ciphertext  BYTEA NOT NULL,
  purpose     cf_text NOT NULL,
  created_at  BIGINT NOT NULL
);
CREATE TABLE certificate_versions (
  id                 cf_text PRIMARY KEY,
  certificate_id     cf_text NOT NULL REFERENCES certificates(id),
  version            BIGINT NOT NULL,
  serial_hex         cf_text NOT NULL UNIQUE,
  not_before         BIGINT NOT NULL,
  not_after          BIGINT NOT NULL,
  leaf_pem           cf_text NOT NULL,
  chain_pem          cf_text NOT NULL,
  fingerprint_sha256 cf_text NOT NULL,
  key_blob_id        cf_text NOT NULL,
  issuer_ca_id       cf_text NOT NULL DEFAULT '',
  created_at         BIGINT NOT NULL,
  UNIQUE (certificate_id, version)
);
CREATE TABLE secrets (
  id              cf_text PRIMARY KEY,
  account_id      cf_text NOT NULL REFERENCES accounts(id),
  name            cf_text NOT NULL,
  kind            cf_text NOT NULL,
  tags            cf_text NOT NULL DEFAULT '{}',
  current_version BIGINT NOT NULL DEFAULT 0,
  description     cf_text NOT NULL DEFAULT '',
  created_at      BIGINT NOT NULL,
  updated_at      BIGINT NOT NULL,
  UNIQUE (account_id, name)
);
CREATE INDEX secrets_by_account ON secrets (account_id, id);
CREATE TABLE secret_versions (
  secret_id  cf_text NOT NULL REFERENCES secrets(id),
  version    BIGINT NOT NULL,
  blob_id    cf_text NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (secret_id, version)
);
CREATE TABLE exports (
  id             cf_text PRIMARY KEY,
  account_id     cf_text NOT NULL,
  certificate_id cf_text NOT NULL,
  version_id     cf_text NOT NULL DEFAULT '',
  principal_id   cf_text NOT NULL,
  allowed        BIGINT NOT NULL CHECK (allowed IN (0, 1)),
  reason         cf_text NOT NULL DEFAULT '',
  fqdn_count     BIGINT NOT NULL DEFAULT 0,
  wildcard_count BIGINT NOT NULL DEFAULT 0,
  secret_id      cf_text NOT NULL DEFAULT '',
  at             BIGINT NOT NULL
);
CREATE INDEX exports_by_time ON exports (at, id);
CREATE INDEX exports_by_account ON exports (account_id, at, id);
CREATE INDEX exports_by_certificate ON exports (certificate_id, at, id);
CREATE TABLE ca_records (
  id          cf_text PRIMARY KEY,
  role        cf_text NOT NULL,
  cert_pem    cf_text NOT NULL,
  key_blob_id cf_text NOT NULL,
  parent_id   cf_text NOT NULL DEFAULT '',
  active      BIGINT NOT NULL CHECK (active IN (0, 1)),
  created_at  BIGINT NOT NULL
);
CREATE INDEX ca_records_active ON ca_records (role, active, created_at, id);
CREATE TABLE serials (
  serial_hex  cf_text PRIMARY KEY,
  ca_id       cf_text NOT NULL,
  reserved_at BIGINT NOT NULL
);
CREATE TABLE settings (
  key   cf_text PRIMARY KEY,
  value cf_text NOT NULL
);
CREATE TABLE grants (
  id              cf_text PRIMARY KEY,
  from_account_id cf_text NOT NULL REFERENCES accounts(id),
  to_account_id   cf_text NOT NULL REFERENCES accounts(id),
  created_by      cf_text NOT NULL,
  created_at      BIGINT NOT NULL,
  revoked         BIGINT NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
  revoked_at      BIGINT
);
CREATE UNIQUE INDEX grants_active_pair ON grants (from_account_id, to_account_id)
  WHERE revoked = 0;
CREATE INDEX grants_by_from ON grants (from_account_id, id);
CREATE INDEX grants_by_to ON grants (to_account_id, id);
CREATE TABLE policies (
  account_id cf_text PRIMARY KEY REFERENCES accounts(id),
  toml       cf_text NOT NULL,
  version    BIGINT NOT NULL,
  updated_by cf_text NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE audit_records (
  seq          BIGINT PRIMARY KEY,
  id           cf_text NOT NULL UNIQUE,
  at           BIGINT NOT NULL,
  account_id   cf_text NOT NULL DEFAULT '',
  principal_id cf_text NOT NULL DEFAULT '',
  action       cf_text NOT NULL,
  resource     cf_text NOT NULL DEFAULT '',
  outcome      cf_text NOT NULL,
  status       BIGINT NOT NULL DEFAULT 0,
  source       cf_text NOT NULL DEFAULT '',
  detail       cf_text NOT NULL DEFAULT '',
  prev_hash    cf_text NOT NULL,
  hash         cf_text NOT NULL,
  scheme       cf_text NOT NULL DEFAULT 'sha256',
  prev_seq     BIGINT NOT NULL DEFAULT 0);
CREATE INDEX audit_records_by_account ON audit_records (account_id, seq);
CREATE INDEX audit_records_by_principal ON audit_records (principal_id, seq);
CREATE INDEX audit_records_by_resource ON audit_records (resource, seq);
CREATE INDEX audit_records_by_time ON audit_records (at);
CREATE TABLE jobs (
  id               cf_text PRIMARY KEY,
  account_id       cf_text NOT NULL DEFAULT '',
  type             cf_text NOT NULL,
  step             cf_text NOT NULL DEFAULT '',
  state            cf_text NOT NULL,
  attempts         BIGINT NOT NULL DEFAULT 0,
  max_attempts     BIGINT NOT NULL,
  input_json       cf_text NOT NULL DEFAULT '{}',
  output_json      cf_text NOT NULL DEFAULT '{}',
  last_error       cf_text NOT NULL DEFAULT '',
  idempotency_key  cf_text NOT NULL DEFAULT '',
  lease_owner      cf_text NOT NULL DEFAULT '',
  lease_expires_at BIGINT,
  run_after        BIGINT NOT NULL,
  deadline         BIGINT,
  created_at       BIGINT NOT NULL,
  updated_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX jobs_idempotency ON jobs (type, idempotency_key) WHERE idempotency_key != '';
CREATE INDEX jobs_due ON jobs (state, run_after);
CREATE INDEX jobs_by_account ON jobs (account_id, id);
CREATE TABLE enrollment_tokens (
  id               cf_text PRIMARY KEY,
  account_id       cf_text NOT NULL REFERENCES accounts(id),
  hash_hex         cf_text NOT NULL UNIQUE,
  tags             cf_text NOT NULL DEFAULT '{}',
  created_by       cf_text NOT NULL,
  created_at       BIGINT NOT NULL,
  expires_at       BIGINT NOT NULL,
  used_at          BIGINT,
  used_by_agent_id cf_text NOT NULL DEFAULT ''
,
  revoked_at       BIGINT,
  used_key_sha256  cf_text NOT NULL DEFAULT '');
CREATE INDEX enrollment_tokens_by_account ON enrollment_tokens (account_id, id);
CREATE TABLE agents (
  id                   cf_text PRIMARY KEY,
  account_id           cf_text NOT NULL REFERENCES accounts(id),
  principal_id         cf_text NOT NULL REFERENCES principals(id),
  hostname             cf_text NOT NULL DEFAULT '',
  tags                 cf_text NOT NULL DEFAULT '{}',
  cert_serial_hex      cf_text NOT NULL UNIQUE,
  prev_cert_serial_hex cf_text NOT NULL DEFAULT '',
  cert_not_after       BIGINT NOT NULL,
  enrollment_token_id  cf_text NOT NULL DEFAULT '',
  last_seq             BIGINT NOT NULL DEFAULT 0,
  status               cf_text NOT NULL,
  last_seen_at         BIGINT,
  created_at           BIGINT NOT NULL,
  updated_at           BIGINT NOT NULL
);
CREATE INDEX agents_by_account ON agents (account_id, id);
CREATE INDEX agents_by_prev_serial ON agents (prev_cert_serial_hex);
CREATE TABLE deployments (
  id                cf_text PRIMARY KEY,
  account_id        cf_text NOT NULL REFERENCES accounts(id),
  certificate_id    cf_text NOT NULL REFERENCES certificates(id),
  target_account_id cf_text NOT NULL REFERENCES accounts(id),
  selector          cf_text NOT NULL DEFAULT '{}',
  profile           cf_text NOT NULL,
  state             cf_text NOT NULL,
  state_detail      cf_text NOT NULL DEFAULT '',
  generation        BIGINT NOT NULL,
  version_id        cf_text NOT NULL DEFAULT '',
  key_blob_id       cf_text NOT NULL DEFAULT '',
  secret_id         cf_text NOT NULL DEFAULT '',
  secret_version    BIGINT NOT NULL DEFAULT 0,
  job_id            cf_text NOT NULL DEFAULT '',
  deadline          BIGINT,
  created_by        cf_text NOT NULL,
  created_at        BIGINT NOT NULL,
  updated_at        BIGINT NOT NULL
);
CREATE INDEX deployments_by_account ON deployments (account_id, id);
CREATE INDEX deployments_by_target_account ON deployments (target_account_id, id);
CREATE INDEX deployments_by_certificate ON deployments (certificate_id, id);
CREATE TABLE deployment_targets (
  id            cf_text PRIMARY KEY,
  deployment_id cf_text NOT NULL REFERENCES deployments(id),
  agent_id      cf_text NOT NULL REFERENCES agents(id),
  account_id    cf_text NOT NULL,
  generation    BIGINT NOT NULL,
  version_id    cf_text NOT NULL DEFAULT '',
  seq           BIGINT NOT NULL DEFAULT 0,
  state         cf_text NOT NULL,
  reason        cf_text NOT NULL DEFAULT '',
  paths         cf_text NOT NULL DEFAULT '[]',
  delivered_at  BIGINT,
  installed_at  BIGINT,
  verified_at   BIGINT,
  created_at    BIGINT NOT NULL,
  updated_at    BIGINT NOT NULL,
  UNIQUE (deployment_id, agent_id)
);
CREATE INDEX deployment_targets_by_agent ON deployment_targets (agent_id, state, seq);
CREATE TABLE events (
  seq        BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  id         cf_text NOT NULL UNIQUE,
  account_id cf_text NOT NULL,
  type       cf_text NOT NULL,
  subject    cf_text NOT NULL,
  data       cf_text NOT NULL,
  tags       cf_text NOT NULL DEFAULT '{}',
  time       BIGINT NOT NULL
);
CREATE TABLE webhooks (
  id                    cf_text PRIMARY KEY,
  account_id            cf_text NOT NULL REFERENCES accounts(id),
  url                   cf_text NOT NULL,
  types                 cf_text NOT NULL DEFAULT '[]',
  tags                  cf_text NOT NULL DEFAULT '{}',
  secret_blob_id        cf_text NOT NULL,
  allow_private_address BIGINT NOT NULL,
  active                BIGINT NOT NULL,
  created_by            cf_text NOT NULL,
  created_at            BIGINT NOT NULL,
  updated_at            BIGINT NOT NULL
);
CREATE INDEX webhooks_by_account ON webhooks (account_id, id);
CREATE TABLE webhook_deliveries (
  id              cf_text PRIMARY KEY,
  subscription_id cf_text NOT NULL REFERENCES webhooks(id),
  event_id        cf_text NOT NULL REFERENCES events(id),
  attempt         BIGINT NOT NULL,
  status          cf_text NOT NULL,
  http_status     BIGINT NOT NULL DEFAULT 0,
  error           cf_text NOT NULL DEFAULT '',
  next_attempt_at BIGINT,
  delivered_at    BIGINT,
  created_at      BIGINT NOT NULL,
  updated_at      BIGINT NOT NULL,
  UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE TABLE renewal_states (
  certificate_id  cf_text PRIMARY KEY REFERENCES certificates(id),
  version_id      cf_text NOT NULL,
  next_attempt_at BIGINT NOT NULL,
  failures        BIGINT NOT NULL DEFAULT 0,
  last_error      cf_text NOT NULL DEFAULT '',
  job_id          cf_text NOT NULL DEFAULT '',
  updated_at      BIGINT NOT NULL
);
CREATE INDEX renewal_states_due ON renewal_states (next_attempt_at, certificate_id);
CREATE TABLE leases (
  name       cf_text PRIMARY KEY,
  owner      cf_text NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE TABLE revocations (
  serial_hex     cf_text PRIMARY KEY,
  ca_id          cf_text NOT NULL DEFAULT '',
  certificate_id cf_text NOT NULL,
  version_id     cf_text NOT NULL,
  reason         BIGINT NOT NULL,
  revoked_at     BIGINT NOT NULL
);
CREATE INDEX revocations_by_ca ON revocations (ca_id, serial_hex);
CREATE INDEX revocations_by_certificate ON revocations (certificate_id, serial_hex);
CREATE TABLE notices (
  kind       cf_text NOT NULL,
  subject_id cf_text NOT NULL,
  marker     cf_text NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (kind, subject_id)
);
CREATE INDEX events_by_type ON events (type);
CREATE INDEX deployments_by_state ON deployments (state);
CREATE INDEX deployment_targets_by_state ON deployment_targets (state);
CREATE TABLE acme_configs (
  id              cf_text PRIMARY KEY,
  account_id      cf_text NOT NULL REFERENCES accounts(id),
  kind            cf_text NOT NULL CHECK (kind IN ('issuer', 'solver')),
  name            cf_text NOT NULL,
  type            cf_text NOT NULL,
  config_json     cf_text NOT NULL,
  secret_blob_id  cf_text REFERENCES sealed_blobs(id),
  secret2_blob_id cf_text REFERENCES sealed_blobs(id),
  created_by      cf_text NOT NULL,
  created_at      BIGINT NOT NULL,
  updated_at      BIGINT NOT NULL,
  UNIQUE (account_id, kind, name)
);
CREATE TABLE acme_orders (
  order_key      cf_text PRIMARY KEY,
  certificate_id cf_text NOT NULL REFERENCES certificates(id),
  order_url      cf_text NOT NULL,
  ari_start      BIGINT,
  ari_end        BIGINT,
  updated_at     BIGINT NOT NULL
);
CREATE TABLE agent_challenges (
  agent_id          cf_text NOT NULL REFERENCES agents(id),
  token             cf_text NOT NULL,
  account_id        cf_text NOT NULL REFERENCES accounts(id),
  key_authorization cf_text NOT NULL,
  state             cf_text NOT NULL CHECK (state IN ('present', 'presented', 'failed', 'remove')),
  reason            cf_text NOT NULL,
  created_at        BIGINT NOT NULL,
  updated_at        BIGINT NOT NULL,
  identifier        cf_text NOT NULL DEFAULT '',
  PRIMARY KEY (agent_id, token)
);
CREATE INDEX agent_challenges_by_token ON agent_challenges (account_id, token);
CREATE TABLE agent_certificates (
  serial_hex cf_text PRIMARY KEY,
  agent_id   cf_text NOT NULL REFERENCES agents(id),
  not_after  BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX agent_certificates_by_agent ON agent_certificates (agent_id, not_after);
CREATE TABLE domain_claims (
  id                 cf_text PRIMARY KEY,
  account_id         cf_text NOT NULL REFERENCES accounts(id),
  domain             cf_text NOT NULL,
  include_subdomains BIGINT NOT NULL CHECK (include_subdomains IN (0, 1)),
  shared             BIGINT NOT NULL CHECK (shared IN (0, 1)),
  created_by         cf_text NOT NULL,
  created_at         BIGINT NOT NULL,
  UNIQUE (account_id, domain)
);
CREATE INDEX domain_claims_by_domain ON domain_claims (domain);
CREATE TABLE renewal_unplanned (
  certificate_id cf_text PRIMARY KEY
);

CREATE FUNCTION certificates_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.exportable IS DISTINCT FROM NEW.exportable OR OLD.account_id IS DISTINCT FROM NEW.account_id
     OR OLD.domains IS DISTINCT FROM NEW.domains OR OLD.key_type IS DISTINCT FROM NEW.key_type
     OR OLD.profile IS DISTINCT FROM NEW.profile THEN
    RAISE EXCEPTION 'certificates: immutable column changed';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER certificates_immutable BEFORE UPDATE ON certificates
  FOR EACH ROW EXECUTE FUNCTION certificates_immutable();

-- The set of certificates that need renewal planning (store.h RenewalRepo), kept in the
-- transaction of every change, as SQLite's triggers do.
CREATE FUNCTION renewal_unplanned_mark(cert cf_text) RETURNS void LANGUAGE sql AS $$
  DELETE FROM renewal_unplanned WHERE certificate_id = cert;
  INSERT INTO renewal_unplanned (certificate_id)
    SELECT c.id FROM certificates c
     WHERE c.id = cert AND c.status = 'issued' AND c.current_version_id <> ''
       AND NOT EXISTS (SELECT 1 FROM renewal_states r
                        WHERE r.certificate_id = c.id AND r.version_id = c.current_version_id)
  ON CONFLICT DO NOTHING;
$$;

CREATE FUNCTION renewal_unplanned_certificate_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF OLD.status IS NOT DISTINCT FROM NEW.status
       AND OLD.current_version_id IS NOT DISTINCT FROM NEW.current_version_id THEN
      RETURN NULL;
    END IF;
    IF NEW.status <> 'issued' THEN
      DELETE FROM renewal_states WHERE certificate_id = NEW.id;
    END IF;
  END IF;
  PERFORM renewal_unplanned_mark(NEW.id);
  RETURN NULL;
END $$;
CREATE TRIGGER renewal_unplanned_certificate_changed AFTER INSERT OR UPDATE ON certificates
  FOR EACH ROW EXECUTE FUNCTION renewal_unplanned_certificate_changed();

CREATE FUNCTION renewal_unplanned_state_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM renewal_unplanned_mark(OLD.certificate_id);
  ELSIF TG_OP = 'INSERT' OR OLD.version_id IS DISTINCT FROM NEW.version_id THEN
    PERFORM renewal_unplanned_mark(NEW.certificate_id);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER renewal_unplanned_state_changed AFTER INSERT OR UPDATE OR DELETE ON renewal_states
  FOR EACH ROW EXECUTE FUNCTION renewal_unplanned_state_changed();
)sql";

// SQLite's migration 14: the built-in http-01 listener's tokens, shared by replicas.
constexpr char kMigration2[] = R"sql(
CREATE TABLE http01_tokens (
  identifier        cf_text NOT NULL,
  token             cf_text NOT NULL,
  owner             cf_text NOT NULL,
  key_authorization cf_text NOT NULL,
  created_at        BIGINT NOT NULL,
  PRIMARY KEY (identifier, token)
);
CREATE INDEX http01_tokens_by_age ON http01_tokens (created_at);
)sql";

// SQLite's migration 15 (kMigrationAcmeServer, where its comment explains the schema): the ACME
// server's EAB keys, accounts, orders, authorizations and challenges (issue #16).
constexpr char kMigration3[] = R"sql(
CREATE TABLE acme_srv_eab_keys (
  kid          cf_text PRIMARY KEY,
  account_id   cf_text NOT NULL REFERENCES accounts(id),
  principal_id cf_text NOT NULL,
  hmac_blob_id cf_text NOT NULL,
  tags         cf_text NOT NULL DEFAULT '{}',
  created_by   cf_text NOT NULL,
  created_at   BIGINT NOT NULL,
  expires_at   BIGINT,
  bound_to     cf_text NOT NULL DEFAULT '',
  bound_at     BIGINT
);
CREATE INDEX acme_srv_eab_keys_by_account ON acme_srv_eab_keys (account_id, kid);
CREATE TABLE acme_srv_accounts (
  id             cf_text PRIMARY KEY,
  account_id     cf_text NOT NULL REFERENCES accounts(id),
  principal_id   cf_text NOT NULL,
  eab_kid        cf_text NOT NULL DEFAULT '',
  jwk_thumbprint cf_text NOT NULL UNIQUE,
  jwk            cf_text NOT NULL,
  status         cf_text NOT NULL,
  contact        cf_text NOT NULL DEFAULT '[]',
  tags           cf_text NOT NULL DEFAULT '{}',
  created_at     BIGINT NOT NULL,
  updated_at     BIGINT NOT NULL
);
CREATE TABLE acme_srv_orders (
  id              cf_text PRIMARY KEY,
  acme_account_id cf_text NOT NULL REFERENCES acme_srv_accounts(id),
  account_id      cf_text NOT NULL,
  status          cf_text NOT NULL,
  identifiers     cf_text NOT NULL DEFAULT '[]',
  profile         cf_text NOT NULL,
  replaces        cf_text NOT NULL DEFAULT '',
  expires_at      BIGINT NOT NULL,
  error_json      cf_text NOT NULL DEFAULT '',
  certificate_id  cf_text NOT NULL DEFAULT '',
  version_id      cf_text NOT NULL DEFAULT '',
  created_at      BIGINT NOT NULL,
  updated_at      BIGINT NOT NULL
);
CREATE INDEX acme_srv_orders_by_acme_account ON acme_srv_orders (acme_account_id, id);
CREATE INDEX acme_srv_orders_by_account ON acme_srv_orders (account_id, created_at);
CREATE TABLE acme_srv_authzs (
  id               cf_text PRIMARY KEY,
  order_id         cf_text NOT NULL REFERENCES acme_srv_orders(id),
  acme_account_id  cf_text NOT NULL,
  account_id       cf_text NOT NULL,
  identifier_type  cf_text NOT NULL,
  identifier_value cf_text NOT NULL,
  wildcard         BIGINT NOT NULL CHECK (wildcard IN (0, 1)),
  status           cf_text NOT NULL,
  expires_at       BIGINT NOT NULL,
  created_at       BIGINT NOT NULL,
  updated_at       BIGINT NOT NULL
);
CREATE INDEX acme_srv_authzs_by_order ON acme_srv_authzs (order_id, id);
CREATE INDEX acme_srv_authzs_pending ON acme_srv_authzs (account_id, expires_at)
  WHERE status = 'pending';
CREATE TABLE acme_srv_challenges (
  id           cf_text PRIMARY KEY,
  authz_id     cf_text NOT NULL REFERENCES acme_srv_authzs(id),
  account_id   cf_text NOT NULL,
  type         cf_text NOT NULL,
  token        cf_text NOT NULL,
  status       cf_text NOT NULL,
  validated_at BIGINT,
  error_json   cf_text NOT NULL DEFAULT '',
  updated_at   BIGINT NOT NULL
);
CREATE INDEX acme_srv_challenges_by_authz ON acme_srv_challenges (authz_id, id);
CREATE INDEX acme_srv_challenges_by_status ON acme_srv_challenges (account_id, status, updated_at);
)sql";

// Issue #17 (lists that scale): GET /v1/certificates pages in (created_at, id) order, within an
// account or (system principals) across all of them. Same as SQLite's migration 16.
constexpr char kMigration4[] = R"sql(
CREATE INDEX certificates_by_account_created ON certificates (account_id, created_at, id);
CREATE INDEX certificates_by_created ON certificates (created_at, id);
)sql";

// Issue #17 (console dashboard): covering indexes for GET /v1/counts' join of certificates to
// their current version's notAfter. Same as SQLite's migration 17.
constexpr char kMigration5[] = R"sql(
CREATE INDEX certificate_versions_not_after ON certificate_versions (id, not_after);
CREATE INDEX certificates_dashboard ON certificates (account_id, status, issuer, current_version_id);
)sql";

// Issue #17 (lists that scale): the other lists' filters, in the order each list pages in.
// Same as SQLite's kMigrationListFilters (18).
constexpr char kMigration6[] = R"sql(
CREATE INDEX audit_records_by_action ON audit_records (action, seq);
CREATE INDEX exports_by_principal ON exports (principal_id, at, id);
CREATE INDEX deployments_by_state_id ON deployments (state, id);
)sql";

// Issue #17: the current version's notAfter on the certificate row, for GET /v1/counts. Same as
// SQLite's migration 19.
constexpr char kMigration7[] = R"sql(
ALTER TABLE certificates ADD COLUMN current_not_after BIGINT;
UPDATE certificates SET current_not_after =
  (SELECT not_after FROM certificate_versions v WHERE v.id = certificates.current_version_id);
CREATE INDEX certificates_expiry ON certificates (account_id, status, issuer, current_not_after);
DROP INDEX certificate_versions_not_after;
DROP INDEX certificates_dashboard;
CREATE INDEX renewal_states_failing ON renewal_states (certificate_id) WHERE failures > 0;
)sql";

}  // namespace

const std::vector<std::string_view>& Migrations() {
  static const auto* const kAll = new std::vector<std::string_view>{
      kMigration1, kMigration2, kMigration3, kMigration4, kMigration5, kMigration6, kMigration7};
  return *kAll;
}

int LatestSchemaVersion() { return static_cast<int>(Migrations().size()); }

Result<int> ReadSchemaVersion(PgConn& conn) {
  CF_ASSIGN_OR_RETURN(
      auto s,
      conn.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", "schema_migrations"));
  CF_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Internal("schema_migrations: no result");
  return static_cast<int>(s.Int(0));
}

Result<int> ApplyMigrations(PgConn& conn) {
  CF_TRY(conn.Exec("BEGIN", "schema_migrations"));
  auto apply = [&]() -> Result<int> {
    CF_TRY(conn.Exec(kMigrationLock, "schema_migrations"));
    CF_TRY(conn.Exec(kCreateMigrationsTable, "schema_migrations"));
    CF_ASSIGN_OR_RETURN(int current, ReadSchemaVersion(conn));
    if (current > LatestSchemaVersion()) {
      return FailedPrecondition("database schema version " + std::to_string(current) +
                                " is newer than this binary supports (" +
                                std::to_string(LatestSchemaVersion()) + ")");
    }
    for (int next = current + 1; next <= LatestSchemaVersion(); ++next) {
      const std::string sql(Migrations()[next - 1]);
      CF_TRY(conn.Exec(sql.c_str(), "migration " + std::to_string(next)));
      CF_ASSIGN_OR_RETURN(auto insert,
                          conn.Prepare("INSERT INTO schema_migrations (version, applied_at) "
                                       "VALUES (?1, CAST(EXTRACT(EPOCH FROM now()) AS BIGINT))",
                                       "schema_migrations"));
      CF_TRY(insert.Bind(1, next).Run());
    }
    return LatestSchemaVersion();
  };
  auto result = apply();
  if (!result.ok()) {
    (void)conn.Exec("ROLLBACK", "schema_migrations");
    return result;
  }
  CF_TRY(conn.Exec("COMMIT", "schema_migrations"));
  return result;
}

}  // namespace certfleet::store::postgres
