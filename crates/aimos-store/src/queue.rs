//! Ledger writes off the request path: runs go into a bounded queue that a background thread
//! writes in batches; everything else goes straight to the store underneath.
//!
//! What a crash can lose: with a spool ([`LedgerQueue::spooled`]), nothing. `record_run`
//! returns only once the run is appended to a local file (and, with [`SpoolSync::Synced`],
//! synced to disk); a process killed with runs still queued leaves them there, and the next
//! process on the same store writes the ones the store does not have. With
//! [`SpoolSync::Written`] a power loss can lose the runs answered in the few milliseconds
//! before their batch reaches the store: the writer syncs the spool as soon as a write to the
//! store fails, so runs held back by a failing store are on disk. Without a spool, a crash
//! loses the runs still queued (at most the queue's capacity plus the batch being written).
//! A full queue makes `record_run` wait (it never drops a run), and [`LedgerQueue::close`]
//! writes everything queued before it returns: a graceful shutdown loses nothing. Insights are
//! never queued: a paid-for consultation is stored at once.
//!
//! Reading back: `run(id)` finds a run still queued; `runs()` and `stats()` read the store
//! underneath, so they see a run only once it is written.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aimos_core::{Insight, KeyRecord, Outcome, RunRecord, Stats, Store, StoreError};

use crate::spool::{Spool, SpoolSync};

/// Runs queued by default: enough for a few seconds of a busy gateway while the store stalls
/// (a SQLite checkpoint, a PostgreSQL failover), at a few kilobytes each.
pub const DEFAULT_CAPACITY: usize = 4096;

pub struct LedgerQueue {
    inner: Arc<dyn Store>,
    sender: Mutex<Option<SyncSender<RunRecord>>>,
    /// Runs accepted and not yet written, so that they can be read back at once.
    pending: Arc<Mutex<HashMap<String, RunRecord>>>,
    worker: Mutex<Option<JoinHandle<()>>>,
    spool: Option<Arc<Spool>>,
}

/// What a spooled queue found left by processes that are gone.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// Runs written to the store now (or, where it could not take them yet, spooled again by
    /// this process, to be written by its ledger).
    pub written: usize,
    /// Runs the store already had (written before their process died).
    pub present: usize,
    /// Lines cut short by a crash mid-write: never acknowledged, so nothing is lost.
    pub torn: usize,
}

impl std::fmt::Debug for LedgerQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerQueue").field("pending", &self.pending()).finish_non_exhaustive()
    }
}

impl LedgerQueue {
    /// Queues run records for `inner`, at most `capacity` waiting.
    pub fn new(inner: Arc<dyn Store>, capacity: usize) -> LedgerQueue {
        LedgerQueue::start(inner, capacity, None)
    }

    /// Queues run records for `inner` with a spool under `root` (one folder per store), so
    /// that a run accepted survives the process being killed (and with [`SpoolSync::Synced`],
    /// a power loss); first writes what spools of processes that are gone still hold.
    pub fn spooled(
        inner: Arc<dyn Store>,
        capacity: usize,
        root: &std::path::Path,
        sync: SpoolSync,
    ) -> Result<(LedgerQueue, Replayed), StoreError> {
        let (spool, orphans) = Spool::open(root, sync)?;
        let queue = LedgerQueue::start(inner, capacity, Some(Arc::new(spool)));
        let mut replayed = Replayed { torn: orphans.torn, ..Replayed::default() };
        let mut missing = Vec::new();
        for run in &orphans.runs {
            if queue.inner.run(&run.id)?.is_some() {
                replayed.present += 1;
            } else {
                missing.push(run.clone());
            }
        }
        replayed.written = missing.len();
        // Written before serving, in one transaction, so that "written now" is true when it is
        // said; a store that cannot take them yet gets them through this process's spool.
        if !missing.is_empty() && queue.inner.record_runs(&missing).is_err() {
            missing.iter().try_for_each(|run| queue.record_run(run))?;
        }
        // Every run is in the store or in this process's spool now.
        orphans.remove();
        Ok((queue, replayed))
    }

    fn start(inner: Arc<dyn Store>, capacity: usize, spool: Option<Arc<Spool>>) -> LedgerQueue {
        let capacity = capacity.max(1);
        let (sender, receiver) = sync_channel(capacity);
        let pending = Arc::new(Mutex::new(HashMap::new()));
        let worker = {
            let (inner, pending, spool) = (Arc::clone(&inner), Arc::clone(&pending), spool.clone());
            std::thread::Builder::new()
                .name("aimos-ledger".into())
                .spawn(move || write(&*inner, &receiver, &pending, capacity, spool.as_deref()))
                .ok()
        };
        LedgerQueue {
            inner,
            sender: Mutex::new(Some(sender)),
            pending,
            worker: Mutex::new(worker),
            spool,
        }
    }

    /// The folder of this process's spool, if it has one.
    pub fn spool_dir(&self) -> Option<&std::path::Path> {
        self.spool.as_deref().map(Spool::dir)
    }

    /// Runs accepted and not yet written.
    pub fn pending(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Writes everything queued, then stops the writer; later runs are written directly.
    pub fn close(&self) {
        drop(self.sender.lock().unwrap_or_else(|p| p.into_inner()).take());
        if let Some(worker) = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = worker.join();
        }
    }
}

impl Drop for LedgerQueue {
    fn drop(&mut self) {
        self.close();
    }
}

/// How long the writer waits after a run for others to share its transaction. A commit syncs
/// to disk; at a busy gateway's rate of a run a millisecond, committing each run on its own
/// took about a quarter of the gateway's CPU time, most of it in the kernel's I/O path.
pub const WRITE_LINGER: Duration = Duration::from_millis(5);

