//! Where aimos keeps insights and the ledger: one SQLite file by default.
//!
//! The file runs in WAL mode with full synchronisation, so a committed insight or run survives
//! the process being killed at any moment. Schema versions live in `PRAGMA user_version`;
//! opening a file written by a newer aimos is refused rather than guessed at.
//! This crate knows nothing of models.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use aimos_core::{
    Calibration, Insight, KeyRecord, Outcome, OutcomePoint, RunRecord, RunStatus, Spend, SpendBy,
    Stats, Store, StoreError,
};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, Row, params};

use crate::rows::{INSIGHT_COLUMNS, INSIGHT_SELECT, KEY_COLUMNS};

pub mod queue;
mod rows;
mod spool;
pub use queue::{LedgerQueue, Replayed};
pub use spool::SpoolSync;

#[cfg(feature = "postgres")]
mod pgconn;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
pub use postgres::{PG_SCHEMA_VERSION, PgStore};

/// Opens the store at `location`: a `postgres://` (or `postgresql://`) URL, or a SQLite file.
pub fn open(location: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        return Ok(std::sync::Arc::new(PgStore::open(location)?));
        #[cfg(not(feature = "postgres"))]
        return Err(StoreError::Backend {
            location: "PostgreSQL".into(),
            message: "this build has no PostgreSQL support (cargo feature `postgres`)".into(),
        });
    }
    Ok(std::sync::Arc::new(SqliteStore::open(Path::new(location))?))
}

/// The newest schema this build reads and writes.
pub const SCHEMA_VERSION: i64 = 10;

