#include "store/sqlite/migrations.h"

#include <string>

namespace certfleet::store::sqlite {
namespace {

// Migration 1: one table per repository in store.h. Conventions:
// - STRICT tables, so a wrongly typed bind fails instead of being coerced.
// - Times are INTEGER Unix seconds; optional values are NULL; absent strings are ''.
// - Tags are a JSON object and domains a JSON array, as TEXT.
// - Sealed values (sealed_blobs.wrapped_dek, .ciphertext) are BLOBs the backend never reads.
// - Foreign keys tie owned rows to their owner. Audit-like rows (exports, serials) and
//   references to sealed blobs or CA records carry no foreign key: they must outlive or precede
//   what they name.
constexpr std::string_view kMigration1 = R"sql(
CREATE TABLE accounts (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE principals (
  id         TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  name       TEXT NOT NULL,
  kind       TEXT NOT NULL,
  role       TEXT NOT NULL,
  tags       TEXT NOT NULL DEFAULT '{}',
  disabled   INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
  created_at INTEGER NOT NULL,
  UNIQUE (account_id, name)
) STRICT;
CREATE INDEX principals_by_account ON principals (account_id, id);

CREATE TABLE tokens (
  id           TEXT PRIMARY KEY,
  principal_id TEXT NOT NULL REFERENCES principals(id),
  hash_hex     TEXT NOT NULL UNIQUE,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER,
  revoked      INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
) STRICT;
CREATE INDEX tokens_by_principal ON tokens (principal_id, id);

CREATE TABLE certificates (
  id                   TEXT PRIMARY KEY,
  account_id           TEXT NOT NULL REFERENCES accounts(id),
  name                 TEXT NOT NULL,
  domains              TEXT NOT NULL,
  key_type             TEXT NOT NULL,
  profile              TEXT NOT NULL,
  issuer               TEXT NOT NULL,
  exportable           INTEGER NOT NULL CHECK (exportable IN (0, 1)),
  tags                 TEXT NOT NULL DEFAULT '{}',
  status               TEXT NOT NULL,
  status_detail        TEXT NOT NULL DEFAULT '',
  validity_seconds     INTEGER,
  renew_before_seconds INTEGER,
  current_version_id   TEXT NOT NULL DEFAULT '',
  created_by           TEXT NOT NULL,
  created_at           INTEGER NOT NULL,
  updated_at           INTEGER NOT NULL,
  UNIQUE (account_id, name)
) STRICT;
CREATE INDEX certificates_by_account ON certificates (account_id, id);
CREATE INDEX certificates_by_status ON certificates (status, id);

-- Exportability is fixed at request time (docs/architecture.md "Data model"). The repository's
-- UPDATE never names these columns; this trigger makes that true for any future SQL as well.
CREATE TRIGGER certificates_immutable
BEFORE UPDATE OF exportable, account_id, domains, key_type, profile ON certificates
WHEN OLD.exportable IS NOT NEW.exportable OR OLD.account_id IS NOT NEW.account_id
  OR OLD.domains IS NOT NEW.domains OR OLD.key_type IS NOT NEW.key_type
  OR OLD.profile IS NOT NEW.profile
BEGIN
  SELECT RAISE(ABORT, 'certificates: immutable column changed');
END;

CREATE TABLE sealed_blobs (
  id          TEXT PRIMARY KEY,
  kek_id      TEXT NOT NULL,
  wrapped_dek BLOB NOT NULL,
  ciphertext  BLOB NOT NULL,
  purpose     TEXT NOT NULL,
  created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE certificate_versions (
  id                 TEXT PRIMARY KEY,
  certificate_id     TEXT NOT NULL REFERENCES certificates(id),
  version            INTEGER NOT NULL,
  serial_hex         TEXT NOT NULL UNIQUE,
  not_before         INTEGER NOT NULL,
  not_after          INTEGER NOT NULL,
  leaf_pem           TEXT NOT NULL,
  chain_pem          TEXT NOT NULL,
  fingerprint_sha256 TEXT NOT NULL,
  key_blob_id        TEXT NOT NULL,
  issuer_ca_id       TEXT NOT NULL DEFAULT '',
  created_at         INTEGER NOT NULL,
  UNIQUE (certificate_id, version)
) STRICT;

CREATE TABLE secrets (
  id              TEXT PRIMARY KEY,
  account_id      TEXT NOT NULL REFERENCES accounts(id),
  name            TEXT NOT NULL,
  kind            TEXT NOT NULL,
  tags            TEXT NOT NULL DEFAULT '{}',
  current_version INTEGER NOT NULL DEFAULT 0,
  description     TEXT NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  UNIQUE (account_id, name)
) STRICT;
CREATE INDEX secrets_by_account ON secrets (account_id, id);

CREATE TABLE secret_versions (
  secret_id  TEXT NOT NULL REFERENCES secrets(id),
  version    INTEGER NOT NULL,
  blob_id    TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (secret_id, version)
) STRICT;

CREATE TABLE exports (
  id             TEXT PRIMARY KEY,
  account_id     TEXT NOT NULL,
  certificate_id TEXT NOT NULL,
  version_id     TEXT NOT NULL DEFAULT '',
  principal_id   TEXT NOT NULL,
  allowed        INTEGER NOT NULL CHECK (allowed IN (0, 1)),
  reason         TEXT NOT NULL DEFAULT '',
  fqdn_count     INTEGER NOT NULL DEFAULT 0,
  wildcard_count INTEGER NOT NULL DEFAULT 0,
  secret_id      TEXT NOT NULL DEFAULT '',
  at             INTEGER NOT NULL
) STRICT;
CREATE INDEX exports_by_time ON exports (at, id);
CREATE INDEX exports_by_account ON exports (account_id, at, id);
CREATE INDEX exports_by_certificate ON exports (certificate_id, at, id);

CREATE TABLE ca_records (
  id          TEXT PRIMARY KEY,
  role        TEXT NOT NULL,
  cert_pem    TEXT NOT NULL,
  key_blob_id TEXT NOT NULL,
  parent_id   TEXT NOT NULL DEFAULT '',
  active      INTEGER NOT NULL CHECK (active IN (0, 1)),
  created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX ca_records_active ON ca_records (role, active, created_at, id);

CREATE TABLE serials (
  serial_hex  TEXT PRIMARY KEY,
  ca_id       TEXT NOT NULL,
  reserved_at INTEGER NOT NULL
) STRICT;

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
)sql";

// Migration 2: grants, policy documents and the audit log (store.h GrantRepo, PolicyRepo,
// AuditRepo). Additive only: new tables and indexes, nothing in migration 1 changes.
// - At most one active grant per (from, to) pair, enforced by a partial unique index so that a
//   revoked grant stays on record and the pair can be granted again.
// - audit_records.seq is the rowid (INTEGER PRIMARY KEY), so "ORDER BY seq" and "seq > ?" are
//   rowid scans, and an index on one column is in effect (column, seq). The table has no
//   foreign key (records outlive, and may name, accounts and principals that do not exist, e.g.
//   failed authentication) and deliberately no trigger forbidding UPDATE or DELETE: tamper
//   evidence comes from the hash chain (src/audit), and its tests edit rows with raw SQL to prove
//   that. A trigger would only stop honest SQL, not someone who can write the file. For the same
//   reason seq has no CHECK: the tests swap records through a negative seq.
constexpr std::string_view kMigration2 = R"sql(
CREATE TABLE grants (
  id              TEXT PRIMARY KEY,
  from_account_id TEXT NOT NULL REFERENCES accounts(id),
  to_account_id   TEXT NOT NULL REFERENCES accounts(id),
  created_by      TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  revoked         INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
  revoked_at      INTEGER
) STRICT;
CREATE UNIQUE INDEX grants_active_pair ON grants (from_account_id, to_account_id)
  WHERE revoked = 0;
CREATE INDEX grants_by_from ON grants (from_account_id, id);
CREATE INDEX grants_by_to ON grants (to_account_id, id);

CREATE TABLE policies (
  account_id TEXT PRIMARY KEY REFERENCES accounts(id),
  toml       TEXT NOT NULL,
  version    INTEGER NOT NULL,
  updated_by TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE audit_records (
  seq          INTEGER PRIMARY KEY,
  id           TEXT NOT NULL UNIQUE,
  at           INTEGER NOT NULL,
  account_id   TEXT NOT NULL DEFAULT '',
  principal_id TEXT NOT NULL DEFAULT '',
  action       TEXT NOT NULL,
  resource     TEXT NOT NULL DEFAULT '',
  outcome      TEXT NOT NULL,
  status       INTEGER NOT NULL DEFAULT 0,
  source       TEXT NOT NULL DEFAULT '',
  detail       TEXT NOT NULL DEFAULT '',
  prev_hash    TEXT NOT NULL,
  hash         TEXT NOT NULL
) STRICT;
CREATE INDEX audit_records_by_account ON audit_records (account_id);
CREATE INDEX audit_records_by_principal ON audit_records (principal_id);
CREATE INDEX audit_records_by_resource ON audit_records (resource);
CREATE INDEX audit_records_by_time ON audit_records (at);
)sql";

// Migration 3: durable jobs (store.h JobRepo). Additive only.
// - No foreign key on account_id: system jobs (the scheduler's) have none, and a job's record
//   should outlive what it worked on.
// - Idempotency keys are unique per type when set; '' means none, hence the partial index.
// - jobs_due serves Claim(): it scans state = 'pending' by run_after, and state = 'running'
//   (few rows) for expired leases.
constexpr std::string_view kMigration3 = R"sql(
CREATE TABLE jobs (
  id               TEXT PRIMARY KEY,
  account_id       TEXT NOT NULL DEFAULT '',
  type             TEXT NOT NULL,
  step             TEXT NOT NULL DEFAULT '',
  state            TEXT NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0,
  max_attempts     INTEGER NOT NULL,
  input_json       TEXT NOT NULL DEFAULT '{}',
  output_json      TEXT NOT NULL DEFAULT '{}',
  last_error       TEXT NOT NULL DEFAULT '',
  idempotency_key  TEXT NOT NULL DEFAULT '',
  lease_owner      TEXT NOT NULL DEFAULT '',
  lease_expires_at INTEGER,
  run_after        INTEGER NOT NULL,
  deadline         INTEGER,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX jobs_idempotency ON jobs (type, idempotency_key) WHERE idempotency_key != '';
CREATE INDEX jobs_due ON jobs (state, run_after);
CREATE INDEX jobs_by_account ON jobs (account_id, id);
)sql";

// Migration 4: agents, enrollment tokens, deployments and their targets (store.h AgentRepo,
// EnrollmentTokenRepo, DeploymentRepo, DeploymentTargetRepo; docs/agents.md). Additive only.
// - Foreign keys are exactly the owners store.h names: agent -> account and principal,
//   enrollment token -> account, deployment -> certificate and both accounts, target ->
//   deployment and agent. agents.enrollment_token_id and enrollment_tokens.used_by_agent_id
//   name each other and are written in either order during enrollment, so neither has one;
//   nor do the references to versions, blobs, secrets and jobs (as in migration 1).
//   deployment_targets.account_id copies the agent's account and is tied to it through agent_id.
// - agents.cert_serial_hex is UNIQUE: the client certificate's serial identifies the agent
//   (docs/agents.md "Everything else: mutual TLS"). The previous serial is looked up too, until
//   that certificate expires, hence agents_by_prev_serial; it is '' for an agent that never
//   renewed, which is why the repository never looks up ''.
// - enrollment_tokens.used_at is NULL until the single conditional UPDATE in MarkUsed sets it:
//   the row itself is the one-time lock.
// - deployment_targets: one row per (deployment, agent), whose UNIQUE index also serves the
//   by-deployment lookups; deployment_targets_by_agent serves an agent's long poll (pending
//   targets by seq) and its other lookups by agent.
// - Tags and selectors are JSON objects, paths a JSON array, as TEXT (codec.h).
constexpr std::string_view kMigration4 = R"sql(
CREATE TABLE enrollment_tokens (
  id               TEXT PRIMARY KEY,
  account_id       TEXT NOT NULL REFERENCES accounts(id),
  hash_hex         TEXT NOT NULL UNIQUE,
  tags             TEXT NOT NULL DEFAULT '{}',
  created_by       TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  expires_at       INTEGER NOT NULL,
  used_at          INTEGER,
  used_by_agent_id TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX enrollment_tokens_by_account ON enrollment_tokens (account_id, id);

CREATE TABLE agents (
  id                   TEXT PRIMARY KEY,
  account_id           TEXT NOT NULL REFERENCES accounts(id),
  principal_id         TEXT NOT NULL REFERENCES principals(id),
  hostname             TEXT NOT NULL DEFAULT '',
  tags                 TEXT NOT NULL DEFAULT '{}',
  cert_serial_hex      TEXT NOT NULL UNIQUE,
  prev_cert_serial_hex TEXT NOT NULL DEFAULT '',
  cert_not_after       INTEGER NOT NULL,
  enrollment_token_id  TEXT NOT NULL DEFAULT '',
  last_seq             INTEGER NOT NULL DEFAULT 0,
  status               TEXT NOT NULL,
  last_seen_at         INTEGER,
  created_at           INTEGER NOT NULL,
  updated_at           INTEGER NOT NULL
) STRICT;
CREATE INDEX agents_by_account ON agents (account_id, id);
CREATE INDEX agents_by_prev_serial ON agents (prev_cert_serial_hex);

CREATE TABLE deployments (
  id                TEXT PRIMARY KEY,
  account_id        TEXT NOT NULL REFERENCES accounts(id),
  certificate_id    TEXT NOT NULL REFERENCES certificates(id),
  target_account_id TEXT NOT NULL REFERENCES accounts(id),
  selector          TEXT NOT NULL DEFAULT '{}',
  profile           TEXT NOT NULL,
  state             TEXT NOT NULL,
  state_detail      TEXT NOT NULL DEFAULT '',
  generation        INTEGER NOT NULL,
  version_id        TEXT NOT NULL DEFAULT '',
  key_blob_id       TEXT NOT NULL DEFAULT '',
  secret_id         TEXT NOT NULL DEFAULT '',
  secret_version    INTEGER NOT NULL DEFAULT 0,
  job_id            TEXT NOT NULL DEFAULT '',
  deadline          INTEGER,
  created_by        TEXT NOT NULL,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX deployments_by_account ON deployments (account_id, id);
CREATE INDEX deployments_by_target_account ON deployments (target_account_id, id);
CREATE INDEX deployments_by_certificate ON deployments (certificate_id, id);

CREATE TABLE deployment_targets (
  id            TEXT PRIMARY KEY,
  deployment_id TEXT NOT NULL REFERENCES deployments(id),
  agent_id      TEXT NOT NULL REFERENCES agents(id),
  account_id    TEXT NOT NULL,
  generation    INTEGER NOT NULL,
  version_id    TEXT NOT NULL DEFAULT '',
  seq           INTEGER NOT NULL DEFAULT 0,
  state         TEXT NOT NULL,
  reason        TEXT NOT NULL DEFAULT '',
  paths         TEXT NOT NULL DEFAULT '[]',
  delivered_at  INTEGER,
  installed_at  INTEGER,
  verified_at   INTEGER,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  UNIQUE (deployment_id, agent_id)
) STRICT;
CREATE INDEX deployment_targets_by_agent ON deployment_targets (agent_id, state, seq);
)sql";

// Migration 5 (issue #5): the transactional outbox, webhook subscriptions and their delivery
// log (docs/events.md). `seq` is AUTOINCREMENT so that a seq is never reused, even after the
// newest event is deleted by hand: the dispatcher's cursor (a setting) relies on it.
constexpr std::string_view kMigration5 = R"sql(
CREATE TABLE events (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  id         TEXT NOT NULL UNIQUE,
  account_id TEXT NOT NULL,
  type       TEXT NOT NULL,
  subject    TEXT NOT NULL,
  data       TEXT NOT NULL,
  tags       TEXT NOT NULL DEFAULT '{}',
  time       INTEGER NOT NULL
) STRICT;

CREATE TABLE webhooks (
  id                    TEXT PRIMARY KEY,
  account_id            TEXT NOT NULL REFERENCES accounts(id),
  url                   TEXT NOT NULL,
  types                 TEXT NOT NULL DEFAULT '[]',
  tags                  TEXT NOT NULL DEFAULT '{}',
  secret_blob_id        TEXT NOT NULL,
  allow_private_address INTEGER NOT NULL,
  active                INTEGER NOT NULL,
  created_by            TEXT NOT NULL,
  created_at            INTEGER NOT NULL,
  updated_at            INTEGER NOT NULL
) STRICT;
CREATE INDEX webhooks_by_account ON webhooks (account_id, id);

CREATE TABLE webhook_deliveries (
  id              TEXT PRIMARY KEY,
  subscription_id TEXT NOT NULL REFERENCES webhooks(id),
  event_id        TEXT NOT NULL REFERENCES events(id),
  attempt         INTEGER NOT NULL,
  status          TEXT NOT NULL,
  http_status     INTEGER NOT NULL DEFAULT 0,
  error           TEXT NOT NULL DEFAULT '',
  next_attempt_at INTEGER,
  delivered_at    INTEGER,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  UNIQUE (subscription_id, event_id)
) STRICT;
CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (subscription_id, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
)sql";

// Migration 6 (issue #5): renewal bookkeeping, named leases (the renewal scheduler's leader
// lock) and revocations for the internal CA's CRL. Revocations carry no foreign key: like
// serials they must outlive what they name.
constexpr std::string_view kMigration6 = R"sql(
CREATE TABLE renewal_states (
  certificate_id  TEXT PRIMARY KEY REFERENCES certificates(id),
  version_id      TEXT NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  failures        INTEGER NOT NULL DEFAULT 0,
  last_error      TEXT NOT NULL DEFAULT '',
  job_id          TEXT NOT NULL DEFAULT '',
  updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX renewal_states_due ON renewal_states (next_attempt_at, certificate_id);

CREATE TABLE leases (
  name       TEXT PRIMARY KEY,
  owner      TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;

CREATE TABLE revocations (
  serial_hex     TEXT PRIMARY KEY,
  ca_id          TEXT NOT NULL DEFAULT '',
  certificate_id TEXT NOT NULL,
  version_id     TEXT NOT NULL,
  reason         INTEGER NOT NULL,
  revoked_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX revocations_by_ca ON revocations (ca_id, serial_hex);
CREATE INDEX revocations_by_certificate ON revocations (certificate_id, serial_hex);
)sql";

// Migration 7 (issue #5): notices the expiry and agent watchers gave, and the indexes /metrics
// and the watchers count and scan with.
constexpr std::string_view kMigration7 = R"sql(
CREATE TABLE notices (
  kind       TEXT NOT NULL,
  subject_id TEXT NOT NULL,
  marker     TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (kind, subject_id)
) STRICT;
CREATE INDEX events_by_type ON events (type);
CREATE INDEX deployments_by_state ON deployments (state);
CREATE INDEX deployment_targets_by_state ON deployment_targets (state);
)sql";

// Migration 8 (issue #6): ACME issuers and solvers per account, and the ACME order of each
// certificate version being issued (resumable after a crash; ARI window).
constexpr std::string_view kMigration8 = R"sql(
CREATE TABLE acme_configs (
  id              TEXT PRIMARY KEY,
  account_id      TEXT NOT NULL REFERENCES accounts(id),
  kind            TEXT NOT NULL CHECK (kind IN ('issuer', 'solver')),
  name            TEXT NOT NULL,
  type            TEXT NOT NULL,
  config_json     TEXT NOT NULL,
  secret_blob_id  TEXT REFERENCES sealed_blobs(id),
  secret2_blob_id TEXT REFERENCES sealed_blobs(id),
  created_by      TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  UNIQUE (account_id, kind, name)
) STRICT;
CREATE TABLE acme_orders (
  order_key      TEXT PRIMARY KEY,
  certificate_id TEXT NOT NULL REFERENCES certificates(id),
  order_url      TEXT NOT NULL,
  ari_start      INTEGER,
  ari_end        INTEGER,
  updated_at     INTEGER NOT NULL
) STRICT;
)sql";

// Migration 9 (issue #6): http-01 challenges handed to agents through the long poll.
constexpr std::string_view kMigration9 = R"sql(
CREATE TABLE agent_challenges (
  agent_id          TEXT NOT NULL REFERENCES agents(id),
  token             TEXT NOT NULL,
  account_id        TEXT NOT NULL REFERENCES accounts(id),
  key_authorization TEXT NOT NULL,
  state             TEXT NOT NULL CHECK (state IN ('present', 'presented', 'failed', 'remove')),
  reason            TEXT NOT NULL,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  PRIMARY KEY (agent_id, token)
) STRICT;
CREATE INDEX agent_challenges_by_token ON agent_challenges (account_id, token);
)sql";

// Agent certificates (issue #13, revocation): every client certificate issued to an agent, so
// that each unexpired one of an active agent is accepted (a renewal whose response was lost does
// not lock the agent out). Existing agents' current certificates are copied in. Enrollment
// tokens gain a revocation time and the public key that used them (lost-response retries).
constexpr std::string_view kMigrationAgentCertificates = R"sql(
CREATE TABLE agent_certificates (
  serial_hex TEXT PRIMARY KEY,
  agent_id   TEXT NOT NULL REFERENCES agents(id),
  not_after  INTEGER NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX agent_certificates_by_agent ON agent_certificates (agent_id, not_after);
INSERT INTO agent_certificates (serial_hex, agent_id, not_after, created_at)
  SELECT cert_serial_hex, id, cert_not_after, updated_at FROM agents;
ALTER TABLE enrollment_tokens ADD COLUMN revoked_at INTEGER;
ALTER TABLE enrollment_tokens ADD COLUMN used_key_sha256 TEXT NOT NULL DEFAULT '';
)sql";

// Domain claims (issue #13): which names each account may hold, assigned by a system admin; and
// the identifier of each http-01 challenge handed to an agent, so that the agent answers the
// token only for that Host.
constexpr const char* kMigrationDomainClaims = R"sql(
CREATE TABLE domain_claims (
  id                 TEXT PRIMARY KEY,
  account_id         TEXT NOT NULL REFERENCES accounts(id),
  domain             TEXT NOT NULL,
  include_subdomains INTEGER NOT NULL CHECK (include_subdomains IN (0, 1)),
  shared             INTEGER NOT NULL CHECK (shared IN (0, 1)),
  created_by         TEXT NOT NULL,
  created_at         INTEGER NOT NULL,
  UNIQUE (account_id, domain)
) STRICT;
CREATE INDEX domain_claims_by_domain ON domain_claims (domain);
ALTER TABLE agent_challenges ADD COLUMN identifier TEXT NOT NULL DEFAULT '';
)sql";

constexpr const char* kCreateMigrationsTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INTEGER PRIMARY KEY,
  applied_at INTEGER NOT NULL
) STRICT;
)sql";

// Migration (issue #13, audit you can trust): keyed, per-account audit chains. Additive: rows
// written before keep the default scheme 'sha256' (the unkeyed global chain) and prev_seq 0;
// keyed rows link to the previous record of the same account (audit_records_by_account is in
// effect (account_id, seq), which serves the per-account walk).
constexpr std::string_view kMigrationAuditKeyed = R"sql(
ALTER TABLE audit_records ADD COLUMN scheme TEXT NOT NULL DEFAULT 'sha256';
ALTER TABLE audit_records ADD COLUMN prev_seq INTEGER NOT NULL DEFAULT 0;
)sql";

