//! The SQLite store against real files.

#![allow(clippy::panic, clippy::unwrap_used)]

use aimos_core::{
    Cost, Counterfactual, Insight, InsightDraft, RunRecord, RunStatus, Step, StepKind, Store,
    StoreError, Strategy,
};
use aimos_store::{SCHEMA_VERSION, SqliteStore};

mod conformance;
#[cfg(feature = "postgres")]
mod pg;
#[cfg(feature = "postgres")]
mod pg_tls;
mod queue;

fn insight(id: &str, problem: &str, diagnosis: &str) -> Insight {
    Insight {
        id: id.into(),
        fingerprint: format!("fp-{id}"),
        problem: problem.into(),
        brief: format!("Problem: {problem}"),
        draft: InsightDraft {
            diagnosis: diagnosis.into(),
            plan: vec!["look".into(), "fix".into()],
            key_facts: vec!["a fact".into()],
            pitfalls: vec![],
            confidence: 0.7,
            reasoning: "because".into(),
        },
        smart_model: "local:qwen2.5-coder-1.5b".into(),
        cost: Cost { usd: 0.0001 },
        created_at: "2026-11-26T05:00:00.000Z".into(),
        applied: 1,
        succeeded: 0,
        failed: 0,
        invalidated: None,
        namespace: None,
    }
}

fn run(id: &str, insight_id: Option<&str>) -> RunRecord {
    RunRecord {
        id: id.into(),
        created_at: "2026-11-26T05:00:01.000Z".into(),
        strategy: Strategy::Consult,
        reason: "chosen by the caller".into(),
        task_digest: "digest".into(),
        problem: "why does it panic".into(),
        status: RunStatus::Succeeded,
        result: "fixed".into(),
        error: None,
        insight_id: insight_id.map(str::to_owned),
        cost: Cost { usd: 0.0002 },
        counterfactual: Counterfactual {
            model: "local:qwen2.5-coder-1.5b".into(),
            cost: Cost { usd: 0.001 },
            prompt_tokens: 900,
            completion_tokens: 100,
            latency_ms: 20_000.0,
            latency_measured: false,
        },
        savings: 0.8,
        latency_ms: 9_000.0,
        steps: vec![
            Step {
                kind: StepKind::Distill,
                model: None,
                prompt_tokens: 0,
                completion_tokens: 0,
                cost: Cost::default(),
                latency_ms: 1.0,
                prompt_digest: Some("d".into()),
                note: Some("brief of 200 tokens".into()),
                context_tokens: 0,
                external: false,
                redactions: 1,
            },
            Step {
                kind: StepKind::Consult,
                model: Some("local:qwen2.5-coder-1.5b".into()),
                prompt_tokens: 300,
                completion_tokens: 120,
                cost: Cost { usd: 0.00003 },
                latency_ms: 5000.0,
                prompt_digest: Some("c".into()),
                note: None,
                context_tokens: 150,
                external: false,
                redactions: 1,
            },
            Step {
                kind: StepKind::Execute,
                model: Some("openai:gpt-4.1-mini".into()),
                prompt_tokens: 5_200,
                completion_tokens: 80,
                cost: Cost { usd: 0.00001 },
                latency_ms: 900.0,
                prompt_digest: Some("e".into()),
                note: None,
                context_tokens: 5_000,
                external: true,
                redactions: 2,
            },
        ],
        context_tokens: 20_000,
        verified: Some(true),
        shadow_of: None,
        patch: Some(
            "diff --git a/src/a.rs b/src/a.rs\n--- a/src/a.rs\n+++ b/src/a.rs\n@@ -1 +1 @@\n-x\n+y\n"
                .into(),
        ),
        files_changed: vec!["src/a.rs".into()],
        attribution: aimos_core::Attribution {
            key: Some("ci".into()),
            user: Some("alice".into()),
            tags: [("team".to_owned(), "search".to_owned())].into(),
        },
    }
}

#[test]
fn insights_and_runs_survive_reopening_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested/aimos.db");
    {
        let store = SqliteStore::open(&path).expect("open");
        store
            .put_insight(&insight("0001", "index out of bounds in parser", "off by one"))
            .expect("put");
        store.record_run(&run("r1", Some("0001"))).expect("record");
    }
    let store = SqliteStore::open(&path).expect("reopen");
    let back = store.insight("0001").expect("query").expect("stored");
    assert_eq!(back, insight("0001", "index out of bounds in parser", "off by one"));
    let back_run = store.run("r1").expect("query").expect("stored");
    assert_eq!(back_run, run("r1", Some("0001")));
    assert_eq!(store.runs(10, 0).expect("list").len(), 1);
    assert!(store.insight("missing").expect("query").is_none());
}