const MIGRATIONS: &[&str] = &[
    // Version 1: insights with full-text search, runs, steps, outcomes.
    r#"
    CREATE TABLE insights (
        id TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        problem TEXT NOT NULL,
        brief TEXT NOT NULL,
        diagnosis TEXT NOT NULL,
        plan TEXT NOT NULL,
        key_facts TEXT NOT NULL,
        pitfalls TEXT NOT NULL,
        confidence REAL NOT NULL,
        calibrated_confidence REAL,
        reasoning TEXT NOT NULL,
        smart_model TEXT NOT NULL,
        cost_usd REAL NOT NULL,
        tags TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL,
        applied INTEGER NOT NULL DEFAULT 0,
        succeeded INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        embedding BLOB
    );
    CREATE INDEX insights_fingerprint ON insights (fingerprint);
    CREATE VIRTUAL TABLE insights_fts USING fts5 (
        problem, diagnosis, key_facts, content = 'insights', content_rowid = 'rowid'
    );
    CREATE TRIGGER insights_fts_insert AFTER INSERT ON insights BEGIN
        INSERT INTO insights_fts (rowid, problem, diagnosis, key_facts)
        VALUES (new.rowid, new.problem, new.diagnosis, new.key_facts);
    END;
    CREATE TRIGGER insights_fts_delete AFTER DELETE ON insights BEGIN
        INSERT INTO insights_fts (insights_fts, rowid, problem, diagnosis, key_facts)
        VALUES ('delete', old.rowid, old.problem, old.diagnosis, old.key_facts);
    END;
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        strategy TEXT NOT NULL,
        reason TEXT NOT NULL,
        task_digest TEXT NOT NULL,
        problem TEXT NOT NULL,
        status TEXT NOT NULL,
        result TEXT NOT NULL,
        error TEXT,
        insight_id TEXT REFERENCES insights (id),
        cost_usd REAL NOT NULL,
        counterfactual TEXT NOT NULL,
        savings REAL NOT NULL,
        latency_ms REAL NOT NULL
    );
    CREATE INDEX runs_created_at ON runs (created_at);
    CREATE TABLE steps (
        run_id TEXT NOT NULL REFERENCES runs (id),
        idx INTEGER NOT NULL,
        kind TEXT NOT NULL,
        model TEXT,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        cost_usd REAL NOT NULL,
        latency_ms REAL NOT NULL,
        prompt_digest TEXT,
        note TEXT,
        PRIMARY KEY (run_id, idx)
    );
    CREATE TABLE outcomes (
        run_id TEXT,
        insight_id TEXT,
        passed INTEGER NOT NULL,
        source TEXT NOT NULL,
        note TEXT,
        created_at TEXT NOT NULL
    );
    "#,
    // Version 2: gateway keys, by the hash of their secret.
    r#"
    CREATE TABLE keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL UNIQUE,
        budget_usd REAL,
        spent_usd REAL NOT NULL DEFAULT 0,
        rpm INTEGER,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    "#,
    // Version 3: claims, so that one process consults on a cold problem at a time.
    r#"
    CREATE TABLE claims (
        key TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at REAL NOT NULL
    );
    "#,
    // Version 4: exposure accounting — context tokens each step carried, whether its model is
    // external, secrets redacted; the whole context's tokens per run.
    r#"
    ALTER TABLE steps ADD COLUMN context_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE steps ADD COLUMN external INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE steps ADD COLUMN redactions INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN context_tokens INTEGER NOT NULL DEFAULT 0;
    "#,
    // Version 5: the verifier's verdict on a run's result (NULL when it had no verifier).
    r#"
    ALTER TABLE runs ADD COLUMN verified INTEGER;
    "#,
    // Version 6: insights taken out of recall (kept for audit); calibrations per smart model;
    // shadow runs (the smart model alone, run beside a live task to measure it).
    r#"
    ALTER TABLE insights ADD COLUMN invalidated_at TEXT;
    ALTER TABLE insights ADD COLUMN invalidated_reason TEXT;
    CREATE TABLE calibrations (
        smart_model TEXT PRIMARY KEY,
        slope REAL NOT NULL,
        intercept REAL NOT NULL,
        points INTEGER NOT NULL,
        fitted_at TEXT NOT NULL
    );
    CREATE INDEX outcomes_insight ON outcomes (insight_id);
    ALTER TABLE runs ADD COLUMN shadow_of TEXT;
    "#,
    // 7: edit mode's patch and the files it changes (a JSON list).
    r#"
    ALTER TABLE runs ADD COLUMN patch TEXT;
    ALTER TABLE runs ADD COLUMN files_changed TEXT NOT NULL DEFAULT '[]';
    "#,
    // 8: whose spend a run is (the gateway key's name, the request's user, its tags as a JSON
    // object); the requests of each key's rate limit, shared by every process on the store;
    // insight namespaces (an insight's, and the one a key works in).
    r#"
    ALTER TABLE runs ADD COLUMN key_name TEXT;
    ALTER TABLE runs ADD COLUMN user_name TEXT;
    ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '{}';
    CREATE TABLE rate_events (key_id TEXT NOT NULL, at_ms INTEGER NOT NULL);
    CREATE INDEX rate_events_key ON rate_events (key_id, at_ms);
    ALTER TABLE insights ADD COLUMN namespace TEXT;
    ALTER TABLE keys ADD COLUMN namespace TEXT;
    "#,
    // 9: keys that may open the dashboard; runs found by key, by insight and by the live run
    // a shadow check measured; the ledger's totals per day and
    // per model kept up to date by triggers (runs and steps are only ever inserted), so that
    // `stats` reads a few rows instead of every run.
    r#"
    ALTER TABLE keys ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX runs_key_name ON runs (key_name);
    CREATE INDEX runs_insight_id ON runs (insight_id);
    CREATE INDEX runs_shadow_of ON runs (shadow_of);
    CREATE TABLE stats_days (
        day TEXT PRIMARY KEY,
        runs INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        cost_usd REAL NOT NULL,
        counterfactual_usd REAL NOT NULL
    );
    INSERT INTO stats_days
        SELECT substr(created_at, 1, 10), count(*), sum(status = 'failed'), sum(cost_usd),
               coalesce(sum(json_extract(counterfactual, '$.cost.usd')), 0)
        FROM runs GROUP BY 1;
    CREATE TRIGGER stats_days_insert AFTER INSERT ON runs BEGIN
        INSERT INTO stats_days (day, runs, failed, cost_usd, counterfactual_usd)
        VALUES (substr(NEW.created_at, 1, 10), 1, NEW.status = 'failed', NEW.cost_usd,
                coalesce(json_extract(NEW.counterfactual, '$.cost.usd'), 0))
        ON CONFLICT (day) DO UPDATE SET runs = runs + 1, failed = failed + excluded.failed,
            cost_usd = cost_usd + excluded.cost_usd,
            counterfactual_usd = counterfactual_usd + excluded.counterfactual_usd;
    END;
    CREATE TABLE stats_models (
        model TEXT PRIMARY KEY,
        calls INTEGER NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        cost_usd REAL NOT NULL,
        external_steps INTEGER NOT NULL,
        context_tokens_sent INTEGER NOT NULL,
        context_tokens_total INTEGER NOT NULL,
        redactions INTEGER NOT NULL
    );
    INSERT INTO stats_models
        SELECT s.model, count(*), sum(s.prompt_tokens), sum(s.completion_tokens), sum(s.cost_usd),
               sum(s.external = 1), sum(iif(s.external = 1, s.context_tokens, 0)),
               sum(iif(s.external = 1, r.context_tokens, 0)), sum(iif(s.external = 1, s.redactions, 0))
        FROM steps s JOIN runs r ON r.id = s.run_id WHERE s.model IS NOT NULL GROUP BY s.model;
    CREATE TRIGGER stats_models_insert AFTER INSERT ON steps WHEN NEW.model IS NOT NULL BEGIN
        INSERT INTO stats_models (model, calls, prompt_tokens, completion_tokens, cost_usd,
            external_steps, context_tokens_sent, context_tokens_total, redactions)
        VALUES (NEW.model, 1, NEW.prompt_tokens, NEW.completion_tokens, NEW.cost_usd,
                NEW.external = 1, iif(NEW.external = 1, NEW.context_tokens, 0),
                iif(NEW.external = 1, coalesce((SELECT context_tokens FROM runs WHERE id = NEW.run_id), 0), 0),
                iif(NEW.external = 1, NEW.redactions, 0))
        ON CONFLICT (model) DO UPDATE SET calls = calls + 1,
            prompt_tokens = prompt_tokens + excluded.prompt_tokens,
            completion_tokens = completion_tokens + excluded.completion_tokens,
            cost_usd = cost_usd + excluded.cost_usd,
            external_steps = external_steps + excluded.external_steps,
            context_tokens_sent = context_tokens_sent + excluded.context_tokens_sent,
            context_tokens_total = context_tokens_total + excluded.context_tokens_total,
            redactions = redactions + excluded.redactions;
    END;
    "#,
    // Version 10: which embedding model made an insight's vector (`embedding`).
    r#"
    ALTER TABLE insights ADD COLUMN embedding_model TEXT;
    "#,
];