// Migration (issue #14, the renewal sweep at a million): the set of certificates that need
// renewal planning, kept exact by triggers in the transaction of every change, so the scheduler's
// planning query is a range scan over this (usually empty) set instead of a scan over every
// certificate. A certificate needs planning when it is issued, has a current version and has no
// renewal state for that version. A certificate that leaves the issued status also loses its
// renewal state here, so the due range (renewal_states_due) never fills with states that can no
// longer be due.
constexpr std::string_view kMigrationRenewalDue = R"sql(
CREATE TABLE renewal_unplanned (
  certificate_id TEXT PRIMARY KEY
) STRICT, WITHOUT ROWID;

DELETE FROM renewal_states
 WHERE certificate_id IN (SELECT id FROM certificates WHERE status != 'issued');
INSERT INTO renewal_unplanned (certificate_id)
  SELECT c.id FROM certificates c
   WHERE c.status = 'issued' AND c.current_version_id != ''
     AND NOT EXISTS (SELECT 1 FROM renewal_states r
                      WHERE r.certificate_id = c.id AND r.version_id = c.current_version_id);

CREATE TRIGGER renewal_unplanned_certificate_inserted AFTER INSERT ON certificates
WHEN NEW.status = 'issued' AND NEW.current_version_id != ''
BEGIN
  INSERT OR IGNORE INTO renewal_unplanned (certificate_id)
    SELECT NEW.id WHERE NOT EXISTS (SELECT 1 FROM renewal_states r
                                     WHERE r.certificate_id = NEW.id
                                       AND r.version_id = NEW.current_version_id);
