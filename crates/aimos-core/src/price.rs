//! Prices and costs: every model call is worth a number of dollars, embedded ones included.
//!
//! Embedded models carry a nominal price (set in the catalog and overridable) so that local runs
//! report figures comparable with remote ones.

use serde::{Deserialize, Serialize};

use crate::chat::Usage;

/// US dollars per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input_per_mtok: f64,
    /// Price of prompt tokens served from the provider's cache.
    pub cached_input_per_mtok: f64,
    pub output_per_mtok: f64,
    /// Price of prompt tokens written into the provider's cache; `None` means the input price.
    /// (Anthropic charges 1.25 times the input price for five-minute cache writes.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_input_per_mtok: Option<f64>,
}

impl Price {
    /// What `usage` costs at this price.
    pub fn cost(&self, usage: &Usage) -> Cost {
        let cached = usage.cached_prompt_tokens.min(usage.prompt_tokens);
        let written = usage.cache_write_prompt_tokens.min(usage.prompt_tokens - cached);
        let fresh = usage.prompt_tokens - cached - written;
        let micro = fresh as f64 * self.input_per_mtok
            + cached as f64 * self.cached_input_per_mtok
            + written as f64 * self.cache_write_input_per_mtok.unwrap_or(self.input_per_mtok)
            + usage.completion_tokens as f64 * self.output_per_mtok;
        Cost { usd: micro / 1_000_000.0 }
    }
}

/// An amount of money in US dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Cost {
    pub usd: f64,
}

impl std::ops::Add for Cost {
    type Output = Cost;

    fn add(self, rhs: Cost) -> Cost {
        Cost { usd: self.usd + rhs.usd }
    }
}

impl std::iter::Sum for Cost {
    fn sum<I: Iterator<Item = Cost>>(iter: I) -> Cost {
        iter.fold(Cost::default(), |a, b| a + b)
    }
}

impl std::fmt::Display for Cost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "${:.6}", self.usd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_prompt_tokens_are_charged_at_the_cached_rate() {
        let price = Price {
            input_per_mtok: 3.0,
            cached_input_per_mtok: 0.3,
            output_per_mtok: 15.0,
            cache_write_input_per_mtok: None,
        };
        let usage = Usage {
            prompt_tokens: 1_000_000,
            completion_tokens: 100_000,
            cached_prompt_tokens: 500_000,
            ..Usage::default()
        };
        let cost = price.cost(&usage);
        assert!((cost.usd - (1.5 + 0.15 + 1.5)).abs() < 1e-9, "{cost}");
    }

    #[test]
    fn cache_writes_are_charged_at_their_own_rate_or_the_input_rate() {
        let mut price = Price {
            input_per_mtok: 3.0,
            cached_input_per_mtok: 0.3,
            output_per_mtok: 15.0,
            cache_write_input_per_mtok: Some(3.75),
        };
        let usage = Usage {
            prompt_tokens: 1_000_000,
            cached_prompt_tokens: 200_000,
            cache_write_prompt_tokens: 400_000,
            ..Usage::default()
        };
        let cost = price.cost(&usage);
        assert!((cost.usd - (1.2 + 0.06 + 1.5)).abs() < 1e-9, "{cost}");
        price.cache_write_input_per_mtok = None;
        let cost = price.cost(&usage);
        assert!((cost.usd - (1.2 + 0.06 + 1.2)).abs() < 1e-9, "{cost}");
    }
}
