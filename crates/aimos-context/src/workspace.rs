//! A scratch copy of the user's tree, where edits land and checks run, so that the user's own
//! files are never written until they ask for a patch that passed.
//!
//! The scratch copy is a git worktree of `HEAD` when the context's root lies in a clean git
//! checkout (fast, and the whole repository is there for the user's tests), otherwise a copy of
//! the files the context walk takes under the root (honouring `.gitignore`). Edits name files as
//! the model saw them; [`Workspace::apply`] resolves them under the root, refuses anything
//! outside it and binary files, and keeps each file's original text, from which
//! [`Workspace::patch`] writes a unified diff that `git apply` accepts in the root.
//!
//! This module never writes into the user's tree except through [`apply_patch`], which refuses a
//! git checkout with uncommitted changes and a patch that does not apply as a whole.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use crate::edit::{self, Edit, Fit, Miss};
use crate::{Limits, walk};

/// Why a workspace could not be made, changed or applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkspaceError {
    #[error("the context path {path} does not exist")]
    NotFound { path: PathBuf },
    #[error("edit mode needs a context folder or file to change; pass --context PATH")]
    NoRoot,
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Unreadable(String),
    #[error("git {args} failed in {dir}: {stderr}")]
    Git { args: String, dir: PathBuf, stderr: String },
    #[error(
        "the patch does not apply to {root} (did it change since the run started?): {why}; \
         nothing was written"
    )]
    DoesNotApply { root: PathBuf, why: String },
    #[error(
        "{root} is a git checkout with uncommitted changes ({}); commit or stash them first, \
         or apply the patch yourself with `git apply`",
        dirty.join(", ")
    )]
    Dirty { root: PathBuf, dirty: Vec<String> },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> WorkspaceError {
    let what = what.into();
    move |source| WorkspaceError::Io { what, source }
}

/// How the scratch copy was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `git worktree add --detach` of `HEAD`.
    Worktree,
    /// A copy of the files the context walk takes.
    Copy,
}

/// An edit that did not land, with the reason in words a model can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub edit: Edit,
    pub reason: String,
}

/// What applying a model's edits did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Edits that landed, with how closely each matched.
    pub landed: Vec<(Edit, Fit)>,
    pub failed: Vec<Failed>,
    /// Sentences about edits that landed somewhere other than they said (a block naming a
    /// file that does not exist, whose SEARCH lines are in exactly one file of the tree).
    pub notes: Vec<String>,
}

/// A unified diff of the workspace against the tree it was made from.
///
/// Paths are relative to the root, or, when the root is inside a git checkout, to the
/// checkout's top level: `git apply` reads them that way from anywhere in a checkout, so the
/// patch applies in the root either way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patch {
    /// `diff --git a/… b/…` sections; empty when nothing changed.
    pub diff: String,
    /// The files it changes.
    pub files: Vec<String>,
}

/// The scratch copy of one root.
#[derive(Debug)]
pub struct Workspace {
    /// The user's root, canonical.
    source: PathBuf,
    /// The folder the user named paths from (to resolve paths as the model saw them).
    cwd: PathBuf,
    /// The folder that holds the scratch copy; removed on drop.
    scratch: PathBuf,
    /// The root inside the scratch copy.
    root: PathBuf,
    kind: Kind,
    /// For a worktree: the repository's top level, to remove the worktree from.
    repo: Option<PathBuf>,
    /// The root's place in its git checkout (`src/` for a root `src` under the top level), put
    /// before the patch's paths; empty outside a checkout.
    prefix: String,
    /// Original text of each file edited so far (`None`: it did not exist), by relative path.
    originals: BTreeMap<String, Option<String>>,
    /// The files of the copy when it was made, relative to the root.
    files: Vec<String>,
}

