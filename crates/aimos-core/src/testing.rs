//! Test doubles of the core traits, for tests of the logic above them — here and in other
//! crates (the `testing` feature): a scripted [`Model`], an in-memory [`Store`] and a scripted
//! [`Verifier`], plus [`block_on`] to drive async code without a runtime. None of them is fit
//! for anything but tests: they lock with `expect` and keep everything in memory.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::chat::{ChatEvent, ChatRequest, ChatResponse, FinishReason, Timings, Usage};
use crate::ids::now_rfc3339;
use crate::insight::Insight;
use crate::model::{ChatStream, Model, ModelError, ModelInfo};
use crate::price::Price;
use crate::run::RunRecord;
use crate::store::{Outcome, Store, StoreError};
use crate::verify::{Verdict, Verifier, VerifyError};

/// Polls a future to completion on this thread, for tests of async code that needs no runtime.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::yield_now();
    }
}

/// A test double of `Model` that answers with scripted texts, in order.
pub struct ScriptedModel {
    pub info: ModelInfo,
    answers: Mutex<Vec<String>>,
    /// Every request it was sent, in order.
    pub requests: Mutex<Vec<ChatRequest>>,
}

impl ScriptedModel {
    /// A local model called `id` with a 4,096-token window, priced at `price` dollars per
    /// million input tokens (four times that for output), that answers `answers` in order
    /// and then empty texts.
    pub fn new(id: &str, price: f64, answers: &[&str]) -> Arc<ScriptedModel> {
        Arc::new(ScriptedModel {
            info: ModelInfo {
                external: false,
                id: id.into(),
                context_window: Some(4096),
                price: Price {
                    input_per_mtok: price,
                    cached_input_per_mtok: price,
                    output_per_mtok: price * 4.0,
                    cache_write_input_per_mtok: None,
                },
            },
            answers: Mutex::new(answers.iter().rev().map(|a| a.to_string()).collect()),
            requests: Mutex::new(Vec::new()),
        })
    }
}

impl Model for ScriptedModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn chat_stream(&self, request: ChatRequest) -> ChatStream {
        let prompt_tokens: usize =
            request.messages.iter().map(|m| aimos_context::estimate_tokens(&m.content)).sum();
        self.requests.lock().expect("lock").push(request);
        let content = self.answers.lock().expect("lock").pop().unwrap_or_default();
        let response = ChatResponse {
            tool_calls: Vec::new(),
            model: self.info.id.clone(),
            usage: Usage {
                prompt_tokens: prompt_tokens as u64,
                completion_tokens: aimos_context::estimate_tokens(&content) as u64,
                ..Usage::default()
            },
            content,
            finish_reason: FinishReason::Stop,
            timings: Timings {
                prompt: std::time::Duration::from_millis(100),
                generation: std::time::Duration::from_millis(400),
                ..Timings::default()
            },
        };
        ChatStream::new(Events(vec![Ok(ChatEvent::Done(response))]))
    }
}

struct Events(Vec<Result<ChatEvent, ModelError>>);

impl futures_core::Stream for Events {
    type Item = Result<ChatEvent, ModelError>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(if self.0.is_empty() { None } else { Some(self.0.remove(0)) })
    }
}

/// A test double of `Store` that keeps everything in memory.
#[derive(Default)]
pub struct MemoryStore {
    pub insights: Mutex<Vec<Insight>>,
    pub runs: Mutex<Vec<RunRecord>>,
    pub claims: Mutex<std::collections::HashMap<String, String>>,
    pub outcomes: Mutex<Vec<Outcome>>,
    pub calibrations: Mutex<Vec<crate::store::Calibration>>,
    /// Vectors by insight id, with the model that made them.
    pub embeddings: Mutex<std::collections::HashMap<String, (String, Vec<f32>)>>,
}