/// The default store file: `$AIMOS_HOME/aimos.db`, else `$XDG_DATA_HOME/aimos/aimos.db`
/// (`~/.local/share/aimos/aimos.db`).
pub fn default_path() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(home) = var("AIMOS_HOME") {
        return Some(home.join("aimos.db"));
    }
    if let Some(data) = var("XDG_DATA_HOME") {
        return Some(data.join("aimos/aimos.db"));
    }
    var("HOME").map(|home| home.join(".local/share/aimos/aimos.db"))
}

/// Where the ledger's spool of the store at `location` lives (see [`LedgerQueue::spooled`]):
/// beside a SQLite file (`aimos.db.spool`), or for PostgreSQL one folder per server and database
/// under the `spool` folder beside the default store (the password is never part of the name).
pub fn spool_root(location: &str) -> Option<PathBuf> {
    let Some(rest) =
        location.strip_prefix("postgres://").or_else(|| location.strip_prefix("postgresql://"))
    else {
        let mut name = PathBuf::from(location).into_os_string();
        name.push(".spool");
        return Some(PathBuf::from(name));
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let name: String = format!("pg-{host}-{database}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .collect();
    Some(default_path()?.parent()?.join("spool").join(name))
}

/// The SQLite store.
pub struct SqliteStore {
    connection: Mutex<Connection>,
    location: String,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("location", &self.location).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// The runs `filter` keeps, newest first, with their steps: two queries, however many.
    fn runs_where(
        &self,
        filter: &aimos_core::RunFilter,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let (clause, values) = run_filter_sql(filter, |n| format!("?{n}"));
        let mut values: Vec<rusqlite::types::Value> = values
            .into_iter()
            .map(|v| match v {
                FilterValue::Text(text) => rusqlite::types::Value::Text(text),
                FilterValue::Flag(flag) => rusqlite::types::Value::Integer(i64::from(flag)),
            })
            .collect();
        let n = values.len();
        values.push(rusqlite::types::Value::Integer(limit.min(i64::MAX as usize) as i64));
        values.push(rusqlite::types::Value::Integer(offset.min(i64::MAX as usize) as i64));
        let page = format!(
            "SELECT id FROM runs{clause} ORDER BY id DESC LIMIT ?{} OFFSET ?{}",
            n + 1,
            n + 2
        );
        let conn = self.connection();
        let mut statement = conn
            .prepare_cached(&format!(
                "SELECT {} FROM runs WHERE id IN ({page}) ORDER BY id DESC",
                rows::run_select("counterfactual")
            ))
            .map_err(self.err())?;
        let mut runs: Vec<RunRecord> = statement
            .query_map(rusqlite::params_from_iter(&values), mapped(rows::run))
            .map_err(self.err())?
            .collect::<Result<_, _>>()
            .map_err(self.err())?;
        if runs.is_empty() {
            return Ok(runs);
        }
        let at: std::collections::HashMap<String, usize> =
            runs.iter().enumerate().map(|(i, r)| (r.id.clone(), i)).collect();
        let mut statement = conn
            .prepare_cached(&format!(
                "SELECT {}, run_id FROM steps WHERE run_id IN ({page}) ORDER BY run_id, idx",
                rows::STEP_SELECT
            ))
            .map_err(self.err())?;
        let mut found = statement.query(rusqlite::params_from_iter(&values)).map_err(self.err())?;
        while let Some(row) = found.next().map_err(self.err())? {
            let run_id: String = row.get(11).map_err(self.err())?;
            let step = mapped(|cells| rows::step(cells, &run_id))(row).map_err(self.err())?;
            if let Some(&i) = at.get(&run_id) {
                runs[i].steps.push(step);
            }
        }
        Ok(runs)
    }
    /// Inserts `run` and its steps in `tx`.
    fn insert_run(
        &self,
        tx: &rusqlite::Transaction<'_>,
        run: &RunRecord,
    ) -> Result<(), StoreError> {
        let counterfactual = serde_json::to_string(&run.counterfactual).map_err(|err| {
            StoreError::Backend { location: self.location.clone(), message: err.to_string() }
        })?;
        let status = match run.status {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        };
        // Statements are prepared once per connection and kept: at gateway rates, parsing the
        // SQL of every insert again was a visible share of the ledger's CPU time.
        tx.prepare_cached(&format!("INSERT INTO runs ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)", rows::RUN_FIELDS.join(", ")))
            .and_then(|mut insert| insert.execute(params![
                run.id,
                run.created_at,
                run.strategy.as_str(),
                run.reason,
                run.task_digest,
                run.problem,
                status,
                run.result,
                run.error,
                run.insight_id,
                run.cost.usd,
                counterfactual,
                run.savings,
                run.latency_ms,
                run.context_tokens as i64,
                run.verified,
                run.shadow_of,
                run.patch,
                json_list(&run.files_changed),
                run.attribution.key,
                run.attribution.user,
                json_tags(&run.attribution.tags),
            ]))
        .map_err(self.err())?;
        for (idx, step) in run.steps.iter().enumerate() {
            tx.prepare_cached(
                "INSERT INTO steps (run_id, idx, kind, model, prompt_tokens, completion_tokens, cost_usd, latency_ms, prompt_digest, note, \
                 context_tokens, external, redactions) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )
            .and_then(|mut insert| insert.execute(params![
                    run.id,
                    idx as i64,
                    step.kind.as_str(),
                    step.model,
                    step.prompt_tokens as i64,
                    step.completion_tokens as i64,
                    step.cost.usd,
                    step.latency_ms,
                    step.prompt_digest,
                    step.note,
                    step.context_tokens as i64,
                    step.external,
                    step.redactions as i64,
                ]))
            .map_err(self.err())?;
        }
        Ok(())
    }

    /// Opens (creating if needed) the store at `path`, migrating an older schema.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let location = path.display().to_string();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|err| StoreError::Backend {
                location: location.clone(),
                message: format!("creating {}: {err}", parent.display()),
            })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection =
            Connection::open_with_flags(path, flags).map_err(|err| classify(&location, err))?;
        let store = SqliteStore { connection: Mutex::new(connection), location };
        store.prepare()?;
        Ok(store)
    }

    /// A store in memory, for tests of the logic above it.
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        let location = ":memory:".to_owned();
        let connection = Connection::open_in_memory().map_err(|err| classify(&location, err))?;
        let store = SqliteStore { connection: Mutex::new(connection), location };
        store.prepare()?;
        Ok(store)
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |err| classify(&self.location, err)
    }

    fn prepare(&self) -> Result<(), StoreError> {
        let mut conn = self.connection();
        conn.busy_timeout(Duration::from_secs(5)).map_err(self.err())?;
        // WAL keeps readers and the writer apart; FULL makes every commit durable.
        conn.pragma_update(None, "journal_mode", "WAL").map_err(self.err())?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(self.err())?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(self.err())?;
        let version: i64 =
            conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(self.err())?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                location: self.location.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if version == 0 {
            let foreign: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'",
                    [],
                    |row| row.get(0),
                )
                .map_err(self.err())?;
            if foreign > 0 {
                return Err(StoreError::Corrupt {
                    location: self.location.clone(),
                    message: "it is a SQLite database with someone else's tables".into(),
                });
            }
        }
        for (idx, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction().map_err(self.err())?;
            tx.execute_batch(migration).map_err(self.err())?;
            tx.pragma_update(None, "user_version", idx as i64 + 1).map_err(self.err())?;
            tx.commit().map_err(self.err())?;
        }
        Ok(())
    }
}

