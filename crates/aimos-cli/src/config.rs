//! `aimos.toml`: which models play which role, where the store is, and price overrides;
//! and `aimos init`, which writes a commented one from a preset.
//!
//! Read in two phases: the raw file (unknown keys are errors, so typos do not pass silently),
//! then validation into [`Config`]. Command-line options win over the file, the file over the
//! built-in `local` preset.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aimos_core::Price;
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use serde::Deserialize;

/// The embedded preset, used where neither options nor a config file say otherwise.
pub const DEFAULT_SMART: &str = "qwen2.5-coder-1.5b";
pub const DEFAULT_CHEAP: &str = "qwen2.5-coder-0.5b";

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The config file (default: ./aimos.toml, else ~/.config/aimos/aimos.toml, if either exists)
    #[arg(long, env = "AIMOS_CONFIG", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    models: RawModels,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    prices: BTreeMap<String, RawPrice>,
    #[serde(default)]
    providers: BTreeMap<String, RawProvider>,
    #[serde(default)]
    policy: RawPolicy,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    shadow_rate: Option<f64>,
    target_quality: Option<f64>,
    max_cost: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModels {
    smart: Option<ModelList>,
    cheap: Option<ModelList>,
}

/// One model name, or a fallback list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ModelList {
    One(String),
    Many(Vec<String>),
}