impl Store for MemoryStore {
    fn put_insight(&self, insight: &Insight) -> Result<(), StoreError> {
        self.insights.lock().expect("lock").push(insight.clone());
        Ok(())
    }
    fn insight(&self, id: &str) -> Result<Option<Insight>, StoreError> {
        Ok(self.insights.lock().expect("lock").iter().find(|i| i.id == id).cloned())
    }
    fn insights(&self, _: Option<&str>, _: usize, _: usize) -> Result<Vec<Insight>, StoreError> {
        Ok(self.insights.lock().expect("lock").clone())
    }
    fn record_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.runs.lock().expect("lock").push(run.clone());
        Ok(())
    }
    fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        Ok(self.runs.lock().expect("lock").iter().find(|r| r.id == id).cloned())
    }
    fn runs(&self, _: usize, _: usize) -> Result<Vec<RunRecord>, StoreError> {
        Ok(self.runs.lock().expect("lock").clone())
    }
    fn record_outcome(&self, outcome: &Outcome) -> Result<Option<Insight>, StoreError> {
        self.outcomes.lock().expect("lock").push(outcome.clone());
        let mut insights = self.insights.lock().expect("lock");
        let found = insights.iter_mut().find(|i| i.id == outcome.insight_id);
        Ok(found.map(|insight| {
            if outcome.passed {
                insight.succeeded += 1
            } else {
                insight.failed += 1
            }
            insight.clone()
        }))
    }
    fn stats(&self) -> Result<crate::store::Stats, StoreError> {
        Ok(crate::store::Stats::default())
    }
    fn put_insight_embedding(
        &self,
        id: &str,
        model: &str,
        vector: &[f32],
    ) -> Result<bool, StoreError> {
        if self.insight(id)?.is_none() {
            return Ok(false);
        }
        let entry = (model.to_owned(), vector.to_vec());
        self.embeddings.lock().expect("lock").insert(id.to_owned(), entry);
        Ok(true)
    }
    fn nearest_insights(
        &self,
        model: &str,
        vector: &[f32],
        limit: usize,
    ) -> Result<Vec<(Insight, f32)>, StoreError> {
        let embeddings = self.embeddings.lock().expect("lock");
        let mut out: Vec<(Insight, f32)> = self
            .insights
            .lock()
            .expect("lock")
            .iter()
            .filter(|i| i.invalidated.is_none())
            .filter_map(|i| {
                let (m, v) = embeddings.get(&i.id)?;
                (m == model).then(|| (i.clone(), crate::dense::cosine(v, vector)))
            })
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        out.truncate(limit);
        Ok(out)
    }
    fn insights_by_fingerprint(&self, fingerprint: &str) -> Result<Vec<Insight>, StoreError> {
        let mut found: Vec<Insight> = self
            .insights
            .lock()
            .expect("lock")
            .iter()
            .filter(|i| i.fingerprint == fingerprint)
            .cloned()
            .collect();
        found.reverse();
        Ok(found)
    }
    fn claim(&self, key: &str, holder: &str, _: Duration) -> Result<bool, StoreError> {
        let mut claims = self.claims.lock().expect("lock");
        match claims.get(key) {
            Some(other) if other != holder => Ok(false),
            _ => {
                claims.insert(key.to_owned(), holder.to_owned());
                Ok(true)
            }
        }
    }
    fn release(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        let mut claims = self.claims.lock().expect("lock");
        if claims.get(key).is_some_and(|h| h == holder) {
            claims.remove(key);
        }
        Ok(())
    }
    // Keys are the gateway's business; the pipeline never touches them.
    fn create_key(&self, _: &crate::store::KeyRecord) -> Result<(), StoreError> {
        Ok(())
    }
    fn key_by_hash(&self, _: &str) -> Result<Option<crate::store::KeyRecord>, StoreError> {
        Ok(None)
    }
    fn keys(&self) -> Result<Vec<crate::store::KeyRecord>, StoreError> {
        Ok(Vec::new())
    }
    fn add_key_spend(&self, _: &str, _: f64) -> Result<f64, StoreError> {
        Ok(0.0)
    }
    fn revoke_key(&self, _: &str) -> Result<bool, StoreError> {
        Ok(false)
    }
    fn take_rate(&self, _: &str, _: u32) -> Result<Option<std::time::Duration>, StoreError> {
        Ok(None)
    }
    fn spend_by(&self, _: crate::store::SpendBy) -> Result<Vec<crate::store::Spend>, StoreError> {
        Ok(Vec::new())
    }
    fn invalidate_insight(&self, id: &str, reason: &str) -> Result<bool, StoreError> {
        let mut insights = self.insights.lock().expect("lock");
        let Some(insight) = insights.iter_mut().find(|i| i.id == id && i.invalidated.is_none())
        else {
            return Ok(false);
        };
        insight.invalidated =
            Some(crate::insight::Invalidation { at: now_rfc3339(), reason: reason.into() });
        Ok(true)
    }
    fn outcome_points(&self, limit: usize) -> Result<Vec<crate::store::OutcomePoint>, StoreError> {
        let insights = self.insights.lock().expect("lock");
        let outcomes = self.outcomes.lock().expect("lock");
        Ok(outcomes
            .iter()
            .rev()
            .filter_map(|o| {
                let insight = insights.iter().find(|i| i.id == o.insight_id)?;
                Some(crate::store::OutcomePoint {
                    insight_id: o.insight_id.clone(),
                    run_id: o.run_id.clone(),
                    smart_model: insight.smart_model.clone(),
                    confidence: insight.draft.confidence,
                    passed: o.passed,
                    source: o.source.clone(),
                    created_at: o.created_at.clone(),
                })
            })
            .take(limit)
            .collect())
    }
    fn put_calibration(&self, c: &crate::store::Calibration) -> Result<(), StoreError> {
        let mut all = self.calibrations.lock().expect("lock");
        all.retain(|old| old.smart_model != c.smart_model);
        all.push(c.clone());
        Ok(())
    }
    fn calibrations(&self) -> Result<Vec<crate::store::Calibration>, StoreError> {
        Ok(self.calibrations.lock().expect("lock").clone())
    }
}

/// A test double of a verifier: hands out the verdicts it was given, in order, and keeps
/// the results it saw.
pub struct ScriptedVerifier {
    verdicts: Mutex<Vec<bool>>,
    /// Every result it judged, in order.
    pub seen: Mutex<Vec<String>>,
}

impl ScriptedVerifier {
    /// Passes or fails as `verdicts` say, in order, then fails.
    pub fn new(verdicts: &[bool]) -> Arc<ScriptedVerifier> {
        Arc::new(ScriptedVerifier {
            verdicts: Mutex::new(verdicts.iter().rev().copied().collect()),
            seen: Mutex::new(Vec::new()),
        })
    }
}

impl Verifier for ScriptedVerifier {
    fn describe(&self) -> String {
        "scripted".into()
    }

    fn verify<'a>(
        &'a self,
        _: &'a str,
        result: &'a str,
    ) -> crate::model::BoxFuture<'a, Result<Verdict, VerifyError>> {
        self.seen.lock().expect("lock").push(result.to_owned());
        let passed = self.verdicts.lock().expect("lock").pop().unwrap_or(false);
        let evidence = if passed { String::new() } else { "assertion failed: peek on []".into() };
        Box::pin(std::future::ready(Ok(Verdict::new(passed, evidence))))
    }
}