fn classify(location: &str, err: rusqlite::Error) -> StoreError {
    let location = location.to_owned();
    match err.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Locked { location }
        }
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            StoreError::Corrupt { location, message: err.to_string() }
        }
        _ => match &err {
            rusqlite::Error::FromSqlConversionFailure(_, _, inner)
                if inner.is::<rows::BadRow>() =>
            {
                StoreError::Backend { location, message: inner.to_string() }
            }
            _ => StoreError::Backend { location, message: err.to_string() },
        },
    }
}

/// Reads a row through the shared mapping (`rows.rs`); a bad row travels as a rusqlite error
/// that [`classify`] turns back into its own message.
fn mapped<T>(
    read: impl Fn(&dyn rows::Cells) -> Result<T, rows::BadRow>,
) -> impl Fn(&Row<'_>) -> rusqlite::Result<T> {
    move |row: &Row<'_>| {
        read(row).map_err(|bad| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Null, Box::new(bad))
        })
    }
}

impl rows::Cells for Row<'_> {
    fn text(&self, idx: usize) -> Result<String, String> {
        self.get(idx).map_err(|e: rusqlite::Error| e.to_string())
    }
    fn opt_text(&self, idx: usize) -> Result<Option<String>, String> {
        self.get(idx).map_err(|e: rusqlite::Error| e.to_string())
    }
    fn int(&self, idx: usize) -> Result<i64, String> {
        self.get(idx).map_err(|e: rusqlite::Error| e.to_string())
    }
    fn opt_int(&self, idx: usize) -> Result<Option<i64>, String> {
        self.get(idx).map_err(|e: rusqlite::Error| e.to_string())
    }
    fn real(&self, idx: usize) -> Result<f64, String> {
        self.get(idx).map_err(|e: rusqlite::Error| e.to_string())
    }
    fn opt_real(&self, idx: usize) -> Result<Option<f64>, String> {
        self.get(idx).map_err(|e: rusqlite::Error| e.to_string())
    }
    fn flag(&self, idx: usize) -> Result<bool, String> {
        self.get(idx).map_err(|e: rusqlite::Error| e.to_string())
    }
    fn opt_flag(&self, idx: usize) -> Result<Option<bool>, String> {
        self.get(idx).map_err(|e: rusqlite::Error| e.to_string())
    }
}