END;

CREATE TRIGGER renewal_unplanned_certificate_updated
AFTER UPDATE OF status, current_version_id ON certificates
WHEN OLD.status IS NOT NEW.status OR OLD.current_version_id IS NOT NEW.current_version_id
BEGIN
  DELETE FROM renewal_states WHERE certificate_id = NEW.id AND NEW.status != 'issued';
  DELETE FROM renewal_unplanned WHERE certificate_id = NEW.id;
  INSERT OR IGNORE INTO renewal_unplanned (certificate_id)
    SELECT NEW.id WHERE NEW.status = 'issued' AND NEW.current_version_id != ''
       AND NOT EXISTS (SELECT 1 FROM renewal_states r
                        WHERE r.certificate_id = NEW.id
                          AND r.version_id = NEW.current_version_id);
END;

CREATE TRIGGER renewal_unplanned_state_inserted AFTER INSERT ON renewal_states
BEGIN
  DELETE FROM renewal_unplanned WHERE certificate_id = NEW.certificate_id;
  INSERT OR IGNORE INTO renewal_unplanned (certificate_id)
    SELECT c.id FROM certificates c
     WHERE c.id = NEW.certificate_id AND c.status = 'issued' AND c.current_version_id != ''
       AND c.current_version_id != NEW.version_id;
