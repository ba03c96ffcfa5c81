//! `GgufModel`: a GGUF file run in process by llama.cpp, behind the core `Model` trait.
//!
//! One model is loaded once per process and shared. Each model owns one worker thread with one
//! llama.cpp context; requests queue in front of it and run one at a time, so every caller gets
//! its own whole answer. A gate (`gate.rs`) also keeps two models from computing at once, in this
//! process and in any other aimos process on the machine: on a machine with few cores, two
//! inferences side by side are both slower than one after the other.
//! This module does not fetch or verify files (see `pull`) and does not know the catalog.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, Weak, mpsc};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use aimos_core::{
    ChatEvent, ChatRequest, ChatResponse, ChatStream, FinishReason, Model, ModelError, ModelInfo,
    Price, ResponseFormat, Timings, Usage,
};
use futures_core::Stream;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::mpsc as events;

use crate::grammar;
use crate::lookup::Lookup;
use crate::prefix::PrefixCache;
use crate::template::ChatTemplate;
use crate::text::{StopMatcher, Utf8Decoder};

/// How to run a model. `Default` suits this machine: all physical cores, an 8k window.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocalOptions {
    /// Context window in tokens; `None` is the smaller of the model's trained window and 8192.
    pub context_window: Option<u32>,
    /// Threads for prompt and generation; `None` is the number of physical cores.
    pub threads: Option<u32>,
    /// Most prompt tokens handed to llama.cpp in one call.
    pub batch_size: u32,
    /// Keep the KV state of recent prompts and read a new prompt only from where it differs
    /// from the longest of them.
    pub prefix_cache: bool,
    /// Memory for copies of earlier sequences' KV state, in MiB; `None` is two full windows'
    /// worth, 0 keeps only the sequence in the context.
    pub kv_cache_mib: Option<u32>,
    /// Draft greedy answers from the text already seen (prompt-lookup decoding). Off by
    /// default: on a CPU with few cores a pass over several tokens costs nearly as much as
    /// that many passes over one, so drafts do not pay; and llama.cpp computes a batch with
    /// other kernels than a single token, so the answer can differ from plain greedy decoding
    /// where two tokens are nearly tied (docs/models.md has the measurements).
    pub lookup_decoding: bool,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            context_window: None,
            threads: None,
            batch_size: 2048,
            prefix_cache: true,
            kv_cache_mib: None,
            lookup_decoding: false,
        }
    }
}

/// The context window used when the caller does not choose one.
pub const DEFAULT_CONTEXT_WINDOW: u32 = 8192;

/// Why a GGUF file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("no model file at {path}")]
    NotFound { path: PathBuf },
    #[error("{path} is not a GGUF file (it does not start with the GGUF magic bytes)")]
    NotGguf { path: PathBuf },
    #[error(
        "llama.cpp could not load {path}: {message}; the file may be damaged (`aimos models verify` checks catalog models)"
    )]
    Llama { path: PathBuf, message: String },
    #[error(
        "llama.cpp could not create a context of {context_window} tokens for {path}: {message}"
    )]
    Context { path: PathBuf, context_window: u32, message: String },
    #[error("llama.cpp could not start: {message}")]
    Backend { message: String },
    #[error("reading {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub(crate) fn backend() -> Result<&'static LlamaBackend, LoadError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            LlamaBackend::init()
                .map(|mut backend| {
                    backend.void_logs();
                    backend
                })
                .map_err(|err| err.to_string())
        })
        .as_ref()
        .map_err(|message| LoadError::Backend { message: message.clone() })
}

/// llama.cpp contexts must not be created in parallel.
static CONTEXT_CREATION: Mutex<()> = Mutex::new(());