/// The error for a key whose name another key has.
pub(crate) fn name_taken(location: &str, name: &str) -> StoreError {
    StoreError::Backend {
        location: location.to_owned(),
        message: format!("a key named `{name}` exists already; pick another name"),
    }
}

pub(crate) fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn json_tags(tags: &std::collections::BTreeMap<String, String>) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "{}".into())
}

/// Most expensive first; equal costs by name, runs without a name last.
/// A value a run filter compares a column with.
pub(crate) enum FilterValue {
    Text(String),
    Flag(bool),
}

/// The `WHERE` clause (empty, or starting with ` WHERE`) of the runs `filter` matches, its
/// placeholders written by `placeholder` (1-based), and their values in order.
pub(crate) fn run_filter_sql(
    filter: &aimos_core::RunFilter,
    placeholder: fn(usize) -> String,
) -> (String, Vec<FilterValue>) {
    use aimos_core::RunVerdict;
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    let mut compare = |clause: &str, value: Option<FilterValue>| match value {
        Some(value) => {
            values.push(value);
            clauses.push(clause.replace('?', &placeholder(values.len())));
        }
        None => clauses.push(clause.to_owned()),
    };
    if let Some(strategy) = filter.strategy {
        compare("strategy = ?", Some(FilterValue::Text(strategy.as_str().to_owned())));
    }
    if let Some(model) = &filter.model {
        compare(
            "EXISTS (SELECT 1 FROM steps WHERE steps.run_id = runs.id AND steps.model = ?)",
            Some(FilterValue::Text(model.clone())),
        );
    }
    if let Some(key) = &filter.key {
        compare("key_name = ?", Some(FilterValue::Text(key.clone())));
    }
    if let Some(insight) = &filter.insight {
        compare("insight_id = ?", Some(FilterValue::Text(insight.clone())));
    }
    if let Some(live) = &filter.shadow_of {
        compare("shadow_of = ?", Some(FilterValue::Text(live.clone())));
    }
    match filter.verdict {
        Some(RunVerdict::Passed) => compare("verified = ?", Some(FilterValue::Flag(true))),
        Some(RunVerdict::Failed) => compare("verified = ?", Some(FilterValue::Flag(false))),
        Some(RunVerdict::Unjudged) => compare("verified IS NULL", None),
        None => {}
    }
    if let Some(since) = &filter.since {
        compare("created_at >= ?", Some(FilterValue::Text(since.clone())));
    }
    if let Some(until) = &filter.until {
        compare("created_at < ?", Some(FilterValue::Text(until.clone())));
    }
    if clauses.is_empty() {
        (String::new(), values)
    } else {
        (format!(" WHERE {}", clauses.join(" AND ")), values)
    }
}

pub(crate) fn sort_spend(spend: &mut [Spend]) {
    spend.sort_by(|a, b| {
        b.cost_usd
            .total_cmp(&a.cost_usd)
            .then_with(|| a.name.is_none().cmp(&b.name.is_none()))
            .then_with(|| a.name.cmp(&b.name))
    });
}

/// The words of `text` (letters, digits, `_`), each as `quote` makes it, joined by `or`: a
/// search that matches any of them, safe to hand to FTS5 or `to_tsquery`.
pub(crate) fn search_words(text: &str, quote: fn(&str) -> String, or: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .map(quote)
        .collect();
    (!terms.is_empty()).then(|| terms.join(or))
}

/// Words of `text` as an FTS5 query that matches any of them.
fn fts_query(text: &str) -> Option<String> {
    search_words(text, |w| format!("\"{w}\""), " OR ")
}