/// The writer: takes a batch (what arrives within [`WRITE_LINGER`] of its first run, up to
/// `batch`), writes it, repeats; a failed write is retried until it succeeds, holding the queue
/// back rather than losing a run.
fn write(
    store: &dyn Store,
    receiver: &Receiver<RunRecord>,
    pending: &Mutex<HashMap<String, RunRecord>>,
    batch: usize,
    spool: Option<&Spool>,
) {
    while let Ok(first) = receiver.recv() {
        let until = Instant::now() + WRITE_LINGER;
        let mut runs = vec![first];
        while runs.len() < batch {
            // A closed queue (Disconnected) ends the wait at once: close() never lingers.
            match receiver.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(run) => runs.push(run),
                Err(_) => break,
            }
        }
        // One transaction for the batch: one sync to disk however many runs it holds.
        let mut pause = Duration::from_millis(100);
        let mut synced = false;
        while let Err(err) = store.record_runs(&runs) {
            tracing::error!(runs = runs.len(), error = %err, "cannot write runs to the ledger; retrying");
            // The runs wait in the spool for as long as the store fails: on the disk, not
            // only in the kernel's cache.
            if let Some(spool) = spool
                && !synced
            {
                match spool.sync() {
                    Ok(()) => synced = true,
                    Err(err) => tracing::error!(error = %err, "cannot sync the ledger's spool"),
                }
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(10));
        }
        for run in &runs {
            pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&run.id);
            if let Some(spool) = spool {
                spool.written(&run.id);
            }
        }
    }
}

impl Store for LedgerQueue {
    fn put_insight(&self, insight: &Insight) -> Result<(), StoreError> {
        self.inner.put_insight(insight)
    }

    fn insight(&self, id: &str) -> Result<Option<Insight>, StoreError> {
        self.inner.insight(id)
    }

    fn insights(
        &self,
        text: Option<&str>,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Insight>, StoreError> {
        self.inner.insights(text, limit, offset)
    }

    fn record_runs(&self, runs: &[RunRecord]) -> Result<(), StoreError> {
        runs.iter().try_for_each(|run| self.record_run(run))
    }

    fn record_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let sender = self.sender.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(sender) = sender else { return self.inner.record_run(run) };
        if let Some(spool) = &self.spool
            && let Err(err) = spool.append(run)
        {
            // The run cannot be made safe locally: write it through instead.
            tracing::error!(run = %run.id, error = %err, "cannot spool a run; writing it to the store directly");
            return self.inner.record_run(run);
        }
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).insert(run.id.clone(), run.clone());
        if sender.send(run.clone()).is_err() {
            self.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&run.id);
            self.inner.record_run(run)?;
            if let Some(spool) = &self.spool {
                spool.written(&run.id);
            }
        }
        Ok(())
    }

    fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        if let Some(run) = self.pending.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            return Ok(Some(run.clone()));
        }
        self.inner.run(id)
    }

    fn runs(&self, limit: usize, offset: usize) -> Result<Vec<RunRecord>, StoreError> {
        self.inner.runs(limit, offset)
    }

    fn runs_matching(
        &self,
        filter: &aimos_core::RunFilter,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        self.inner.runs_matching(filter, limit, offset)
    }

    fn record_outcome(&self, outcome: &Outcome) -> Result<Option<Insight>, StoreError> {
        self.inner.record_outcome(outcome)
    }

    fn stats(&self) -> Result<Stats, StoreError> {
        self.inner.stats()
    }

    fn insights_by_fingerprint(&self, fingerprint: &str) -> Result<Vec<Insight>, StoreError> {
        self.inner.insights_by_fingerprint(fingerprint)
    }

    fn put_insight_embedding(
        &self,
        id: &str,
        model: &str,
        vector: &[f32],
    ) -> Result<bool, StoreError> {
        self.inner.put_insight_embedding(id, model, vector)
    }

    fn nearest_insights(
        &self,
        model: &str,
        vector: &[f32],
        limit: usize,
    ) -> Result<Vec<(Insight, f32)>, StoreError> {
        self.inner.nearest_insights(model, vector, limit)
    }

    fn claim(&self, key: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.inner.claim(key, holder, ttl)
    }

    fn release(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        self.inner.release(key, holder)
    }

    fn create_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        self.inner.create_key(key)
    }

    fn key_by_hash(&self, hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.key_by_hash(hash)
    }

    fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.inner.keys()
    }

    fn add_key_spend(&self, id: &str, usd: f64) -> Result<f64, StoreError> {
        self.inner.add_key_spend(id, usd)
    }

    fn revoke_key(&self, name: &str) -> Result<bool, StoreError> {
        self.inner.revoke_key(name)
    }
    fn take_rate(&self, id: &str, rpm: u32) -> Result<Option<std::time::Duration>, StoreError> {
        self.inner.take_rate(id, rpm)
    }
    fn spend_by(&self, by: aimos_core::SpendBy) -> Result<Vec<aimos_core::Spend>, StoreError> {
        self.inner.spend_by(by)
    }
    fn invalidate_insight(&self, id: &str, reason: &str) -> Result<bool, StoreError> {
        self.inner.invalidate_insight(id, reason)
    }

    fn outcome_points(&self, limit: usize) -> Result<Vec<aimos_core::OutcomePoint>, StoreError> {
        self.inner.outcome_points(limit)
    }

    fn put_calibration(&self, calibration: &aimos_core::Calibration) -> Result<(), StoreError> {
        self.inner.put_calibration(calibration)
    }

    fn calibrations(&self) -> Result<Vec<aimos_core::Calibration>, StoreError> {
        self.inner.calibrations()
    }
}