impl Workspace {
    /// A scratch copy of the folder that holds every one of `paths` (their deepest common
    /// folder; a file's own folder), with paths as the model saw them resolved from `cwd`.
    pub fn create(paths: &[PathBuf], cwd: &Path) -> Result<Workspace, WorkspaceError> {
        let source = common_root(paths, cwd)?;
        let scratch = std::env::temp_dir().join(format!(
            "aimos-workspace-{}-{}",
            std::process::id(),
            unique()
        ));
        fs::create_dir_all(&scratch).map_err(io(format!("creating {}", scratch.display())))?;
        let tree = scratch.join("tree");
        let mut workspace = Workspace {
            root: tree.clone(),
            source: source.clone(),
            cwd: cwd.to_path_buf(),
            scratch,
            kind: Kind::Copy,
            repo: None,
            prefix: checkout_prefix(&source),
            originals: BTreeMap::new(),
            files: Vec::new(),
        };
        match clean_checkout(&source) {
            Some(top) => {
                let add = ["worktree", "add", "--detach"].map(OsStr::new);
                git(&top, &[&add[..], &[tree.as_os_str(), OsStr::new("HEAD")]].concat())?;
                let inside = source.strip_prefix(&top).unwrap_or(Path::new(""));
                workspace.root = tree.join(inside);
                workspace.kind = Kind::Worktree;
                workspace.repo = Some(top);
                workspace.files =
                    git(&workspace.root, &["ls-files"])?.lines().map(str::to_owned).collect();
            }
            None => workspace.files = copy_tree(&source, &tree)?,
        }
        Ok(workspace)
    }

    /// The root inside the scratch copy: where checks run.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The user's root the copy was made from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Applies `edits` in order; an edit that does not land leaves its file as it was and is
    /// listed with the reason.
    pub fn apply(&mut self, edits: &[Edit]) -> Result<Applied, WorkspaceError> {
        let mut applied = Applied::default();
        for edit in edits {
            let relative = match self.resolve(&edit.path) {
                Ok(relative) => relative,
                Err(reason) => {
                    applied.failed.push(Failed { edit: edit.clone(), reason });
                    continue;
                }
            };
            let current = match self.read(&relative) {
                Ok(current) => current,
                Err(reason) => {
                    applied.failed.push(Failed { edit: edit.clone(), reason });
                    continue;
                }
            };
            match edit::apply(current.as_deref(), edit) {
                Ok((text, fit)) => {
                    self.write(&relative, current, &text)?;
                    applied.landed.push((edit.clone(), fit));
                }
                Err(miss @ (Miss::NoFile | Miss::NotFound { .. }))
                    if let Some((found, text, fit)) = self.only_home(edit) =>
                {
                    let why = if matches!(miss, Miss::NoFile) {
                        "is not a file"
                    } else {
                        "does not hold its SEARCH lines"
                    };
                    applied.notes.push(format!(
                        "{} {why}; they are in {found} only, so the edit went there",
                        edit.path
                    ));
                    let before = self.read(&found).ok().flatten();
                    self.write(&found, before, &text)?;
                    applied.landed.push((Edit { path: found, ..edit.clone() }, fit));
                }
                Err(miss) => applied
                    .failed
                    .push(Failed { edit: edit.clone(), reason: format!("{}: {miss}", edit.path) }),
            }
        }
        Ok(applied)
    }

    /// The one file of the tree whose text an edit's SEARCH lines match, with the edit applied;
    /// `None` when none or several do (for a block that names a file that does not exist, or
    /// one that does not hold its SEARCH lines: small models misread which excerpt is which
    /// file).
    fn only_home(&self, edit: &Edit) -> Option<(String, String, Fit)> {
        let mut found = None;
        for relative in &self.files {
            let Ok(Some(current)) = self.read(relative) else { continue };
            if let Ok((text, fit)) = edit::apply(Some(&current), edit) {
                if found.is_some() {
                    return None;
                }
                found = Some((relative.clone(), text, fit));
            }
        }
        found
    }

    /// Puts every edited file back as it was, for a fresh attempt.
    pub fn reset(&mut self) -> Result<(), WorkspaceError> {
        for (relative, original) in std::mem::take(&mut self.originals) {
            let path = self.root.join(&relative);
            match original {
                Some(text) => fs::write(&path, text),
                None => fs::remove_file(&path),
            }
            .map_err(io(format!("restoring {}", path.display())))?;
        }
        Ok(())
    }

    /// The changes so far as a unified diff against the original tree.
    pub fn patch(&self) -> Result<Patch, WorkspaceError> {
        let mut patch = Patch::default();
        for (relative, original) in &self.originals {
            let current = self.read(relative).map_err(WorkspaceError::Unreadable)?;
            if current.as_deref() == original.as_deref() {
                continue;
            }
            let named = format!("{}{relative}", self.prefix);
            patch.diff.push_str(&file_diff(&named, original.as_deref(), current.as_deref()));
            patch.files.push(named);
        }
        Ok(patch)
    }

