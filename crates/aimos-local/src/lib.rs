//! Embedded models: GGUF files run in process through llama.cpp, and the catalog that fetches them.
//!
//! Start with [`load`]: it turns a catalog name (`smollm2-135m`) or a `.gguf` path into a shared
//! [`GgufModel`], pulling and verifying catalog models as needed. [`GgufModel`] implements
//! [`aimos_core::Model`], so the rest of aimos never sees llama.cpp.
//!
//! This crate stores nothing but model files and serves nothing over HTTP.

pub mod catalog;
mod convert;
mod embed;
mod engine;
mod gate;
mod grammar;
mod lookup;
pub mod paths;
mod prefix;
pub mod pull;
mod template;
mod text;
mod threads;

use std::path::PathBuf;
use std::sync::Arc;

use aimos_core::Price;

pub use catalog::{Assembly, DEFAULT_EMBEDDING, ModelKind};
pub use catalog::{CatalogEntry, UnknownModel};
pub use convert::BertShape;
pub use embed::Embedder;
pub use engine::{DEFAULT_CONTEXT_WINDOW, GgufModel, LoadError, LocalOptions, Tokenizer, bench};
pub use gate::COMPUTE_LOCK_ENV;
pub use grammar::{cut_at, json_schema_to_gbnf};
pub use pull::{NoProgress, PullError, PullOptions, PullProgress, Pulled};
pub use threads::physical_cores;

/// The prefix that marks an embedded model where remote ones may also be named (`local:qwen…`).
pub const PREFIX: &str = "local:";

/// What a model name refers to.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant, reason = "made once per model name; boxing buys nothing")]
pub enum ModelRef {
    /// A catalog model, fetched into the models folder.
    Catalog(CatalogEntry),
    /// A GGUF file the user points at.
    File(PathBuf),
}

impl ModelRef {
    /// Reads `name`: a catalog name, with or without the `local:` prefix, or a path to a `.gguf` file.
    pub fn parse(name: &str) -> Result<ModelRef, UnknownModel> {
        let name = name.strip_prefix(PREFIX).unwrap_or(name);
        let looks_like_path = name.ends_with(".gguf") || name.contains(std::path::MAIN_SEPARATOR);
        if looks_like_path {
            return Ok(ModelRef::File(PathBuf::from(name)));
        }
        catalog::find(name).map(ModelRef::Catalog)
    }

    /// aimos's name for the model in responses and ledgers.
    pub fn id(&self) -> String {
        match self {
            ModelRef::Catalog(entry) => format!("{PREFIX}{}", entry.name),
            ModelRef::File(path) => format!("{PREFIX}{}", path.display()),
        }
    }

    /// The catalog's nominal price, or zero for a user's own file.
    pub fn price(&self) -> Price {
        match self {
            ModelRef::Catalog(entry) => entry.price,
            ModelRef::File(_) => Price::default(),
        }
    }
}

/// Why a model could not be made ready.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    #[error(transparent)]
    Unknown(#[from] UnknownModel),
    #[error("model `{name}` is not pulled yet; run `aimos models pull {name}`")]
    NotPulled { name: String },
    #[error("no folder for models: set AIMOS_HOME (or HOME)")]
    NoHome,
    #[error(transparent)]
    Pull(#[from] PullError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(
        "`{name}` is {actual} model, and this needs {wanted} model; `aimos models list` shows each model's kind"
    )]
    WrongKind { name: String, actual: &'static str, wanted: &'static str },
}

fn check_kind(model: &ModelRef, wanted: ModelKind) -> Result<(), ResolveError> {
    let a = |kind: ModelKind| match kind {
        ModelKind::Chat => "a chat",
        ModelKind::Embedding => "an embedding",
    };
    match model {
        ModelRef::Catalog(entry) if entry.kind != wanted => Err(ResolveError::WrongKind {
            name: entry.name.to_owned(),
            actual: a(entry.kind),
            wanted: a(wanted),
        }),
        _ => Ok(()),
    }
}

/// Options for [`load`].
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Pull a catalog model that is not on disk yet (with a note to `progress`), instead of failing.
    pub pull_if_missing: bool,
    pub pull: PullOptions,
    pub run: LocalOptions,
    /// Overrides the catalog's nominal price.
    pub price: Option<Price>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            pull_if_missing: true,
            pull: PullOptions::from_env(),
            run: LocalOptions::default(),
            price: None,
        }
    }
}