#[test]
fn search_finds_insights_by_words_newest_first_without_search() {
    let store = SqliteStore::in_memory().expect("open");
    store
        .put_insight(&insight("0001", "index out of bounds in parser", "off by one in the loop"))
        .expect("put");
    store
        .put_insight(&insight("0002", "slow database query", "missing index on user_id"))
        .expect("put");
    store.put_insight(&insight("0003", "test fails on CI only", "timezone differs")).expect("put");

    let all: Vec<String> =
        store.insights(None, 10, 0).expect("list").into_iter().map(|i| i.id).collect();
    assert_eq!(all, ["0003", "0002", "0001"]);
    let paged: Vec<String> =
        store.insights(None, 1, 1).expect("list").into_iter().map(|i| i.id).collect();
    assert_eq!(paged, ["0002"]);
    let found: Vec<String> = store
        .insights(Some("parser bounds"), 10, 0)
        .expect("search")
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(found, ["0001"]);
    let by_diagnosis: Vec<String> = store
        .insights(Some("timezone"), 10, 0)
        .expect("search")
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(by_diagnosis, ["0003"]);
    assert!(
        store
            .insights(Some("\"; DROP TABLE insights; --"), 10, 0)
            .expect("odd input is just words")
            .is_empty()
    );
}

#[test]
fn a_file_from_a_newer_aimos_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("aimos.db");
    drop(SqliteStore::open(&path).expect("create"));
    {
        let conn = rusqlite_connection(&path);
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).expect("bump");
    }
    let before = std::fs::read(&path).expect("read");
    let err = SqliteStore::open(&path).expect_err("newer");
    assert!(matches!(err, StoreError::NewerSchema { .. }), "{err:?}");
    assert!(err.to_string().contains("upgrade aimos"), "{err}");
    assert_eq!(std::fs::read(&path).expect("read"), before);
}

#[test]
fn a_file_that_is_not_an_aimos_store_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("notes.db");
    std::fs::write(&text, "these are my notes, not a database ".repeat(200)).expect("write");
    let err = SqliteStore::open(&text).expect_err("not a database");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert_eq!(std::fs::read_to_string(&text).expect("untouched").len(), 35 * 200);

    let other = dir.path().join("other.db");
    rusqlite_connection(&other)
        .execute_batch("CREATE TABLE customers (id INTEGER)")
        .expect("create");
    let err = SqliteStore::open(&other).expect_err("someone else's database");
    assert!(err.to_string().contains("someone else's tables"), "{err}");
}

fn rusqlite_connection(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("open with rusqlite")
}

#[test]
fn outcomes_count_on_the_insight_and_unknown_ids_are_reported() {
    let store = SqliteStore::in_memory().expect("open");
    store.put_insight(&insight("0001", "flaky test", "race on a shared port")).expect("put");
    let outcome = |passed| aimos_core::Outcome {
        insight_id: "0001".into(),
        run_id: None,
        passed,
        source: "user".into(),
        note: Some("checked by hand".into()),
        created_at: "2026-11-26T06:00:00.000Z".into(),
    };
    store.record_outcome(&outcome(true)).expect("record").expect("known insight");
    let after = store.record_outcome(&outcome(false)).expect("record").expect("known insight");
    assert_eq!((after.succeeded, after.failed), (1, 1));
    let unknown = aimos_core::Outcome { insight_id: "nope".into(), ..outcome(true) };
    assert!(store.record_outcome(&unknown).expect("no error").is_none());
}