    /// A path as the model wrote it, relative to the root; an error for paths outside it.
    fn resolve(&self, named: &str) -> Result<String, String> {
        let named = named.trim();
        let path = Path::new(named);
        let candidates: Vec<PathBuf> = if path.is_absolute() {
            vec![path.to_path_buf()]
        } else {
            vec![self.cwd.join(path), self.source.join(path)]
        };
        let inside: Vec<String> = candidates
            .iter()
            .filter_map(|candidate| {
                let normal = normalise(candidate)?;
                let relative = normal.strip_prefix(&self.source).ok()?;
                let relative = relative.to_str()?.to_owned();
                (!relative.is_empty()).then_some(relative)
            })
            .collect();
        // A file that exists wins over a new one.
        inside
            .iter()
            .find(|relative| self.root.join(relative.as_str()).is_file())
            .or_else(|| inside.first())
            .cloned()
            .ok_or_else(|| {
                format!(
                    "{named} is outside the context ({}); edit only files under it",
                    self.source.display()
                )
            })
    }

    /// The current text of a file in the copy (`None`: no such file); an error for binary files.
    fn read(&self, relative: &str) -> Result<Option<String>, String> {
        let path = self.root.join(relative);
        match fs::read(&path) {
            Ok(bytes) if bytes.contains(&0) => {
                Err(format!("{relative} is a binary file; aimos edits text files only"))
            }
            Ok(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| format!("{relative} is not UTF-8 text; aimos edits text files only")),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) if path.is_dir() => Err(format!("{relative} is a folder, not a file: {err}")),
            Err(err) => Err(format!("{relative} cannot be read: {err}")),
        }
    }

    fn write(
        &mut self,
        relative: &str,
        before: Option<String>,
        text: &str,
    ) -> Result<(), WorkspaceError> {
        self.originals.entry(relative.to_owned()).or_insert(before);
        let path = self.root.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
        }
        fs::write(&path, text).map_err(io(format!("writing {}", path.display())))
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if let Some(repo) = &self.repo {
            let tree = self.scratch.join("tree");
            let remove = ["worktree", "remove", "--force"].map(OsStr::new);
            let _ = git(repo, &[&remove[..], &[tree.as_os_str()]].concat());
        }
        let _ = fs::remove_dir_all(&self.scratch);
        if let Some(repo) = &self.repo {
            let _ = git(repo, &["worktree", "prune"]);
        }
    }
}

/// Applies a patch made by [`Workspace::patch`] to the user's tree at `root` (the same root
/// the run's context had). Refuses, writing nothing, when `root` is in a git checkout with
/// uncommitted changes, or when the patch does not apply as a whole (`git apply --check`).
/// Returns the files it changed.
pub fn apply_patch(root: &Path, diff: &str) -> Result<Vec<String>, WorkspaceError> {
    if let Some(dirty) = dirty_files(root)
        && !dirty.is_empty()
    {
        return Err(WorkspaceError::Dirty { root: root.to_path_buf(), dirty });
    }
    let patch_file =
        std::env::temp_dir().join(format!("aimos-{}-{}.patch", std::process::id(), unique()));
    fs::write(&patch_file, diff).map_err(io(format!("writing {}", patch_file.display())))?;
    let file = patch_file.as_os_str();
    let checked = git(root, &[OsStr::new("apply"), OsStr::new("--check"), file]);
    let applied = checked.and_then(|_| git(root, &[OsStr::new("apply"), file]));
    let _ = fs::remove_file(&patch_file);
    applied.map_err(|err| match err {
        WorkspaceError::Git { stderr, .. } => {
            WorkspaceError::DoesNotApply { root: root.to_path_buf(), why: stderr }
        }
        other => other,
    })?;
    Ok(diff.lines().filter_map(|l| l.strip_prefix("+++ b/")).map(str::to_owned).collect())
}

/// The folder a run's context paths share: where its patch applies.
pub fn root_of(paths: &[PathBuf], cwd: &Path) -> Result<PathBuf, WorkspaceError> {
    common_root(paths, cwd)
}