/// The path of a model's file, checked: catalog files against their pinned checksum
/// (pulled first when allowed and missing), user files for existence.
pub fn ensure_file(
    model: &ModelRef,
    options: &LoadOptions,
    progress: &mut dyn PullProgress,
) -> Result<PathBuf, ResolveError> {
    match model {
        ModelRef::File(path) => Ok(path.clone()),
        ModelRef::Catalog(entry) => {
            let dir = paths::models_dir().ok_or(ResolveError::NoHome)?;
            let path = entry.path_in(&dir);
            if path.exists() {
                pull::verify(entry, &path, progress)?;
                return Ok(path);
            }
            if !options.pull_if_missing {
                return Err(ResolveError::NotPulled { name: entry.name.to_owned() });
            }
            progress.note(&format!(
                "{} is not on this machine yet; pulling it into {}",
                entry.name,
                dir.display()
            ));
            let pulled = pull::pull(entry, &dir, &options.pull, progress)?;
            Ok(pulled.path().to_owned())
        }
    }
}

/// Loads the model `name` refers to, shared with any other user of the same model in this process.
///
/// ```no_run
/// use aimos_core::{ChatRequest, Message, Model};
/// use aimos_local::{LoadOptions, NoProgress};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let model = aimos_local::load("smollm2-135m", &LoadOptions::default(), &mut NoProgress)?;
/// let request = ChatRequest {
///     temperature: Some(0.0),
///     max_tokens: Some(64),
///     ..ChatRequest::new(vec![Message::user("What is the capital of France?")])
/// };
/// let answer = model.chat(request).await?;
/// assert!(answer.usage.completion_tokens <= 64);
/// # Ok(()) }
/// ```
pub fn load(
    name: &str,
    options: &LoadOptions,
    progress: &mut dyn PullProgress,
) -> Result<Arc<GgufModel>, ResolveError> {
    let model = ModelRef::parse(name)?;
    check_kind(&model, ModelKind::Chat)?;
    let path = ensure_file(&model, options, progress)?;
    let price = options.price.unwrap_or_else(|| model.price());
    Ok(GgufModel::load_shared(&path, &model.id(), price, &options.run)?)
}

/// Loads the embedding model `name` refers to (a catalog name such as [`DEFAULT_EMBEDDING`] or
/// a `.gguf` path), shared with any other user of the same file in this process.
pub fn load_embedder(
    name: &str,
    options: &LoadOptions,
    progress: &mut dyn PullProgress,
) -> Result<Arc<Embedder>, ResolveError> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock, Weak};
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Weak<Embedder>>>> = OnceLock::new();
    let model = ModelRef::parse(name)?;
    check_kind(&model, ModelKind::Embedding)?;
    let path = ensure_file(&model, options, progress)?;
    let mut loaded = LOADED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(embedder) = loaded.get(&path).and_then(Weak::upgrade) {
        return Ok(embedder);
    }
    let threads = options.run.threads.unwrap_or_else(threads::physical_cores);
    let embedder = Arc::new(Embedder::load(&path, &model.id(), threads)?);
    loaded.retain(|_, weak| weak.strong_count() > 0);
    loaded.insert(path, Arc::downgrade(&embedder));
    Ok(embedder)
}

/// The tokenizer of the model `name` refers to, read without its weights (and pulled first
/// only when `options` allows).
pub fn tokenizer(
    name: &str,
    options: &LoadOptions,
    progress: &mut dyn PullProgress,
) -> Result<Tokenizer, ResolveError> {
    let model = ModelRef::parse(name)?;
    let path = ensure_file(&model, options, progress)?;
    Ok(Tokenizer::load(&path)?)
}

/// Where `entry` is once pulled, if the models folder is known.
pub fn catalog_path(entry: &CatalogEntry) -> Option<PathBuf> {
    paths::models_dir().map(|dir| entry.path_in(&dir))
}

/// llama.cpp's own account of the CPU features it was built to use (`AVX2 = 1 | FMA = 1 | …`).
#[allow(unsafe_code)]
pub fn system_info() -> String {
    // SAFETY: the function takes no arguments and returns a pointer to a NUL-terminated buffer
    // that llama.cpp keeps alive until the next call; it is copied out at once.
    let ptr = unsafe { llama_cpp_sys_2::llama_print_system_info() };
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: checked non-null above; llama.cpp NUL-terminates the buffer.
    unsafe { std::ffi::CStr::from_ptr(ptr) }.to_string_lossy().trim().to_owned()
}

/// `docs/library.md`, compiled as a documentation test so that its example keeps building.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/library.md")]
pub struct LibraryDocs;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_paths_and_prefixes_parse() {
        assert!(
            matches!(ModelRef::parse("smollm2-135m"), Ok(ModelRef::Catalog(e)) if e.name == "smollm2-135m")
        );
        assert!(matches!(ModelRef::parse("local:smollm2-135m"), Ok(ModelRef::Catalog(_))));
        assert_eq!(ModelRef::parse("./my.gguf"), Ok(ModelRef::File(PathBuf::from("./my.gguf"))));
        assert!(ModelRef::parse("nope").is_err());
        let id = ModelRef::parse("qwen2.5-coder-0.5b").map(|m| m.id());
        assert_eq!(id.as_deref(), Ok("local:qwen2.5-coder-0.5b"));
    }
}
