//! Sentence embeddings, for meaning where words differ: "divided by zero" and
//! `is_divisibleby`, "big pictures" and "an image over 10 MB".
//!
//! This crate runs no model; [`Embed`] is what a model runtime provides (`aimos-local`'s
//! embedding model), and the ranking here only compares the vectors it returns.

/// Something that turns texts into unit-length vectors whose dot product measures how alike
/// their meanings are.
pub trait Embed: Send + Sync {
    /// The model's name, for notes and ledgers (`local:minilm-l6`).
    fn id(&self) -> &str;
    /// One vector per text, in order, each of length one.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String>;
}

/// The cosine of two unit vectors: their dot product (0 when their lengths differ).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Scales `v` to length one (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// A vector as little-endian bytes, as stores keep it.
pub fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A vector from the bytes [`to_bytes`] wrote; `None` when their length is not a whole vector.
pub fn from_bytes(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

/// An [`Embed`] that remembers the vectors of the texts it has seen in a file, so that later
/// processes (a warm `aimos distill` over the same code, a retry of the same problem) read them
/// back instead of computing them again.
///
/// The file holds one model's vectors: a header naming the model and the vectors' length, then
/// records of a text's hash, its vector and a checksum, appended under an exclusive lock with
/// one write each. A record cut short by a crash ends what is read (and is cut off by the next
/// writer); a file of another model, length or layout is started again. Past
/// [`Remembered::MAX_VECTORS`] the file is started again too, so it never grows beyond about
/// 50 MB for a 384-dimension model. A file that cannot be read or written makes this a plain
/// pass-through: remembering is never the reason an embedding fails.
pub struct Remembered {
    inner: std::sync::Arc<dyn Embed>,
    path: std::path::PathBuf,
    known: std::sync::Mutex<Memory>,
}

#[derive(Default)]
struct Memory {
    vectors: std::collections::HashMap<u64, std::sync::Arc<[f32]>>,
    /// Bytes of the file read so far (its valid records end there).
    read_to: u64,
    dims: usize,
}

const MEMORY_MAGIC: &[u8; 8] = b"AIMOSVE1";

impl Remembered {
    /// Most vectors a file holds before it is started again.
    pub const MAX_VECTORS: usize = 32_768;

    /// Remembers `inner`'s vectors in `dir`, in a file named after its model.
    pub fn new(inner: std::sync::Arc<dyn Embed>, dir: &std::path::Path) -> Remembered {
        let name: String = inner
            .id()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
            .collect();
        let path = dir.join(format!("{name}-{:016x}.vectors", fnv(inner.id().as_bytes())));
        Remembered { inner, path, known: std::sync::Mutex::new(Memory::default()) }
    }

    /// The file the vectors are kept in.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn header(&self, dims: usize) -> Vec<u8> {
        let id = self.inner.id().as_bytes();
        let mut header = MEMORY_MAGIC.to_vec();
        header.extend((id.len() as u32).to_le_bytes());
        header.extend(id);
        header.extend((dims as u32).to_le_bytes());
        header
    }

    /// Reads the records appended since the last read (by this process or another).
    fn catch_up(&self, memory: &mut Memory) -> std::io::Result<()> {
        let mut file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        file.lock_shared()?;
        self.read_on(&mut file, memory)
    }

    /// Reads `file` (locked by the caller) from where `memory` stopped, up to its end or its
    /// first record that does not check out.
    fn read_on(&self, file: &mut std::fs::File, memory: &mut Memory) -> std::io::Result<()> {
        use std::io::{Read, Seek};
        let len = file.metadata()?.len();
        if len < memory.read_to {
            // Started again by another process.
            *memory = Memory::default();
        }
        if memory.read_to == 0 {
            file.seek(std::io::SeekFrom::Start(0))?;
            let id = self.inner.id().as_bytes();
            let mut head = vec![0u8; 12 + id.len() + 4];
            if file.read_exact(&mut head).is_err()
                || head[..12 + id.len()] != self.header(0)[..12 + id.len()]
            {
                return Ok(());
            }
            let d = &head[12 + id.len()..];
            memory.dims = u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize;
            memory.read_to = head.len() as u64;
        }
        file.seek(std::io::SeekFrom::Start(memory.read_to))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let record = 8 + memory.dims * 4 + 8;
        for chunk in bytes.chunks_exact(record) {
            let (body, sum) = chunk.split_at(record - 8);
            if fnv(body).to_le_bytes() != sum {
                break;
            }
            let (hash, vector) = body.split_at(8);
            let hash = u64::from_le_bytes(hash.try_into().unwrap_or_default());
            if let Some(vector) = from_bytes(vector) {
                memory.vectors.insert(hash, std::sync::Arc::from(vector));
            }
            memory.read_to += record as u64;
        }
        Ok(())
    }

    /// Appends `new` (hashes and vectors) to the file under an exclusive lock, after reading
    /// what others appended; a torn last record is cut off first, and a file of another model
    /// or vector length, or a full one, is started again.
    fn append(&self, memory: &mut Memory, new: &[(u64, Vec<f32>)]) -> std::io::Result<()> {
        use std::io::Write;
        let Some(dims) = new.first().map(|(_, v)| v.len()) else { return Ok(()) };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file =
            std::fs::OpenOptions::new().create(true).append(true).read(true).open(&self.path)?;
        file.lock()?;
        self.read_on(&mut file, memory)?;
        let header = self.header(dims);
        if memory.read_to == 0
            || memory.dims != dims
            || memory.vectors.len() + new.len() > Self::MAX_VECTORS
        {
            file.set_len(0)?;
            file.write_all(&header)?;
            *memory = Memory { read_to: header.len() as u64, dims, ..Memory::default() };
        } else if file.metadata()?.len() != memory.read_to {
            file.set_len(memory.read_to)?;
        }
        let record = 8 + dims * 4 + 8;
        let mut bytes = Vec::with_capacity(new.len() * record);
        for (hash, vector) in new.iter().filter(|(_, v)| v.len() == dims) {
            let start = bytes.len();
            bytes.extend(hash.to_le_bytes());
            bytes.extend(to_bytes(vector));
            let sum = fnv(&bytes[start..]);
            bytes.extend(sum.to_le_bytes());
            memory.vectors.insert(*hash, std::sync::Arc::from(vector.as_slice()));
        }
        file.write_all(&bytes)?;
        memory.read_to += bytes.len() as u64;
        Ok(())
    }
}