/// The deepest folder holding every path (a file counts as its folder), canonical.
fn common_root(paths: &[PathBuf], cwd: &Path) -> Result<PathBuf, WorkspaceError> {
    let mut root: Option<PathBuf> = None;
    for path in paths.iter().filter(|p| p.as_os_str() != "-") {
        let absolute = cwd.join(path);
        let canonical = fs::canonicalize(&absolute).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => WorkspaceError::NotFound { path: path.clone() },
            _ => WorkspaceError::Io { what: format!("reading {}", path.display()), source },
        })?;
        let folder = if canonical.is_dir() {
            canonical
        } else {
            canonical.parent().map(Path::to_path_buf).unwrap_or(canonical)
        };
        root = Some(match root {
            None => folder,
            Some(root) => {
                let mut common = PathBuf::new();
                for (a, b) in root.components().zip(folder.components()) {
                    if a != b {
                        break;
                    }
                    common.push(a);
                }
                common
            }
        });
    }
    root.ok_or(WorkspaceError::NoRoot)
}

/// The top level of the git checkout holding `dir`, when it has no uncommitted changes.
fn clean_checkout(dir: &Path) -> Option<PathBuf> {
    let top = git(dir, &["rev-parse", "--show-toplevel"]).ok()?;
    let top = PathBuf::from(top.trim());
    git(&top, &["rev-parse", "--verify", "--quiet", "HEAD"]).ok()?;
    dirty_files(&top).filter(Vec::is_empty).map(|_| top)
}

/// Where `dir` lies in its git checkout, as a prefix for paths (`src/`); empty at the top
/// level and outside a checkout.
fn checkout_prefix(dir: &Path) -> String {
    git(dir, &["rev-parse", "--show-prefix"]).map(|p| p.trim().to_owned()).unwrap_or_default()
}

/// Files with uncommitted changes in the git checkout holding `dir` (untracked ones included,
/// ignored ones not); `None` when `dir` is not in a git checkout.
fn dirty_files(dir: &Path) -> Option<Vec<String>> {
    let status = git(dir, &["status", "--porcelain", "--untracked-files=all", "."]).ok()?;
    Some(status.lines().filter_map(|l| l.get(3..)).map(str::to_owned).collect())
}

/// Runs git in `dir` and returns its standard output.
fn git<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Result<String, WorkspaceError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(io("running git (edit mode uses it for git checkouts; is it installed?)"))?;
    if !output.status.success() {
        return Err(WorkspaceError::Git {
            args: args
                .iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" "),
            dir: dir.to_path_buf(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Copies the files the context walk takes under `source` (every size; binary ones too) into
/// `tree`; returns them, relative to `source`.
fn copy_tree(source: &Path, tree: &Path) -> Result<Vec<String>, WorkspaceError> {
    let limits = Limits { max_file_bytes: u64::MAX, max_total_bytes: u64::MAX };
    let mut files = Vec::new();
    walk::walk(&[source.to_path_buf()], limits, &mut Vec::new(), &mut |file| {
        files.push(file);
        true
    })
    .map_err(|err| WorkspaceError::Io {
        what: format!("reading {}", source.display()),
        source: std::io::Error::other(err.to_string()),
    })?;
    fs::create_dir_all(tree).map_err(io(format!("creating {}", tree.display())))?;
    let mut copied = Vec::with_capacity(files.len());
    for file in files {
        let target = tree.join(&file.relative);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
        }
        fs::copy(&file.source, &target)
            .map_err(io(format!("copying {} into the workspace", file.source.display())))?;
        copied.push(file.relative);
    }
    Ok(copied)
}

/// `path` with `.` and `..` resolved lexically; `None` when `..` climbs above the top.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            other => out.push(other),
        }
    }
    Some(out)
}

/// One file's section of a git-style unified diff.
fn file_diff(relative: &str, old: Option<&str>, new: Option<&str>) -> String {
    let mut out = format!("diff --git a/{relative} b/{relative}\n");
    let (from, to) = match (old, new) {
        (None, _) => {
            out.push_str("new file mode 100644\n");
            ("/dev/null".to_owned(), format!("b/{relative}"))
        }
        (_, None) => {
            out.push_str("deleted file mode 100644\n");
            (format!("a/{relative}"), "/dev/null".to_owned())
        }
        _ => (format!("a/{relative}"), format!("b/{relative}")),
    };
    let diff = similar::TextDiff::from_lines(old.unwrap_or(""), new.unwrap_or(""));
    out.push_str(&diff.unified_diff().context_radius(3).header(&from, &to).to_string());
    out
}

