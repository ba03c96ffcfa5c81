//! The folders a server may read, and the paths its callers name inside them.

use std::path::{Path, PathBuf};

/// Folders, resolved (symbolic links followed) when the server starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots(Vec<PathBuf>);

/// A caller's path inside a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The path with links resolved.
    pub path: PathBuf,
    /// The root it lies under.
    pub root: PathBuf,
}

impl Roots {
    /// Resolves each folder; one that does not exist or is not a folder is an error naming it.
    pub fn new(folders: &[PathBuf]) -> Result<Roots, String> {
        if folders.is_empty() {
            return Err("no root folder: name one with --root DIR".into());
        }
        let mut roots = Vec::with_capacity(folders.len());
        for folder in folders {
            let resolved = folder
                .canonicalize()
                .map_err(|err| format!("the root {} cannot be used: {err}", folder.display()))?;
            if !resolved.is_dir() {
                return Err(format!("the root {} is not a folder", folder.display()));
            }
            roots.push(resolved);
        }
        Ok(Roots(roots))
    }

    pub fn folders(&self) -> &[PathBuf] {
        &self.0
    }

    /// No folder at all: every path is refused, and callers pass their material as text (a
    /// server reached over a network, unless told otherwise).
    pub fn none() -> Roots {
        Roots(Vec::new())
    }

    /// The first root: where relative paths start (`/` when there is none; nothing resolves
    /// then).
    pub fn first(&self) -> &Path {
        self.0.first().map_or(Path::new("/"), PathBuf::as_path)
    }

    /// `given` (relative to the first root, or absolute) resolved, if it exists and lies under
    /// a root once links are followed; otherwise a sentence a caller can act on.
    pub fn resolve(&self, given: &str) -> Result<Resolved, String> {
        if self.0.is_empty() {
            return Err(format!(
                "`{given}`: this server reads no files; pass the material as `context` text \
                 (its operator can allow folders with --mcp-root DIR)"
            ));
        }
        if given.trim().is_empty() {
            return Err("an empty path; name a file or folder under the root".into());
        }
        let path = Path::new(given);
        let joined = if path.is_absolute() { path.to_path_buf() } else { self.first().join(path) };
        // Outside by its name alone: refused before the file system is asked, so that the
        // answer says nothing about what exists outside the roots.
        if !self.0.iter().any(|root| lexical(&joined).starts_with(root)) {
            return Err(self.outside(given));
        }
        let resolved = joined.canonicalize().map_err(|err| {
            if err.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "`{given}` does not exist (relative paths start at {})",
                    self.first().display()
                )
            } else {
                format!("`{given}` cannot be read: {err}")
            }
        })?;
        match self.0.iter().find(|root| resolved.starts_with(root)) {
            Some(root) => Ok(Resolved { path: resolved, root: root.clone() }),
            None => Err(self.outside(given)),
        }
    }

    fn outside(&self, given: &str) -> String {
        format!(
            "`{given}` is outside the folders this server may read ({}); start the server with \
             --root DIR to allow another folder",
            self.describe()
        )
    }

    /// The roots, for messages.
    pub fn describe(&self) -> String {
        self.0.iter().map(|root| root.display().to_string()).collect::<Vec<_>>().join(", ")
    }
}

/// `path` with `.` and `..` components resolved by name (a `..` above the top is dropped).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// `path` relative to `root`, with `/` separators (how documents are named to models).
pub fn relative(path: &Path, root: &Path) -> String {
    let inside = path.strip_prefix(root).unwrap_or(path);
    let text = inside.to_string_lossy().replace('\\', "/");
    if text.is_empty() { ".".into() } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_inside_the_roots_and_nowhere_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("project");
        std::fs::create_dir_all(root.join("src")).expect("mkdir");
        std::fs::write(root.join("src/lib.rs"), "fn f() {}").expect("write");
        std::fs::write(dir.path().join("secret.txt"), "password").expect("write");
        let roots = Roots::new(std::slice::from_ref(&root)).expect("roots");

        let inside = roots.resolve("src/lib.rs").expect("inside");
        assert_eq!(relative(&inside.path, &inside.root), "src/lib.rs");
        assert_eq!(relative(&roots.resolve(".").expect("root").path, roots.first()), ".");
        let absolute = root.join("src").canonicalize().expect("canonical");
        assert!(roots.resolve(&absolute.to_string_lossy()).is_ok());

        for outside in ["../secret.txt", "src/../../secret.txt", "/etc/passwd", "../nothing/here"] {
            let err = roots.resolve(outside).expect_err(outside);
            assert!(err.contains("outside the folders this server may read"), "{err}");
        }
        let err = roots.resolve("src/missing.rs").expect_err("missing");
        assert!(err.contains("does not exist"), "{err}");
        // A link inside the root that points out of it is outside.
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("link.txt"))
                .expect("symlink");
            let err = roots.resolve("link.txt").expect_err("link out");
            assert!(err.contains("outside"), "{err}");
        }
        assert!(Roots::new(&[dir.path().join("nope")]).is_err());
        let err = Roots::none().resolve("src/lib.rs").expect_err("no roots");
        assert!(err.contains("reads no files"), "{err}");
        assert!(Roots::new(&[]).is_err());
    }
}