/// A worker's context for `llama`, created one at a time; whether it could be made is sent on
/// `ready` (`None` here when it could not).
pub(crate) fn start_context<'a>(
    llama: &'a LlamaModel,
    params: LlamaContextParams,
    path: &Path,
    context_window: u32,
    ready: &mpsc::Sender<Result<(), LoadError>>,
) -> Option<LlamaContext<'a>> {
    let context = {
        let _creating = lock(&CONTEXT_CREATION);
        backend().and_then(|backend| {
            llama.new_context(backend, params).map_err(|err| LoadError::Context {
                path: path.to_owned(),
                context_window,
                message: err.to_string(),
            })
        })
    };
    match context {
        Ok(context) => {
            let _ = ready.send(Ok(()));
            Some(context)
        }
        Err(err) => {
            let _ = ready.send(Err(err));
            None
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the model, its tokenizer and template share between the caller's side and the worker.
struct Weights {
    llama: LlamaModel,
    template: ChatTemplate,
}

/// A GGUF model running in this process.
pub struct GgufModel {
    info: ModelInfo,
    weights: Arc<Weights>,
    jobs: mpsc::Sender<Job>,
    threads: u32,
}

impl std::fmt::Debug for GgufModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufModel")
            .field("info", &self.info)
            .field("threads", &self.threads)
            .finish()
    }
}

struct Job {
    request: ChatRequest,
    events: events::UnboundedSender<Result<ChatEvent, ModelError>>,
    enqueued: Instant,
}

impl GgufModel {
    /// Loads `path`, or returns the model this process already loaded from it with the same
    /// options. `id` names the model in responses; `price` is its nominal price.
    pub fn load_shared(
        path: &Path,
        id: &str,
        price: Price,
        options: &LocalOptions,
    ) -> Result<Arc<GgufModel>, LoadError> {
        type Key = (PathBuf, String, LocalOptions);
        static LOADED: OnceLock<Mutex<HashMap<Key, Weak<GgufModel>>>> = OnceLock::new();
        let loaded = LOADED.get_or_init(Default::default);
        let key = (path.to_owned(), id.to_owned(), options.clone());
        // Held across the load so that two callers asking at once load the model once.
        let mut loaded = lock(loaded);
        if let Some(model) = loaded.get(&key).and_then(Weak::upgrade) {
            return Ok(model);
        }
        let model = Arc::new(GgufModel::load(path, id, price, options)?);
        loaded.retain(|_, weak| weak.strong_count() > 0);
        loaded.insert(key, Arc::downgrade(&model));
        Ok(model)
    }

    /// Loads `path` into a new, unshared model.
    pub fn load(
        path: &Path,
        id: &str,
        price: Price,
        options: &LocalOptions,
    ) -> Result<GgufModel, LoadError> {
        check_magic(path)?;
        let backend = backend()?;
        let llama = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
            .map_err(|err| LoadError::Llama { path: path.to_owned(), message: err.to_string() })?;
        let template = ChatTemplate::from_model(&llama);
        let weights = Arc::new(Weights { llama, template });

        let trained = weights.llama.n_ctx_train().max(1);
        let context_window =
            options.context_window.unwrap_or(DEFAULT_CONTEXT_WINDOW).min(trained).max(64);
        let threads = options.threads.unwrap_or_else(crate::threads::physical_cores).max(1);
        let worker = WorkerConfig {
            context_window,
            threads,
            batch_size: options.batch_size.clamp(32, context_window),
            id: id.to_owned(),
            path: path.to_owned(),
            prefix_cache: options.prefix_cache,
            kv_cache_mib: options.kv_cache_mib,
            lookup_decoding: options.lookup_decoding,
        };

        let (jobs, job_queue) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), LoadError>>();
        let worker_weights = Arc::clone(&weights);
        std::thread::Builder::new()
            .name(format!("aimos-llama-{id}"))
            .spawn(move || run_worker(&worker_weights, &worker, &job_queue, &ready_tx))
            .map_err(|source| LoadError::Io { path: path.to_owned(), source })?;
        ready_rx.recv().unwrap_or_else(|_| {
            Err(LoadError::Backend {
                message: "the model's worker thread stopped while starting".into(),
            })
        })?;

        Ok(GgufModel {
            info: ModelInfo {
                id: id.to_owned(),
                context_window: Some(context_window),
                price,
                external: false,
            },
            weights,
            jobs,
            threads,
        })
    }

    /// Threads each request runs on.
    pub fn threads(&self) -> u32 {
        self.threads
    }

    /// Tokens the model's tokenizer makes of `text` (no special tokens added).
    pub fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        self.weights.llama.vocab().tokenize(text.as_bytes(), false, true)
    }

    /// The prompt text the chat template makes of `request`'s messages.
    pub fn render_prompt(&self, request: &ChatRequest) -> Result<String, ModelError> {
        self.weights.template.render(&request.messages)
    }
}

