//! The index cache on disk: one file per set of roots, holding each file's size, modification
//! time, chunks and term counts (never its text). Written to a temporary file and renamed into
//! place; a cache that is missing, from another version, truncated or damaged is ignored and
//! rebuilt, never an error.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::chunk::{Chunk, ChunkKind, Language};
use crate::index::{File, Index};

const MAGIC: &[u8; 8] = b"AIMOSIX1";
/// Bumped whenever chunking, terms or the layout change.
const VERSION: u64 = 2;
const END: &[u8; 4] = b"END.";

/// What a cache file held.
#[derive(Debug, Default)]
pub(crate) struct Cached {
    pub roots: Vec<String>,
    pub dictionary: Vec<String>,
    pub files: Vec<File>,
}

pub(crate) fn load(path: &Path) -> Option<Cached> {
    let bytes = fs::read(path).ok()?;
    let mut r = Reader { bytes: &bytes, at: 0 };
    if r.take(8)? != MAGIC || r.varint()? != VERSION {
        return None;
    }
    let mut cached = Cached::default();
    for _ in 0..r.varint()? {
        cached.roots.push(r.string()?);
    }
    let terms = r.varint()? as usize;
    cached.dictionary.reserve(terms);
    for _ in 0..terms {
        cached.dictionary.push(r.string()?);
    }
    for _ in 0..r.varint()? {
        let source = PathBuf::from(r.string()?);
        let language = Language::from_code(r.varint()? as u8);
        let size = r.varint()?;
        let modified = r.varint()?;
        let n = r.varint()? as usize;
        let mut chunks = Vec::with_capacity(n);
        let mut chunk_terms = Vec::with_capacity(n);
        for _ in 0..n {
            let start_line = r.varint()? as u32;
            let end_line = start_line + r.varint()? as u32;
            let flags = r.varint()?;
            let symbol = match r.varint()? {
                0 => None,
                _ => Some(r.string()?),
            };
            chunks.push(Chunk {
                start_line,
                end_line,
                kind: ChunkKind::from_code((flags >> 1) as u8),
                symbol,
                top_level: flags & 1 == 1,
            });
            let m = r.varint()? as usize;
            let mut list = Vec::with_capacity(m);
            let mut term = 0u64;
            for _ in 0..m {
                term += r.varint()?;
                if term as usize >= terms {
                    return None;
                }
                list.push((term as u32, r.varint()? as u32));
            }
            chunk_terms.push(list);
        }
        cached.files.push(Index::cached_file(
            source,
            language,
            size,
            modified,
            chunks,
            chunk_terms,
        ));
    }
    (r.take(4)? == END && r.at == bytes.len()).then_some(cached)
}

