//! The PostgreSQL store: many gateway replicas share one database.
//!
//! A small pool of connections, each owned by a thread of its own: a call hands its query to a
//! free connection and waits for the answer. The callers may be async tasks, so no connection
//! ever runs on their runtime; the wait is as short as the query, like a SQLite call's.
//! Migrations are numbered in the table `aimos_schema` and applied under an advisory lock, so
//! replicas starting together migrate once; a database from a newer aimos is refused.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender, channel, sync_channel};
use std::sync::{Arc, Mutex};

use aimos_core::{
    Calibration, Insight, KeyRecord, Outcome, OutcomePoint, RunRecord, RunStatus, Spend, SpendBy,
    Stats, Store, StoreError,
};
use postgres::{Client, Row};
use std::time::Duration;

/// The newest PostgreSQL schema this build reads and writes.
pub const PG_SCHEMA_VERSION: i64 = 9;

/// Connections in the pool (`AIMOS_PG_POOL` overrides).
const DEFAULT_POOL: usize = 4;

/// Any constant both replicas agree on: the advisory lock that serialises migrations.
const MIGRATION_LOCK: i64 = 0x6169_6d6f_7300;

const MIGRATIONS: &[&str] = &[
    // Version 1: insights with full-text search, runs, steps, outcomes, gateway keys.
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
        confidence DOUBLE PRECISION NOT NULL,
        calibrated_confidence DOUBLE PRECISION,
        reasoning TEXT NOT NULL,
        smart_model TEXT NOT NULL,
        cost_usd DOUBLE PRECISION NOT NULL,
        tags TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL,
        applied BIGINT NOT NULL DEFAULT 0,
        succeeded BIGINT NOT NULL DEFAULT 0,
        failed BIGINT NOT NULL DEFAULT 0,
        search TSVECTOR GENERATED ALWAYS AS (
            to_tsvector('english', problem || ' ' || diagnosis || ' ' || key_facts)
        ) STORED
    );
    CREATE INDEX insights_fingerprint ON insights (fingerprint);
    CREATE INDEX insights_search ON insights USING GIN (search);
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
        cost_usd DOUBLE PRECISION NOT NULL,
        counterfactual JSONB NOT NULL,
        savings DOUBLE PRECISION NOT NULL,
        latency_ms DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX runs_created_at ON runs (created_at);
    CREATE TABLE steps (
        run_id TEXT NOT NULL REFERENCES runs (id),
        idx INTEGER NOT NULL,
        kind TEXT NOT NULL,
        model TEXT,
        prompt_tokens BIGINT NOT NULL,
        completion_tokens BIGINT NOT NULL,
        cost_usd DOUBLE PRECISION NOT NULL,
        latency_ms DOUBLE PRECISION NOT NULL,
        prompt_digest TEXT,
        note TEXT,
        PRIMARY KEY (run_id, idx)
    );
    CREATE TABLE outcomes (
        run_id TEXT,
        insight_id TEXT,
        passed BOOLEAN NOT NULL,
        source TEXT NOT NULL,
        note TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL UNIQUE,
        budget_usd DOUBLE PRECISION,
        spent_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
        rpm BIGINT,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    "#,
    // Version 2: claims, so that one replica consults on a cold problem at a time.
    r#"
    CREATE TABLE claims (
        key TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    );
    "#,
    // Version 3: exposure accounting — context tokens each step carried, whether its model is
    // external, secrets redacted; the whole context's tokens per run.
    r#"
    ALTER TABLE steps ADD COLUMN context_tokens BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE steps ADD COLUMN external BOOLEAN NOT NULL DEFAULT false;
    ALTER TABLE steps ADD COLUMN redactions BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN context_tokens BIGINT NOT NULL DEFAULT 0;
    "#,
    // Version 4: the verifier's verdict on a run's result (NULL when it had no verifier).
    r#"
    ALTER TABLE runs ADD COLUMN verified BOOLEAN;
    "#,
    // Version 5: insights taken out of recall (kept for audit); calibrations per smart model;
    // shadow runs (the smart model alone, run beside a live task to measure it).
    r#"
    ALTER TABLE insights ADD COLUMN invalidated_at TEXT;
    ALTER TABLE insights ADD COLUMN invalidated_reason TEXT;
    CREATE TABLE calibrations (
        smart_model TEXT PRIMARY KEY,
        slope DOUBLE PRECISION NOT NULL,
        intercept DOUBLE PRECISION NOT NULL,
        points BIGINT NOT NULL,
        fitted_at TEXT NOT NULL
    );
    CREATE INDEX outcomes_insight ON outcomes (insight_id);
    ALTER TABLE runs ADD COLUMN shadow_of TEXT;
    ALTER TABLE outcomes ADD COLUMN seq BIGSERIAL;
    "#,
    // Version 6: edit mode's patch and the files it changes (a JSON list).
    r#"
    ALTER TABLE runs ADD COLUMN patch TEXT;
    ALTER TABLE runs ADD COLUMN files_changed TEXT NOT NULL DEFAULT '[]';
    "#,
    // Version 7: whose spend a run is (the gateway key's name, the request's user, its tags as
    // a JSON object); the requests of each key's rate limit, shared by every replica.
    r#"
    ALTER TABLE runs ADD COLUMN key_name TEXT;
    ALTER TABLE runs ADD COLUMN user_name TEXT;
    ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '{}';
    CREATE TABLE rate_events (key_id TEXT NOT NULL, at_ms BIGINT NOT NULL);
    CREATE INDEX rate_events_key ON rate_events (key_id, at_ms);
    ALTER TABLE insights ADD COLUMN namespace TEXT;
    ALTER TABLE keys ADD COLUMN namespace TEXT;
    "#,
    // Version 8: keys that may open the dashboard; runs found by key, by insight and by the live
    // run a shadow check measured; the ledger's totals per
    // day and per model, kept up to date by `record_runs` in the transaction that inserts the
    // runs, so that `stats` reads a few rows instead of every run.
    r#"
    ALTER TABLE keys ADD COLUMN admin BOOLEAN NOT NULL DEFAULT false;
    CREATE INDEX runs_key_name ON runs (key_name);
    CREATE INDEX runs_insight_id ON runs (insight_id);
    CREATE INDEX runs_shadow_of ON runs (shadow_of);
    CREATE TABLE stats_days (
        day TEXT PRIMARY KEY,
        runs BIGINT NOT NULL,
        failed BIGINT NOT NULL,
        cost_usd DOUBLE PRECISION NOT NULL,
        counterfactual_usd DOUBLE PRECISION NOT NULL
    );
    INSERT INTO stats_days
        SELECT substr(created_at, 1, 10), count(*), count(*) FILTER (WHERE status = 'failed'),
               sum(cost_usd), coalesce(sum((counterfactual #>> '{cost,usd}')::double precision), 0)
        FROM runs GROUP BY 1;
    CREATE TABLE stats_models (
        model TEXT PRIMARY KEY,
        calls BIGINT NOT NULL,
        prompt_tokens BIGINT NOT NULL,
        completion_tokens BIGINT NOT NULL,
        cost_usd DOUBLE PRECISION NOT NULL,
        external_steps BIGINT NOT NULL,
        context_tokens_sent BIGINT NOT NULL,
        context_tokens_total BIGINT NOT NULL,
        redactions BIGINT NOT NULL
    );
    INSERT INTO stats_models
        SELECT s.model, count(*), sum(s.prompt_tokens), sum(s.completion_tokens), sum(s.cost_usd),
               count(*) FILTER (WHERE s.external),
               coalesce(sum(s.context_tokens) FILTER (WHERE s.external), 0),
               coalesce(sum(r.context_tokens) FILTER (WHERE s.external), 0),
               coalesce(sum(s.redactions) FILTER (WHERE s.external), 0)
        FROM steps s JOIN runs r ON r.id = s.run_id WHERE s.model IS NOT NULL GROUP BY s.model;
    "#,
    // Version 9: the meaning of an insight's problem as a vector, and the model that made it.
    r#"
    ALTER TABLE insights ADD COLUMN embedding BYTEA;
    ALTER TABLE insights ADD COLUMN embedding_model TEXT;
    "#,
];

type Job = Box<dyn FnOnce(&mut Conn) + Send>;

type Params<'a> = &'a [&'a (dyn postgres::types::ToSql + Sync)];

/// A pooled connection with its prepared statements: each query text is prepared once per
/// connection and reused.
pub(crate) struct Conn {
    client: Client,
    statements: HashMap<String, postgres::Statement>,
}

impl Conn {
    fn new(client: Client) -> Conn {
        Conn { client, statements: HashMap::new() }
    }

    fn statement(&mut self, sql: &str) -> Result<postgres::Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query(&statement, params)
    }

    fn query_opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query_opt(&statement, params)
    }

    fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query_one(&statement, params)
    }

    fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.execute(&statement, params)
    }

    fn transaction(&mut self) -> Result<postgres::Transaction<'_>, postgres::Error> {
        self.client.transaction()
    }
}