impl Store for SqliteStore {
    fn put_insight(&self, insight: &Insight) -> Result<(), StoreError> {
        let conn = self.connection();
        let draft = &insight.draft;
        conn.execute(
            &format!("INSERT INTO insights ({INSIGHT_COLUMNS}, namespace) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"),
            params![
                insight.id,
                insight.fingerprint,
                insight.problem,
                insight.brief,
                draft.diagnosis,
                json_list(&draft.plan),
                json_list(&draft.key_facts),
                json_list(&draft.pitfalls),
                draft.confidence,
                draft.reasoning,
                insight.smart_model,
                insight.cost.usd,
                insight.created_at,
                insight.applied as i64,
                insight.succeeded as i64,
                insight.failed as i64,
                insight.namespace,
            ],
        )
        .map_err(self.err())?;
        Ok(())
    }

    fn insight(&self, id: &str) -> Result<Option<Insight>, StoreError> {
        let conn = self.connection();
        conn.query_row(
            &format!("SELECT {INSIGHT_SELECT} FROM insights WHERE id = ?1"),
            [id],
            mapped(rows::insight),
        )
        .optional()
        .map_err(self.err())
    }

    fn insights(
        &self,
        text: Option<&str>,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Insight>, StoreError> {
        let conn = self.connection();
        let (limit, offset) = (limit as i64, offset as i64);
        match text.and_then(fts_query) {
            Some(query) => {
                let columns = INSIGHT_SELECT
                    .split(", ")
                    .map(|c| format!("i.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut statement = conn
                    .prepare(&format!(
                        "SELECT {columns} FROM insights_fts f JOIN insights i ON i.rowid = f.rowid \
                         WHERE insights_fts MATCH ?1 ORDER BY bm25(insights_fts), i.id DESC LIMIT ?2 OFFSET ?3"
                    ))
                    .map_err(self.err())?;
                let rows = statement
                    .query_map(params![query, limit, offset], mapped(rows::insight))
                    .map_err(self.err())?;
                rows.collect::<Result<_, _>>().map_err(self.err())
            }
            None => {
                let mut statement = conn
                    .prepare(&format!(
                        "SELECT {INSIGHT_SELECT} FROM insights ORDER BY id DESC LIMIT ?1 OFFSET ?2"
                    ))
                    .map_err(self.err())?;
                let rows = statement
                    .query_map(params![limit, offset], mapped(rows::insight))
                    .map_err(self.err())?;
                rows.collect::<Result<_, _>>().map_err(self.err())
            }
        }
    }

    fn record_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.record_runs(std::slice::from_ref(run))
    }

    fn record_runs(&self, runs: &[RunRecord]) -> Result<(), StoreError> {
        let mut conn = self.connection();
        let tx = conn.transaction().map_err(self.err())?;
        for run in runs {
            self.insert_run(&tx, run)?;
        }
        tx.commit().map_err(self.err())
    }

    fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let conn = self.connection();
        let run = conn
            .query_row(
                &format!("SELECT {} FROM runs WHERE id = ?1", rows::run_select("counterfactual")),
                [id],
                mapped(rows::run),
            )
            .optional()
            .map_err(self.err())?;
        let Some(mut run) = run else { return Ok(None) };
        let mut statement = conn
            .prepare(&format!(
                "SELECT {} FROM steps WHERE run_id = ?1 ORDER BY idx",
                rows::STEP_SELECT
            ))
            .map_err(self.err())?;
        run.steps = statement
            .query_map([id], mapped(|row| rows::step(row, id)))
            .map_err(self.err())?
            .collect::<Result<_, _>>()
            .map_err(self.err())?;
        Ok(Some(run))
    }

    fn runs(&self, limit: usize, offset: usize) -> Result<Vec<RunRecord>, StoreError> {
        self.runs_where(&aimos_core::RunFilter::default(), limit, offset)
    }

    fn runs_matching(
        &self,
        filter: &aimos_core::RunFilter,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        self.runs_where(filter, limit, offset)
    }

    fn record_outcome(&self, outcome: &Outcome) -> Result<Option<Insight>, StoreError> {
        {
            let mut conn = self.connection();
            let tx = conn.transaction().map_err(self.err())?;
            let column = if outcome.passed { "succeeded" } else { "failed" };
            let changed = tx
                .execute(
                    &format!("UPDATE insights SET {column} = {column} + 1 WHERE id = ?1"),
                    [&outcome.insight_id],
                )
                .map_err(self.err())?;
            if changed == 0 {
                return Ok(None);
            }
            tx.execute(
                "INSERT INTO outcomes (run_id, insight_id, passed, source, note, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![outcome.run_id, outcome.insight_id, outcome.passed, outcome.source, outcome.note, outcome.created_at],
            )
            .map_err(self.err())?;
            tx.commit().map_err(self.err())?;
        }
        self.insight(&outcome.insight_id)
    }

    fn stats(&self) -> Result<Stats, StoreError> {
        // The totals the triggers of schema 9 keep per day and per model.
        let conn = self.connection();
        let by_day = conn
            .prepare_cached(rows::DAY_TOTALS_SELECT)
            .map_err(self.err())?
            .query_map([], mapped(rows::day_totals))
            .map_err(self.err())?
            .collect::<Result<_, _>>()
            .map_err(self.err())?;
        let models = conn
            .prepare_cached(rows::MODEL_TOTALS_SELECT)
            .map_err(self.err())?
            .query_map([], mapped(rows::model_totals))
            .map_err(self.err())?
            .collect::<Result<_, _>>()
            .map_err(self.err())?;
        Ok(rows::stats(by_day, models))
    }

    fn insights_by_fingerprint(&self, fingerprint: &str) -> Result<Vec<Insight>, StoreError> {
        let conn = self.connection();
        let mut statement = conn
            .prepare(&format!(
                "SELECT {INSIGHT_SELECT} FROM insights WHERE fingerprint = ?1 ORDER BY id DESC LIMIT 20"
            ))
            .map_err(self.err())?;
        let rows = statement.query_map([fingerprint], mapped(rows::insight)).map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    fn put_insight_embedding(
        &self,
        id: &str,
        model: &str,
        vector: &[f32],
    ) -> Result<bool, StoreError> {
        let changed = self
            .connection()
            .execute(
                "UPDATE insights SET embedding = ?2, embedding_model = ?3 WHERE id = ?1",
                params![id, aimos_core::dense::to_bytes(vector), model],
            )
            .map_err(self.err())?;
        Ok(changed > 0)
    }

    fn nearest_insights(
        &self,
        model: &str,
        vector: &[f32],
        limit: usize,
    ) -> Result<Vec<(Insight, f32)>, StoreError> {
        let conn = self.connection();
        let mut statement = conn
            .prepare(
                "SELECT id, embedding FROM insights \
                 WHERE embedding_model = ?1 AND invalidated_at IS NULL",
            )
            .map_err(self.err())?;
        let scored = statement
            .query_map([model], |row| Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?)))
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        let best = rows::nearest(scored, vector, limit);
        let mut out = Vec::with_capacity(best.len());
        for (id, similarity) in best {
            let found = conn
                .query_row(
                    &format!("SELECT {INSIGHT_SELECT} FROM insights WHERE id = ?1"),
                    [&id],
                    mapped(rows::insight),
                )
                .optional()
                .map_err(self.err())?;
            out.extend(found.map(|insight| (insight, similarity)));
        }
        Ok(out)
    }