END;

CREATE TRIGGER renewal_unplanned_state_updated AFTER UPDATE OF version_id ON renewal_states
WHEN OLD.version_id IS NOT NEW.version_id
BEGIN
  DELETE FROM renewal_unplanned WHERE certificate_id = NEW.certificate_id;
  INSERT OR IGNORE INTO renewal_unplanned (certificate_id)
    SELECT c.id FROM certificates c
     WHERE c.id = NEW.certificate_id AND c.status = 'issued' AND c.current_version_id != ''
       AND c.current_version_id != NEW.version_id;
END;

CREATE TRIGGER renewal_unplanned_state_deleted AFTER DELETE ON renewal_states
BEGIN
  INSERT OR IGNORE INTO renewal_unplanned (certificate_id)
    SELECT c.id FROM certificates c
     WHERE c.id = OLD.certificate_id AND c.status = 'issued' AND c.current_version_id != '';
END;
)sql";

// Issue #15: the built-in http-01 listener's tokens, shared by replicas.
constexpr std::string_view kMigrationHttp01Tokens = R"sql(
CREATE TABLE http01_tokens (
  identifier        TEXT NOT NULL,
  token             TEXT NOT NULL,
  owner             TEXT NOT NULL,
  key_authorization TEXT NOT NULL,
  created_at        INTEGER NOT NULL,
  PRIMARY KEY (identifier, token)
) STRICT;
CREATE INDEX http01_tokens_by_age ON http01_tokens (created_at);
)sql";

