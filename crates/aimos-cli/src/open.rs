//! From a model name in options or config to a running model: catalog names and .gguf paths
//! load in process, `PROVIDER:MODEL` opens a remote model, and a list becomes a fallback chain.

use std::sync::Arc;

use aimos_core::Model;
use aimos_local::LoadOptions;
use aimos_providers::{Fallback, Providers};
use anyhow::{Context, Result};

use crate::config::Config;
use crate::progress::Bars;

/// Whether `name` asks for a remote provider (known or not) rather than an embedded model.
pub fn is_remote(name: &str) -> bool {
    name.split_once(':').is_some_and(|(provider, _)| {
        provider != "local" && !provider.is_empty() && !name.ends_with(".gguf")
    })
}

/// How embedded models reuse work: shared by every command that runs them.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EngineArgs {
    /// Read every prompt from its start, keeping no KV state of earlier prompts
    #[arg(long)]
    pub no_prefix_cache: bool,
    /// Memory for the KV state of earlier prompts set aside for later reuse, in MiB
    /// [default: two full context windows' worth; 0 keeps only the last prompt's]
    #[arg(long, value_name = "MIB")]
    pub kv_cache_mib: Option<u32>,
    /// Draft greedy answers from text the prompt already holds, checking several tokens per
    /// pass (prompt-lookup decoding). It pays where a pass over several tokens costs little
    /// more than one (a GPU, many cores), not on a CPU with few; and an answer can differ
    /// from plain greedy decoding where two tokens are nearly tied
    #[arg(long)]
    pub lookup_decoding: bool,
}

impl EngineArgs {
    /// The embedded models' options, with a context window of `ctx`.
    pub fn local(&self, ctx: Option<u32>) -> aimos_local::LocalOptions {
        aimos_local::LocalOptions {
            context_window: ctx,
            prefix_cache: !self.no_prefix_cache,
            kv_cache_mib: self.kv_cache_mib,
            lookup_decoding: self.lookup_decoding,
            ..aimos_local::LocalOptions::default()
        }
    }
}

/// The options naming a pipeline's two models, shared by `aimos run` and `aimos eval`.
#[derive(Debug, clap::Args)]
pub struct PairArgs {
    /// The smart (consulted) model: a catalog name, a .gguf path or PROVIDER:MODEL
    /// (`anthropic:claude-sonnet-4-5`) [default: the config's, else qwen2.5-coder-1.5b]
    #[arg(long, env = "AIMOS_SMART")]
    pub smart: Option<String>,
    /// The cheap (executing) model: a catalog name, a .gguf path or PROVIDER:MODEL
    /// [default: the config's, else qwen2.5-coder-0.5b]
    #[arg(long, env = "AIMOS_CHEAP")]
    pub cheap: Option<String>,
    /// Context window of the embedded models (default: the model's, at most 8192)
    #[arg(long)]
    pub ctx: Option<u32>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// The smart and cheap models of a pipeline, (smart, cheap): the command line's names, else
/// the config's, else the embedded preset's.
pub fn open_pair(
    args: &PairArgs,
    config: &Config,
) -> anyhow::Result<(Arc<dyn Model>, Arc<dyn Model>)> {
    let providers = config.providers();
    let local = LoadOptions { run: args.engine.local(args.ctx), ..LoadOptions::default() };
    let cheap_names = Config::model_names(
        args.cheap.as_ref(),
        config.cheap.as_ref(),
        crate::config::DEFAULT_CHEAP,
    );
    let smart_names = Config::model_names(
        args.smart.as_ref(),
        config.smart.as_ref(),
        crate::config::DEFAULT_SMART,
    );
    let cheap = open_models(&cheap_names, "cheap", config, &providers, &local)?;
    let smart = open_models(&smart_names, "smart", config, &providers, &local)?;
    Ok((smart, cheap))
}

/// Opens `names` (one model, or a fallback chain in order) for `role`.
pub fn open_models(
    names: &[String],
    role: &str,
    config: &Config,
    providers: &Providers,
    local: &LoadOptions,
) -> Result<Arc<dyn Model>> {
    let mut models = Vec::with_capacity(names.len());
    for name in names {
        models.push(open_one(name, role, config, providers, local)?);
    }
    if models.len() == 1 {
        return Ok(models.remove(0));
    }
    let chain = Fallback::new(models).context("an empty list of models")?;
    Ok(Arc::new(chain))
}

fn open_one(
    name: &str,
    role: &str,
    config: &Config,
    providers: &Providers,
    local: &LoadOptions,
) -> Result<Arc<dyn Model>> {
    if is_remote(name) {
        let price = config.price(name);
        let model = providers
            .open(name, price)
            .with_context(|| format!("opening the {role} model `{name}`"))?;
        if price.is_none() && aimos_core::prices::known_price(name).is_none() {
            eprintln!(
                "note: no price is known for `{name}`; its calls count as $0 (set one under [prices.\"{name}\"] in aimos.toml)"
            );
        }
        return Ok(model);
    }
    let options = LoadOptions { price: config.price(name), ..local.clone() };
    let mut bars = Bars::new();
    let model = aimos_local::load(name, &options, &mut bars)
        .with_context(|| format!("loading the {role} model `{name}`"))?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_names_are_told_from_local_ones() {
        assert!(is_remote("openai:gpt-4.1"));
        assert!(is_remote("nosuch:model"));
        assert!(!is_remote("smollm2-135m"));
        assert!(!is_remote("local:smollm2-135m"));
        assert!(!is_remote("/models/a:b.gguf"));
    }
}
