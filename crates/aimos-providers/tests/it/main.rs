//! Integration tests of the remote providers: a real OpenAI-compatible server (llama.cpp's, with
//! the real smollm2-135m), Anthropic's published transcripts replayed over HTTP, a scripted
//! server for every way an upstream fails, and one conformance suite that every provider and
//! the embedded model pass.

#![allow(clippy::panic, clippy::unwrap_used)]

mod anthropic_replay;
mod conformance;
mod faults;
mod llama_server;
mod server;

use std::sync::Arc;
use std::time::Duration;

use aimos_core::Model;
use aimos_providers::{Api, BreakerPolicy, ProviderConfig, Providers, RetryPolicy, Timeouts};

pub const TEST_MODEL: &str = "smollm2-135m";

/// Short limits so that failures show within a test's time.
pub fn quick(api: Api, base_url: &str) -> ProviderConfig {
    let mut config = ProviderConfig::new(api, base_url);
    config.timeouts = Timeouts {
        connect: Duration::from_secs(1),
        first_token: Duration::from_secs(1),
        idle: Duration::from_millis(500),
        total: Duration::from_secs(6),
    };
    config.retry = RetryPolicy {
        max_retries: 2,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(2),
    };
    config.breaker = BreakerPolicy { failures: 100, cool_down: Duration::from_secs(1) };
    config.max_response_bytes = 1 << 20;
    config
}

/// Opens `model` on a provider named `test` set up by `config`.
pub fn open(config: ProviderConfig, model: &str) -> Arc<dyn Model> {
    let mut providers = Providers::from_env();
    providers.configure("test", config);
    providers.open(&format!("test:{model}"), None).unwrap()
}