/// A model's tokenizer alone: its vocabulary read from the file without the weights, for
/// counting tokens where nothing is generated (a 1.5B model's vocabulary loads in a fraction
/// of the time and memory its weights take).
pub struct Tokenizer {
    llama: LlamaModel,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer").finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// Reads the vocabulary of the GGUF file at `path`.
    pub fn load(path: &Path) -> Result<Tokenizer, LoadError> {
        check_magic(path)?;
        let backend = backend()?;
        let params = LlamaModelParams::default().with_vocab_only(true);
        let llama = LlamaModel::load_from_file(backend, path, &params)
            .map_err(|err| LoadError::Llama { path: path.to_owned(), message: err.to_string() })?;
        Ok(Tokenizer { llama })
    }

    /// Tokens `text` makes (no special tokens added), as [`GgufModel::tokenize`] counts them.
    pub fn count(&self, text: &str) -> usize {
        self.llama.vocab().tokenize(text.as_bytes(), false, true).len()
    }
}

impl Model for GgufModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn chat_stream(&self, request: ChatRequest) -> ChatStream {
        if let Err(err) = validate(&request) {
            return ChatStream::failed(err);
        }
        let (events, receiver) = events::unbounded_channel();
        let job = Job { request, events, enqueued: Instant::now() };
        if self.jobs.send(job).is_err() {
            return ChatStream::failed(ModelError::Unavailable);
        }
        ChatStream::new(EventStream(receiver))
    }

    fn count_tokens(&self, text: &str) -> Option<usize> {
        Some(self.tokenize(text).len())
    }
}

fn validate(request: &ChatRequest) -> Result<(), ModelError> {
    if request.messages.is_empty() {
        return Err(ModelError::InvalidRequest {
            message: "a chat request needs at least one message".into(),
        });
    }
    if let Some(t) = request.temperature.filter(|t| !t.is_finite() || *t < 0.0) {
        return Err(ModelError::InvalidRequest {
            message: format!("temperature must be 0 or more, got {t}"),
        });
    }
    if let Some(p) = request.top_p.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
        return Err(ModelError::InvalidRequest {
            message: format!("top_p must be in (0, 1], got {p}"),
        });
    }
    if request.max_tokens == Some(0) {
        return Err(ModelError::InvalidRequest { message: "max_tokens must be at least 1".into() });
    }
    if !request.tools.is_empty() {
        return Err(ModelError::InvalidRequest {
            message: "embedded models do not call tools; send the request without tools, or to a remote model".into(),
        });
    }
    Ok(())
}

struct EventStream(events::UnboundedReceiver<Result<ChatEvent, ModelError>>);

impl Stream for EventStream {
    type Item = Result<ChatEvent, ModelError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

pub(crate) fn check_magic(path: &Path) -> Result<(), LoadError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            LoadError::NotFound { path: path.to_owned() }
        } else {
            LoadError::Io { path: path.to_owned(), source }
        }
    })?;
    let mut magic = [0u8; 4];
    match file.read_exact(&mut magic) {
        Ok(()) if &magic == b"GGUF" => Ok(()),
        _ => Err(LoadError::NotGguf { path: path.to_owned() }),
    }
}

struct WorkerConfig {
    context_window: u32,
    threads: u32,
    batch_size: u32,
    id: String,
    path: PathBuf,
    prefix_cache: bool,
    kv_cache_mib: Option<u32>,
    lookup_decoding: bool,
}

fn run_worker(
    weights: &Weights,
    config: &WorkerConfig,
    jobs: &mpsc::Receiver<Job>,
    ready: &mpsc::Sender<Result<(), LoadError>>,
) {
    let params = context_params(config.context_window, config.batch_size, config.threads);
    let Some(mut context) =
        start_context(&weights.llama, params, &config.path, config.context_window, ready)
    else {
        return;
    };
    let mut batch = LlamaBatch::new(config.batch_size as usize, 1);
    let mut cache = PrefixCache::new(
        config.prefix_cache,
        config.kv_cache_mib,
        config.context_window as usize,
        context.n_ubatch() as usize,
    );
    while let Ok(job) = jobs.recv() {
        if job.events.is_closed() {
            continue;
        }
        let _computing = crate::gate::computing();
        let started = Instant::now();
        let outcome =
            generate(weights, &mut context, &mut batch, &mut cache, config, &job, started);
        if outcome.is_err() {
            // What a failed decode left in the context is unknown.
            cache.forget(&mut context);
        }
        match outcome {
            Ok(Some(response)) => {
                let _ = job.events.send(Ok(ChatEvent::Done(response)));
            }
            Ok(None) => {} // The caller went away.
            Err(err) => {
                let _ = job.events.send(Err(err));
            }
        }
    }
}

