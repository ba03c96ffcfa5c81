//! The ledger queue: bounded, read-your-writes, and nothing lost on close.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aimos_core::{Insight, KeyRecord, Outcome, RunRecord, Stats, Store, StoreError};
use aimos_store::{LedgerQueue, SqliteStore};

/// A test double of `Store`: a real SQLite store whose run writes take 10 ms, to let a queue
/// fill up.
struct SlowRuns(SqliteStore, AtomicUsize);

impl Store for SlowRuns {
    fn put_insight(&self, i: &Insight) -> Result<(), StoreError> {
        self.0.put_insight(i)
    }
    fn insight(&self, id: &str) -> Result<Option<Insight>, StoreError> {
        self.0.insight(id)
    }
    fn insights(&self, t: Option<&str>, l: usize, o: usize) -> Result<Vec<Insight>, StoreError> {
        self.0.insights(t, l, o)
    }
    fn record_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        std::thread::sleep(Duration::from_millis(10));
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.record_run(run)
    }
    fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.0.run(id)
    }
    fn runs(&self, l: usize, o: usize) -> Result<Vec<RunRecord>, StoreError> {
        self.0.runs(l, o)
    }
    fn record_outcome(&self, o: &Outcome) -> Result<Option<Insight>, StoreError> {
        self.0.record_outcome(o)
    }
    fn stats(&self) -> Result<Stats, StoreError> {
        self.0.stats()
    }
    fn insights_by_fingerprint(&self, f: &str) -> Result<Vec<Insight>, StoreError> {
        self.0.insights_by_fingerprint(f)
    }
    fn put_insight_embedding(&self, id: &str, m: &str, v: &[f32]) -> Result<bool, StoreError> {
        self.0.put_insight_embedding(id, m, v)
    }
    fn nearest_insights(
        &self,
        m: &str,
        v: &[f32],
        n: usize,
    ) -> Result<Vec<(Insight, f32)>, StoreError> {
        self.0.nearest_insights(m, v, n)
    }
    fn claim(&self, k: &str, h: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.0.claim(k, h, ttl)
    }
    fn release(&self, k: &str, h: &str) -> Result<(), StoreError> {
        self.0.release(k, h)
    }
    fn create_key(&self, k: &KeyRecord) -> Result<(), StoreError> {
        self.0.create_key(k)
    }
    fn key_by_hash(&self, h: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.0.key_by_hash(h)
    }
    fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.0.keys()
    }
    fn add_key_spend(&self, id: &str, usd: f64) -> Result<f64, StoreError> {
        self.0.add_key_spend(id, usd)
    }
    fn revoke_key(&self, n: &str) -> Result<bool, StoreError> {
        self.0.revoke_key(n)
    }
    fn take_rate(&self, id: &str, rpm: u32) -> Result<Option<std::time::Duration>, StoreError> {
        self.0.take_rate(id, rpm)
    }
    fn spend_by(&self, by: aimos_core::SpendBy) -> Result<Vec<aimos_core::Spend>, StoreError> {
        self.0.spend_by(by)
    }
    fn invalidate_insight(&self, id: &str, reason: &str) -> Result<bool, StoreError> {
        self.0.invalidate_insight(id, reason)
    }

    fn outcome_points(&self, limit: usize) -> Result<Vec<aimos_core::OutcomePoint>, StoreError> {
        self.0.outcome_points(limit)
    }

    fn put_calibration(&self, calibration: &aimos_core::Calibration) -> Result<(), StoreError> {
        self.0.put_calibration(calibration)
    }

    fn calibrations(&self) -> Result<Vec<aimos_core::Calibration>, StoreError> {
        self.0.calibrations()
    }
}

#[test]
fn queued_runs_are_bounded_readable_at_once_and_all_written_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aimos.db");
    let slow = Arc::new(SlowRuns(SqliteStore::open(&path).unwrap(), AtomicUsize::new(0)));
    let capacity = 4;
    let queue = Arc::new(LedgerQueue::new(slow.clone(), capacity));

    let writer = {
        let queue = Arc::clone(&queue);
        std::thread::spawn(move || {
            let mut most = 0;
            for i in 0..40 {
                let id = format!("r{i:02}");
                queue.record_run(&crate::run(&id, None)).unwrap();
                // Read your own write, whether or not it has reached the store.
                assert_eq!(queue.run(&id).unwrap().map(|r| r.id), Some(id));
                most = most.max(queue.pending());
            }
            most
        })
    };
    let most = writer.join().unwrap();
    // What a crash could lose is bounded: the queue plus the batch being written.
    assert!(most <= 2 * capacity + 1, "{most} runs were pending at once");
    assert!(slow.1.load(Ordering::SeqCst) < 40, "some runs were still queued");
    queue.close();
    assert_eq!(queue.pending(), 0);
    assert_eq!(slow.1.load(Ordering::SeqCst), 40, "close wrote everything queued");
    assert_eq!(SqliteStore::open(&path).unwrap().runs(100, 0).unwrap().len(), 40);
}

/// A killed process's spool (its lock free, its runs in a segment, the last line cut short) is
/// written by the next queue on the same store as it opens: the runs the store lacks, once each.
#[test]
fn a_spooled_queue_writes_what_a_killed_process_left() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aimos.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    // One of the dead process's runs had reached the store before it died.
    store.record_run(&crate::run("r1", None)).unwrap();
    let root = aimos_store::spool_root(&path.to_string_lossy()).unwrap();
    let dead = root.join("dead-1");
    std::fs::create_dir_all(&dead).unwrap();
    std::fs::write(dead.join("lock"), "").unwrap();
    let mut lines = String::new();
    for id in ["r0", "r1", "r2"] {
        lines.push_str(&serde_json::to_string(&crate::run(id, None)).unwrap());
        lines.push('\n');
    }
    lines.push_str("{\"id\": \"r3\", \"crea");
    std::fs::write(dead.join("00000000.jsonl"), lines).unwrap();

    let (queue, replayed) =
        LedgerQueue::spooled(Arc::clone(&store), 8, &root, aimos_store::SpoolSync::Written)
            .unwrap();
    assert_eq!(replayed, aimos_store::Replayed { written: 2, present: 1, torn: 1 });
    assert!(!dead.exists(), "the dead process's spool is removed");
    // Written before `spooled` returns, not left to the writer: a kill right after startup
    // leaves nothing of them to replay again.
    assert!(store.run("r0").unwrap().is_some() && store.run("r2").unwrap().is_some());
    assert_eq!(queue.pending(), 0);
    queue.record_run(&crate::run("r4", None)).unwrap();
    let own = queue.spool_dir().unwrap().to_path_buf();
    queue.close();
    let mut ids: Vec<String> = store.runs(10, 0).unwrap().into_iter().map(|r| r.id).collect();
    ids.sort();
    assert_eq!(ids, ["r0", "r1", "r2", "r4"]);
    drop(queue);
    assert!(!own.exists(), "a spool whose runs are all written leaves nothing behind");
    // A second queue finds nothing to replay.
    let (_queue, replayed) =
        LedgerQueue::spooled(store, 8, &root, aimos_store::SpoolSync::Synced).unwrap();
    assert_eq!(replayed, aimos_store::Replayed::default());
}