pub(crate) fn save(path: &Path, roots: &[String], index: &Index) -> std::io::Result<()> {
    let files: Vec<&File> =
        index.files().iter().filter(|f| Index::file_source(f).is_some()).collect();
    // Only the terms still in use are written, renumbered densely, so that a tree edited many
    // times does not grow its cache with the words of text long gone.
    let mut renumbered: Vec<u32> = vec![u32::MAX; index.dictionary().len()];
    let mut dictionary: Vec<&str> = Vec::new();
    for file in &files {
        for terms in Index::file_terms(file) {
            for &(term, _) in terms {
                if let Some(slot) = renumbered.get_mut(term as usize)
                    && *slot == u32::MAX
                {
                    *slot = dictionary.len() as u32;
                    dictionary.push(&index.dictionary()[term as usize]);
                }
            }
        }
    }
    let mut w = Vec::with_capacity(1 << 20);
    w.extend_from_slice(MAGIC);
    varint(&mut w, VERSION);
    varint(&mut w, roots.len() as u64);
    for root in roots {
        string(&mut w, root);
    }
    varint(&mut w, dictionary.len() as u64);
    for term in &dictionary {
        string(&mut w, term);
    }
    varint(&mut w, files.len() as u64);
    for file in files {
        let source = Index::file_source(file).map(|p| p.display().to_string()).unwrap_or_default();
        string(&mut w, &source);
        varint(&mut w, file.language.code() as u64);
        varint(&mut w, file.size);
        varint(&mut w, file.modified);
        varint(&mut w, file.chunks.len() as u64);
        for (chunk, terms) in file.chunks.iter().zip(Index::file_terms(file)) {
            varint(&mut w, chunk.start_line as u64);
            varint(&mut w, (chunk.end_line - chunk.start_line) as u64);
            varint(&mut w, ((chunk.kind.code() as u64) << 1) | chunk.top_level as u64);
            match &chunk.symbol {
                Some(symbol) => {
                    varint(&mut w, 1);
                    string(&mut w, symbol);
                }
                None => varint(&mut w, 0),
            }
            let mut sorted: Vec<(u32, u32)> =
                terms.iter().map(|&(term, tf)| (renumbered[term as usize], tf)).collect();
            sorted.sort_unstable();
            varint(&mut w, sorted.len() as u64);
            let mut previous = 0u32;
            for (term, tf) in sorted {
                varint(&mut w, (term - previous) as u64);
                varint(&mut w, tf as u64);
                previous = term;
            }
        }
    }
    w.extend_from_slice(END);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let temp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut file = fs::File::create(&temp)?;
    file.write_all(&w)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp, path).inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })
}

fn varint(w: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        w.push((value as u8) | 0x80);
        value >>= 7;
    }
    w.push(value as u8);
}

fn string(w: &mut Vec<u8>, text: &str) {
    varint(w, text.len() as u64);
    w.extend_from_slice(text.as_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(slice)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            value |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn string(&mut self) -> Option<String> {
        let n = self.varint()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use crate::{Index, Limits};

    #[test]
    fn the_cache_is_reused_follows_edits_and_survives_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (root, cache) = (dir.path().join("src"), dir.path().join("cache"));
        fs::create_dir_all(&root).expect("mkdir");
        fs::write(root.join("a.py"), "def alpha():\n    return 1\n").expect("write");
        fs::write(root.join("b.py"), "def beta():\n    return 2\n").expect("write");
        let open = || {
            Index::open(std::slice::from_ref(&root), Limits::default(), Some(&cache)).expect("open")
        };

        let (cold, report) = open();
        assert_eq!((report.parsed, report.cached, report.saved), (2, 0, true));
        let (warm, report) = open();
        assert_eq!((report.parsed, report.cached, report.saved), (0, 2, false));
        assert_eq!(warm.chunk_count(), cold.chunk_count());
        assert_eq!(warm.definitions_named("beta").len(), 1);
        // A cached file's text is read from disk when needed.
        assert!(warm.files()[1].text().is_some_and(|t| t.contains("def beta")));

        // An edit is seen; a deleted file is gone; the words of the old text leave the cache.
        fs::write(root.join("a.py"), "def gamma():\n    return 3\n\ndef delta():\n    pass\n")
            .expect("write");
        fs::remove_file(root.join("b.py")).expect("remove");
        let (edited, report) = open();
        assert_eq!((report.parsed, report.cached), (1, 0));
        assert_eq!(edited.files().len(), 1);
        assert!(edited.definitions_named("alpha").is_empty());
        assert_eq!(edited.definitions_named("delta").len(), 1);
        let file = fs::read_dir(&cache).expect("cache").next().expect("one file").expect("entry");
        let bytes = fs::read(file.path()).expect("read");
        assert!(!bytes.windows(5).any(|w| w == b"alpha"), "stale terms are dropped");

        // A damaged cache is ignored and rebuilt, never an error.
        fs::write(file.path(), &bytes[..bytes.len() / 2]).expect("truncate");
        let (rebuilt, report) = open();
        assert_eq!((report.parsed, report.saved), (1, true));
        assert_eq!(rebuilt.definitions_named("gamma").len(), 1);
    }
}