/// Context settings shared by the worker and the bench: prompt batches of up to `batch_size`
/// tokens, computed 512 at a time (llama.cpp's default micro-batch), on `threads` threads.
fn context_params(context_window: u32, batch_size: u32, threads: u32) -> LlamaContextParams {
    let threads = i32::try_from(threads).unwrap_or(i32::MAX);
    let batch_size = batch_size.min(context_window);
    LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(context_window))
        .with_n_batch(batch_size)
        .with_n_ubatch(batch_size.min(512))
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
}

fn backend_error(what: &str, err: impl std::fmt::Display) -> ModelError {
    ModelError::Backend { message: format!("{what}: {err}") }
}

/// Runs one request to the end. `Ok(None)` means the caller dropped the stream.
fn generate(
    weights: &Weights,
    context: &mut LlamaContext<'_>,
    batch: &mut LlamaBatch<'_>,
    cache: &mut PrefixCache,
    config: &WorkerConfig,
    job: &Job,
    started: Instant,
) -> Result<Option<ChatResponse>, ModelError> {
    let request = &job.request;
    let prompt = weights.template.render(&request.messages)?;
    let tokens = weights.template.tokenize(&weights.llama, &prompt);
    let window = config.context_window as usize;
    if tokens.is_empty() {
        return Err(ModelError::InvalidRequest {
            message: "the prompt renders to no tokens".into(),
        });
    }
    if tokens.len() >= window {
        return Err(ModelError::ContextTooLong {
            prompt_tokens: tokens.len(),
            context_window: window,
        });
    }
    let mut sampler = Chooser::for_request(&weights.llama, request)?;
    let greedy = request.is_greedy();

    let budget = window - tokens.len();
    let max_new = request.max_tokens.map_or(budget, |m| (m as usize).min(budget));
    let mut out = Output {
        vocab: weights.llama.vocab(),
        job,
        stop: StopMatcher::new(&request.stop),
        decoder: Utf8Decoder::default(),
        content: String::new(),
        piece: Vec::with_capacity(32),
        generated: 0,
        max_new,
    };

    let prepared = cache.prepare(context, &tokens);
    if prepared.reused > 0 {
        tracing::debug!(
            model = %config.id,
            reused = prepared.reused,
            prompt = tokens.len(),
            from_a_copy = prepared.restored,
            "prompt prefix already in the context"
        );
    }
    decode_prompt(context, batch, &tokens[prepared.reused..], prepared.reused)?;
    cache.extend_read(&tokens[prepared.reused..]);
    let mut lookup = (greedy && config.lookup_decoding).then(Lookup::default);
    // Prompt and answer so far, where drafts are looked up.
    let mut history = if lookup.is_some() { tokens.clone() } else { Vec::new() };
    let mut pos = tokens.len();
    let mut token = sampler.choose(context, batch.n_tokens() - 1);
    let first_token_at = Instant::now();
    let finish_reason = 'answer: loop {
        match out.push(token) {
            Pushed::More => {}
            Pushed::Finished(reason) => break reason,
            Pushed::Gone => return Ok(None),
        }
        if job.events.is_closed() {
            return Ok(None);
        }
        let draft = match &mut lookup {
            Some(lookup) => {
                history.push(token);
                lookup.draft(&history, max_new - out.generated)
            }
            None => Vec::new(),
        };
        batch.clear();
        for (i, t) in std::iter::once(token).chain(draft.iter().copied()).enumerate() {
            batch
                .add(t, (pos + i) as i32, &[0], true)
                .map_err(|err| backend_error("adding a token to the batch", err))?;
        }
        context.decode(batch).map_err(|err| backend_error("llama.cpp decode", err))?;
        cache.extend(&[token]);
        cache.extend(&draft);
        pos += 1;
        // The model's own choice after each drafted token, while they agree.
        let mut kept = 0;
        token = loop {
            let chosen = sampler.choose(context, kept as i32);
            if draft.get(kept) != Some(&chosen) {
                break chosen;
            }
            kept += 1;
            match out.push(chosen) {
                Pushed::More => history.push(chosen),
                Pushed::Finished(reason) => {
                    if let Some(lookup) = &mut lookup {
                        lookup.record(draft.len(), kept);
                    }
                    break 'answer reason;
                }
                Pushed::Gone => return Ok(None),
            }
        };
        if let Some(lookup) = &mut lookup
            && !draft.is_empty()
        {
            lookup.record(draft.len(), kept);
        }
        pos += kept;
        // Drafted tokens after the first disagreement hold keys and values of a future that
        // did not happen.
        cache.truncate(context, pos);
    };
    let Some(content) = out.finish(finish_reason) else { return Ok(None) };
    let finished = Instant::now();
    let (drafted, accepted) = lookup.map_or((0, 0), |l| (l.drafted, l.accepted));
    Ok(Some(ChatResponse {
        tool_calls: Vec::new(),
        model: config.id.clone(),
        content,
        finish_reason,
        usage: Usage {
            prompt_tokens: tokens.len() as u64,
            completion_tokens: out.generated as u64,
            cached_prompt_tokens: prepared.reused as u64,
            ..Usage::default()
        },
        timings: Timings {
            queued: started.saturating_duration_since(job.enqueued),
            prompt: first_token_at.saturating_duration_since(started),
            generation: finished.saturating_duration_since(first_token_at),
            total: finished.saturating_duration_since(job.enqueued),
            draft_tokens: drafted,
            draft_tokens_accepted: accepted,
        },
    }))
}