#[test]
fn stats_sum_runs_by_day_and_model() {
    let store = SqliteStore::in_memory().expect("open");
    store.put_insight(&insight("0001", "p", "d")).expect("put");
    store.record_run(&run("r1", Some("0001"))).expect("record");
    let mut second = run("r2", None);
    second.created_at = "2026-11-27T01:00:00.000Z".into();
    second.status = RunStatus::Failed;
    store.record_run(&second).expect("record");
    let stats = store.stats().expect("stats");
    assert_eq!(stats.total.runs, 2);
    assert_eq!(stats.total.failed, 1);
    assert!((stats.total.cost.usd - 0.0004).abs() < 1e-12);
    assert!((stats.total.counterfactual.usd - 0.002).abs() < 1e-12);
    assert!((stats.total.savings() - 0.8).abs() < 1e-9);
    let days: Vec<&str> = stats.by_day.iter().map(|(day, _)| day.as_str()).collect();
    assert_eq!(days, ["2026-11-27", "2026-11-26"]);
    assert_eq!(stats.by_model.len(), 2);
    assert_eq!(stats.by_model[0].model, "local:qwen2.5-coder-1.5b");
    assert_eq!(stats.by_model[0].calls, 2);
    assert_eq!(stats.by_model[0].prompt_tokens, 600);
    assert_eq!(stats.exposure.len(), 1);
    assert_eq!(stats.exposure[0].steps, 2);
    assert_eq!(stats.exposure[0].context_tokens_sent, 10_000);
    assert_eq!(stats.exposure[0].context_tokens_total, 40_000);
}

/// Insights stored before meanings were kept have none after the upgrade, and can be given one.
#[test]
fn insights_from_before_embeddings_upgrade_without_one_and_take_one_later() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("aimos.db");
    let old = insight("older", "a problem from before", "its diagnosis");
    {
        let store = SqliteStore::open(&path).expect("open");
        store.put_insight(&old).expect("put");
        rusqlite_connection(&path)
            .execute_batch(
                "ALTER TABLE insights DROP COLUMN embedding_model; PRAGMA user_version = 9;",
            )
            .expect("back to schema 9");
    }
    let store = SqliteStore::open(&path).expect("upgrade");
    assert_eq!(store.insight("older").expect("read"), Some(old.clone()));
    assert!(store.nearest_insights("local:e", &[1.0, 0.0], 5).expect("near").is_empty());
    assert!(store.put_insight_embedding("older", "local:e", &[1.0, 0.0]).expect("put vector"));
    let near = store.nearest_insights("local:e", &[1.0, 0.0], 5).expect("near");
    assert_eq!(near.len(), 1);
    assert_eq!(near[0].0, old);
}

/// A store written before the totals were kept per day and per model gets them summed from its
/// runs when it opens, and they then grow with every run as a fresh store's do.
#[test]
fn stats_kept_by_triggers_equal_the_sums_over_the_runs_after_an_upgrade() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("aimos.db");
    let mut late = run("r3", None);
    late.created_at = "2026-11-28T23:59:59.000Z".into();
    late.status = RunStatus::Failed;
    {
        let store = SqliteStore::open(&path).expect("open");
        store.record_runs(&[run("r1", None), late.clone()]).expect("record");
        let conn = rusqlite_connection(&path);
        conn.execute_batch(
            "DROP TRIGGER stats_days_insert; DROP TRIGGER stats_models_insert; \
             DROP TABLE stats_days; DROP TABLE stats_models; DROP INDEX runs_key_name; \
             DROP INDEX runs_insight_id; DROP INDEX runs_shadow_of; \
             ALTER TABLE keys DROP COLUMN admin; ALTER TABLE insights DROP COLUMN embedding_model; \
             PRAGMA user_version = 8;",
        )
        .expect("back to schema 8");
    }
    let store = SqliteStore::open(&path).expect("upgrade");
    let upgraded = store.stats().expect("stats");
    assert_eq!(upgraded.total.runs, 2);
    assert_eq!(upgraded.total.failed, 1);
    store.record_run(&run("r4", None)).expect("record");
    let stats = store.stats().expect("stats");
    // What the triggers kept equals the sums over the runs themselves.
    let runs = store.runs(100, 0).expect("runs");
    assert_eq!(stats.total.runs, runs.len() as u64);
    let cost: f64 = runs.iter().map(|r| r.cost.usd).sum();
    let counterfactual: f64 = runs.iter().map(|r| r.counterfactual.cost.usd).sum();
    assert!((stats.total.cost.usd - cost).abs() < 1e-12, "{stats:?}");
    assert!((stats.total.counterfactual.usd - counterfactual).abs() < 1e-12, "{stats:?}");
    let days: Vec<(&str, u64)> = stats.by_day.iter().map(|(d, t)| (d.as_str(), t.runs)).collect();
    assert_eq!(days, [("2026-11-28", 1), ("2026-11-26", 2)]);
    for usage in &stats.by_model {
        let steps: Vec<&aimos_core::Step> = runs
            .iter()
            .flat_map(|r| &r.steps)
            .filter(|s| s.model.as_deref() == Some(usage.model.as_str()))
            .collect();
        assert_eq!(usage.calls, steps.len() as u64, "{usage:?}");
        assert_eq!(usage.prompt_tokens, steps.iter().map(|s| s.prompt_tokens).sum::<u64>());
    }
    let external: u64 = runs.iter().flat_map(|r| &r.steps).filter(|s| s.external).count() as u64;
    assert_eq!(stats.exposure.iter().map(|e| e.steps).sum::<u64>(), external);
    let total_context: u64 = runs
        .iter()
        .map(|r| r.context_tokens * r.steps.iter().filter(|s| s.external).count() as u64)
        .sum();
    assert_eq!(stats.exposure.iter().map(|e| e.context_tokens_total).sum::<u64>(), total_context);
}

