//! The ledger's spool: every run the queue accepts is first appended to a local file, so that a
//! process killed with its queue full loses nothing; the next process on the same store replays
//! what its predecessor had not written.
//!
//! Layout: a root folder per store, and in it one folder per process, holding a `lock` file
//! (locked for the life of the process; the operating system releases it when the process dies,
//! however it dies) and numbered segments of JSON lines, one run per line. A segment is deleted
//! once every run in it is in the store; a quiet spool is emptied in place.
//!
//! What "appended" promises is the spool's [`SpoolSync`]. With [`SpoolSync::Written`] (the
//! default) a run is safe once its line is in the file: the kernel holds it, and no way of
//! killing the process loses it. A power loss or a kernel crash can still lose what was not yet
//! on the disk, so the ledger's thread syncs the spool whenever a write to the store fails
//! (a store that takes the runs has them on its own disk). With [`SpoolSync::Synced`] every
//! append waits for the file to be on the disk too. Syncing is a group commit: callers append
//! under a lock, then one of them syncs the file for everyone who appended before it, so
//! concurrent requests share one `fdatasync`.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aimos_core::{RunRecord, StoreError};

/// Lines in a segment before the next one starts.
const SEGMENT_LINES: usize = 4096;

/// When an appended run counts as safe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SpoolSync {
    /// Once its line is written into the spool file: safe from the process being killed, at
    /// the cost of one `write`.
    #[default]
    Written,
    /// Once the spool file is synced to the disk (`fdatasync`): safe from a power loss too, at
    /// the cost of waiting for the disk.
    Synced,
}

/// A process's spool.
pub struct Spool {
    dir: PathBuf,
    sync: SpoolSync,
    /// Held for the life of the spool: a live process's folder is never replayed.
    _lock: File,
    segments: Mutex<Segments>,
    /// Lines appended so far, and lines known to be on disk.
    appended: AtomicU64,
    synced: Mutex<u64>,
}

struct Segments {
    current: Arc<File>,
    number: u64,
    lines: usize,
    /// Runs not yet in the store, per segment.
    outstanding: HashMap<u64, usize>,
    /// Which segment holds each run not yet in the store.
    holder: HashMap<String, u64>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn failed(path: &Path, what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        location: path.display().to_string(),
        message: format!("the ledger's spool: {what}: {err}"),
    }
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:08}.jsonl"))
}

fn open_segment(dir: &Path, number: u64) -> Result<File, StoreError> {
    let path = segment_path(dir, number);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|err| failed(&path, "cannot open a segment", err))
}

/// Runs left in the spools of processes that are gone, and the folders they were read from
/// (to be removed once the runs are safe elsewhere).
#[derive(Debug, Default)]
pub struct Orphans {
    pub runs: Vec<RunRecord>,
    /// Lines that could not be read back: the end of a line being written when its process
    /// died (it was never acknowledged).
    pub torn: usize,
    folders: Vec<(PathBuf, File)>,
}

impl Orphans {
    /// Removes the folders the runs came from: call once every run is in the store or in
    /// another spool.
    pub fn remove(self) {
        for (folder, lock) in self.folders {
            if let Err(err) = std::fs::remove_dir_all(&folder) {
                tracing::warn!(folder = %folder.display(), error = %err, "cannot remove a replayed spool");
            }
            drop(lock);
        }
    }
}

impl Spool {
    /// Opens a new spool for this process under `root`, and takes the spools of processes that
    /// are gone.
    pub fn open(root: &Path, sync: SpoolSync) -> Result<(Spool, Orphans), StoreError> {
        std::fs::create_dir_all(root).map_err(|err| failed(root, "cannot create", err))?;
        let orphans = orphans(root)?;
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = root.join(format!("{started:x}-{}", std::process::id()));
        std::fs::create_dir(&dir).map_err(|err| failed(&dir, "cannot create", err))?;
        let lock_path = dir.join("lock");
        let lock =
            File::create(&lock_path).map_err(|err| failed(&lock_path, "cannot create", err))?;
        lock.try_lock().map_err(|err| failed(&lock_path, "cannot lock", err))?;
        let current = Arc::new(open_segment(&dir, 0)?);
        let spool = Spool {
            dir,
            sync,
            _lock: lock,
            segments: Mutex::new(Segments {
                current,
                number: 0,
                lines: 0,
                outstanding: HashMap::new(),
                holder: HashMap::new(),
            }),
            appended: AtomicU64::new(0),
            synced: Mutex::new(0),
        };
        Ok((spool, orphans))
    }