/// The answer as it is generated: each token becomes text, checked against the stop
/// sequences and streamed to the caller.
struct Output<'a> {
    vocab: llama_cpp_2::vocab::LlamaVocab<'a>,
    job: &'a Job,
    stop: StopMatcher,
    decoder: Utf8Decoder,
    content: String,
    piece: Vec<u8>,
    generated: usize,
    max_new: usize,
}

enum Pushed {
    More,
    Finished(FinishReason),
    /// The caller dropped the stream.
    Gone,
}

impl Output<'_> {
    fn emit(&self, text: String) -> bool {
        self.job.events.send(Ok(ChatEvent::Delta(text))).is_ok()
    }

    /// Takes the next token the model chose.
    fn push(&mut self, token: LlamaToken) -> Pushed {
        if self.vocab.is_eog(token) {
            return Pushed::Finished(FinishReason::Stop);
        }
        self.generated += 1;
        self.piece.clear();
        self.vocab.token_to_piece_into(token, &mut self.piece, false, None);
        let text = self.decoder.push(&self.piece);
        let (ready, stopped) = self.stop.push(&text);
        self.content.push_str(&ready);
        if !ready.is_empty() && !self.emit(ready) {
            return Pushed::Gone;
        }
        if stopped {
            Pushed::Finished(FinishReason::Stop)
        } else if self.generated >= self.max_new {
            Pushed::Finished(FinishReason::Length)
        } else {
            Pushed::More
        }
    }

    /// The whole answer, with what the stop matcher held back sent; `None` if the caller left.
    fn finish(&mut self, reason: FinishReason) -> Option<String> {
        if reason != FinishReason::Stop || !self.stop.stopped() {
            let rest = self.stop.finish(&self.decoder.finish());
            self.content.push_str(&rest);
            if !rest.is_empty() && !self.emit(rest) {
                return None;
            }
        }
        Some(std::mem::take(&mut self.content))
    }
}

