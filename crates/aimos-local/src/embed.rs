//! A sentence-embedding model (BERT, mean pooling) running in process through llama.cpp.
//!
//! One worker thread owns the llama.cpp context; callers hand it texts and wait for the
//! vectors. Texts are packed several to a batch, each its own sequence, and cut at
//! [`MAX_TOKENS`] tokens (the length the model was trained to pool).

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::{Arc, mpsc};

use aimos_core::dense::{Embed, normalize};
use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;

use crate::engine::{LoadError, backend, check_magic, start_context};

/// Tokens of one text that count; the rest is cut (sentence-transformers pools this model
/// over at most 256).
pub const MAX_TOKENS: usize = 256;
/// Tokens decoded at once: all tokens of a sequence must fit in one micro-batch, since
/// every token attends to every other. llama.cpp computes attention across the whole
/// micro-batch (masked per sequence), so a small one wastes less.
const BATCH_TOKENS: usize = 512;
const BATCH_SEQUENCES: usize = 64;
/// Vectors kept for texts embedded before (a brief's chunks, a stored problem), per model.
const CACHED_TEXTS: usize = 16_384;

struct Job {
    texts: Vec<String>,
    reply: mpsc::Sender<Result<Vec<Vec<f32>>, String>>,
}

/// An embedding model loaded in this process.
pub struct Embedder {
    id: String,
    dims: usize,
    jobs: std::sync::Mutex<mpsc::Sender<Job>>,
    cache: std::sync::Mutex<std::collections::HashMap<String, Arc<[f32]>>>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder").field("id", &self.id).field("dims", &self.dims).finish()
    }
}

impl Embedder {
    /// Loads the GGUF embedding model at `path` onto `threads` threads.
    pub fn load(path: &Path, id: &str, threads: u32) -> Result<Embedder, LoadError> {
        check_magic(path)?;
        let backend = backend()?;
        let llama = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
            .map_err(|err| LoadError::Llama { path: path.to_owned(), message: err.to_string() })?;
        let dims = usize::try_from(llama.n_embd()).unwrap_or(0);
        let llama = Arc::new(llama);
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), LoadError>>();
        let path_owned = path.to_owned();
        std::thread::Builder::new()
            .name(format!("aimos-embed-{id}"))
            .spawn(move || worker(&llama, &path_owned, threads, &queue, &ready_tx))
            .map_err(|source| LoadError::Io { path: path.to_owned(), source })?;
        ready_rx.recv().unwrap_or_else(|_| {
            Err(LoadError::Backend {
                message: "the embedding worker stopped while starting".into(),
            })
        })?;
        Ok(Embedder {
            id: id.to_owned(),
            dims,
            jobs: std::sync::Mutex::new(jobs),
            cache: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// Length of the vectors.
    pub fn dims(&self) -> usize {
        self.dims
    }
}

impl Embed for Embedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        let mut out: Vec<Option<Arc<[f32]>>> = {
            let cache = lock(&self.cache);
            texts.iter().map(|t| cache.get(*t).cloned()).collect()
        };
        let mut missing: Vec<String> = Vec::new();
        for (text, found) in texts.iter().zip(&out) {
            if found.is_none() && !missing.iter().any(|m| m == text) {
                missing.push((*text).to_owned());
            }
        }
        if !missing.is_empty() {
            let (reply, answer) = mpsc::channel();
            let job = Job { texts: missing.clone(), reply };
            lock(&self.jobs)
                .send(job)
                .map_err(|_| "the embedding worker has stopped".to_owned())?;
            let vectors =
                answer.recv().map_err(|_| "the embedding worker has stopped".to_owned())??;
            let mut cache = lock(&self.cache);
            if cache.len() + missing.len() > CACHED_TEXTS {
                cache.clear();
            }
            for (text, vector) in missing.into_iter().zip(vectors) {
                cache.insert(text, Arc::from(vector));
            }
            for (text, slot) in texts.iter().zip(out.iter_mut()) {
                if slot.is_none() {
                    *slot = cache.get(*text).cloned();
                }
            }
        }
        out.into_iter()
            .map(|v| v.map(|v| v.to_vec()).ok_or_else(|| "an embedding went missing".to_owned()))
            .collect()
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn worker(
    llama: &LlamaModel,
    path: &Path,
    threads: u32,
    queue: &mpsc::Receiver<Job>,
    ready: &mpsc::Sender<Result<(), LoadError>>,
) {
    let threads = i32::try_from(threads.max(1)).unwrap_or(1);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(BATCH_TOKENS as u32))
        .with_n_batch(BATCH_TOKENS as u32)
        .with_n_ubatch(BATCH_TOKENS as u32)
        .with_n_seq_max(BATCH_SEQUENCES as u32)
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
        .with_embeddings(true)
        .with_pooling_type(LlamaPoolingType::Mean);
    let Some(mut context) = start_context(llama, params, path, BATCH_TOKENS as u32, ready) else {
        return;
    };
    let mut batch = LlamaBatch::new(BATCH_TOKENS, BATCH_SEQUENCES as i32);
    while let Ok(job) = queue.recv() {
        let _computing = crate::gate::computing();
        let result = embed_all(llama, &mut context, &mut batch, &job.texts);
        let _ = job.reply.send(result);
    }
}

fn embed_all(
    llama: &LlamaModel,
    context: &mut llama_cpp_2::context::LlamaContext<'_>,
    batch: &mut LlamaBatch<'_>,
    texts: &[String],
) -> Result<Vec<Vec<f32>>, String> {
    let tokenized: Vec<Vec<_>> = texts
        .iter()
        .map(|text| {
            let mut tokens = llama.vocab().tokenize(text.as_bytes(), true, false);
            if tokens.len() > MAX_TOKENS {
                // Keep the closing separator the tokenizer added.
                let last = tokens[tokens.len() - 1];
                tokens.truncate(MAX_TOKENS - 1);
                tokens.push(last);
            }
            tokens
        })
        .collect();
    let mut out = Vec::with_capacity(texts.len());
    let mut start = 0;
    while start < tokenized.len() {
        batch.clear();
        let mut used = 0;
        let mut end = start;
        while end < tokenized.len()
            && end - start < BATCH_SEQUENCES
            && (end == start || used + tokenized[end].len() <= BATCH_TOKENS)
        {
            let seq = (end - start) as i32;
            let n = tokenized[end].len();
            for (pos, token) in tokenized[end].iter().enumerate() {
                batch
                    .add(*token, pos as i32, &[seq], pos + 1 == n)
                    .map_err(|err| format!("adding a token to the batch: {err}"))?;
            }
            used += n;
            end += 1;
        }
        context.clear_kv_cache();
        context.decode(batch).map_err(|err| format!("computing embeddings: {err}"))?;
        for seq in 0..(end - start) {
            let mut vector = context
                .embeddings_seq_ith(seq as i32)
                .map_err(|err| format!("reading an embedding: {err}"))?
                .to_vec();
            normalize(&mut vector);
            out.push(vector);
        }
        start = end;
    }
    Ok(out)
}