    /// This process's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends `run` and returns once it is safe as the spool's [`SpoolSync`] says.
    pub fn append(&self, run: &RunRecord) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(run).map_err(|err| failed(&self.dir, "encoding", err))?;
        line.push(b'\n');
        let sequence = {
            let mut segments = self.segments.lock().unwrap_or_else(|p| p.into_inner());
            if segments.lines >= SEGMENT_LINES {
                // Earlier segments are synced before the next starts, so one sync of the
                // current segment covers every line appended before it.
                segments.current.sync_data().map_err(|err| failed(&self.dir, "sync", err))?;
                let number = segments.number + 1;
                segments.current = Arc::new(open_segment(&self.dir, number)?);
                segments.number = number;
                segments.lines = 0;
                let previous = number - 1;
                if segments.outstanding.get(&previous).is_none_or(|n| *n == 0) {
                    segments.outstanding.remove(&previous);
                    let _ = std::fs::remove_file(segment_path(&self.dir, previous));
                }
            }
            (&*segments.current)
                .write_all(&line)
                .map_err(|err| failed(&self.dir, "cannot append", err))?;
            let number = segments.number;
            segments.lines += 1;
            *segments.outstanding.entry(number).or_insert(0) += 1;
            segments.holder.insert(run.id.clone(), number);
            self.appended.fetch_add(1, Ordering::SeqCst) + 1
        };
        match self.sync {
            SpoolSync::Written => Ok(()),
            SpoolSync::Synced => self.sync_through(sequence),
        }
    }

    /// Syncs everything appended so far to the disk.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.sync_through(self.appended.load(Ordering::SeqCst))
    }

    /// Returns once the first `sequence` lines appended are on the disk, syncing them unless
    /// another caller's sync already covered them.
    fn sync_through(&self, sequence: u64) -> Result<(), StoreError> {
        let mut synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        if *synced >= sequence {
            return Ok(());
        }
        let target = self.appended.load(Ordering::SeqCst);
        let current = Arc::clone(&self.segments.lock().unwrap_or_else(|p| p.into_inner()).current);
        current.sync_data().map_err(|err| failed(&self.dir, "sync", err))?;
        *synced = target;
        Ok(())
    }

    /// Notes that `id` is in the store: its segment goes once all of its runs are.
    pub fn written(&self, id: &str) {
        let mut segments = self.segments.lock().unwrap_or_else(|p| p.into_inner());
        let Some(number) = segments.holder.remove(id) else { return };
        let left = match segments.outstanding.get_mut(&number) {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n
            }
            None => return,
        };
        if left > 0 {
            return;
        }
        segments.outstanding.remove(&number);
        if number != segments.number {
            let _ = std::fs::remove_file(segment_path(&self.dir, number));
        } else if segments.lines > 0 {
            // Everything appended is in the store: start the segment again.
            if segments.current.set_len(0).is_ok() {
                segments.lines = 0;
            }
        }
    }
}

#[cfg(test)]
impl Spool {
    /// What a killed process leaves: its lock released, its files as they are.
    fn abandon(mut self) {
        self._lock = File::open("/dev/null").expect("opens");
        self.segments.get_mut().expect("lock").holder.insert("(kept)".into(), 0);
    }
}

