//! Remote models for aimos: OpenAI-compatible endpoints (OpenAI, vLLM, llama.cpp's server,
//! Ollama, OpenRouter, …) and Anthropic's Messages API, behind the `aimos_core::Model` trait.
//!
//! A model is named `PROVIDER:MODEL`. Two providers are built in and read the same environment
//! variables as the vendors' own SDKs:
//!
//! - `openai:` — `OPENAI_BASE_URL` (default OpenAI's API) and `OPENAI_API_KEY`, which is only
//!   required for OpenAI's own API: a local server needs no key.
//! - `anthropic:` — `ANTHROPIC_BASE_URL` and `ANTHROPIC_API_KEY`, likewise.
//!
//! More can be configured with [`Providers::configure`] (from `[providers.NAME]` in
//! `aimos.toml`). Every call has connect, first-token, idle and total time limits, bounded
//! retries with backoff that honour `retry-after`, and a circuit breaker per endpoint;
//! [`Fallback`] chains models. Errors are classified [`ModelError`]s and never hold a key.
//!
//! Remote models run on Tokio: call them from inside a Tokio runtime with time and I/O enabled.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use aimos_core::{ChatRequest, Message, Model};
//!
//! let providers = aimos_providers::Providers::from_env();
//! let model = providers.open("openai:gpt-4.1-mini", None)?;
//! let answer = model.chat(ChatRequest::new(vec![Message::user("Say hi")])).await?;
//! println!("{}", answer.content);
//! # Ok(()) }
//! ```

mod anthropic;
mod classify;
mod fallback;
#[cfg(test)]
mod fuzz;
mod openai;
mod policy;
mod remote;
pub mod sse;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aimos_core::{Model, ModelError, ModelInfo, Price};

pub use fallback::Fallback;
pub use policy::{Breaker, BreakerPolicy, Permit, RetryPolicy, Timeouts};
pub use remote::{DEFAULT_MAX_RESPONSE_BYTES, Endpoint};

use crate::remote::RemoteModel;

/// Which wire format an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `POST {base_url}/chat/completions`, bearer key.
    OpenAi,
    /// `POST {base_url}/v1/messages`, `x-api-key`.
    Anthropic,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::OpenAi => "openai",
            Api::Anthropic => "anthropic",
        }
    }
}

impl std::str::FromStr for Api {
    type Err = String;

    fn from_str(text: &str) -> Result<Api, String> {
        match text {
            "openai" => Ok(Api::OpenAi),
            "anthropic" => Ok(Api::Anthropic),
            other => Err(format!("unknown api `{other}`: expected `openai` or `anthropic`")),
        }
    }
}

const OPENAI_URL: &str = "https://api.openai.com/v1";
const ANTHROPIC_URL: &str = "https://api.anthropic.com";

/// How to reach one provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderConfig {
    pub api: Api,
    /// Where the API lives (for OpenAI-compatible servers, the part before `/chat/completions`,
    /// usually ending in `/v1`).
    pub base_url: String,
    /// The environment variable that holds the key (config files never hold keys).
    pub key_env: Option<String>,
    /// A key given directly by a library caller (from a secret store, say); wins over `key_env`.
    pub api_key: Option<ApiKey>,
    /// Whether a missing key is an error before anything is sent (true for hosted APIs; a
    /// local server usually takes no key).
    pub key_required: bool,
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
    pub breaker: BreakerPolicy,
    pub max_response_bytes: usize,
}