impl ModelList {
    fn into_vec(self) -> Vec<String> {
        match self {
            ModelList::One(name) => vec![name],
            ModelList::Many(names) => names,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    api: String,
    base_url: Option<String>,
    api_key_env: Option<String>,
    /// Seconds.
    connect_timeout: Option<f64>,
    first_token_timeout: Option<f64>,
    idle_timeout: Option<f64>,
    total_timeout: Option<f64>,
    max_retries: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrice {
    input: f64,
    cached_input: Option<f64>,
    cache_write: Option<f64>,
    output: f64,
}

/// The validated configuration.
#[derive(Debug, Default)]
pub struct Config {
    /// The smart model, or a fallback list of them, in order.
    pub smart: Option<Vec<String>>,
    pub cheap: Option<Vec<String>>,
    /// Providers added to (or replacing) the built-in `openai` and `anthropic`.
    pub providers: BTreeMap<String, aimos_providers::ProviderConfig>,
    pub store: Option<PathBuf>,
    /// Price overrides by model name, in dollars per million tokens.
    pub prices: BTreeMap<String, Price>,
    /// Fraction of live tasks that also get a shadow check (the smart model alone, judged).
    pub shadow_rate: f64,
    /// What `auto` aims for unless the command line says otherwise.
    pub goal: aimos_core::policy::Goal,
}

impl Config {
    /// The config named by `args`, or found in the usual places, or the empty one.
    pub fn load(args: &ConfigArgs) -> Result<Config> {
        let path = match &args.config {
            Some(path) if !path.exists() => {
                bail!("the config file {} does not exist", path.display())
            }
            Some(path) => Some(path.clone()),
            None => discover(),
        };
        let Some(path) = path else { return Ok(Config::default()) };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Config::parse(&text, &path)
    }

    /// The config in `text`, read from `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let raw: RawConfig = toml::from_str(text)
            .with_context(|| format!("{} is not a valid aimos config", path.display()))?;
        let mut prices = BTreeMap::new();
        for (model, price) in raw.prices {
            let cached = price.cached_input.unwrap_or(price.input);
            let write = price.cache_write.unwrap_or(price.input);
            if [price.input, cached, write, price.output].iter().any(|p| !p.is_finite() || *p < 0.0)
            {
                bail!("{}: prices for `{model}` must be zero or more", path.display());
            }
            prices.insert(
                model,
                Price {
                    input_per_mtok: price.input,
                    cached_input_per_mtok: cached,
                    output_per_mtok: price.output,
                    cache_write_input_per_mtok: price.cache_write,
                },
            );
        }
        let store = raw.store.path.map(|p| expand_home(&p));
        let mut providers = BTreeMap::new();
        for (name, raw) in raw.providers {
            let provider = provider_config(&name, raw)
                .with_context(|| format!("{}: [providers.{name}]", path.display()))?;
            providers.insert(name, provider);
        }
        let models = |list: Option<ModelList>, role: &str| -> Result<Option<Vec<String>>> {
            match list.map(ModelList::into_vec) {
                Some(names) if names.is_empty() => {
                    bail!("{}: [models] {role} is an empty list", path.display())
                }
                other => Ok(other),
            }
        };
        let probability = |value: Option<f64>, key: &str| -> Result<Option<f64>> {
            match value {
                Some(p) if !(0.0..=1.0).contains(&p) => {
                    bail!("{}: [policy] {key} must be from 0 to 1, not {p}", path.display())
                }
                other => Ok(other),
            }
        };
        let policy = raw.policy;
        if policy.max_cost.is_some_and(|c| !c.is_finite() || c < 0.0) {
            bail!(
                "{}: [policy] max_cost must be a number of dollars, zero or more",
                path.display()
            );
        }
        Ok(Config {
            smart: models(raw.models.smart, "smart")?,
            cheap: models(raw.models.cheap, "cheap")?,
            providers,
            store,
            prices,
            shadow_rate: probability(policy.shadow_rate, "shadow_rate")?.unwrap_or(0.0),
            goal: aimos_core::policy::Goal {
                target_quality: probability(policy.target_quality, "target_quality")?,
                max_cost: policy.max_cost,
            },
        })
    }

    /// The models of a role: the command line's one, else the config's list, else `default`.
    pub fn model_names(
        option: Option<&String>,
        configured: Option<&Vec<String>>,
        default: &str,
    ) -> Vec<String> {
        option
            .map(|name| vec![name.clone()])
            .or_else(|| configured.cloned())
            .unwrap_or_else(|| vec![default.to_owned()])
    }

    /// The built-in providers with this config's added.
    pub fn providers(&self) -> aimos_providers::Providers {
        let mut providers = aimos_providers::Providers::from_env();
        for (name, config) in &self.providers {
            providers.configure(name.clone(), config.clone());
        }
        providers
    }

    /// The price override for `model` (with or without its `local:` prefix), if any.
    pub fn price(&self, model: &str) -> Option<Price> {
        self.prices
            .get(model)
            .or_else(|| self.prices.get(model.strip_prefix("local:").unwrap_or(model)))
            .copied()
    }
}

fn provider_config(name: &str, raw: RawProvider) -> Result<aimos_providers::ProviderConfig> {
    use aimos_providers::{Api, ProviderConfig};
    if name == "local" || name.is_empty() || name.contains(':') {
        bail!("`{name}` cannot name a provider (`local` is the embedded runtime)");
    }
    let api: Api = raw.api.parse().map_err(anyhow::Error::msg)?;
    let mut config = match (api, name) {
        (Api::OpenAi, "openai") => ProviderConfig::openai_from_env(),
        (Api::Anthropic, "anthropic") => ProviderConfig::anthropic_from_env(),
        (api, _) => {
            let Some(url) = raw.base_url.clone() else {
                bail!("base_url is required (for example \"http://127.0.0.1:8000/v1\")");
            };
            ProviderConfig::new(api, url)
        }
    };
    if let Some(url) = raw.base_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!("base_url must start with http:// or https://, not `{url}`");
        }
        config.base_url = url;
    }
    if let Some(var) = raw.api_key_env {
        config.key_env = Some(var);
        config.key_required = true;
    }
    let seconds = |value: Option<f64>, what: &str, default: std::time::Duration| match value {
        None => Ok(default),
        Some(s) if s.is_finite() && s > 0.0 => Ok(std::time::Duration::from_secs_f64(s)),
        Some(s) => bail!("{what} must be a positive number of seconds, not {s}"),
    };
    let t = config.timeouts;
    config.timeouts.connect = seconds(raw.connect_timeout, "connect_timeout", t.connect)?;
    config.timeouts.first_token =
        seconds(raw.first_token_timeout, "first_token_timeout", t.first_token)?;
    config.timeouts.idle = seconds(raw.idle_timeout, "idle_timeout", t.idle)?;
    config.timeouts.total = seconds(raw.total_timeout, "total_timeout", t.total)?;
    if let Some(retries) = raw.max_retries {
        config.retry.max_retries = retries;
    }
    Ok(config)
}

fn discover() -> Option<PathBuf> {
    let local = PathBuf::from("aimos.toml");
    if local.is_file() {
        return Some(local);
    }
    user_config_path().filter(|p| p.is_file())
}

/// `$XDG_CONFIG_HOME/aimos/aimos.toml`, else `~/.config/aimos/aimos.toml`.
fn user_config_path() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("XDG_CONFIG_HOME")
        .or_else(|| var("HOME").map(|home| home.join(".config")))
        .map(|dir| dir.join("aimos/aimos.toml"))
}

fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_owned(),
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Preset {
    /// Embedded models only: runs offline, nothing to pay
    Local,
    /// OpenAI models for both roles
    Openai,
    /// Anthropic models for both roles
    Anthropic,
    /// A hosted smart model consulting an embedded cheap one
    Mixed,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Which models to start from
    #[arg(long, value_enum, default_value = "local")]
    preset: Preset,
    /// Where to write it
    #[arg(long, default_value = "aimos.toml")]
    path: PathBuf,
    /// Replace an existing file
    #[arg(long)]
    force: bool,
}

pub fn init(args: &InitArgs) -> Result<ExitCode> {
    if args.path.exists() && !args.force {
        bail!("{} already exists; pass --force to replace it", args.path.display());
    }
    let (smart, cheap, note) = match args.preset {
        Preset::Local => (
            DEFAULT_SMART,
            DEFAULT_CHEAP,
            "Embedded models run in this process; `aimos models pull NAME` fetches them (the first run does it for you).",
        ),
        Preset::Openai => (
            "openai:gpt-4.1",
            "openai:gpt-4.1-mini",
            "Reads the key from OPENAI_API_KEY (and OPENAI_BASE_URL for another endpoint).",
        ),
        Preset::Anthropic => (
            "anthropic:claude-sonnet-4-5",
            "anthropic:claude-haiku-4-5",
            "Reads the key from ANTHROPIC_API_KEY.",
        ),
        Preset::Mixed => (
            "anthropic:claude-sonnet-4-5",
            DEFAULT_CHEAP,
            "A hosted smart model consults; the embedded cheap model does the work with the full context, which never leaves this machine.",
        ),
    };
    let text = format!(
        r#"# aimos configuration ({preset:?} preset), written by `aimos init`.
# Command-line options (--smart, --cheap, --store) win over this file.
# {note}

[models]
# Sees only a short brief and answers with a structured insight.
smart = "{smart}"
# Does the work with the full context plus the insight.
cheap = "{cheap}"
# Model names: a catalog name (`aimos models list`), a path to a .gguf file,
# `openai:MODEL`, `anthropic:MODEL`, or `NAME:MODEL` for a provider below.
# A list is a fallback chain: smart = ["anthropic:claude-sonnet-4-5", "openai:gpt-4.1"]

# Another OpenAI-compatible (or Anthropic) endpoint; keys stay in the environment:
# [providers.vllm]
# api = "openai"
# base_url = "http://127.0.0.1:8000/v1"
# api_key_env = "VLLM_API_KEY"
# first_token_timeout = 120
# total_timeout = 600
# max_retries = 2

[store]
# One SQLite file holds insights and the ledger of runs.
# path = "~/.local/share/aimos/aimos.db"     # or "postgres://aimos@db-host:5432/aimos"

[policy]
# For `--strategy auto` (and the gateway's aimos/auto): the cheapest strategy whose predicted
# success reaches target_quality, or the best within max_cost dollars a task.
# target_quality = 0.9
# max_cost = 0.01
# Fraction of live tasks that also run the smart model alone, in the background, with a judge
# comparing the two results: `aimos stats` then shows the quality the savings keep.
shadow_rate = 0.0

# Prices in US dollars per million tokens, to override the shipped ones:
# [prices."qwen2.5-coder-1.5b"]
# input = 0.05
# cached_input = 0.05
# cache_write = 0.05
# output = 0.10
"#,
        preset = args.preset,
    );
    std::fs::write(&args.path, text).with_context(|| format!("writing {}", args.path.display()))?;
    eprintln!("wrote {} ({:?} preset)", args.path.display(), args.preset);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("aimos.toml");
        std::fs::write(&path, text)?;
        Config::load(&ConfigArgs { config: Some(path) })
    }

    #[test]
    fn models_store_and_prices_are_read() {
        let config = load(
            "[models]\nsmart = \"a.gguf\"\ncheap = \"smollm2-135m\"\n[store]\npath = \"/tmp/x.db\"\n[prices.\"smollm2-135m\"]\ninput = 1.0\noutput = 2.0\n",
        )
        .expect("valid");
        assert_eq!(config.smart, Some(vec!["a.gguf".to_owned()]));
        assert_eq!(config.store, Some(PathBuf::from("/tmp/x.db")));
        let price = config.price("local:smollm2-135m").expect("override");
        assert_eq!(
            (price.input_per_mtok, price.cached_input_per_mtok, price.output_per_mtok),
            (1.0, 1.0, 2.0)
        );
    }

    #[test]
    fn providers_and_fallback_lists_are_read() {
        let config = load(
            "[models]\nsmart = [\"anthropic:claude-sonnet-4-5\", \"vllm:qwen\"]\n[providers.vllm]\napi = \"openai\"\nbase_url = \"http://127.0.0.1:8000/v1\"\napi_key_env = \"VLLM_KEY\"\ntotal_timeout = 30\n",
        )
        .expect("valid");
        assert_eq!(config.smart.as_ref().map(Vec::len), Some(2));
        let vllm = &config.providers["vllm"];
        assert_eq!(vllm.base_url, "http://127.0.0.1:8000/v1");
        assert_eq!(vllm.key_env.as_deref(), Some("VLLM_KEY"));
        assert_eq!(vllm.timeouts.total, std::time::Duration::from_secs(30));
        assert!(config.providers().is_remote("vllm:qwen"));
        let err = load("[providers.x]\napi = \"openai\"\n").expect_err("no base_url");
        assert!(format!("{err:#}").contains("base_url is required"), "{err:#}");
        let err =
            load("[providers.x]\napi = \"gemini\"\nbase_url = \"http://h\"\n").expect_err("api");
        assert!(format!("{err:#}").contains("unknown api"), "{err:#}");
        let err = load("[models]\ncheap = []\n").expect_err("empty list");
        assert!(format!("{err:#}").contains("empty list"), "{err:#}");
    }

    #[test]
    fn the_policy_section_is_read_and_checked() {
        let config = load("[policy]\nshadow_rate = 0.1\ntarget_quality = 0.95\nmax_cost = 0.02\n")
            .expect("valid");
        assert_eq!(config.shadow_rate, 0.1);
        assert_eq!(config.goal.target_quality, Some(0.95));
        assert_eq!(config.goal.max_cost, Some(0.02));
        assert_eq!(load("").expect("empty").shadow_rate, 0.0);
        let err = load("[policy]\nshadow_rate = 2\n").expect_err("not a probability");
        assert!(format!("{err:#}").contains("shadow_rate must be from 0 to 1"), "{err:#}");
        let err = load("[policy]\nmax_cost = -1\n").expect_err("negative");
        assert!(format!("{err:#}").contains("max_cost must be"), "{err:#}");
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        let err = load("[models]\nsmrat = \"x\"\n").expect_err("unknown key");
        assert!(format!("{err:#}").contains("smrat"), "{err:#}");
        let err = load("[prices.x]\ninput = -1.0\noutput = 1.0\n").expect_err("negative");
        assert!(format!("{err:#}").contains("zero or more"), "{err:#}");
    }

    #[test]
    fn every_preset_writes_a_file_that_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        for preset in [Preset::Local, Preset::Openai, Preset::Anthropic, Preset::Mixed] {
            let path = dir.path().join(format!("{preset:?}.toml"));
            init(&InitArgs { preset, path: path.clone(), force: false }).expect("written");
            let config = Config::load(&ConfigArgs { config: Some(path.clone()) }).expect("loads");
            assert!(config.smart.is_some() && config.cheap.is_some());
            assert!(init(&InitArgs { preset, path, force: false }).is_err(), "no silent overwrite");
        }
    }

    /// Config files are outside input: none makes reading one panic; each is a config or an
    /// error that names the file.
    #[test]
    fn no_config_file_makes_reading_it_panic() {
        let seeds: &[&[u8]] = &[
            b"[models]\nsmart = [\"anthropic:claude-sonnet-4-5\", \"vllm:qwen\"]\ncheap = \"local:qwen2.5-coder-0.5b\"\n[store]\npath = \"~/aimos.db\"\n[providers.vllm]\napi = \"openai\"\nbase_url = \"http://127.0.0.1:8000/v1\"\napi_key_env = \"VLLM_KEY\"\ntotal_timeout = 30\n[prices.\"vllm:qwen\"]\ninput = 0.1\noutput = 0.2\ncached_input = 0.01\n[policy]\nshadow_rate = 0.1\ntarget_quality = 0.95\nmax_cost = 0.02\n",
            b"# comment\n[models]\nsmart = 'a'\n",
        ];
        let path = Path::new("aimos.toml");
        aimos_core::fuzz::run("config", seeds, |input| {
            if let Err(err) = Config::parse(&aimos_core::fuzz::text(input), path) {
                assert!(format!("{err:#}").contains("aimos.toml"), "{err:#}");
            }
        });
    }
}
