//! One computation at a time, in this process and on this machine.
//!
//! llama.cpp's threads spin at their barriers, so two processes computing at once on a machine
//! with few cores do not share it: each runs many times slower than alone, and both together
//! take far longer than one after the other. A model computes only while it holds the
//! process's gate and then the machine's: an exclusive lock (`flock`) on `compute.lock` under
//! aimos's home folder. The kernel releases that lock when its process ends, however it ends,
//! so a crash never leaves it held. `AIMOS_COMPUTE_LOCK=off` skips the machine's lock (for a
//! machine with cores enough for several models at once).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The environment variable that turns the machine-wide lock off (`off`, `0`, `false`, `no`).
pub const COMPUTE_LOCK_ENV: &str = "AIMOS_COMPUTE_LOCK";

static PROCESS: Mutex<()> = Mutex::new(());

/// Held while a model computes; dropping it lets the next computation start.
pub(crate) struct Computing {
    // Fields drop in this order: the machine's lock first, then the process's.
    _machine: Option<File>,
    _process: MutexGuard<'static, ()>,
}

/// Waits for this process's gate, then for the machine's lock (unless it is turned off or has
/// no folder to live in).
pub(crate) fn computing() -> Computing {
    let process = PROCESS.lock().unwrap_or_else(PoisonError::into_inner);
    let machine = lock_path().and_then(|path| machine_lock(&path));
    Computing { _machine: machine, _process: process }
}

/// Where the machine's lock lives, or `None` when it is turned off.
fn lock_path() -> Option<PathBuf> {
    let off = std::env::var(COMPUTE_LOCK_ENV).is_ok_and(|v| {
        matches!(v.trim().to_ascii_lowercase().as_str(), "off" | "0" | "false" | "no")
    });
    if off {
        return None;
    }
    crate::paths::aimos_home().map(|home| home.join("compute.lock"))
}

/// Takes the exclusive lock on `path`, waiting while another process holds it. A lock that
/// cannot be taken at all (a read-only folder, a file system without locks) is skipped: the
/// computation then runs as it would without one.
fn machine_lock(path: &Path) -> Option<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).ok()?;
    }
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(path).ok()?;
    match file.try_lock() {
        Ok(()) => Some(file),
        Err(TryLockError::WouldBlock) => {
            tracing::info!(
                lock = %path.display(),
                "another aimos process is computing; waiting for it (set {COMPUTE_LOCK_ENV}=off \
                 to compute side by side)"
            );
            file.lock().ok().map(|()| file)
        }
        Err(TryLockError::Error(err)) => {
            tracing::debug!(lock = %path.display(), error = %err, "no machine-wide compute lock");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_lock_is_exclusive_and_released_when_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested/compute.lock");
        let held = machine_lock(&path).expect("the first holder gets the lock");
        // Another open of the same file stands for another process: flock locks belong to the
        // open file, not to the process.
        let other = OpenOptions::new().write(true).open(&path).expect("open");
        assert!(matches!(other.try_lock(), Err(TryLockError::WouldBlock)));
        // A waiter gets it as soon as the holder lets go.
        let waiter = std::thread::spawn(move || machine_lock(&path).is_some());
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!waiter.is_finished(), "the waiter waits while the lock is held");
        drop(held);
        assert!(waiter.join().expect("join"));
    }

    #[test]
    fn a_folder_that_cannot_hold_the_lock_skips_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("not-a-folder");
        std::fs::write(&file, "x").expect("write");
        assert!(machine_lock(&file.join("compute.lock")).is_none());
    }
}