impl ProviderConfig {
    /// A provider speaking `api` at `base_url` with default limits.
    pub fn new(api: Api, base_url: impl Into<String>) -> ProviderConfig {
        ProviderConfig {
            api,
            base_url: base_url.into(),
            key_env: None,
            api_key: None,
            key_required: false,
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
            breaker: BreakerPolicy::default(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// The built-in `openai` provider, as `OPENAI_BASE_URL` and `OPENAI_API_KEY` set it up.
    pub fn openai_from_env() -> ProviderConfig {
        builtin(Api::OpenAi, "OPENAI_BASE_URL", OPENAI_URL, "OPENAI_API_KEY")
    }

    /// The built-in `anthropic` provider, as `ANTHROPIC_BASE_URL` and `ANTHROPIC_API_KEY` set it up.
    pub fn anthropic_from_env() -> ProviderConfig {
        builtin(Api::Anthropic, "ANTHROPIC_BASE_URL", ANTHROPIC_URL, "ANTHROPIC_API_KEY")
    }
}

fn builtin(api: Api, url_env: &str, default_url: &str, key_env: &str) -> ProviderConfig {
    let custom = std::env::var(url_env).ok().filter(|v| !v.trim().is_empty());
    let mut config = ProviderConfig::new(api, custom.clone().unwrap_or_else(|| default_url.into()));
    config.key_env = Some(key_env.into());
    config.key_required = custom.is_none();
    config
}

/// An API key; its `Debug` form does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> ApiKey {
        ApiKey(key.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// Why a remote model could not be opened.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    #[error("`{name}` is not a remote model name: write PROVIDER:MODEL (providers: {known})")]
    NotRemote { name: String, known: String },
    #[error(
        "unknown provider `{provider}` in `{name}`; known providers: {known} (add others under [providers.NAME] in aimos.toml)"
    )]
    UnknownProvider { name: String, provider: String, known: String },
    #[error("`{name}` needs an API key: set the environment variable {variable}")]
    MissingKey { name: String, variable: String },
    #[error("`{name}`: {source}")]
    Setup { name: String, source: ModelError },
}

/// The configured providers, and the endpoints opened from them (shared by models, so that
/// they share connections and circuit breakers).
#[derive(Debug)]
pub struct Providers {
    configs: BTreeMap<String, ProviderConfig>,
    endpoints: Mutex<BTreeMap<String, Arc<Endpoint>>>,
}

impl Providers {
    /// The built-in `openai` and `anthropic` providers, set up from the environment.
    pub fn from_env() -> Providers {
        let mut configs = BTreeMap::new();
        configs.insert("openai".to_owned(), ProviderConfig::openai_from_env());
        configs.insert("anthropic".to_owned(), ProviderConfig::anthropic_from_env());
        Providers { configs, endpoints: Mutex::new(BTreeMap::new()) }
    }

    /// Adds or replaces the provider `name` (used as the prefix of its model names).
    pub fn configure(&mut self, name: impl Into<String>, config: ProviderConfig) {
        let name = name.into();
        self.endpoints.get_mut().unwrap_or_else(|p| p.into_inner()).remove(&name);
        self.configs.insert(name, config);
    }

    pub fn config(&self, provider: &str) -> Option<&ProviderConfig> {
        self.configs.get(provider)
    }

    /// Whether `name` is `PROVIDER:MODEL` with a provider known here.
    pub fn is_remote(&self, name: &str) -> bool {
        name.split_once(':').is_some_and(|(provider, _)| self.configs.contains_key(provider))
    }

    /// Opens `PROVIDER:MODEL`. `price` overrides the shipped price table; a model with
    /// neither costs nothing in the ledger (see [`aimos_core::prices::known_price`]).
    pub fn open(&self, name: &str, price: Option<Price>) -> Result<Arc<dyn Model>, OpenError> {
        let (provider, model) = name
            .split_once(':')
            .ok_or_else(|| OpenError::NotRemote { name: name.to_owned(), known: self.known() })?;
        let config = self.configs.get(provider).ok_or_else(|| OpenError::UnknownProvider {
            name: name.to_owned(),
            provider: provider.to_owned(),
            known: self.known(),
        })?;
        if model.trim().is_empty() {
            return Err(OpenError::NotRemote { name: name.to_owned(), known: self.known() });
        }
        let endpoint = self.endpoint(name, provider, config)?;
        let known = aimos_core::prices::known_price(name);
        let price = price.or(known.map(|k| k.price)).unwrap_or_default();
        // A known hosted model's window lets the pipeline fit the context to it.
        let context_window = known.map(|k| k.context_window);
        let info = ModelInfo { id: name.to_owned(), context_window, price, external: true };
        let model = model.to_owned();
        Ok(match config.api {
            Api::OpenAi => {
                let wire =
                    openai::OpenAi { max_completion_tokens: endpoint.base_url == OPENAI_URL };
                Arc::new(RemoteModel::new(info, model, endpoint, wire))
            }
            Api::Anthropic => {
                Arc::new(RemoteModel::new(info, model, endpoint, anthropic::Anthropic))
            }
        })
    }

