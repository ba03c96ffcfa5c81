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
const VERSION: u64 = 1;
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
    let mut w = Vec::with_capacity(1 << 20);
    w.extend_from_slice(MAGIC);
    varint(&mut w, VERSION);
    varint(&mut w, roots.len() as u64);
    for root in roots {
        string(&mut w, root);
    }
    varint(&mut w, index.dictionary().len() as u64);
    for term in index.dictionary() {
        string(&mut w, term);
    }
    let files: Vec<&File> =
        index.files().iter().filter(|f| Index::file_source(f).is_some()).collect();
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
            let mut sorted = terms.clone();
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