// Issue #16: certfleet's own ACME server (store/acme_server.h): external account binding keys,
// ACME accounts, orders, authorizations and challenges.
// - Foreign keys tie each row to its owner: EAB keys and ACME accounts to their certfleet
//   account, orders to their ACME account, authorizations to their order, challenges to their
//   authorization. The account_id (and acme_account_id) a child row copies from its owner is
//   tied to it through that owner and has no foreign key of its own (as deployment_targets).
//   EAB key <-> ACME account (bound_to, eab_kid), the HMAC key's sealed blob and the issued
//   certificate and version are references, unchecked: the key may be deleted after binding.
// - jwk_thumbprint is UNIQUE: one ACME account per key, on insert and on key rollover.
// - Statuses and types are free text (no CHECK): a value added later needs no table rebuild.
//   Identifiers are a JSON array of {"type","value"} objects, contact a JSON array of strings,
//   tags a JSON object, as TEXT (codec.h); an authorization's one identifier is two columns.
// - The indexes serve the repository's lookups and its rate-limit counts: orders by ACME account
//   (keyset pages) and by account and creation time, pending authorizations by account and
//   expiry (partial), authorizations by order, challenges by authorization and by account,
//   status and time.
constexpr std::string_view kMigrationAcmeServer = R"sql(
CREATE TABLE acme_srv_eab_keys (
  kid          TEXT PRIMARY KEY,
  account_id   TEXT NOT NULL REFERENCES accounts(id),
  principal_id TEXT NOT NULL,
  hmac_blob_id TEXT NOT NULL,
  tags         TEXT NOT NULL DEFAULT '{}',
  created_by   TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER,
  bound_to     TEXT NOT NULL DEFAULT '',
  bound_at     INTEGER
) STRICT;
CREATE INDEX acme_srv_eab_keys_by_account ON acme_srv_eab_keys (account_id, kid);

