//! The shipped price table for well-known hosted models.
//!
//! Figures are US dollars per million tokens as the vendors published them on [`TAKEN`];
//! `aimos.toml` overrides any of them. Embedded models carry their prices in the catalog.

use crate::price::Price;

/// When the figures below were taken from the vendors' price pages.
pub const TAKEN: &str = "2025-11-01";

/// (provider, model, input, cached input, output) in dollars per million tokens, and the
/// context window in tokens, as the vendors publish them.
const TABLE: &[(&str, &str, f64, f64, f64, u32)] = &[
    ("openai", "gpt-5", 1.25, 0.125, 10.0, 400_000),
    ("openai", "gpt-5-mini", 0.25, 0.025, 2.0, 400_000),
    ("openai", "gpt-5-nano", 0.05, 0.005, 0.40, 400_000),
    ("openai", "gpt-4.1", 2.0, 0.50, 8.0, 1_047_576),
    ("openai", "gpt-4.1-mini", 0.40, 0.10, 1.60, 1_047_576),
    ("openai", "gpt-4.1-nano", 0.10, 0.025, 0.40, 1_047_576),
    ("openai", "gpt-4o", 2.50, 1.25, 10.0, 128_000),
    ("openai", "gpt-4o-mini", 0.15, 0.075, 0.60, 128_000),
    ("openai", "o3", 2.0, 0.50, 8.0, 200_000),
    ("openai", "o4-mini", 1.10, 0.275, 4.40, 200_000),
    ("anthropic", "claude-opus-4-1", 15.0, 1.50, 75.0, 200_000),
    ("anthropic", "claude-sonnet-4-5", 3.0, 0.30, 15.0, 200_000),
    ("anthropic", "claude-sonnet-4", 3.0, 0.30, 15.0, 200_000),
    ("anthropic", "claude-haiku-4-5", 1.0, 0.10, 5.0, 200_000),
    ("anthropic", "claude-3-5-haiku", 0.80, 0.08, 4.0, 200_000),
];

/// A shipped price.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnownPrice {
    pub provider: &'static str,
    pub model: &'static str,
    /// Most tokens prompt and completion may hold together.
    pub context_window: u32,
    pub price: Price,
}

/// Every shipped price, in table order.
pub fn known_prices() -> impl Iterator<Item = KnownPrice> {
    TABLE.iter().map(|&(provider, model, input, cached, output, context_window)| KnownPrice {
        provider,
        model,
        context_window,
        price: Price {
            input_per_mtok: input,
            cached_input_per_mtok: cached,
            output_per_mtok: output,
            // Anthropic charges five-minute cache writes at 1.25 times the input price;
            // OpenAI's caching is automatic and writes cost the input price.
            cache_write_input_per_mtok: (provider == "anthropic").then_some(input * 1.25),
        },
    })
}

/// The shipped price of `name` (`openai:gpt-4.1`, `gpt-4.1`, or a dated variant such as
/// `anthropic:claude-sonnet-4-5-20250929`): the longest model name it starts with.
pub fn known_price(name: &str) -> Option<KnownPrice> {
    let (provider, model) = match name.split_once(':') {
        Some((provider, model)) => (Some(provider), model),
        None => (None, name),
    };
    known_prices()
        .filter(|known| provider.is_none_or(|p| p == known.provider))
        .filter(|known| {
            model == known.model
                || model.strip_prefix(known.model).is_some_and(|rest| rest.starts_with('-'))
        })
        .max_by_key(|known| known.model.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_providers_and_dates_find_their_price() {
        let sonnet = known_price("anthropic:claude-sonnet-4-5-20250929").expect("dated variant");
        assert_eq!(sonnet.model, "claude-sonnet-4-5");
        assert_eq!(sonnet.price.output_per_mtok, 15.0);
        assert_eq!(sonnet.context_window, 200_000);
        assert_eq!(known_price("openai:gpt-4.1-mini").map(|k| k.model), Some("gpt-4.1-mini"));
        assert_eq!(known_price("gpt-4.1").map(|k| k.model), Some("gpt-4.1"));
        assert!(known_price("anthropic:gpt-4.1").is_none(), "the provider must match");
        assert!(known_price("openai:gpt-4.10").is_none(), "a longer version is another model");
    }

    #[test]
    fn every_price_is_sane() {
        for known in known_prices() {
            let p = known.price;
            assert!(
                p.cached_input_per_mtok <= p.input_per_mtok
                    && p.input_per_mtok <= p.output_per_mtok,
                "{known:?}"
            );
        }
    }
}
