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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModels {
    smart: Option<String>,
    cheap: Option<String>,
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
    output: f64,
}

/// The validated configuration.
#[derive(Debug, Default)]
pub struct Config {
    pub smart: Option<String>,
    pub cheap: Option<String>,
    pub store: Option<PathBuf>,
    /// Price overrides by model name, in dollars per million tokens.
    pub prices: BTreeMap<String, Price>,
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
        let raw: RawConfig = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid aimos config", path.display()))?;
        let mut prices = BTreeMap::new();
        for (model, price) in raw.prices {
            let cached = price.cached_input.unwrap_or(price.input);
            if [price.input, cached, price.output].iter().any(|p| !p.is_finite() || *p < 0.0) {
                bail!("{}: prices for `{model}` must be zero or more", path.display());
            }
            prices.insert(
                model,
                Price {
                    input_per_mtok: price.input,
                    cached_input_per_mtok: cached,
                    output_per_mtok: price.output,
                },
            );
        }
        let store = raw.store.path.map(|p| expand_home(&p));
        Ok(Config { smart: raw.models.smart, cheap: raw.models.cheap, store, prices })
    }

    /// The price override for `model` (with or without its `local:` prefix), if any.
    pub fn price(&self, model: &str) -> Option<Price> {
        self.prices
            .get(model)
            .or_else(|| self.prices.get(model.strip_prefix("local:").unwrap_or(model)))
            .copied()
    }
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
            "Reads the key from OPENAI_API_KEY (and OPENAI_BASE_URL for another endpoint). Remote providers are not in this build yet.",
        ),
        Preset::Anthropic => (
            "anthropic:claude-sonnet-4-5",
            "anthropic:claude-haiku-4-5",
            "Reads the key from ANTHROPIC_API_KEY. Remote providers are not in this build yet.",
        ),
        Preset::Mixed => (
            "anthropic:claude-sonnet-4-5",
            DEFAULT_CHEAP,
            "A hosted smart model consults; the embedded cheap model does the work with the full context, which never leaves this machine. Remote providers are not in this build yet.",
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
# `openai:MODEL` or `anthropic:MODEL`.

[store]
# One SQLite file holds insights and the ledger of runs.
# path = "~/.local/share/aimos/aimos.db"

# Prices in US dollars per million tokens, to override the shipped ones:
# [prices."qwen2.5-coder-1.5b"]
# input = 0.05
# cached_input = 0.05
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
        assert_eq!(config.smart.as_deref(), Some("a.gguf"));
        assert_eq!(config.store, Some(PathBuf::from("/tmp/x.db")));
        let price = config.price("local:smollm2-135m").expect("override");
        assert_eq!(
            (price.input_per_mtok, price.cached_input_per_mtok, price.output_per_mtok),
            (1.0, 1.0, 2.0)
        );
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
}