CREATE TABLE acme_srv_accounts (
  id             TEXT PRIMARY KEY,
  account_id     TEXT NOT NULL REFERENCES accounts(id),
  principal_id   TEXT NOT NULL,
  eab_kid        TEXT NOT NULL DEFAULT '',
  jwk_thumbprint TEXT NOT NULL UNIQUE,
  jwk            TEXT NOT NULL,
  status         TEXT NOT NULL,
  contact        TEXT NOT NULL DEFAULT '[]',
  tags           TEXT NOT NULL DEFAULT '{}',
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE acme_srv_orders (
  id              TEXT PRIMARY KEY,
  acme_account_id TEXT NOT NULL REFERENCES acme_srv_accounts(id),
  account_id      TEXT NOT NULL,
  status          TEXT NOT NULL,
  identifiers     TEXT NOT NULL DEFAULT '[]',
  profile         TEXT NOT NULL,
  replaces        TEXT NOT NULL DEFAULT '',
  expires_at      INTEGER NOT NULL,
  error_json      TEXT NOT NULL DEFAULT '',
  certificate_id  TEXT NOT NULL DEFAULT '',
  version_id      TEXT NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX acme_srv_orders_by_acme_account ON acme_srv_orders (acme_account_id, id);
CREATE INDEX acme_srv_orders_by_account ON acme_srv_orders (account_id, created_at);

CREATE TABLE acme_srv_authzs (
  id               TEXT PRIMARY KEY,
  order_id         TEXT NOT NULL REFERENCES acme_srv_orders(id),
  acme_account_id  TEXT NOT NULL,
  account_id       TEXT NOT NULL,
  identifier_type  TEXT NOT NULL,
  identifier_value TEXT NOT NULL,
  wildcard         INTEGER NOT NULL CHECK (wildcard IN (0, 1)),
  status           TEXT NOT NULL,
  expires_at       INTEGER NOT NULL,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX acme_srv_authzs_by_order ON acme_srv_authzs (order_id, id);
CREATE INDEX acme_srv_authzs_pending ON acme_srv_authzs (account_id, expires_at)
  WHERE status = 'pending';

CREATE TABLE acme_srv_challenges (
  id           TEXT PRIMARY KEY,
  authz_id     TEXT NOT NULL REFERENCES acme_srv_authzs(id),
  account_id   TEXT NOT NULL,
  type         TEXT NOT NULL,
  token        TEXT NOT NULL,
  status       TEXT NOT NULL,
  validated_at INTEGER,
  error_json   TEXT NOT NULL DEFAULT '',
  updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX acme_srv_challenges_by_authz ON acme_srv_challenges (authz_id, id);
CREATE INDEX acme_srv_challenges_by_status ON acme_srv_challenges (account_id, status, updated_at);
)sql";

// Migration (issue #17, lists that scale): GET /v1/certificates pages in (created_at, id) order,
// within an account or (system principals) across all of them.
constexpr std::string_view kMigrationCertificateListing = R"sql(
CREATE INDEX certificates_by_account_created ON certificates (account_id, created_at, id);
CREATE INDEX certificates_by_created ON certificates (created_at, id);
)sql";

// Issue #17 (console dashboard): GET /v1/counts groups every certificate by its current
// version's notAfter. Covering indexes keep that join to index pages: without them each
// certificate reads its version's row (leaf and chain PEM, one page each), about 3 s at
// 100,000 certificates (docs/PERFORMANCE.md). Same as PostgreSQL's migration 5.
constexpr std::string_view kMigrationDashboardCounts = R"sql(
CREATE INDEX certificate_versions_not_after ON certificate_versions (id, not_after);
CREATE INDEX certificates_dashboard ON certificates (account_id, status, issuer, current_version_id);
)sql";

// Migration (issue #17, lists that scale): the other lists' filters. audit_records' seq is the
// rowid, so (action) is (action, seq), the order GET /v1/audit pages in.
constexpr std::string_view kMigrationListFilters = R"sql(
CREATE INDEX audit_records_by_action ON audit_records (action);
CREATE INDEX exports_by_principal ON exports (principal_id, at, id);
CREATE INDEX deployments_by_state_id ON deployments (state, id);
)sql";