/// Feeds `tokens` to the model in batches from position `start`, asking for logits of the last
/// one only.
fn decode_prompt(
    context: &mut LlamaContext<'_>,
    batch: &mut LlamaBatch<'_>,
    tokens: &[LlamaToken],
    start: usize,
) -> Result<(), ModelError> {
    let n_batch = context.n_batch() as usize;
    let last = tokens.len().saturating_sub(1);
    for (chunk_idx, chunk) in tokens.chunks(n_batch).enumerate() {
        batch.clear();
        for (offset, token) in chunk.iter().enumerate() {
            let i = chunk_idx * n_batch + offset;
            batch
                .add(*token, (start + i) as i32, &[0], i == last)
                .map_err(|err| backend_error("adding a prompt token to the batch", err))?;
        }
        context
            .decode(batch)
            .map_err(|err| backend_error("llama.cpp decode of the prompt", err))?;
    }
    Ok(())
}

/// How the next token is chosen from the logits.
enum Chooser {
    /// The highest logit, read straight from the context. llama.cpp's own greedy sampler first
    /// copies every logit into a candidate array (151,936 of them for Qwen2.5), which costs
    /// about half a millisecond a token; the choice is the same.
    Argmax,
    /// llama.cpp's sampler chain: a grammar, or sampling at a temperature.
    Sampler(LlamaSampler),
}

impl Chooser {
    fn for_request(llama: &LlamaModel, request: &ChatRequest) -> Result<Chooser, ModelError> {
        let constrained =
            matches!(request.response_format, Some(ResponseFormat::JsonSchema { .. }));
        if request.is_greedy() && !constrained {
            return Ok(Chooser::Argmax);
        }
        build_sampler(llama, request).map(Chooser::Sampler)
    }

    /// The token chosen after the batch's `idx`-th token (which must have asked for logits).
    fn choose(&mut self, context: &LlamaContext<'_>, idx: i32) -> LlamaToken {
        match self {
            Chooser::Argmax => LlamaToken(argmax(context.get_logits_ith(idx)) as i32),
            Chooser::Sampler(sampler) => sampler.sample(context, idx),
        }
    }
}

/// The index of the highest value, the first of equals: the rule of llama.cpp's greedy
/// sampler, so that both choose the same token.
fn argmax(logits: &[f32]) -> usize {
    let mut best = 0;
    let mut best_logit = logits.first().copied().unwrap_or(f32::NEG_INFINITY);
    for (i, &logit) in logits.iter().enumerate().skip(1) {
        if logit > best_logit {
            best = i;
            best_logit = logit;
        }
    }
    best
}

fn build_sampler(llama: &LlamaModel, request: &ChatRequest) -> Result<LlamaSampler, ModelError> {
    let mut chain = Vec::with_capacity(6);
    if let Some(ResponseFormat::JsonSchema { schema, .. }) = &request.response_format {
        let gbnf = grammar::json_schema_to_gbnf(schema)?;
        let grammar = LlamaSampler::grammar(llama, &gbnf, "root").map_err(|err| {
            ModelError::InvalidSchema {
                path: "#".into(),
                reason: format!("llama.cpp rejected the grammar made from it: {err}"),
            }
        })?;
        chain.push(grammar);
    }
    let temperature = request.temperature.unwrap_or(0.8);
    if temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        let seed = request.seed.unwrap_or_else(random_seed);
        chain.push(LlamaSampler::top_k(40));
        chain.push(LlamaSampler::top_p(request.top_p.unwrap_or(0.95), 1));
        chain.push(LlamaSampler::min_p(0.05, 1));
        chain.push(LlamaSampler::temp(temperature));
        chain.push(LlamaSampler::dist((seed ^ (seed >> 32)) as u32));
    }
    Ok(LlamaSampler::chain_simple(chain))
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_nanos(),
    );
    hasher.finish()
}

/// Measures raw prompt-processing and generation speed the way llama.cpp's `llama-bench`
/// does: `n_prompt` tokens in one pass, then `n_gen` tokens one at a time after them.
pub mod bench {
    use super::*;