    fn claim(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = aimos_core::store::unix_now();
        let changed = self
            .connection()
            .execute(
                "INSERT INTO claims (key, holder, expires_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                 WHERE claims.expires_at < ?4 OR claims.holder = excluded.holder",
                params![key, holder, now + ttl.as_secs_f64(), now],
            )
            .map_err(self.err())?;
        Ok(changed == 1)
    }

    fn release(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        self.connection()
            .execute("DELETE FROM claims WHERE key = ?1 AND holder = ?2", params![key, holder])
            .map_err(self.err())?;
        Ok(())
    }

    fn create_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let conn = self.connection();
        // The unique name decides, in one statement: no window between a check and the insert.
        let inserted = conn
            .execute(
                &format!(
                    "INSERT INTO keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                 ON CONFLICT (name) DO NOTHING"
                ),
                params![
                    key.id,
                    key.name,
                    key.hash,
                    key.budget_usd,
                    key.spent_usd,
                    key.rpm.map(i64::from),
                    key.created_at,
                    key.revoked_at,
                    key.namespace,
                    key.admin
                ],
            )
            .map_err(self.err())?;
        if inserted == 0 {
            return Err(name_taken(self.location(), &key.name));
        }
        Ok(())
    }

    fn key_by_hash(&self, hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.connection()
            .query_row(
                &format!("SELECT {KEY_COLUMNS} FROM keys WHERE hash = ?1"),
                [hash],
                mapped(rows::key),
            )
            .optional()
            .map_err(self.err())
    }

    fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let conn = self.connection();
        let mut statement = conn
            .prepare(&format!("SELECT {KEY_COLUMNS} FROM keys ORDER BY created_at, name"))
            .map_err(self.err())?;
        let keys = statement
            .query_map([], mapped(rows::key))
            .map_err(self.err())?
            .collect::<Result<_, _>>()
            .map_err(self.err())?;
        Ok(keys)
    }

    fn add_key_spend(&self, id: &str, usd: f64) -> Result<f64, StoreError> {
        self.connection()
            .query_row(
                "UPDATE keys SET spent_usd = spent_usd + ?2 WHERE id = ?1 RETURNING spent_usd",
                params![id, usd.max(0.0)],
                |row| row.get(0),
            )
            .map_err(self.err())
    }

    fn take_rate(&self, id: &str, rpm: u32) -> Result<Option<Duration>, StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let window = aimos_core::store::RATE_WINDOW.as_millis() as i64;
        let mut conn = self.connection();
        // IMMEDIATE: the write lock first, so that two processes never both see room.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(self.err())?;
        tx.execute(
            "DELETE FROM rate_events WHERE key_id = ?1 AND at_ms <= ?2",
            params![id, now - window],
        )
        .map_err(self.err())?;
        let (count, oldest): (i64, Option<i64>) = tx
            .query_row(
                "SELECT count(*), min(at_ms) FROM rate_events WHERE key_id = ?1",
                params![id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(self.err())?;
        if count >= i64::from(rpm) {
            let wait = oldest.map_or(1000, |oldest| (oldest + window - now).max(1));
            return Ok(Some(Duration::from_millis(wait as u64)));
        }
        tx.execute("INSERT INTO rate_events (key_id, at_ms) VALUES (?1, ?2)", params![id, now])
            .map_err(self.err())?;
        tx.commit().map_err(self.err())?;
        Ok(None)
    }

    fn spend_by(&self, by: SpendBy) -> Result<Vec<Spend>, StoreError> {
        const SUMS: &str = "count(*), sum(cost_usd), \
             sum(json_extract(counterfactual, '$.cost.usd')), max(created_at)";
        let sql = match by {
            SpendBy::Key => format!("SELECT key_name, {SUMS} FROM runs GROUP BY key_name"),
            SpendBy::User => format!("SELECT user_name, {SUMS} FROM runs GROUP BY user_name"),
            SpendBy::Tag => format!(
                "SELECT tag.key || '=' || tag.value, {SUMS} FROM runs, json_each(runs.tags) AS tag \
                 GROUP BY 1 UNION ALL SELECT NULL, {SUMS} FROM runs WHERE tags = '{{}}' \
                 HAVING count(*) > 0"
            ),
        };
        let conn = self.connection();
        let mut statement = conn.prepare(&sql).map_err(self.err())?;
        let mut found = statement
            .query_map([], |row| {
                Ok(Spend {
                    name: row.get(0)?,
                    runs: row.get::<_, i64>(1)? as u64,
                    cost_usd: row.get::<_, Option<f64>>(2)?.unwrap_or(0.0),
                    counterfactual_usd: row.get::<_, Option<f64>>(3)?.unwrap_or(0.0),
                    last_at: row.get(4)?,
                })
            })
            .map_err(self.err())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err())?;
        sort_spend(&mut found);
        Ok(found)
    }

    fn revoke_key(&self, name: &str) -> Result<bool, StoreError> {
        let changed = self
            .connection()
            .execute(
                "UPDATE keys SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                params![name, aimos_core::ids::now_rfc3339()],
            )
            .map_err(self.err())?;
        Ok(changed > 0)
    }
    fn invalidate_insight(&self, id: &str, reason: &str) -> Result<bool, StoreError> {
        let changed = self
            .connection()
            .execute(
                "UPDATE insights SET invalidated_at = ?2, invalidated_reason = ?3 \
                 WHERE id = ?1 AND invalidated_at IS NULL",
                params![id, aimos_core::ids::now_rfc3339(), reason],
            )
            .map_err(self.err())?;
        Ok(changed > 0)
    }

    fn outcome_points(&self, limit: usize) -> Result<Vec<OutcomePoint>, StoreError> {
        let conn = self.connection();
        let mut statement = conn
            .prepare(&format!(
                "SELECT {} FROM outcomes o JOIN insights i ON i.id = o.insight_id \
                     ORDER BY o.created_at DESC, o.rowid DESC LIMIT ?1",
                rows::OUTCOME_POINT_SELECT
            ))
            .map_err(self.err())?;
        let found =
            statement.query_map([limit as i64], mapped(rows::outcome_point)).map_err(self.err())?;
        found.collect::<Result<_, _>>().map_err(self.err())
    }

    fn put_calibration(&self, c: &Calibration) -> Result<(), StoreError> {
        self.connection()
            .execute(
                "INSERT INTO calibrations (smart_model, slope, intercept, points, fitted_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (smart_model) DO UPDATE SET \
                 slope = excluded.slope, intercept = excluded.intercept, \
                 points = excluded.points, fitted_at = excluded.fitted_at",
                params![c.smart_model, c.slope, c.intercept, c.points as i64, c.fitted_at],
            )
            .map_err(self.err())?;
        Ok(())
    }

    fn calibrations(&self) -> Result<Vec<Calibration>, StoreError> {
        let conn = self.connection();
        let mut statement = conn
            .prepare(&format!(
                "SELECT {} FROM calibrations ORDER BY smart_model",
                rows::CALIBRATION_SELECT
            ))
            .map_err(self.err())?;
        let found = statement.query_map([], mapped(rows::calibration)).map_err(self.err())?;
        found.collect::<Result<_, _>>().map_err(self.err())
    }
}