/// A store in a PostgreSQL database.
pub struct PgStore {
    location: String,
    jobs: Mutex<Sender<Job>>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("location", &self.location).finish_non_exhaustive()
    }
}

/// `postgres://user@host:port/database`: where a URL points, without its password.
fn describe(config: &postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let db = config.get_dbname().unwrap_or("(default database)");
    format!("postgres://{user}{host}:{port}/{db}")
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`),
    /// migrating it to this build's schema.
    pub fn open(url: &str) -> Result<PgStore, StoreError> {
        let connector = crate::pgconn::Connector::parse(url)
            .map_err(|message| StoreError::Backend { location: "PostgreSQL".into(), message })?;
        let location = describe(&connector.config);
        let connector = Arc::new(connector);
        let connect = |connector: &crate::pgconn::Connector| {
            connector.connect().map_err(|err| StoreError::Backend {
                location: location.clone(),
                message: format!("cannot connect: {}", aimos_core::error_chain(&err)),
            })
        };
        let mut first = connect(&connector)?;
        migrate(&mut first, &location)?;
        let pool = std::env::var("AIMOS_PG_POOL")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n: &usize| *n > 0)
            .unwrap_or(DEFAULT_POOL);
        let (jobs, receiver) = channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let mut clients = vec![first];
        for _ in 1..pool {
            clients.push(connect(&connector)?);
        }
        for client in clients {
            let receiver = Arc::clone(&receiver);
            let connector = Arc::clone(&connector);
            std::thread::Builder::new()
                .name("aimos-pg".into())
                .spawn(move || work(client, &connector, &receiver))
                .map_err(|err| StoreError::Backend {
                    location: location.clone(),
                    message: err.to_string(),
                })?;
        }
        Ok(PgStore { location, jobs: Mutex::new(jobs) })
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    /// Runs `f` on a pooled connection and waits for its answer.
    fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, Failure> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = sync_channel(1);
        let job: Job = Box::new(move |client| {
            let _ = reply.send(f(client));
        });
        let sent = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).send(job);
        if sent.is_err() {
            return Err(self.backend("the connection pool has stopped"));
        }
        match answer.recv() {
            Ok(result) => result.map_err(|failure| match failure {
                Failure::Db(err) => self.classify(&err),
                Failure::Row(bad) => self.backend(&bad.to_string()),
            }),
            Err(_) => Err(self.backend("the connection was lost during the query")),
        }
    }

    fn backend(&self, message: &str) -> StoreError {
        StoreError::Backend { location: self.location.clone(), message: message.into() }
    }

    fn classify(&self, err: &postgres::Error) -> StoreError {
        let message = match err.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => aimos_core::error_chain(err),
        };
        StoreError::Backend { location: self.location.clone(), message }
    }
}

/// A pool thread: takes jobs until the store is dropped, reconnecting a closed connection.
fn work(client: Client, connector: &crate::pgconn::Connector, jobs: &Mutex<Receiver<Job>>) {
    let mut conn = Conn::new(client);
    loop {
        let job = {
            let receiver = jobs.lock().unwrap_or_else(|p| p.into_inner());
            match receiver.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        if conn.client.is_closed()
            && let Ok(fresh) = connector.connect()
        {
            conn = Conn::new(fresh);
        }
        job(&mut conn);
    }
}

fn migrate(client: &mut Client, location: &str) -> Result<(), StoreError> {
    let fail = |err: postgres::Error| StoreError::Backend {
        location: location.to_owned(),
        message: format!("migrating: {}", aimos_core::error_chain(&err)),
    };
    let mut tx = client.transaction().map_err(fail)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).map_err(fail)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS aimos_schema (version BIGINT NOT NULL)")
        .map_err(fail)?;
    let version: i64 = match tx.query_opt("SELECT version FROM aimos_schema", &[]).map_err(fail)? {
        Some(row) => row.get(0),
        None => {
            let foreign: i64 = tx
                .query_one(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() \
                     AND table_name IN ('insights', 'runs', 'steps', 'outcomes', 'keys', 'claims')",
                    &[],
                )
                .map_err(fail)?
                .get(0);
            if foreign > 0 {
                return Err(StoreError::Corrupt {
                    location: location.to_owned(),
                    message: "its schema already has tables named like aimos's, not made by aimos; use another database or schema".into(),
                });
            }
            tx.execute("INSERT INTO aimos_schema (version) VALUES (0)", &[]).map_err(fail)?;
            0
        }
    };
    if version > PG_SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            location: location.to_owned(),
            found: version,
            supported: PG_SCHEMA_VERSION,
        });
    }
    for (idx, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(migration).map_err(fail)?;
        tx.execute("UPDATE aimos_schema SET version = $1", &[&(idx as i64 + 1)]).map_err(fail)?;
    }
    tx.commit().map_err(fail)
}

use crate::rows::{self, BadRow, INSIGHT_COLUMNS, INSIGHT_SELECT, KEY_COLUMNS};

/// Why a job on a connection failed: the database, or a row the shared mapping cannot read.
#[derive(Debug)]
enum Failure {
    Db(postgres::Error),
    Row(BadRow),
}

impl From<postgres::Error> for Failure {
    fn from(err: postgres::Error) -> Failure {
        Failure::Db(err)
    }
}

impl From<BadRow> for Failure {
    fn from(bad: BadRow) -> Failure {
        Failure::Row(bad)
    }
}

impl rows::Cells for Row {
    fn text(&self, idx: usize) -> Result<String, String> {
        self.try_get(idx).map_err(|e: postgres::Error| e.to_string())
    }
    fn opt_text(&self, idx: usize) -> Result<Option<String>, String> {
        self.try_get(idx).map_err(|e: postgres::Error| e.to_string())
    }
    fn int(&self, idx: usize) -> Result<i64, String> {
        self.try_get::<_, i64>(idx)
            .or_else(|_| self.try_get::<_, i32>(idx).map(i64::from))
            .map_err(|e| e.to_string())
    }
    fn opt_int(&self, idx: usize) -> Result<Option<i64>, String> {
        self.try_get::<_, Option<i64>>(idx)
            .or_else(|_| self.try_get::<_, Option<i32>>(idx).map(|n| n.map(i64::from)))
            .map_err(|e| e.to_string())
    }
    fn real(&self, idx: usize) -> Result<f64, String> {
        self.try_get(idx).map_err(|e: postgres::Error| e.to_string())
    }
    fn opt_real(&self, idx: usize) -> Result<Option<f64>, String> {
        self.try_get(idx).map_err(|e: postgres::Error| e.to_string())
    }
    fn flag(&self, idx: usize) -> Result<bool, String> {
        self.try_get(idx).map_err(|e: postgres::Error| e.to_string())
    }
    fn opt_flag(&self, idx: usize) -> Result<Option<bool>, String> {
        self.try_get(idx).map_err(|e: postgres::Error| e.to_string())
    }
}

/// Every row through `read`, stopping at the first bad one.
fn all<T>(
    rows: &[Row],
    read: impl Fn(&dyn rows::Cells) -> Result<T, BadRow>,
) -> Result<Vec<T>, Failure> {
    rows.iter().map(|row| read(row).map_err(Failure::Row)).collect()
}

fn load_run(client: &mut Conn, id: &str) -> Result<Option<RunRecord>, Failure> {
    let select =
        format!("SELECT {} FROM runs WHERE id = $1", rows::run_select("counterfactual::text"));
    let Some(row) = client.query_opt(&select, &[&id])? else {
        return Ok(None);
    };
    let mut run = rows::run(&row)?;
    let steps = client.query(
        &format!("SELECT {} FROM steps WHERE run_id = $1 ORDER BY idx", rows::STEP_SELECT),
        &[&id],
    )?;
    run.steps = all(&steps, |row| rows::step(row, id))?;
    Ok(Some(run))
}

/// Adds `runs` to the totals per day and per model, in the transaction that inserts them. Rows
/// are locked days first, then models, each in order, so that replicas writing at once wait
/// for each other but never deadlock.
fn add_to_stats<'a>(
    tx: &mut postgres::Transaction<'_>,
    runs: impl Iterator<Item = &'a RunRecord>,
) -> Result<(), postgres::Error> {
    use std::collections::BTreeMap;
    #[derive(Default)]
    struct Day {
        runs: i64,
        failed: i64,
        cost: f64,
        counterfactual: f64,
    }
    #[derive(Default)]
    struct Model {
        calls: i64,
        prompt: i64,
        completion: i64,
        cost: f64,
        external: i64,
        sent: i64,
        total: i64,
        redactions: i64,
    }
    let mut days: BTreeMap<String, Day> = BTreeMap::new();
    let mut models: BTreeMap<String, Model> = BTreeMap::new();
    for run in runs {
        let day = days.entry(run.created_at.chars().take(10).collect()).or_default();
        day.runs += 1;
        day.failed += i64::from(run.status == RunStatus::Failed);
        day.cost += run.cost.usd;
        day.counterfactual += run.counterfactual.cost.usd;
        for step in &run.steps {
            let Some(name) = &step.model else { continue };
            let model = models.entry(name.clone()).or_default();
            model.calls += 1;
            model.prompt += step.prompt_tokens as i64;
            model.completion += step.completion_tokens as i64;
            model.cost += step.cost.usd;
            if step.external {
                model.external += 1;
                model.sent += step.context_tokens as i64;
                model.total += run.context_tokens as i64;
                model.redactions += step.redactions as i64;
            }
        }
    }
    for (day, d) in &days {
        tx.execute(
            "INSERT INTO stats_days (day, runs, failed, cost_usd, counterfactual_usd) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (day) DO UPDATE SET runs = stats_days.runs + excluded.runs, \
             failed = stats_days.failed + excluded.failed, cost_usd = stats_days.cost_usd + excluded.cost_usd, \
             counterfactual_usd = stats_days.counterfactual_usd + excluded.counterfactual_usd",
            &[day, &d.runs, &d.failed, &d.cost, &d.counterfactual],
        )?;
    }
    for (model, m) in &models {
        tx.execute(
            "INSERT INTO stats_models (model, calls, prompt_tokens, completion_tokens, cost_usd, external_steps, \
             context_tokens_sent, context_tokens_total, redactions) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (model) DO UPDATE SET calls = stats_models.calls + excluded.calls, \
             prompt_tokens = stats_models.prompt_tokens + excluded.prompt_tokens, \
             completion_tokens = stats_models.completion_tokens + excluded.completion_tokens, \
             cost_usd = stats_models.cost_usd + excluded.cost_usd, \
             external_steps = stats_models.external_steps + excluded.external_steps, \
             context_tokens_sent = stats_models.context_tokens_sent + excluded.context_tokens_sent, \
             context_tokens_total = stats_models.context_tokens_total + excluded.context_tokens_total, \
             redactions = stats_models.redactions + excluded.redactions",
            &[model, &m.calls, &m.prompt, &m.completion, &m.cost, &m.external, &m.sent, &m.total, &m.redactions],
        )?;
    }
    Ok(())
}

/// The runs `filter` keeps, newest first, with their steps: two queries, however many.
fn load_runs(
    client: &mut Conn,
    filter: &aimos_core::RunFilter,
    limit: usize,
    offset: usize,
) -> Result<Vec<RunRecord>, Failure> {
    let (clause, values) = crate::run_filter_sql(filter, |n| format!("${n}"));
    let n = values.len();
    let (limit, offset) =
        (limit.min(i64::MAX as usize) as i64, offset.min(i64::MAX as usize) as i64);
    let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = values
        .iter()
        .map(|v| match v {
            crate::FilterValue::Text(text) => text as &(dyn postgres::types::ToSql + Sync),
            crate::FilterValue::Flag(flag) => flag,
        })
        .collect();
    params.push(&limit);
    params.push(&offset);
    let page = format!("{clause} ORDER BY id DESC LIMIT ${} OFFSET ${}", n + 1, n + 2);
    // Unfiltered, one walk down the key; filtered, the ids first, which the planner finds
    // through the filter's columns, then the rows.
    let select = rows::run_select("counterfactual::text");
    let sql = if filter.is_empty() {
        format!("SELECT {select} FROM runs{page}")
    } else {
        format!(
            "SELECT {select} FROM runs WHERE id IN (SELECT id FROM runs{page}) ORDER BY id DESC"
        )
    };
    let found = client.query(&sql, &params)?;
    let mut runs = all(&found, rows::run)?;
    let (Some(first), Some(last)) = (runs.last(), runs.first()) else { return Ok(runs) };
    let at: std::collections::HashMap<String, usize> =
        runs.iter().enumerate().map(|(i, r)| (r.id.clone(), i)).collect();
    // Unfiltered, the runs are every run between the first id and the last: their steps are one
    // range of the steps' key. Filtered, they are read by id.
    let steps = if filter.is_empty() {
        let (first, last) = (first.id.clone(), last.id.clone());
        client.query(
            &format!(
                "SELECT {}, run_id FROM steps WHERE run_id >= $1 AND run_id <= $2 ORDER BY run_id, idx",
                rows::STEP_SELECT
            ),
            &[&first, &last],
        )?
    } else {
        let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
        client.query(
            &format!(
                "SELECT {}, run_id FROM steps WHERE run_id = ANY($1) ORDER BY run_id, idx",
                rows::STEP_SELECT
            ),
            &[&ids],
        )?
    };
    for row in &steps {
        let run_id: String = row.try_get(11)?;
        let step = rows::step(row, &run_id)?;
        if let Some(&i) = at.get(&run_id) {
            runs[i].steps.push(step);
        }
    }
    Ok(runs)
}

impl Store for PgStore {
    fn put_insight(&self, insight: &Insight) -> Result<(), StoreError> {
        let i = insight.clone();
        self.with(move |client| {
            let d = &i.draft;
            client.execute(
                &format!("INSERT INTO insights ({INSIGHT_COLUMNS}, namespace) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"),
                &[
                    &i.id,
                    &i.fingerprint,
                    &i.problem,
                    &i.brief,
                    &d.diagnosis,
                    &crate::json_list(&d.plan),
                    &crate::json_list(&d.key_facts),
                    &crate::json_list(&d.pitfalls),
                    &d.confidence,
                    &d.reasoning,
                    &i.smart_model,
                    &i.cost.usd,
                    &i.created_at,
                    &(i.applied as i64),
                    &(i.succeeded as i64),
                    &(i.failed as i64),
                    &i.namespace,
                ],
            )?;
            Ok(())
        })
    }

    fn insight(&self, id: &str) -> Result<Option<Insight>, StoreError> {
        let id = id.to_owned();
        self.with(move |client| {
            client
                .query_opt(&format!("SELECT {INSIGHT_SELECT} FROM insights WHERE id = $1"), &[&id])?
                .map(|row| rows::insight(&row))
                .transpose()
                .map_err(Failure::Row)
        })
    }

    fn insights(
        &self,
        text: Option<&str>,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Insight>, StoreError> {
        let query = text.and_then(|t| crate::search_words(t, str::to_owned, " | "));
        let (limit, offset) = (limit as i64, offset as i64);
        self.with(move |client| {
            let rows = match &query {
                Some(query) => client.query(
                    &format!(
                        "SELECT {INSIGHT_SELECT} FROM insights, to_tsquery('english', $1) query \
                         WHERE search @@ query ORDER BY ts_rank_cd(search, query) DESC, id DESC LIMIT $2 OFFSET $3"
                    ),
                    &[query, &limit, &offset],
                )?,
                None => client.query(
                    &format!("SELECT {INSIGHT_SELECT} FROM insights ORDER BY id DESC LIMIT $1 OFFSET $2"),
                    &[&limit, &offset],
                )?,
            };
            all(&rows, rows::insight)
        })
    }

    fn record_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.record_runs(std::slice::from_ref(run))
    }

    fn record_runs(&self, runs: &[RunRecord]) -> Result<(), StoreError> {
        let mut batch = Vec::with_capacity(runs.len());
        for run in runs {
            let counterfactual = serde_json::to_string(&run.counterfactual)
                .map_err(|err| self.backend(&err.to_string()))?;
            batch.push((run.clone(), counterfactual));
        }
        self.with(move |client| {
            let mut tx = client.transaction()?;
            for (run, counterfactual) in &batch {
                let status = match run.status {
                    RunStatus::Succeeded => "succeeded",
                    RunStatus::Failed => "failed",
                };
                tx.execute(
                    &format!("INSERT INTO runs ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::text::jsonb, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)", rows::RUN_FIELDS.join(", ")),
                    &[
                        &run.id,
                        &run.created_at,
                        &run.strategy.as_str(),
                        &run.reason,
                        &run.task_digest,
                        &run.problem,
                        &status,
                        &run.result,
                        &run.error,
                        &run.insight_id,
                        &run.cost.usd,
                        &counterfactual,
                        &run.savings,
                        &run.latency_ms,
                        &(run.context_tokens as i64),
                        &run.verified,
                        &run.shadow_of,
                        &run.patch,
                        &crate::json_list(&run.files_changed),
                        &run.attribution.key,
                        &run.attribution.user,
                        &crate::json_tags(&run.attribution.tags),
                    ],
                )?;
                let insert = tx.prepare(
                    "INSERT INTO steps (run_id, idx, kind, model, prompt_tokens, completion_tokens, cost_usd, latency_ms, prompt_digest, note, \
                     context_tokens, external, redactions) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )?;
                for (idx, step) in run.steps.iter().enumerate() {
                    tx.execute(
                        &insert,
                        &[
                            &run.id,
                            &(idx as i32),
                            &step.kind.as_str(),
                            &step.model,
                            &(step.prompt_tokens as i64),
                            &(step.completion_tokens as i64),
                            &step.cost.usd,
                            &step.latency_ms,
                            &step.prompt_digest,
                            &step.note,
                            &(step.context_tokens as i64),
                            &step.external,
                            &(step.redactions as i64),
                        ],
                    )?;
                }
            }
            add_to_stats(&mut tx, batch.iter().map(|(run, _)| run))?;
            Ok(tx.commit()?)
        })
    }

    fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let id = id.to_owned();
        self.with(move |client| load_run(client, &id))
    }

    fn runs(&self, limit: usize, offset: usize) -> Result<Vec<RunRecord>, StoreError> {
        self.with(move |client| load_runs(client, &aimos_core::RunFilter::default(), limit, offset))
    }

    fn runs_matching(
        &self,
        filter: &aimos_core::RunFilter,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let filter = filter.clone();
        self.with(move |client| load_runs(client, &filter, limit, offset))
    }

    fn record_outcome(&self, outcome: &Outcome) -> Result<Option<Insight>, StoreError> {
        let outcome = outcome.clone();
        self.with(move |client| {
            let column = if outcome.passed { "succeeded" } else { "failed" };
            let mut tx = client.transaction()?;
            let row = tx.query_opt(
                &format!("UPDATE insights SET {column} = {column} + 1 WHERE id = $1 RETURNING {INSIGHT_SELECT}"),
                &[&outcome.insight_id],
            )?;
            let Some(row) = row else { return Ok(None) };
            tx.execute(
                "INSERT INTO outcomes (run_id, insight_id, passed, source, note, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&outcome.run_id, &outcome.insight_id, &outcome.passed, &outcome.source, &outcome.note, &outcome.created_at],
            )?;
            let insight = rows::insight(&row)?;
            tx.commit()?;
            Ok(Some(insight))
        })
    }

    fn stats(&self) -> Result<Stats, StoreError> {
        // The totals `record_runs` keeps per day and per model (schema 8).
        self.with(|client| {
            let by_day = all(&client.query(rows::DAY_TOTALS_SELECT, &[])?, rows::day_totals)?;
            let models = all(&client.query(rows::MODEL_TOTALS_SELECT, &[])?, rows::model_totals)?;
            Ok(rows::stats(by_day, models))
        })
    }

    fn insights_by_fingerprint(&self, fingerprint: &str) -> Result<Vec<Insight>, StoreError> {
        let fingerprint = fingerprint.to_owned();
        self.with(move |client| {
            let found = client.query(
                &format!("SELECT {INSIGHT_SELECT} FROM insights WHERE fingerprint = $1 ORDER BY id DESC LIMIT 20"),
                &[&fingerprint],
            )?;
            all(&found, rows::insight)
        })
    }

    fn put_insight_embedding(
        &self,
        id: &str,
        model: &str,
        vector: &[f32],
    ) -> Result<bool, StoreError> {
        let (id, model) = (id.to_owned(), model.to_owned());
        let bytes = aimos_core::dense::to_bytes(vector);
        self.with(move |client| {
            let changed = client.execute(
                "UPDATE insights SET embedding = $2, embedding_model = $3 WHERE id = $1",
                &[&id, &bytes, &model],
            )?;
            Ok(changed > 0)
        })
    }

    fn nearest_insights(
        &self,
        model: &str,
        vector: &[f32],
        limit: usize,
    ) -> Result<Vec<(Insight, f32)>, StoreError> {
        let model = model.to_owned();
        let vector = vector.to_vec();
        self.with(move |client| {
            let found = client.query(
                "SELECT id, embedding FROM insights \
                 WHERE embedding_model = $1 AND invalidated_at IS NULL",
                &[&model],
            )?;
            let scored: Vec<(String, Vec<u8>)> =
                found.iter().map(|row| (row.get(0), row.get(1))).collect();
            let best = rows::nearest(scored, &vector, limit);
            let ids: Vec<String> = best.iter().map(|(id, _)| id.clone()).collect();
            let found = client.query(
                &format!("SELECT {INSIGHT_SELECT} FROM insights WHERE id = ANY($1)"),
                &[&ids],
            )?;
            let mut insights = all(&found, rows::insight)?;
            let mut out = Vec::with_capacity(best.len());
            for (id, similarity) in best {
                if let Some(at) = insights.iter().position(|i| i.id == id) {
                    out.push((insights.swap_remove(at), similarity));
                }
            }
            Ok(out)
        })
    }

    fn claim(&self, key: &str, holder: &str, ttl: std::time::Duration) -> Result<bool, StoreError> {
        let (key, holder) = (key.to_owned(), holder.to_owned());
        let now = aimos_core::store::unix_now();
        let expires = now + ttl.as_secs_f64();
        self.with(move |client| {
            let changed = client.execute(
                "INSERT INTO claims (key, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                 WHERE claims.expires_at < $4 OR claims.holder = excluded.holder",
                &[&key, &holder, &expires, &now],
            )?;
            Ok(changed == 1)
        })
    }

    fn release(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        let (key, holder) = (key.to_owned(), holder.to_owned());
        self.with(move |client| {
            client
                .execute("DELETE FROM claims WHERE key = $1 AND holder = $2", &[&key, &holder])?;
            Ok(())
        })
    }

    fn create_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let key = key.clone();
        let name = key.name.clone();
        let inserted = self.with(move |client| {
            let inserted = client.execute(
                &format!(
                    "INSERT INTO keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (name) DO NOTHING"
                ),
                &[
                    &key.id,
                    &key.name,
                    &key.hash,
                    &key.budget_usd,
                    &key.spent_usd,
                    &key.rpm.map(i64::from),
                    &key.created_at,
                    &key.revoked_at,
                    &key.namespace,
                    &key.admin,
                ],
            )?;
            Ok(inserted == 1)
        })?;
        if !inserted {
            return Err(crate::name_taken(&self.location, &name));
        }
        Ok(())
    }

    fn key_by_hash(&self, hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        let hash = hash.to_owned();
        self.with(move |client| {
            client
                .query_opt(&format!("SELECT {KEY_COLUMNS} FROM keys WHERE hash = $1"), &[&hash])?
                .map(|row| rows::key(&row))
                .transpose()
                .map_err(Failure::Row)
        })
    }

    fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.with(|client| {
            let found = client
                .query(&format!("SELECT {KEY_COLUMNS} FROM keys ORDER BY created_at, name"), &[])?;
            all(&found, rows::key)
        })
    }

    fn add_key_spend(&self, id: &str, usd: f64) -> Result<f64, StoreError> {
        let id = id.to_owned();
        let usd = usd.max(0.0);
        self.with(move |client| {
            let row = client.query_one(
                "UPDATE keys SET spent_usd = spent_usd + $2 WHERE id = $1 RETURNING spent_usd",
                &[&id, &usd],
            )?;
            Ok(row.try_get(0)?)
        })
    }

    fn take_rate(&self, id: &str, rpm: u32) -> Result<Option<Duration>, StoreError> {
        let id = id.to_owned();
        let window = aimos_core::store::RATE_WINDOW.as_millis() as i64;
        self.with(move |client| {
            let mut tx = client.transaction()?;
            // One request of a key at a time across replicas; the database's clock, so that
            // replicas on machines whose clocks differ agree.
            tx.execute("SELECT pg_advisory_xact_lock(hashtext('aimos-rate:' || $1))", &[&id])?;
            let now: i64 = tx
                .query_one("SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint", &[])?
                .try_get(0)?;
            tx.execute(
                "DELETE FROM rate_events WHERE key_id = $1 AND at_ms <= $2",
                &[&id, &(now - window)],
            )?;
            let row = tx.query_one(
                "SELECT count(*), min(at_ms) FROM rate_events WHERE key_id = $1",
                &[&id],
            )?;
            let (count, oldest): (i64, Option<i64>) = (row.try_get(0)?, row.try_get(1)?);
            if count >= i64::from(rpm) {
                let wait = oldest.map_or(1000, |oldest| (oldest + window - now).max(1));
                return Ok(Some(Duration::from_millis(wait as u64)));
            }
            tx.execute("INSERT INTO rate_events (key_id, at_ms) VALUES ($1, $2)", &[&id, &now])?;
            tx.commit()?;
            Ok(None)
        })
    }

    fn spend_by(&self, by: SpendBy) -> Result<Vec<Spend>, StoreError> {
        self.with(move |client| {
            const SUMS: &str = "count(*), sum(cost_usd), \
                 sum((counterfactual #>> '{cost,usd}')::double precision), max(created_at)";
            let sql = match by {
                SpendBy::Key => format!("SELECT key_name, {SUMS} FROM runs GROUP BY key_name"),
                SpendBy::User => format!("SELECT user_name, {SUMS} FROM runs GROUP BY user_name"),
                SpendBy::Tag => format!(
                    "SELECT tag.key || '=' || tag.value, {SUMS} FROM runs, \
                     jsonb_each_text(runs.tags::jsonb) AS tag GROUP BY 1 \
                     UNION ALL SELECT NULL, {SUMS} FROM runs WHERE tags = '{{}}' HAVING count(*) > 0"
                ),
            };
            let mut found = client
                .query(&sql, &[])?
                .iter()
                .map(|row| {
                    Ok(Spend {
                        name: row.try_get(0)?,
                        runs: row.try_get::<_, i64>(1)? as u64,
                        cost_usd: row.try_get::<_, Option<f64>>(2)?.unwrap_or(0.0),
                        counterfactual_usd: row.try_get::<_, Option<f64>>(3)?.unwrap_or(0.0),
                        last_at: row.try_get(4)?,
                    })
                })
                .collect::<Result<Vec<_>, postgres::Error>>()?;
            crate::sort_spend(&mut found);
            Ok(found)
        })
    }

    fn revoke_key(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        let now = aimos_core::ids::now_rfc3339();
        self.with(move |client| {
            let changed = client.execute(
                "UPDATE keys SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
                &[&name, &now],
            )?;
            Ok(changed > 0)
        })
    }
    fn invalidate_insight(&self, id: &str, reason: &str) -> Result<bool, StoreError> {
        let (id, reason) = (id.to_owned(), reason.to_owned());
        let now = aimos_core::ids::now_rfc3339();
        self.with(move |client| {
            let changed = client.execute(
                "UPDATE insights SET invalidated_at = $2, invalidated_reason = $3 \
                 WHERE id = $1 AND invalidated_at IS NULL",
                &[&id, &now, &reason],
            )?;
            Ok(changed > 0)
        })
    }

    fn outcome_points(&self, limit: usize) -> Result<Vec<OutcomePoint>, StoreError> {
        let limit = limit as i64;
        self.with(move |client| {
            let found = client.query(
                &format!(
                    "SELECT {} FROM outcomes o JOIN insights i ON i.id = o.insight_id \
                     ORDER BY o.created_at DESC, o.seq DESC LIMIT $1",
                    rows::OUTCOME_POINT_SELECT
                ),
                &[&limit],
            )?;
            all(&found, rows::outcome_point)
        })
    }

    fn put_calibration(&self, calibration: &Calibration) -> Result<(), StoreError> {
        let c = calibration.clone();
        self.with(move |client| {
            client.execute(
                "INSERT INTO calibrations (smart_model, slope, intercept, points, fitted_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (smart_model) DO UPDATE SET \
                 slope = excluded.slope, intercept = excluded.intercept, \
                 points = excluded.points, fitted_at = excluded.fitted_at",
                &[&c.smart_model, &c.slope, &c.intercept, &(c.points as i64), &c.fitted_at],
            )?;
            Ok(())
        })
    }

    fn calibrations(&self) -> Result<Vec<Calibration>, StoreError> {
        self.with(move |client| {
            let found = client.query(
                &format!(
                    "SELECT {} FROM calibrations ORDER BY smart_model",
                    rows::CALIBRATION_SELECT
                ),
                &[],
            )?;
            all(&found, rows::calibration)
        })
    }
}
