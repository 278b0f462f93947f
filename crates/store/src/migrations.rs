//! Schema migrations, applied in order on start. Written in the SQL both backends understand;
//! `{pk}` becomes the backend's auto-increment primary key. A migration is never edited once
//! released: a change is a new migration at the end.

use crate::{Store, StoreError};

pub const MIGRATIONS: &[&str] = &[
    // 1: reference data, users, filings with their rows, quarantine, factor sets, snapshots, audit.
    r#"
CREATE TABLE orgs (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    parent_code TEXT,
    path TEXT NOT NULL,
    depth BIGINT NOT NULL,
    equity_share TEXT NOT NULL,
    operational_control TEXT NOT NULL
);
CREATE TABLE facilities (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    org_code TEXT NOT NULL REFERENCES orgs(code),
    province TEXT NOT NULL,
    allocation_share TEXT NOT NULL,
    shared_with TEXT NOT NULL
);
CREATE INDEX facilities_org ON facilities(org_code);
CREATE TABLE users (
    id {pk},
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    org_code TEXT NOT NULL REFERENCES orgs(code),
    created_at TEXT NOT NULL
);
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE filings (
    id {pk},
    org_code TEXT NOT NULL REFERENCES orgs(code),
    period TEXT NOT NULL,
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    supersedes BIGINT REFERENCES filings(id),
    reason TEXT NOT NULL,
    comment TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (org_code, period, version)
);
CREATE INDEX filings_period ON filings(period);
CREATE TABLE uploads (
    id {pk},
    filing_id BIGINT NOT NULL REFERENCES filings(id),
    sha256 TEXT NOT NULL,
    file_name TEXT NOT NULL,
    rows_read BIGINT NOT NULL,
    accepted BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (filing_id, sha256)
);
CREATE TABLE activity (
    id {pk},
    filing_id BIGINT NOT NULL REFERENCES filings(id),
    facility_code TEXT NOT NULL,
    period TEXT NOT NULL,
    carrier TEXT NOT NULL,
    quantity TEXT NOT NULL,
    unit TEXT NOT NULL,
    source_document TEXT NOT NULL,
    evidence_ref TEXT NOT NULL,
    upload_id BIGINT NOT NULL,
    line BIGINT NOT NULL,
    UNIQUE (filing_id, facility_code, period, carrier, source_document)
);
CREATE INDEX activity_facility_period ON activity(facility_code, period);
CREATE TABLE quarantine (
    id {pk},
    filing_id BIGINT NOT NULL REFERENCES filings(id),
    upload_id BIGINT NOT NULL,
    line BIGINT NOT NULL,
    facility_code TEXT NOT NULL,
    period TEXT NOT NULL,
    carrier TEXT NOT NULL,
    quantity TEXT NOT NULL,
    unit TEXT NOT NULL,
    source_document TEXT NOT NULL,
    evidence_ref TEXT NOT NULL,
    reasons TEXT NOT NULL
);
CREATE INDEX quarantine_filing ON quarantine(filing_id);
CREATE TABLE factor_sets (
    id {pk},
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    toml TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (name, version)
);
CREATE TABLE snapshots (
    id {pk},
    org_code TEXT NOT NULL REFERENCES orgs(code),
    year BIGINT NOT NULL,
    version BIGINT NOT NULL,
    supersedes BIGINT REFERENCES snapshots(id),
    reason TEXT NOT NULL,
    options TEXT NOT NULL,
    filings TEXT NOT NULL,
    factor_sets TEXT NOT NULL,
    library_version TEXT NOT NULL,
    library_fingerprint TEXT NOT NULL,
    result TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE audit (
    seq BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    org_code TEXT NOT NULL,
    before_json TEXT NOT NULL,
    after_json TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE audit_head (id BIGINT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
"#,
    // 2: rows of a draft that a later upload replaced (same key), kept with the replacing upload,
    // so that no filed value disappears even before approval.
    r#"
CREATE TABLE activity_replaced (
    id {pk},
    filing_id BIGINT NOT NULL REFERENCES filings(id),
    replaced_by_upload BIGINT NOT NULL,
    facility_code TEXT NOT NULL,
    period TEXT NOT NULL,
    carrier TEXT NOT NULL,
    quantity TEXT NOT NULL,
    unit TEXT NOT NULL,
    source_document TEXT NOT NULL,
    evidence_ref TEXT NOT NULL,
    upload_id BIGINT NOT NULL,
    line BIGINT NOT NULL
);
CREATE INDEX activity_replaced_filing ON activity_replaced(filing_id);
"#,
    // 3: disabled users (their tokens are refused and their login too), login throttling kept in
    // the database so that a lockout holds across restarts and instances, and tokens by user (a
    // password change or a disable revokes every token of the user).
    r#"
ALTER TABLE users ADD COLUMN disabled_at TEXT;
CREATE TABLE login_throttle (
    throttle_key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT NOT NULL
);
CREATE INDEX tokens_user ON tokens(user_id);
"#,
    // 4: the audit log keyed with a secret kept outside the database: each entry's HMAC, and the
    // id of the key in the head (empty until the log is keyed; see store::audit).
    r#"
ALTER TABLE audit ADD COLUMN mac TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_head ADD COLUMN key_id TEXT NOT NULL DEFAULT '';
"#,
    // 5: platform data that lived in files of the data directory (targets, indicator data, alert
    // rules, meters, alert state) as documents in the database, each change with its audit entry
    // in the same transaction (see store::documents); the console's kept monthly aggregates of a
    // snapshot, keyed by the snapshot's identity.
    r#"
CREATE TABLE platform_documents (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE snapshot_aggregates (
    snapshot_id BIGINT PRIMARY KEY,
    agg_key TEXT NOT NULL,
    body TEXT NOT NULL
);
"#,
    // 6: a snapshot keeps its figures by org × facility type × month (each org's own facilities;
    // the 26 figures of accounting's cells as exact integers), written with the snapshot, so the
    // console, trends and reports read them instead of recomputing the inventory. A snapshot
    // stored before has them once a recomputation reproduced its stored result (`cell_sets` says
    // which snapshots have them, and how many). They replace the console's kept aggregates.
    r#"
CREATE TABLE snapshot_cells (
    snapshot_id BIGINT NOT NULL,
    org_code TEXT NOT NULL,
    facility_type TEXT NOT NULL,
    month BIGINT NOT NULL,
    metrics TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, org_code, facility_type, month)
);
CREATE TABLE snapshot_cell_sets (
    snapshot_id BIGINT PRIMARY KEY,
    cells BIGINT NOT NULL,
    kept_at TEXT NOT NULL
);
DROP TABLE snapshot_aggregates;
"#,
    // 7 (market): snapshot approval (a verified inventory: what the internal market's allocations
    // and obligations, and reports, may read), and the internal carbon market: plan files by period
    // and version, the command log (every accepted command, in order: the market's state is its
    // replay), the registry's journal entries each command wrote, and the allocations issued with
    // their explanations.
    r#"
CREATE TABLE snapshot_approvals (
    snapshot_id BIGINT PRIMARY KEY REFERENCES snapshots(id),
    approved_by TEXT NOT NULL,
    approved_at TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE TABLE market_plans (
    id {pk},
    year BIGINT NOT NULL,
    version BIGINT NOT NULL,
    body TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (year, version)
);
CREATE TABLE market_commands (
    seq BIGINT PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    command TEXT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE TABLE market_entries (
    seq BIGINT PRIMARY KEY,
    command_seq BIGINT NOT NULL REFERENCES market_commands(seq),
    body TEXT NOT NULL
);
CREATE TABLE market_allocations (
    year BIGINT NOT NULL,
    org_code TEXT NOT NULL,
    basis TEXT NOT NULL,
    plan_version BIGINT NOT NULL,
    kg BIGINT NOT NULL,
    explanation TEXT NOT NULL,
    command_seq BIGINT,
    PRIMARY KEY (year, org_code, basis)
);
"#,
    // 8: indicators on the platform's own numbers (issue 15): a filing has a kind (`activity`, the
    // monthly filings of bills; `business`, a year's business data such as telecom business volume
    // and traffic, whose rows keep the subject org in `facility_code` and the metric in `carrier`),
    // and facilities carry versioned attributes (size class, build year, generation, ...): each
    // version holds the attributes that change from `valid_from` (YYYY-MM-DD) on.
    r#"
ALTER TABLE filings ADD COLUMN kind TEXT NOT NULL DEFAULT 'activity';
CREATE TABLE facility_attributes (
    id {pk},
    facility_code TEXT NOT NULL REFERENCES facilities(code),
    valid_from TEXT NOT NULL,
    version BIGINT NOT NULL,
    attributes TEXT NOT NULL,
    source TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (facility_code, valid_from, version)
);
CREATE INDEX facility_attributes_facility ON facility_attributes(facility_code);
"#,
    // 9: 碳普惠 (issue 17): machine
    // credentials of apps (secrets as SHA-256), methodology versions added by users, personal
    // accounts (employees by username, customers by a hashed pseudonym), every event with its
    // verdict, credits (one claim per reduction), dedup keys (hashed), usage for caps, the points
    // journal (entries, postings, balances), the catalogue and redemption orders.
    r#"
CREATE TABLE inclusive_clients (
    client_id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    org_code TEXT NOT NULL REFERENCES orgs(code),
    name TEXT NOT NULL,
    audience TEXT NOT NULL,
    trust TEXT NOT NULL,
    delay_days BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE inclusive_methodologies (
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    body TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (id, version)
);
CREATE TABLE inclusive_accounts (
    id {pk},
    org_code TEXT NOT NULL REFERENCES orgs(code),
    kind TEXT NOT NULL,
    subject TEXT,
    display_name TEXT,
    opt_in BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    erased_at TEXT,
    UNIQUE (kind, subject)
);
CREATE TABLE inclusive_events (
    id {pk},
    client_id TEXT NOT NULL,
    event_id TEXT,
    org_code TEXT NOT NULL,
    account_id BIGINT,
    action TEXT NOT NULL,
    mode TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    credit_id BIGINT,
    received_at BIGINT NOT NULL,
    UNIQUE (client_id, event_id)
);
CREATE TABLE inclusive_credits (
    id {pk},
    account_id BIGINT NOT NULL REFERENCES inclusive_accounts(id),
    org_code TEXT NOT NULL,
    action TEXT NOT NULL,
    mode TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    month TEXT NOT NULL,
    grams BIGINT NOT NULL,
    points BIGINT NOT NULL,
    methodology TEXT NOT NULL,
    methodology_version BIGINT NOT NULL,
    status TEXT NOT NULL,
    claim TEXT NOT NULL,
    claim_ref TEXT NOT NULL,
    available_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    risk BIGINT NOT NULL,
    explanation TEXT NOT NULL,
    decided_by TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX inclusive_credits_account ON inclusive_credits(account_id, status);
CREATE INDEX inclusive_credits_status ON inclusive_credits(status, expires_at);
CREATE TABLE inclusive_dedup (
    dedup_key TEXT PRIMARY KEY,
    credit_id BIGINT
);
CREATE TABLE inclusive_usage (
    account_id BIGINT NOT NULL,
    action TEXT NOT NULL,
    period TEXT NOT NULL,
    grams BIGINT NOT NULL,
    events BIGINT NOT NULL,
    PRIMARY KEY (account_id, action, period)
);
CREATE TABLE inclusive_balances (
    holder TEXT PRIMARY KEY,
    balance BIGINT NOT NULL
);
CREATE TABLE inclusive_journal (
    id {pk},
    request_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    account_id BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    ref TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX inclusive_journal_account ON inclusive_journal(account_id, id);
CREATE TABLE inclusive_postings (
    entry_id BIGINT NOT NULL REFERENCES inclusive_journal(id),
    holder TEXT NOT NULL,
    amount BIGINT NOT NULL
);
CREATE TABLE inclusive_catalogue (
    id {pk},
    org_code TEXT NOT NULL REFERENCES orgs(code),
    name TEXT NOT NULL,
    points BIGINT NOT NULL,
    stock BIGINT NOT NULL,
    active BIGINT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE inclusive_orders (
    id {pk},
    request_id TEXT NOT NULL UNIQUE,
    account_id BIGINT NOT NULL REFERENCES inclusive_accounts(id),
    item_id BIGINT NOT NULL REFERENCES inclusive_catalogue(id),
    points BIGINT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    decided_at TEXT,
    decided_by TEXT
);
"#,
    // 10 (issue 18): supply chain: suppliers and their users, disclosures, the footprint library
    // (versioned, with lineage to the disclosure), procurement and transport lines, Scope 3 runs,
    // PACT partner credentials, tokens and events.
    r#"
CREATE TABLE supply_suppliers (
    id {pk},
    org_code TEXT NOT NULL REFERENCES orgs(code),
    uscc TEXT NOT NULL,
    name TEXT NOT NULL,
    categories TEXT NOT NULL,
    contacts TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (org_code, uscc)
);
CREATE TABLE supply_supplier_users (
    user_id BIGINT PRIMARY KEY REFERENCES users(id),
    supplier_id BIGINT NOT NULL REFERENCES supply_suppliers(id)
);
CREATE TABLE supply_disclosures (
    id {pk},
    supplier_id BIGINT REFERENCES supply_suppliers(id),
    org_code TEXT NOT NULL REFERENCES orgs(code),
    kind TEXT NOT NULL,
    year BIGINT NOT NULL,
    body TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX supply_disclosures_supplier ON supply_disclosures(supplier_id);
CREATE TABLE supply_footprints (
    id {pk},
    pf_id TEXT NOT NULL UNIQUE,
    entry TEXT NOT NULL,
    version BIGINT NOT NULL,
    supplier_id BIGINT REFERENCES supply_suppliers(id),
    org_code TEXT NOT NULL REFERENCES orgs(code),
    company_uscc TEXT NOT NULL,
    product_id TEXT NOT NULL,
    class TEXT NOT NULL,
    unit TEXT NOT NULL,
    kg_per_unit TEXT NOT NULL,
    dqr TEXT,
    source TEXT NOT NULL,
    disclosure_id BIGINT REFERENCES supply_disclosures(id),
    status TEXT NOT NULL,
    created TEXT NOT NULL,
    ref_end TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (entry, version)
);
CREATE INDEX supply_footprints_class ON supply_footprints(class);
CREATE TABLE supply_procurement (
    id {pk},
    org_code TEXT NOT NULL REFERENCES orgs(code),
    line TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    year BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (org_code, line)
);
CREATE TABLE supply_scope3_runs (
    id {pk},
    org_code TEXT NOT NULL REFERENCES orgs(code),
    year BIGINT NOT NULL,
    total_grams BIGINT NOT NULL,
    result TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE supply_pact_clients (
    client_id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    org_code TEXT NOT NULL REFERENCES orgs(code),
    name TEXT NOT NULL,
    callback TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE supply_pact_tokens (
    token_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES supply_pact_clients(client_id),
    expires_at TEXT NOT NULL
);
CREATE TABLE supply_pact_events (
    id {pk},
    client_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"#,
    // 11 (issue 20): durable jobs of cluster mode and the quarter-hour energy its leader keeps
    // (docs/cluster.md); empty on SQLite.
    r#"
CREATE TABLE cluster_jobs (
    id {pk},
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    params TEXT NOT NULL,
    owner TEXT NOT NULL,
    org_code TEXT NOT NULL,
    org_path TEXT NOT NULL,
    target TEXT NOT NULL,
    status TEXT NOT NULL,
    stage TEXT NOT NULL,
    stage_code TEXT NOT NULL,
    steps_done BIGINT NOT NULL,
    steps_total BIGINT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    result TEXT,
    summary TEXT,
    error TEXT,
    instance TEXT NOT NULL,
    heartbeat_ms BIGINT NOT NULL,
    attempts BIGINT NOT NULL
);
CREATE INDEX cluster_jobs_status ON cluster_jobs(status, heartbeat_ms);
CREATE INDEX cluster_jobs_owner ON cluster_jobs(owner);
CREATE TABLE telemetry_quarters (
    facility_code TEXT NOT NULL,
    role TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    energy_kwh TEXT NOT NULL,
    coverage TEXT NOT NULL,
    flags TEXT NOT NULL,
    PRIMARY KEY (facility_code, role, start_ms)
);
"#,
    // 12: disclosure reports as made (issue 19): the file itself (base64 text, both backends),
    // its SHA-256, and what it was made from, so a download survives a restart and any instance
    // of a cluster serves it.
    r#"
CREATE TABLE reports (
    id {pk},
    kind TEXT NOT NULL,
    snapshot_id BIGINT NOT NULL,
    org_code TEXT NOT NULL,
    org_path TEXT NOT NULL,
    lang TEXT NOT NULL,
    format TEXT NOT NULL,
    file_name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    report_hash TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    bytes TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX reports_org_path ON reports(org_path);
CREATE INDEX reports_snapshot ON reports(snapshot_id);
"#,
    // 13 (issue 20): the alert events delivered in a cluster (each claimed by one instance before
    // it delivers it, so an event is delivered once, also when its partition moves); empty on SQLite.
    r#"
CREATE TABLE alert_deliveries (
    subject TEXT NOT NULL,
    rule TEXT NOT NULL,
    opened_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    instance TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (subject, rule, opened_ms, kind)
);
"#,
    // 14 (issue 18): the Scope 3 run recorded into the group inventory per (org, year), and
    // uploaded versions of EEIO and transport factor sets.
    r#"
CREATE TABLE supply_scope3_recorded (
    org_code TEXT NOT NULL REFERENCES orgs(code),
    year BIGINT NOT NULL,
    run_id BIGINT NOT NULL REFERENCES supply_scope3_runs(id),
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (org_code, year)
);
CREATE TABLE supply_factor_sets (
    id {pk},
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    body TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (kind, name, version)
);
"#,
    // 15 (issue 20): when a claimed alert event was delivered (attempted to every webhook), so that
    // a claim whose instance died before delivering is delivered by the partition's next owner.
    r#"
ALTER TABLE alert_deliveries ADD COLUMN delivered_ms BIGINT;
CREATE INDEX alert_deliveries_undelivered ON alert_deliveries(at_ms) WHERE delivered_ms IS NULL;
"#,
];

impl Store {
    /// Applies the migrations not yet applied, each in its own transaction.
    pub(crate) fn migrate(&self) -> Result<(), StoreError> {
        let pk = self.backend.serial_pk();
        self.tx(|c| {
            c.batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
            )
        })?;
        for (i, sql) in MIGRATIONS.iter().enumerate() {
            let version = i as i64 + 1;
            self.tx(|c| {
                let done = c.query("SELECT version FROM schema_migrations WHERE version = $1", &[version.into()])?;
                if done.is_empty() {
                    c.batch(&sql.replace("{pk}", pk))?;
                    c.exec(
                        "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                        &[version.into(), crate::now().into()],
                    )?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Applies migrations again (a no-op when all are applied); tests use it to show that.
    pub fn migrate_again_for_test(&self) {
        self.migrate().expect("migrations are idempotent")
    }

    /// The number of the last applied migration.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self.read(|c| c.query("SELECT MAX(version) FROM schema_migrations", &[]))?[0].opt_int(0).unwrap_or(0))
    }
}
