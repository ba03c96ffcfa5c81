//! Finding the files of a context: folders walked in sorted order, honouring `.gitignore`,
//! `.ignore` and git's exclude files (in a repository or not), skipping hidden entries and the
//! usual build and dependency folders.

use std::fs;
use std::path::{Path, PathBuf};

use crate::{IngestError, Limits, Skipped};

/// Folders that hold build output or dependencies, not the user's own material.
const SKIPPED_DIRS: &[&str] = &[
    "target",
    "node_modules",
    "vendor",
    "dist",
    "build",
    "__pycache__",
    ".venv",
    "venv",
    "site-packages",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    ".gradle",
];

/// A file found under a root.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// The root as the user named it, joined with the file's place under it.
    pub path: String,
    /// Relative to the root (the file name when the root is a file).
    pub relative: String,
    /// Absolute path.
    pub source: PathBuf,
    pub size: u64,
    pub modified: u64,
}

/// Calls `on_file` for each file small enough, in order; `on_file` returns false when the file
/// would take the context over its total limit, and the file is listed as skipped.
pub(crate) fn walk(
    roots: &[PathBuf],
    limits: Limits,
    skipped: &mut Vec<Skipped>,
    on_file: &mut dyn FnMut(Found) -> bool,
) -> Result<(), IngestError> {
    for root in roots {
        let meta = fs::metadata(root).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => IngestError::NotFound { path: root.clone() },
            _ => IngestError::Io { path: root.clone(), source },
        })?;
        let canonical = fs::canonicalize(root)
            .map_err(|source| IngestError::Io { path: root.clone(), source })?;
        if !meta.is_dir() {
            let relative = root
                .file_name()
                .map_or_else(|| root.display().to_string(), |n| n.to_string_lossy().into_owned());
            visit(root.display().to_string(), relative, canonical, &meta, limits, skipped, on_file);
            continue;
        }
        let walker = ignore::WalkBuilder::new(root)
            .hidden(true)
            .git_ignore(true)
            .git_exclude(true)
            .git_global(false)
            .require_git(false)
            .follow_links(false)
            .filter_entry(|entry| {
                let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
                !(is_dir
                    && entry.depth() > 0
                    && SKIPPED_DIRS.contains(&entry.file_name().to_string_lossy().as_ref()))
            })
            .sort_by_file_name(|a, b| a.cmp(b))
            .build();
        for entry in walker {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    skipped.push(Skipped {
                        path: root.display().to_string(),
                        reason: err.to_string(),
                    });
                    continue;
                }
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let path = entry.path();
            let relative = relative_to(path, root);
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(err) => {
                    skipped.push(Skipped {
                        path: path.display().to_string(),
                        reason: format!("unreadable: {err}"),
                    });
                    continue;
                }
            };
            let source = canonical.join(&relative);
            visit(path.display().to_string(), relative, source, &meta, limits, skipped, on_file);
        }
    }
    Ok(())
}

fn visit(
    path: String,
    relative: String,
    source: PathBuf,
    meta: &fs::Metadata,
    limits: Limits,
    skipped: &mut Vec<Skipped>,
    on_file: &mut dyn FnMut(Found) -> bool,
) {
    let size = meta.len();
    if size > limits.max_file_bytes {
        skipped.push(Skipped {
            path,
            reason: format!("{size} bytes, over the {} byte limit per file", limits.max_file_bytes),
        });
        return;
    }
    let found = Found {
        path: path.clone(),
        relative,
        source,
        size,
        modified: crate::index::modified_nanos(meta),
    };
    if !on_file(found) {
        skipped.push(Skipped {
            path,
            reason: format!("over the {} byte limit for all context", limits.max_total_bytes),
        });
    }
}

/// `path` relative to `root`, with `/` separators.
fn relative_to(path: &Path, root: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}