/// A number no other workspace of this process has.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    (NEXT.fetch_add(1, Ordering::Relaxed) << 32) | nanos
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(path: &str, search: &str, replace: &str) -> Edit {
        Edit { path: path.into(), search: search.into(), replace: replace.into() }
    }

    /// Every file under `dir` with its bytes, to compare a tree before and after.
    fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(next) = stack.pop() {
            for entry in fs::read_dir(&next).expect("read_dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    out.insert(path.clone(), fs::read(&path).expect("read"));
                }
            }
        }
        out
    }

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join("src")).expect("mkdir");
        fs::write(dir.path().join("src/calc.py"), "def add(a, b):\n    return a - b\n")
            .expect("write");
        fs::write(dir.path().join("logo.png"), [0x89, b'P', b'N', b'G', 0, 1, 2]).expect("write");
        fs::write(dir.path().join(".gitignore"), "build/\n").expect("write");
        fs::create_dir_all(dir.path().join("build")).expect("mkdir");
        fs::write(dir.path().join("build/out.txt"), "generated\n").expect("write");
        dir
    }

    fn git_in(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .output()
            .expect("git runs");
        assert!(
            status.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    }

    #[test]
    fn a_copy_takes_edits_and_diffs_them_while_the_users_tree_stays_as_it_was() {
        let dir = project();
        let before = snapshot(dir.path());
        let mut workspace = Workspace::create(&[dir.path().join("src")], dir.path()).expect("ws");
        assert_eq!(workspace.kind(), Kind::Copy);
        // The root is the folder named; paths as the model saw them resolve from the cwd.
        let applied = workspace
            .apply(&[
                edit("src/calc.py", "    return a - b\n", "    return a + b\n"),
                edit("src/new.py", "", "X = 1\n"),
            ])
            .expect("apply");
        assert!(applied.failed.is_empty(), "{:?}", applied.failed);
        let patch = workspace.patch().expect("patch");
        assert_eq!(patch.files, ["calc.py", "new.py"]);
        expect_test::expect![[r#"
            diff --git a/calc.py b/calc.py
            --- a/calc.py
            +++ b/calc.py
            @@ -1,2 +1,2 @@
             def add(a, b):
            -    return a - b
            +    return a + b
            diff --git a/new.py b/new.py
            new file mode 100644
            --- /dev/null
            +++ b/new.py
            @@ -0,0 +1 @@
            +X = 1
        "#]]
        .assert_eq(&patch.diff);
        assert_eq!(snapshot(dir.path()), before, "the user's tree is untouched");
        workspace.reset().expect("reset");
        assert!(workspace.patch().expect("patch").files.is_empty());
        let scratch = workspace.scratch.clone();
        drop(workspace);
        assert!(!scratch.exists(), "the scratch copy is removed");
    }

    #[test]
    fn edits_outside_the_context_and_to_binary_files_are_refused_with_reasons() {
        let dir = project();
        let mut workspace = Workspace::create(&[dir.path().to_path_buf()], dir.path()).expect("ws");
        assert!(!workspace.root().join("build/out.txt").exists(), ".gitignore is honoured");
        let applied = workspace
            .apply(&[
                edit("../elsewhere.py", "", "x = 1\n"),
                edit("/etc/passwd", "root", "toor"),
                edit("logo.png", "PNG", "JPG"),
                edit("src/calc.py", "return a * b\n", "return a + b\n"),
            ])
            .expect("apply");
        assert!(applied.landed.is_empty());
        let reasons: Vec<&str> = applied.failed.iter().map(|f| f.reason.as_str()).collect();
        assert!(reasons[0].contains("outside the context"), "{reasons:?}");
        assert!(reasons[1].contains("outside the context"), "{reasons:?}");
        assert!(reasons[2].contains("binary file"), "{reasons:?}");
        assert!(reasons[3].contains("not in the file"), "{reasons:?}");
        assert!(workspace.patch().expect("patch").files.is_empty());
    }

    #[test]
    fn a_clean_checkout_gets_a_worktree_whose_patch_git_applies_and_a_dirty_one_is_refused() {
        let dir = project();
        git_in(dir.path(), &["init", "--quiet"]);
        git_in(dir.path(), &["add", "."]);
        git_in(dir.path(), &["commit", "--quiet", "-m", "start"]);
        let before = snapshot(dir.path());
        let mut workspace =
            Workspace::create(&[dir.path().join("src/calc.py")], dir.path()).expect("ws");
        assert_eq!(workspace.kind(), Kind::Worktree);
        assert!(workspace.root().join("calc.py").is_file());
        workspace.apply(&[edit("src/calc.py", "return a - b", "return a + b")]).expect("apply");
        let patch = workspace.patch().expect("patch");
        assert_eq!(patch.files, ["src/calc.py"], "paths from the checkout's top level");
        assert!(patch.diff.starts_with("diff --git a/src/calc.py b/src/calc.py\n"));
        drop(workspace);
        assert_eq!(snapshot(dir.path()), before, "the user's tree is untouched");
        let listed = Command::new("git")
            .arg("-C")
            .arg(dir.path())
            .args(["worktree", "list"])
            .output()
            .expect("git");
        assert_eq!(String::from_utf8_lossy(&listed.stdout).lines().count(), 1, "worktree removed");

        let root = root_of(&[dir.path().join("src/calc.py")], dir.path()).expect("root");
        assert_eq!(apply_patch(&root, &patch.diff).expect("applies"), ["src/calc.py"]);
        let text = fs::read_to_string(dir.path().join("src/calc.py")).expect("read");
        assert!(text.contains("return a + b"), "{text}");
        // Now the tree has an uncommitted change: applying again is refused, nothing written.
        let err = apply_patch(&root, &patch.diff).expect_err("dirty");
        assert!(err.to_string().contains("uncommitted changes (src/calc.py)"), "{err}");
        git_in(dir.path(), &["commit", "--quiet", "-am", "fixed"]);
        let err = apply_patch(&root, &patch.diff).expect_err("already applied");
        assert!(err.to_string().contains("does not apply"), "{err}");
        assert!(
            fs::read_to_string(dir.path().join("src/calc.py")).expect("read").contains("a + b")
        );
    }

    #[test]
    fn a_block_naming_no_real_file_lands_where_its_search_lines_are_only() {
        let dir = project();
        fs::write(dir.path().join("src/other.py"), "def sub(a, b):\n    return a - b\n")
            .expect("w");
        let mut workspace = Workspace::create(&[dir.path().to_path_buf()], dir.path()).expect("ws");
        // Both files hold `return a - b`: no single home, so the block fails.
        let applied = workspace
            .apply(&[edit("path/to/file.py", "    return a - b\n", "    return a + b\n")])
            .expect("apply");
        assert!(applied.landed.is_empty() && applied.failed.len() == 1, "{applied:?}");
        // `def add` is in calc.py alone.
        let applied = workspace
            .apply(&[edit(
                "path/to/file.py",
                "def add(a, b):\n    return a - b\n",
                "def add(a, b):\n    return a + b\n",
            )])
            .expect("apply");
        assert_eq!(applied.landed[0].0.path, "src/calc.py");
        assert_eq!(
            applied.notes,
            ["path/to/file.py is not a file; they are in src/calc.py only, so the edit went there"]
        );
        assert_eq!(workspace.patch().expect("patch").files, ["src/calc.py"]);
        // A block naming the wrong existing file lands where its lines are, with a note.
        workspace.reset().expect("reset");
        let applied = workspace
            .apply(&[edit(
                "src/other.py",
                "def add(a, b):\n    return a - b\n",
                "def add(a, b):\n    return a + b\n",
            )])
            .expect("apply");
        assert_eq!(applied.landed[0].0.path, "src/calc.py", "{applied:?}");
        assert_eq!(
            applied.notes,
            [
                "src/other.py does not hold its SEARCH lines; they are in src/calc.py only, so the edit went there"
            ]
        );
    }

    #[test]
    fn a_context_that_does_not_exist_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = Workspace::create(&[PathBuf::from("nope")], dir.path()).expect_err("missing");
        assert_eq!(err.to_string(), "the context path nope does not exist");
        let err = Workspace::create(&[], dir.path()).expect_err("no root");
        assert!(err.to_string().contains("--context"), "{err}");
    }
}
