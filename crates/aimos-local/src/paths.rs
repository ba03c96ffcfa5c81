//! Where aimos keeps downloaded models on this machine.
//!
//! `AIMOS_HOME` wins; otherwise the platform's cache folder (`$XDG_CACHE_HOME/aimos`, or
//! `~/.cache/aimos` on Linux, `~/Library/Caches/aimos` on macOS). Nothing is created here.

use std::env;
use std::path::PathBuf;

/// The folder under which aimos keeps its cached files, if one can be found.
pub fn aimos_home() -> Option<PathBuf> {
    if let Some(home) = env::var_os("AIMOS_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(home));
    }
    if let Some(xdg) = env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(xdg).join("aimos"));
    }
    let home = PathBuf::from(env::var_os("HOME").filter(|v| !v.is_empty())?);
    if cfg!(target_os = "macos") {
        Some(home.join("Library/Caches/aimos"))
    } else {
        Some(home.join(".cache/aimos"))
    }
}

/// The folder that holds pulled model files.
pub fn models_dir() -> Option<PathBuf> {
    aimos_home().map(|home| home.join("models"))
}