    /// The models an OpenAI-compatible provider serves, as its `/models` lists them.
    pub async fn list_models(&self, provider: &str) -> Result<Vec<String>, OpenError> {
        let config = self.configs.get(provider).ok_or_else(|| OpenError::UnknownProvider {
            name: provider.to_owned(),
            provider: provider.to_owned(),
            known: self.known(),
        })?;
        let endpoint = self.endpoint(provider, provider, config)?;
        openai::list_models(&endpoint)
            .await
            .map_err(|source| OpenError::Setup { name: provider.to_owned(), source })
    }

    fn endpoint(
        &self,
        name: &str,
        provider: &str,
        config: &ProviderConfig,
    ) -> Result<Arc<Endpoint>, OpenError> {
        let mut endpoints = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(endpoint) = endpoints.get(provider) {
            return Ok(Arc::clone(endpoint));
        }
        let key = config.api_key.clone().or_else(|| {
            config
                .key_env
                .as_deref()
                .and_then(|var| std::env::var(var).ok())
                .filter(|key| !key.trim().is_empty())
                .map(ApiKey)
        });
        if key.is_none()
            && config.key_required
            && let Some(variable) = &config.key_env
        {
            return Err(OpenError::MissingKey {
                name: name.to_owned(),
                variable: variable.clone(),
            });
        }
        let mut endpoint = Endpoint::new(
            provider,
            &config.base_url,
            key,
            config.key_env.clone(),
            config.timeouts,
            config.retry,
            config.breaker,
        )
        .map_err(|source| OpenError::Setup { name: name.to_owned(), source })?;
        endpoint.max_response_bytes = config.max_response_bytes;
        let endpoint = Arc::new(endpoint);
        endpoints.insert(provider.to_owned(), Arc::clone(&endpoint));
        Ok(endpoint)
    }

    fn known(&self) -> String {
        self.configs.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An endpoint that is never connected to, for parsing tests.
    pub(crate) fn endpoint() -> Endpoint {
        Endpoint::new(
            "test",
            "http://127.0.0.1:9",
            None,
            None,
            Timeouts::default(),
            RetryPolicy::default(),
            BreakerPolicy::default(),
        )
        .expect("endpoint")
    }

    #[test]
    fn names_are_checked_and_a_missing_key_names_its_variable() {
        let mut providers = Providers::from_env();
        let mut hosted = ProviderConfig::new(Api::OpenAi, "https://example.invalid/v1");
        hosted.key_env = Some("AIMOS_TEST_SURELY_UNSET_KEY".into());
        hosted.key_required = true;
        providers.configure("hosted", hosted);
        let err = providers.open("hosted:some-model", None).err().expect("no key");
        assert!(
            err.to_string().contains("set the environment variable AIMOS_TEST_SURELY_UNSET_KEY"),
            "{err}"
        );
        let err = providers.open("nosuch:model", None).err().expect("unknown provider");
        assert!(matches!(err, OpenError::UnknownProvider { .. }), "{err}");
        assert!(err.to_string().contains("anthropic, hosted, openai"), "{err}");
        assert!(providers.open("no-colon", None).is_err());
        assert!(providers.is_remote("hosted:x") && !providers.is_remote("smollm2-135m"));
    }

    #[test]
    fn a_local_server_needs_no_key_and_shipped_prices_apply() {
        let mut providers = Providers::from_env();
        providers
            .configure("local-server", ProviderConfig::new(Api::OpenAi, "http://127.0.0.1:9/v1"));
        let model = providers.open("local-server:whatever", None).expect("opens without a key");
        assert_eq!(model.info().id, "local-server:whatever");
        assert_eq!(model.info().price, Price::default());
        let mut priced = ProviderConfig::new(Api::Anthropic, "http://127.0.0.1:9");
        priced.key_env = None;
        providers.configure("anthropic", priced);
        let model = providers.open("anthropic:claude-sonnet-4-5", None).expect("opens");
        assert_eq!(model.info().price.output_per_mtok, 15.0);
        assert_eq!(model.info().context_window, Some(200_000));
        let unknown = providers.open("local-server:whatever", None).expect("opens");
        assert_eq!(unknown.info().context_window, None);
    }
}