// Migration 19 (issue #17): the current version's notAfter kept on the certificate row (set with
// current_version_id by the certificate and version statements), so GET /v1/counts groups one
// covering index instead of joining 100,000 version rows. Same as PostgreSQL's migration 7.
constexpr std::string_view kMigrationCurrentNotAfter = R"sql(
ALTER TABLE certificates ADD COLUMN current_not_after INTEGER;
UPDATE certificates SET current_not_after =
  (SELECT not_after FROM certificate_versions v WHERE v.id = certificates.current_version_id);
CREATE INDEX certificates_expiry ON certificates (account_id, status, issuer, current_not_after);
DROP INDEX certificate_versions_not_after;
DROP INDEX certificates_dashboard;
CREATE INDEX renewal_states_failing ON renewal_states (certificate_id) WHERE failures > 0;
)sql";

// One step: under BEGIN IMMEDIATE, re-read the version (another process may have migrated
// meanwhile) and apply the next migration if one is pending. Returns the version afterwards and
// whether anything was applied.
Result<std::pair<int, bool>> Step(Db& db) {
  CF_TRY(db.Exec("BEGIN IMMEDIATE", "schema_migrations"));
  auto step = [&]() -> Result<std::pair<int, bool>> {
    CF_ASSIGN_OR_RETURN(int current, ReadSchemaVersion(db));
    if (current > LatestSchemaVersion()) {
      return FailedPrecondition("database schema version " + std::to_string(current) +
                                " is newer than this binary supports (" +
                                std::to_string(LatestSchemaVersion()) + ")");
    }
    if (current == LatestSchemaVersion()) return std::pair{current, false};
    const int next = current + 1;
    const std::string sql(Migrations()[next - 1]);
    CF_TRY(db.Exec(sql.c_str(), "migration " + std::to_string(next)));
    CF_ASSIGN_OR_RETURN(auto insert,
                        db.Prepare("INSERT INTO schema_migrations (version, applied_at) "
                                   "VALUES (?1, CAST(strftime('%s', 'now') AS INTEGER))",
                                   "schema_migrations"));
    CF_TRY(insert.Bind(1, next).Run());
    return std::pair{next, true};
  };
  auto result = step();
  if (!result.ok()) {
    (void)db.Exec("ROLLBACK", "schema_migrations");
    return result;
  }
  CF_TRY(db.Exec("COMMIT", "schema_migrations"));
  return result;
}

}  // namespace