impl Embed for Remembered {
    fn id(&self) -> &str {
        self.inner.id()
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        let hashes: Vec<u64> = texts.iter().map(|t| fnv(t.as_bytes())).collect();
        let mut memory = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if hashes.iter().any(|h| !memory.vectors.contains_key(h)) {
            // A file that cannot be read is one that remembers nothing.
            let _ = self.catch_up(&mut memory);
        }
        let mut missing: Vec<usize> = Vec::new();
        for (at, hash) in hashes.iter().enumerate() {
            if !memory.vectors.contains_key(hash) && !missing.iter().any(|&m| hashes[m] == *hash) {
                missing.push(at);
            }
        }
        if !missing.is_empty() {
            let asked: Vec<&str> = missing.iter().map(|&at| texts[at]).collect();
            let vectors = self.inner.embed(&asked)?;
            if vectors.len() != asked.len() {
                return Err("the embedding model returned too few vectors".into());
            }
            let new: Vec<(u64, Vec<f32>)> =
                missing.iter().map(|&at| hashes[at]).zip(vectors).collect();
            if self.append(&mut memory, &new).is_err() {
                // Not remembered on disk; still answered, and kept for this process.
                for (hash, vector) in new {
                    memory.vectors.insert(hash, std::sync::Arc::from(vector));
                }
            }
        }
        hashes
            .iter()
            .map(|h| {
                memory
                    .vectors
                    .get(h)
                    .map(|v| v.to_vec())
                    .ok_or_else(|| "an embedding went missing".to_owned())
            })
            .collect()
    }
}

