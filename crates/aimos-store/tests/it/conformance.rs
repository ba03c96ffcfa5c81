//! One suite that every store passes, SQLite and PostgreSQL alike.

use std::sync::Arc;

use aimos_core::{KeyRecord, Outcome, Store};

use crate::{insight, run};

fn key(id: &str, name: &str, budget: Option<f64>) -> KeyRecord {
    KeyRecord {
        id: id.into(),
        name: name.into(),
        hash: format!("hash-of-{name}"),
        budget_usd: budget,
        spent_usd: 0.0,
        rpm: Some(60),
        created_at: format!("2026-11-26T00:00:0{id}Z"),
        revoked_at: None,
        namespace: None,
        admin: false,
    }
}

/// The suite; `store` must be empty.
pub fn conformance(store: Arc<dyn Store>) {
    // Insights: round trip, newest first, paging, search by words.
    let parser = insight("0001", "index out of bounds in the parser", "an off-by-one loop bound");
    store.put_insight(&parser).unwrap();
    store
        .put_insight(&insight("0002", "the server leaks file handles", "files never closed"))
        .unwrap();
    store
        .put_insight(&insight("0003", "slow startup of the cache", "cold cache is rebuilt"))
        .unwrap();
    assert_eq!(store.insight("0001").unwrap(), Some(parser.clone()));
    assert_eq!(store.insight("nope").unwrap(), None);
    let ids = |list: Vec<aimos_core::Insight>| list.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(ids(store.insights(None, 2, 0).unwrap()), ["0003", "0002"]);
    assert_eq!(ids(store.insights(None, 2, 2).unwrap()), ["0001"]);
    assert_eq!(ids(store.insights(Some("parser bounds?"), 10, 0).unwrap()), ["0001"]);
    assert_eq!(ids(store.insights(Some("handles OR (cache"), 10, 0).unwrap()).len(), 2);
    assert!(store.insights(Some("nothing-like-this"), 10, 0).unwrap().is_empty());

    // An insight in a namespace keeps it.
    let mut private = insight("0004", "the team's own problem", "the team's diagnosis");
    private.namespace = Some("team-a".into());
    store.put_insight(&private).unwrap();
    assert_eq!(store.insight("0004").unwrap(), Some(private.clone()));
    assert_eq!(store.insights_by_fingerprint(&private.fingerprint).unwrap(), vec![private]);

    // Runs with their steps.
    let recorded = run("r1", Some("0001"));
    store.record_run(&recorded).unwrap();
    assert_eq!(store.run("r1").unwrap(), Some(recorded.clone()));
    assert_eq!(store.run("r2").unwrap(), None);
    assert_eq!(store.runs(10, 0).unwrap(), vec![recorded]);

    // Outcomes count on the insight.
    let outcome = |id: &str, passed| Outcome {
        insight_id: id.into(),
        run_id: Some("r1".into()),
        passed,
        source: "test".into(),
        note: None,
        created_at: "2026-11-26T06:00:00Z".into(),
    };
    let updated = store.record_outcome(&outcome("0001", true)).unwrap().unwrap();
    assert_eq!((updated.succeeded, updated.failed), (1, 0));
    let updated = store.record_outcome(&outcome("0001", false)).unwrap().unwrap();
    assert_eq!((updated.succeeded, updated.failed), (1, 1));
    assert_eq!(store.record_outcome(&outcome("missing", true)).unwrap(), None);

    // Outcomes with the confidence the insight stated, newest first.
    let points = store.outcome_points(10).unwrap();
    let seen: Vec<(bool, Option<&str>, f64)> =
        points.iter().map(|p| (p.passed, p.run_id.as_deref(), p.confidence)).collect();
    let stated = parser.draft.confidence;
    assert_eq!(seen, [(false, Some("r1"), stated), (true, Some("r1"), stated)]);
    assert_eq!(points[0].smart_model, parser.smart_model);
    assert_eq!(store.outcome_points(1).unwrap().len(), 1);

    // Calibrations: one per smart model, replaced by a refit.
    let calibration = |slope: f64, points: u64| aimos_core::Calibration {
        smart_model: "local:qwen2.5-coder-1.5b".into(),
        slope,
        intercept: -0.5,
        points,
        fitted_at: "2026-11-26T07:00:00Z".into(),
    };
    assert!(store.calibrations().unwrap().is_empty());
    store.put_calibration(&calibration(0.7, 10)).unwrap();
    store.put_calibration(&calibration(0.6, 12)).unwrap();
    assert_eq!(store.calibrations().unwrap(), [calibration(0.6, 12)]);

    // Invalidation: kept for audit with its reason, once.
    assert!(store.invalidate_insight("0002", "keeps failing").unwrap());
    assert!(!store.invalidate_insight("0002", "again").unwrap(), "invalidated once");
    assert!(!store.invalidate_insight("missing", "x").unwrap());
    let kept = store.insight("0002").unwrap().unwrap();
    assert_eq!(kept.invalidated.as_ref().map(|i| i.reason.as_str()), Some("keeps failing"));
    assert!(store.insight("0001").unwrap().unwrap().invalidated.is_none());

    // Meanings: nearest first by cosine, only the asking model's, never an invalidated insight.
    let unit = |x: f32, y: f32| {
        let mut v = vec![x, y, 0.0];
        aimos_core::dense::normalize(&mut v);
        v
    };
    assert!(store.put_insight_embedding("0001", "local:e", &unit(1.0, 0.0)).unwrap());
    assert!(store.put_insight_embedding("0002", "local:e", &unit(1.0, 0.1)).unwrap());
    assert!(store.put_insight_embedding("0003", "local:e", &unit(0.2, 1.0)).unwrap());
    assert!(store.put_insight_embedding("0004", "local:other", &unit(1.0, 0.0)).unwrap());
    assert!(!store.put_insight_embedding("missing", "local:e", &unit(1.0, 0.0)).unwrap());
    let near = store.nearest_insights("local:e", &unit(1.0, 0.05), 5).unwrap();
    let seen: Vec<&str> = near.iter().map(|(i, _)| i.id.as_str()).collect();
    assert_eq!(seen, ["0001", "0003"], "0002 is invalidated, 0004 another model's");
    assert!((near[0].1 - 0.9988).abs() < 1e-3, "{}", near[0].1);
    assert_eq!(near[0].0, store.insight("0001").unwrap().unwrap());
    assert_eq!(store.nearest_insights("local:e", &unit(1.0, 0.0), 1).unwrap().len(), 1);
    // A newer vector replaces the older one.
    assert!(store.put_insight_embedding("0003", "local:e", &unit(1.0, 0.0)).unwrap());
    let near = store.nearest_insights("local:e", &unit(1.0, 0.0), 1).unwrap();
    assert!((near[0].1 - 1.0).abs() < 1e-5);
    assert!(store.nearest_insights("local:none", &unit(1.0, 0.0), 5).unwrap().is_empty());

    // A shadow run keeps its link to the live run it measured.
    let mut shadow = run("r-shadow", None);
    shadow.shadow_of = Some("r1".into());
    shadow.strategy = aimos_core::Strategy::Smart;
    store.record_run(&shadow).unwrap();
    assert_eq!(store.run("r-shadow").unwrap(), Some(shadow));

    // Stats.
    let stats = store.stats().unwrap();
    assert_eq!(stats.total.runs, 2);
    assert!((stats.total.cost.usd - 0.0004).abs() < 1e-12);
    assert!((stats.total.counterfactual.usd - 0.002).abs() < 1e-12);
    assert_eq!(stats.by_day.len(), 1);
    assert_eq!(stats.by_model[0].model, "local:qwen2.5-coder-1.5b");
    assert_eq!(stats.by_model[0].prompt_tokens, 600);
    // Only the external step counts as exposure, against its run's whole context.
    assert_eq!(
        stats.exposure,
        [aimos_core::Exposure {
            model: "openai:gpt-4.1-mini".into(),
            steps: 2,
            context_tokens_sent: 10_000,
            context_tokens_total: 40_000,
            redactions: 4,
        }]
    );

    // Insights by fingerprint, newest first.
    let by_fp = store.insights_by_fingerprint("fp-0002").unwrap();
    assert_eq!(by_fp.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["0002"]);
    assert!(store.insights_by_fingerprint("fp-none").unwrap().is_empty());

    // Claims: one holder at a time, renewable by it, free once released or expired.
    let long = std::time::Duration::from_secs(60);
    assert!(store.claim("brief-1", "run-a", long).unwrap());
    assert!(!store.claim("brief-1", "run-b", long).unwrap());
    assert!(store.claim("brief-1", "run-a", long).unwrap(), "the holder renews");
    store.release("brief-1", "run-b").unwrap();
    assert!(!store.claim("brief-1", "run-b", long).unwrap(), "only the holder releases");
    store.release("brief-1", "run-a").unwrap();
    assert!(store.claim("brief-1", "run-b", long).unwrap());
    assert!(store.claim("brief-2", "run-a", std::time::Duration::from_millis(1)).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(store.claim("brief-2", "run-b", long).unwrap(), "an expired claim lapses");

    // Keys: unique names, found by hash, spend adds up under concurrency, revocation sticks.
    store.create_key(&key("1", "ci", Some(1.0))).unwrap();
    let err = store.create_key(&key("2", "ci", None)).expect_err("same name");
    assert!(err.to_string().contains("exists already"), "{err}");
    let found = store.key_by_hash("hash-of-ci").unwrap().unwrap();
    assert_eq!((found.budget_usd, found.rpm), (Some(1.0), Some(60)));
    assert!(store.key_by_hash("nope").unwrap().is_none());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for _ in 0..25 {
                    store.add_key_spend("1", 0.01).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let spent = store.keys().unwrap()[0].spent_usd;
    assert!((spent - 1.0).abs() < 1e-9, "{spent}");
    assert!(store.revoke_key("ci").unwrap());
    assert!(!store.revoke_key("ci").unwrap(), "revoked once");
    assert!(!store.revoke_key("nobody").unwrap());
    assert!(store.key_by_hash("hash-of-ci").unwrap().unwrap().revoked_at.is_some());

    // Spend by key, user and tag: the most expensive first, runs without one under None.
    let mut ops = run("r9", None);
    ops.cost = aimos_core::Cost { usd: 0.5 };
    ops.attribution = aimos_core::Attribution {
        key: Some("ops".into()),
        user: None,
        tags: [("team".to_owned(), "infra".to_owned()), ("env".to_owned(), "prod".to_owned())]
            .into(),
    };
    store.record_run(&ops).unwrap();
    let mut bare = run("r10", None);
    bare.attribution = aimos_core::Attribution::default();
    store.record_run(&bare).unwrap();
    let by_key = store.spend_by(aimos_core::SpendBy::Key).unwrap();
    assert_eq!(by_key[0].name.as_deref(), Some("ops"), "{by_key:?}");
    assert_eq!((by_key[0].runs, by_key[0].cost_usd), (1, 0.5));
    assert!((by_key[0].counterfactual_usd - 0.001).abs() < 1e-12, "{by_key:?}");
    let ci = by_key.iter().find(|s| s.name.as_deref() == Some("ci")).unwrap();
    assert!(ci.runs >= 1, "{by_key:?}");
    assert_eq!(by_key.last().unwrap().name, None, "{by_key:?}");
    let by_user = store.spend_by(aimos_core::SpendBy::User).unwrap();
    assert!(by_user.iter().any(|s| s.name.as_deref() == Some("alice")), "{by_user:?}");
    assert!(by_user.iter().any(|s| s.name.is_none() && s.runs >= 2), "{by_user:?}");
    let by_tag = store.spend_by(aimos_core::SpendBy::Tag).unwrap();
    let names: Vec<Option<&str>> = by_tag.iter().map(|s| s.name.as_deref()).collect();
    assert_eq!(names[..2], [Some("env=prod"), Some("team=infra")], "{by_tag:?}");
    assert!(names.contains(&Some("team=search")) && names.last() == Some(&None), "{by_tag:?}");

    // A rate limit counts requests across everything that shares the store.
    assert_eq!(store.take_rate("k1", 2).unwrap(), None);
    assert_eq!(store.take_rate("k1", 2).unwrap(), None);
    let wait = store.take_rate("k1", 2).unwrap().expect("the third request waits");
    assert!(
        wait > std::time::Duration::from_secs(55) && wait <= aimos_core::store::RATE_WINDOW,
        "{wait:?}"
    );
    assert_eq!(store.take_rate("k2", 2).unwrap(), None, "another key has its own window");

    // Several runs at once, all or none.
    store.record_runs(&[crate::run("batch-1", None), crate::run("batch-2", None)]).unwrap();
    assert!(store.run("batch-1").unwrap().is_some() && store.run("batch-2").unwrap().is_some());
    let again = store.record_runs(&[crate::run("batch-3", None), crate::run("batch-1", None)]);
    assert!(again.is_err(), "an id already in the ledger fails the batch");
    assert!(store.run("batch-3").unwrap().is_none(), "and nothing of it is written");

    // Filters: the store's query keeps what the filter itself keeps, in the same order.
    let mut cheap = run("r11", None);
    cheap.strategy = aimos_core::Strategy::Cheap;
    cheap.created_at = "2026-11-27T08:00:00.000Z".into();
    cheap.verified = Some(false);
    cheap.steps.retain(|s| s.model.is_none());
    store.record_run(&cheap).unwrap();
    let mut judged = run("r12", None);
    judged.verified = Some(true);
    store.record_run(&judged).unwrap();
    let all = store.runs(1000, 0).unwrap();
    let filters = [
        aimos_core::RunFilter::default(),
        aimos_core::RunFilter { strategy: Some(aimos_core::Strategy::Cheap), ..Default::default() },
        aimos_core::RunFilter { key: Some("ops".into()), ..Default::default() },
        aimos_core::RunFilter {
            model: Some("local:qwen2.5-coder-1.5b".into()),
            ..Default::default()
        },
        aimos_core::RunFilter {
            verdict: Some(aimos_core::RunVerdict::Failed),
            ..Default::default()
        },
        aimos_core::RunFilter {
            verdict: Some(aimos_core::RunVerdict::Passed),
            ..Default::default()
        },
        aimos_core::RunFilter {
            verdict: Some(aimos_core::RunVerdict::Unjudged),
            until: Some("2026-11-27".into()),
            ..Default::default()
        },
        aimos_core::RunFilter { since: Some("2026-11-27".into()), ..Default::default() },
        aimos_core::RunFilter { model: Some("nobody".into()), ..Default::default() },
        aimos_core::RunFilter { insight: Some("0001".into()), ..Default::default() },
        aimos_core::RunFilter { shadow_of: Some("r1".into()), ..Default::default() },
    ];
    let ids = |runs: &[aimos_core::RunRecord]| -> Vec<String> {
        runs.iter().map(|r| r.id.clone()).collect()
    };
    for filter in &filters {
        let kept: Vec<_> = all.iter().filter(|r| filter.matches(r)).cloned().collect();
        assert_eq!(ids(&store.runs_matching(filter, 1000, 0).unwrap()), ids(&kept), "{filter:?}");
        let page = store.runs_matching(filter, 1, 1).unwrap();
        assert_eq!(ids(&page), ids(&kept).into_iter().skip(1).take(1).collect::<Vec<_>>());
    }
    assert_eq!(ids(&store.runs_matching(&filters[1], 10, 0).unwrap()), ["r11"]);
    assert_eq!(ids(&store.runs_matching(&filters[4], 10, 0).unwrap()), ["r11"]);
    assert_eq!(ids(&store.runs_matching(&filters[7], 10, 0).unwrap()), ["r11"]);
    assert_eq!(ids(&store.runs_matching(&filters[10], 10, 0).unwrap()), ["r-shadow"]);
    let by_key = store.spend_by(aimos_core::SpendBy::Key).unwrap();
    let ops = by_key.iter().find(|s| s.name.as_deref() == Some("ops")).unwrap();
    assert_eq!(ops.last_at.as_deref(), Some("2026-11-26T05:00:01.000Z"), "{by_key:?}");

    // The totals kept per day and per model equal the sums over the runs themselves.
    let stats = store.stats().unwrap();
    let all = store.runs(1000, 0).unwrap();
    assert_eq!(stats.total.runs, all.len() as u64);
    assert_eq!(
        stats.total.failed,
        all.iter().filter(|r| r.status == aimos_core::RunStatus::Failed).count() as u64
    );
    let cost: f64 = all.iter().map(|r| r.cost.usd).sum();
    assert!((stats.total.cost.usd - cost).abs() < 1e-9, "{stats:?}");
    let days: u64 = stats.by_day.iter().map(|(_, t)| t.runs).sum();
    assert_eq!(days, stats.total.runs);
    for usage in &stats.by_model {
        let calls = all
            .iter()
            .flat_map(|r| &r.steps)
            .filter(|s| s.model.as_deref() == Some(usage.model.as_str()))
            .count();
        assert_eq!(usage.calls, calls as u64, "{usage:?}");
    }
    let external = all.iter().flat_map(|r| &r.steps).filter(|s| s.external).count() as u64;
    assert_eq!(stats.exposure.iter().map(|e| e.steps).sum::<u64>(), external, "{stats:?}");

    // An admin key reads back as one.
    let mut admin = key("7", "root", None);
    admin.hash = "hash-of-root".into();
    admin.admin = true;
    store.create_key(&admin).unwrap();
    assert!(store.key_by_hash("hash-of-root").unwrap().unwrap().admin);
    assert!(!store.keys().unwrap()[0].admin);
}

/// Both stores read a row they cannot understand the same way: an error naming the table, the
/// row and the column, never a default. `spoil` runs SQL on the store's database behind its back.
pub fn bad_rows_are_errors_that_name_row_and_column(store: Arc<dyn Store>, spoil: &dyn Fn(&str)) {
    store.record_run(&run("r1", None)).unwrap();
    spoil("UPDATE runs SET strategy = 'fastest' WHERE id = 'r1'");
    let err = store.run("r1").expect_err("an unknown strategy");
    assert!(
        err.to_string().contains("runs row r1, column strategy: unknown name `fastest`"),
        "{err}"
    );
    let err = store.runs(10, 0).expect_err("the list holds the bad row");
    assert!(err.to_string().contains("runs row r1, column strategy"), "{err}");

    store.put_insight(&insight("0001", "a problem", "a diagnosis")).unwrap();
    spoil("UPDATE insights SET plan = 'step one' WHERE id = '0001'");
    let err = store.insight("0001").expect_err("a plan that is not JSON");
    assert!(err.to_string().contains("insights row 0001, column plan: not valid JSON"), "{err}");

    store.record_run(&run("r2", None)).unwrap();
    spoil("UPDATE steps SET kind = 'dream' WHERE run_id = 'r2' AND idx = 1");
    let err = store.run("r2").expect_err("an unknown step kind");
    assert!(
        err.to_string().contains("steps row of run r2, column kind: unknown name `dream`"),
        "{err}"
    );
}

#[test]
fn sqlite_reads_bad_rows_as_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aimos.db");
    let store = aimos_store::SqliteStore::open(&path).unwrap();
    let spoil = |sql: &str| {
        rusqlite::Connection::open(&path).unwrap().execute_batch(sql).unwrap();
    };
    bad_rows_are_errors_that_name_row_and_column(Arc::new(store), &spoil);
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_reads_bad_rows_as_errors() {
    let db = crate::pg::Schema::new();
    let store = aimos_store::PgStore::open(&db.url).unwrap();
    let spoil = |sql: &str| db.client().batch_execute(sql).unwrap();
    bad_rows_are_errors_that_name_row_and_column(Arc::new(store), &spoil);
}

#[test]
fn sqlite_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = aimos_store::SqliteStore::open(&dir.path().join("aimos.db")).unwrap();
    conformance(Arc::new(store));
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_conforms() {
    let db = crate::pg::Schema::new();
    conformance(Arc::new(aimos_store::PgStore::open(&db.url).unwrap()));
}