const std::vector<std::string_view>& Migrations() {
  static const auto* const kAll = new std::vector<std::string_view>{kMigration1,
                                                                    kMigration2,
                                                                    kMigration3,
                                                                    kMigration4,
                                                                    kMigration5,
                                                                    kMigration6,
                                                                    kMigration7,
                                                                    kMigration8,
                                                                    kMigration9,
                                                                    kMigrationAgentCertificates,
                                                                    kMigrationDomainClaims,
                                                                    kMigrationAuditKeyed,
                                                                    kMigrationRenewalDue,
                                                                    kMigrationHttp01Tokens,
                                                                    kMigrationAcmeServer,
                                                                    kMigrationCertificateListing,
                                                                    kMigrationDashboardCounts,
                                                                    kMigrationListFilters,
                                                                    kMigrationCurrentNotAfter};
  return *kAll;
}

int LatestSchemaVersion() { return static_cast<int>(Migrations().size()); }

Result<int> ReadSchemaVersion(Db& db) {
  CF_ASSIGN_OR_RETURN(auto s, db.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                                         "schema_migrations"));
  CF_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return Internal("schema_migrations: no result");
  return static_cast<int>(s.Int(0));
}

Result<int> ApplyMigrations(Db& db) {
  CF_TRY(db.Exec(kCreateMigrationsTable, "schema_migrations"));
  while (true) {
    CF_ASSIGN_OR_RETURN(auto step, Step(db));
    if (!step.second) return step.first;
  }
}

}  // namespace certfleet::store::sqlite