/// FNV-1a, 64 bits: a hash that is the same in every build and process.
fn fnv(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_and_compare() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert!((cosine(&v, &v) - 1.0).abs() < 1e-6);
        assert_eq!(from_bytes(&to_bytes(&v)), Some(v.clone()));
        assert_eq!(from_bytes(&[1, 2, 3]), None);
        assert_eq!(cosine(&v, &[1.0]), 0.0);
        let mut zero = vec![0.0, 0.0];
        normalize(&mut zero);
        assert_eq!(zero, [0.0, 0.0]);
    }

    /// A test double of an embedding model: a text's vector is made from its bytes, and every
    /// text it is asked for is counted.
    struct Counting {
        id: String,
        dims: usize,
        asked: std::sync::Mutex<Vec<String>>,
    }

    impl Counting {
        fn new(id: &str, dims: usize) -> std::sync::Arc<Counting> {
            std::sync::Arc::new(Counting { id: id.into(), dims, asked: Default::default() })
        }
        fn asked(&self) -> usize {
            self.asked.lock().expect("lock").len()
        }
    }

    impl Embed for Counting {
        fn id(&self) -> &str {
            &self.id
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
            self.asked.lock().expect("lock").extend(texts.iter().map(|t| (*t).to_owned()));
            Ok(texts
                .iter()
                .map(|t| {
                    let mut v: Vec<f32> = (0..self.dims)
                        .map(|i| f32::from(t.as_bytes()[i % t.len().max(1)]))
                        .collect();
                    normalize(&mut v);
                    v
                })
                .collect())
        }
    }

    #[test]
    fn vectors_are_read_back_by_a_later_process_and_equal_the_computed_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let model = Counting::new("local:m", 8);
        let first = Remembered::new(model.clone(), dir.path());
        let computed = first.embed(&["alpha", "beta", "alpha"]).expect("embeds");
        assert_eq!(model.asked(), 2, "a text asked twice in one call is computed once");
        // A later process: a new Remembered over the same folder computes nothing it has seen.
        let later = Remembered::new(model.clone(), dir.path());
        assert_eq!(
            later.embed(&["beta", "alpha"]).expect("embeds"),
            [computed[1].clone(), computed[0].clone()]
        );
        assert_eq!(model.asked(), 2);
        later.embed(&["gamma"]).expect("embeds");
        assert_eq!(model.asked(), 3);
        // What one process appended, another one reads on from where it stopped.
        first.embed(&["gamma"]).expect("embeds");
        assert_eq!(model.asked(), 3);
        assert_eq!(first.id(), "local:m");
    }

    #[test]
    fn a_torn_or_foreign_file_is_cut_or_started_again_never_misread() {
        let dir = tempfile::tempdir().expect("tempdir");
        let model = Counting::new("local:m", 4);
        let remembered = Remembered::new(model.clone(), dir.path());
        let alpha = remembered.embed(&["alpha"]).expect("embeds");
        let path = remembered.path().to_path_buf();
        // A crash in the middle of the next record.
        let mut bytes = std::fs::read(&path).expect("reads");
        let whole = bytes.len();
        bytes.extend([7u8; 11]);
        std::fs::write(&path, &bytes).expect("writes");
        let after_crash = Remembered::new(model.clone(), dir.path());
        assert_eq!(after_crash.embed(&["alpha"]).expect("embeds"), alpha);
        assert_eq!(model.asked(), 1, "the whole record before the torn one is read");
        after_crash.embed(&["beta"]).expect("embeds");
        let record = 8 + 4 * 4 + 8;
        assert_eq!(
            std::fs::metadata(&path).expect("file").len() as usize,
            whole + record,
            "the torn bytes were cut off"
        );
        // A flipped byte in a vector fails its checksum: that record and those after it are
        // computed again.
        let mut bytes = std::fs::read(&path).expect("reads");
        let at = whole - 10;
        bytes[at] ^= 0xff;
        std::fs::write(&path, &bytes).expect("writes");
        let damaged = Remembered::new(model.clone(), dir.path());
        assert_eq!(damaged.embed(&["alpha"]).expect("embeds"), alpha);
        assert_eq!(model.asked(), 3);
        // A file that is not one of ours is started again.
        std::fs::write(&path, b"something else entirely").expect("writes");
        let foreign = Remembered::new(model.clone(), dir.path());
        assert_eq!(foreign.embed(&["alpha"]).expect("embeds"), alpha);
        assert_eq!(model.asked(), 4);
        assert!(std::fs::read(&path).expect("reads").starts_with(MEMORY_MAGIC));
        // Another model keeps its own file.
        let other = Counting::new("local:other", 6);
        assert_eq!(
            Remembered::new(other.clone(), dir.path()).embed(&["alpha"]).expect("embeds")[0].len(),
            6
        );
        assert_eq!(other.asked(), 1);
        // A folder that cannot be written to: answered anyway.
        let blocked = dir.path().join("a-file");
        std::fs::write(&blocked, "").expect("writes");
        let nowhere = Remembered::new(model.clone(), &blocked);
        assert_eq!(nowhere.embed(&["alpha"]).expect("embeds"), alpha);
    }
}