impl Drop for Spool {
    /// A spool whose runs are all written leaves nothing behind.
    fn drop(&mut self) {
        let segments = self.segments.get_mut().unwrap_or_else(|p| p.into_inner());
        if segments.holder.is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The spools under `root` whose processes are gone: their lock is free.
fn orphans(root: &Path) -> Result<Orphans, StoreError> {
    let mut found = Orphans::default();
    let entries = std::fs::read_dir(root).map_err(|err| failed(root, "cannot list", err))?;
    let mut folders: Vec<PathBuf> =
        entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect();
    folders.sort();
    for folder in folders {
        let Ok(lock) = OpenOptions::new().read(true).write(true).open(folder.join("lock")) else {
            // A folder being created (no lock file yet) or removed: not ours to take.
            continue;
        };
        if lock.try_lock().is_err() {
            continue;
        }
        let mut segments: Vec<PathBuf> = match std::fs::read_dir(&folder) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
                .collect(),
            Err(_) => continue,
        };
        segments.sort();
        for segment in segments {
            let file = File::open(&segment).map_err(|err| failed(&segment, "cannot read", err))?;
            for line in BufReader::new(file).split(b'\n') {
                let line = line.map_err(|err| failed(&segment, "cannot read", err))?;
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<RunRecord>(&line) {
                    Ok(run) => found.runs.push(run),
                    Err(_) => found.torn += 1,
                }
            }
        }
        found.folders.push((folder, lock));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str) -> RunRecord {
        let usage =
            aimos_core::Usage { prompt_tokens: 10, completion_tokens: 5, ..Default::default() };
        let mut run = RunRecord::direct(
            "why?",
            "m",
            &usage,
            aimos_core::Cost { usd: 0.001 },
            1.0,
            false,
            aimos_core::Attribution::default(),
        );
        run.id = id.to_owned();
        run
    }

    fn lines(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .expect("list")
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
            .map(|e| std::fs::read_to_string(e.path()).expect("read").lines().count())
            .sum()
    }

    #[test]
    fn runs_not_yet_written_are_replayed_once_their_process_is_gone() {
        let root = tempfile::tempdir().expect("tempdir");
        let (spool, orphans) = Spool::open(root.path(), SpoolSync::Written).expect("opens");
        assert!(orphans.runs.is_empty());
        for id in ["a", "b", "c"] {
            spool.append(&run(id)).expect("appends");
        }
        spool.written("b");
        // A live spool is never taken.
        let (other, orphans) = Spool::open(root.path(), SpoolSync::Written).expect("opens");
        assert!(orphans.runs.is_empty(), "{:?}", orphans.runs);
        drop(other);
        // Its process is gone (the lock is released without the clean-up a drop does), with
        // a torn line at its end.
        let dir = spool.dir().to_path_buf();
        spool.abandon();
        let mut segment =
            OpenOptions::new().append(true).open(segment_path(&dir, 0)).expect("segment");
        segment.write_all(b"{\"id\": \"d\", \"creat").expect("write");
        let (_next, orphans) = Spool::open(root.path(), SpoolSync::Written).expect("opens");
        let ids: Vec<&str> = orphans.runs.iter().map(|r| r.id.as_str()).collect();
        // `b` was written before the crash, but the spool cannot know: replay skips what the
        // store has.
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(orphans.torn, 1);
        orphans.remove();
        assert!(!dir.exists());
    }

    #[test]
    fn a_written_spool_empties_itself() {
        let root = tempfile::tempdir().expect("tempdir");
        let (spool, _) = Spool::open(root.path(), SpoolSync::Written).expect("opens");
        spool.append(&run("a")).expect("appends");
        spool.append(&run("b")).expect("appends");
        assert_eq!(lines(spool.dir()), 2);
        spool.written("a");
        assert_eq!(lines(spool.dir()), 2);
        spool.written("b");
        assert_eq!(lines(spool.dir()), 0);
        spool.append(&run("c")).expect("appends");
        assert_eq!(lines(spool.dir()), 1);
        spool.written("c");
        let dir = spool.dir().to_path_buf();
        drop(spool);
        assert!(!dir.exists());
    }

    #[test]
    fn full_segments_are_deleted_once_written() {
        let root = tempfile::tempdir().expect("tempdir");
        let (spool, _) = Spool::open(root.path(), SpoolSync::Written).expect("opens");
        let ids: Vec<String> = (0..SEGMENT_LINES + 10).map(|i| format!("r{i}")).collect();
        for id in &ids {
            spool.append(&run(id)).expect("appends");
        }
        assert!(segment_path(spool.dir(), 1).exists());
        for id in &ids[..SEGMENT_LINES] {
            spool.written(id);
        }
        assert!(!segment_path(spool.dir(), 0).exists());
        assert_eq!(lines(spool.dir()), 10);
    }

    #[test]
    fn concurrent_appends_all_reach_the_file_and_synced_ones_the_disk() {
        for sync in [SpoolSync::Written, SpoolSync::Synced] {
            let root = tempfile::tempdir().expect("tempdir");
            let (spool, _) = Spool::open(root.path(), sync).expect("opens");
            let spool = Arc::new(spool);
            let threads: Vec<_> = (0..8)
                .map(|t| {
                    let spool = Arc::clone(&spool);
                    std::thread::spawn(move || {
                        for i in 0..50 {
                            spool.append(&run(&format!("t{t}-{i}"))).expect("appends");
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().expect("joins");
            }
            assert_eq!(lines(spool.dir()), 400);
            let synced = *spool.synced.lock().expect("lock");
            match sync {
                // Each append waited for a sync that covered it.
                SpoolSync::Synced => assert_eq!(synced, 400),
                // Nothing waited for the disk; an explicit sync covers everything.
                SpoolSync::Written => {
                    assert_eq!(synced, 0);
                    spool.sync().expect("syncs");
                    assert_eq!(*spool.synced.lock().expect("lock"), 400);
                }
            }
        }
    }
}