#[test]
fn a_store_locked_by_another_writer_is_reported_as_locked_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("aimos.db");
    let store = SqliteStore::open(&path).expect("open");
    store.put_insight(&insight("0001", "first", "kept")).expect("put");
    let other = rusqlite_connection(&path);
    other.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    let err = store.put_insight(&insight("0002", "second", "waits")).expect_err("locked");
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("locked by another process"), "{err}");
    other.execute_batch("ROLLBACK").expect("unlock");
    store.put_insight(&insight("0002", "second", "waits")).expect("put after the lock is gone");
    let ids: Vec<String> =
        store.insights(None, 10, 0).expect("list").into_iter().map(|i| i.id).collect();
    assert_eq!(ids, ["0002", "0001"]);
}

#[test]
fn a_version_1_file_gains_the_later_tables_and_keeps_its_insights() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("aimos.db");
    {
        let store = SqliteStore::open(&path).expect("open");
        store.put_insight(&insight("0001", "old problem", "old diagnosis")).expect("put");
    }
    {
        let conn = rusqlite_connection(&path);
        conn.execute_batch(
            "DROP TRIGGER stats_days_insert; DROP TRIGGER stats_models_insert; \
             DROP TABLE stats_days; DROP TABLE stats_models; DROP INDEX runs_shadow_of; \
             DROP TABLE keys; DROP TABLE claims; \
             ALTER TABLE steps DROP COLUMN context_tokens; ALTER TABLE steps DROP COLUMN external; \
             ALTER TABLE steps DROP COLUMN redactions; ALTER TABLE runs DROP COLUMN context_tokens; \
             ALTER TABLE runs DROP COLUMN verified; \
             ALTER TABLE insights DROP COLUMN invalidated_at; \
             ALTER TABLE insights DROP COLUMN invalidated_reason; DROP TABLE calibrations; \
             DROP INDEX outcomes_insight; ALTER TABLE runs DROP COLUMN shadow_of; \
             ALTER TABLE runs DROP COLUMN patch; ALTER TABLE runs DROP COLUMN files_changed; \
             DROP INDEX runs_key_name; DROP INDEX runs_insight_id; \
             ALTER TABLE runs DROP COLUMN key_name; ALTER TABLE runs DROP COLUMN user_name; \
             ALTER TABLE runs DROP COLUMN tags; DROP TABLE rate_events; \
             ALTER TABLE insights DROP COLUMN namespace; \
             ALTER TABLE insights DROP COLUMN embedding_model; \
             PRAGMA user_version = 1;",
        )
        .expect("downgrade");
    }
    let store = SqliteStore::open(&path).expect("migrate");
    assert!(store.insight("0001").expect("query").is_some());
    assert!(store.keys().expect("keys work").is_empty());
    let admin = aimos_core::KeyRecord {
        id: "k".into(),
        name: "root".into(),
        hash: "h".into(),
        budget_usd: None,
        spent_usd: 0.0,
        rpm: None,
        created_at: "2026-11-28T00:00:00Z".into(),
        revoked_at: None,
        namespace: None,
        admin: true,
    };
    store.create_key(&admin).expect("a key with the new column");
    assert!(store.keys().expect("keys")[0].admin);
    assert!(store.calibrations().expect("calibrations work").is_empty());
    assert!(store.invalidate_insight("0001", "superseded").expect("invalidation works"));
    // Runs written after the migration keep their exposure figures.
    store.record_run(&run("0003", None)).expect("record");
    assert_eq!(store.run("0003").expect("read"), Some(run("0003", None)));
    let conn = rusqlite_connection(&path);
    let version: i64 =
        conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("version");
    assert_eq!(version, SCHEMA_VERSION);
}