    /// One measurement.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Sample {
        pub n_prompt: usize,
        pub n_gen: usize,
        pub prompt: Duration,
        pub generation: Duration,
    }

    /// Measures `repetitions` times on a context of its own, made like the worker's, after one
    /// warm-up run, clearing the cache between runs (as `llama-bench` does). Each token is
    /// chosen as a greedy request's is, and generation never stops early. The prompt is real
    /// text from the model's own tokenizer, cut to `n_prompt` tokens.
    pub fn measure(
        model: &GgufModel,
        n_prompt: usize,
        n_gen: usize,
        repetitions: usize,
    ) -> Result<Vec<Sample>, ModelError> {
        let weights = Arc::clone(&model.weights);
        let window = model.info.context_window.unwrap_or(DEFAULT_CONTEXT_WINDOW) as usize;
        if n_prompt + n_gen > window {
            return Err(ModelError::ContextTooLong {
                prompt_tokens: n_prompt + n_gen,
                context_window: window,
            });
        }
        let backend = backend().map_err(|err| backend_error("starting llama.cpp", err))?;
        let params = context_params(window as u32, 2048, model.threads);
        let mut context = {
            let _creating = lock(&CONTEXT_CREATION);
            weights
                .llama
                .new_context(backend, params)
                .map_err(|err| backend_error("creating a context", err))?
        };
        let _computing = crate::gate::computing();
        run_bench(&weights, &mut context, n_prompt, 1)?;
        (0..repetitions).map(|_| run_bench(&weights, &mut context, n_prompt, n_gen)).collect()
    }

    fn run_bench(
        weights: &Weights,
        context: &mut LlamaContext<'_>,
        n_prompt: usize,
        n_gen: usize,
    ) -> Result<Sample, ModelError> {
        let text =
            "The quick brown fox jumps over the lazy dog. fn main() { println!(\"hello\"); } "
                .repeat(n_prompt / 8 + 16);
        let mut tokens = weights.llama.vocab().tokenize(text.as_bytes(), false, false);
        tokens.truncate(n_prompt);
        let mut batch = LlamaBatch::new(2048, 1);
        context.clear_kv_cache();
        let t0 = Instant::now();
        decode_prompt(context, &mut batch, &tokens, 0)?;
        context.synchronize();
        let prompt = t0.elapsed();
        let mut chooser = Chooser::Argmax;
        let t1 = Instant::now();
        for pos in tokens.len()..tokens.len() + n_gen {
            let token = chooser.choose(context, batch.n_tokens() - 1);
            batch.clear();
            batch.add(token, pos as i32, &[0], true).map_err(|err| backend_error("batch", err))?;
            context.decode(&mut batch).map_err(|err| backend_error("decode", err))?;
        }
        context.synchronize();
        let generation = t1.elapsed();
        Ok(Sample { n_prompt: tokens.len(), n_gen, prompt, generation })
    }
}

#[cfg(test)]
mod tests {
    use llama_cpp_2::token::data::LlamaTokenData;
    use llama_cpp_2::token::data_array::LlamaTokenDataArray;

    use super::*;

    /// What llama.cpp's greedy sampler chooses from `logits`.
    fn llama_greedy(logits: &[f32]) -> usize {
        let mut array = LlamaTokenDataArray::from_iter(
            logits
                .iter()
                .enumerate()
                .map(|(i, &l)| LlamaTokenData::new(LlamaToken(i as i32), l, 0.0)),
            false,
        );
        array.apply_sampler(&mut LlamaSampler::greedy());
        array.selected_token().expect("the greedy sampler selects a token").0 as usize
    }

    #[test]
    fn argmax_chooses_what_llama_cpps_greedy_sampler_chooses() {
        let cases: [&[f32]; 7] = [
            &[0.5],
            &[1.0, 3.0, 2.0],
            &[3.0, 1.0, 3.0],
            &[-7.0, -2.0, -2.0, -9.0],
            &[0.0, -0.0, 0.0],
            &[f32::NEG_INFINITY, f32::NEG_INFINITY, -1e30],
            &[2.0, f32::INFINITY, f32::INFINITY, 1.0],
        ];
        for logits in cases {
            assert_eq!(argmax(logits), llama_greedy(logits), "logits {logits:?}");
        }
        // A vocabulary's worth of values with many ties, from a fixed linear congruential walk.
        let mut state = 12_345u64;
        let logits: Vec<f32> = (0..151_936)
            .map(|_| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                ((state >> 40) % 2_000) as f32 / 100.0
            })
            .collect();
        let chosen = argmax(&logits);
        assert_eq!(chosen, llama_greedy(&logits));
        assert!(logits[..chosen].iter().all(|&l| l < logits[chosen]), "the first of the equals");
    }
}
