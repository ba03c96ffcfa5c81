//! The advisor routes: `POST /v1/aimos/consult` returns the smart model's insight on a problem
//! and its context (the caller executes), `POST /v1/aimos/outcomes` records whether it worked.

use std::sync::Arc;
use std::time::Instant;

use aimos_context::Document;
use aimos_core::{ReuseCheck, RunOptions, Task};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokio::time::timeout_at;

use crate::error::ApiError;
use crate::keys::{authorize, charge};
use crate::metrics::Observation;
use crate::{AppState, CONSULT, blocking};

/// A consultation request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsultBody {
    /// The problem, with its error output.
    problem: String,
    /// The material it is about, as named texts.
    #[serde(default)]
    context: Vec<ContextFile>,
    /// Most tokens of the brief.
    budget: Option<usize>,
    /// Whether a stored insight may stand in (default true).
    reuse: Option<bool>,
    /// Who the advice is for, recorded with the run.
    user: Option<String>,
    /// Tags recorded with the run.
    metadata: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContextFile {
    path: String,
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeBody {
    /// An insight's id, or the id of a run that followed one.
    id: String,
    passed: bool,
    note: Option<String>,
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], shape: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|err| ApiError::invalid(&format!("expected {shape}: {err}"), None))
}

pub async fn consult(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let key = authorize(&state, &headers, true).await?;
    let body: ConsultBody = parse(
        &body,
        r#"{"problem": text, "context"?: [{"path": text, "text": text}], "budget"?: tokens, "reuse"?: bool}"#,
    )?;
    if body.problem.trim().is_empty() {
        return Err(ApiError::invalid("`problem` is empty: say what goes wrong", Some("problem")));
    }
    let brief_budget = body.budget.unwrap_or(state.limits.brief_budget);
    if !(64..=32768).contains(&brief_budget) {
        return Err(ApiError::invalid("`budget` must be 64 to 32768 tokens", Some("budget")));
    }
    let mut options = RunOptions {
        brief_budget,
        run_id: Some(aimos_core::ids::new_id()),
        attribution: aimos_core::Attribution {
            key: key.as_ref().map(|k| k.name.clone()),
            user: body.user.clone().filter(|u| !u.is_empty()),
            tags: body.metadata.clone().unwrap_or_default(),
        },
        namespace: key.as_ref().and_then(|k| k.namespace.clone()),
        embedder: state.policy.embedder.clone(),
        ..RunOptions::default()
    };
    if body.reuse == Some(false) {
        options.reuse.check = ReuseCheck::Never;
    }
    let task = Task {
        problem: body.problem,
        context: body
            .context
            .into_iter()
            .map(|f| Document { path: f.path, text: f.text })
            .collect(),
    };
    state.metrics.enter();
    let pipeline = Arc::clone(&state.pipeline);
    let deadline = tokio::time::Instant::from_std(started + state.limits.request_timeout);
    let run = crate::off_workers(async move { pipeline.advise(&task, &options).await });
    let advice = match timeout_at(deadline, run).await {
        Err(_) => Err(ApiError::from_model(&aimos_core::ModelError::Timeout {
            phase: aimos_core::TimeoutPhase::Total,
            after: state.limits.request_timeout,
        })),
        Ok(Err(err)) => Err(err),
        Ok(Ok(Err(err))) => Err(ApiError::from_pipeline(&err)),
        Ok(Ok(Ok(advice))) => Ok(advice),
    };
    let advice = match advice {
        Ok(advice) => advice,
        Err(err) => {
            state.metrics.leave(None);
            return Err(err);
        }
    };
    let run = &advice.run;
    if let Some(key) = &key {
        charge(&state, key, run.cost.usd).await;
    }
    let waiting: f64 = run.steps.iter().filter(|s| s.model.is_some()).map(|s| s.latency_ms).sum();
    let latency = started.elapsed();
    state.metrics.leave(Some(&Observation {
        model: CONSULT.to_owned(),
        status: 200,
        latency,
        overhead: latency.saturating_sub(std::time::Duration::from_secs_f64(waiting / 1000.0)),
        prompt_tokens: run.steps.iter().map(|s| s.prompt_tokens).sum(),
        completion_tokens: run.steps.iter().map(|s| s.completion_tokens).sum(),
        cost_usd: run.cost.usd,
        counterfactual_usd: run.counterfactual.cost.usd,
        key: key.as_ref().map(|k| k.name.clone()),
    }));
    let mut response = Json(advice.to_json()).into_response();
    if let Ok(value) = run.id.parse() {
        response.headers_mut().insert("x-aimos-run-id", value);
    }
    Ok(response)
}

pub async fn outcomes(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let key = authorize(&state, &headers, false).await?;
    let namespace = key.and_then(|k| k.namespace);
    let body: OutcomeBody =
        parse(&body, r#"{"id": insight or run id, "passed": bool, "note"?: text}"#)?;
    let store = Arc::clone(&state.store);
    let recorded = blocking(move || {
        crate::rest::visible(&*store, body.id.trim(), namespace.as_deref())?;
        aimos_core::reuse::record_feedback(&*store, body.id.trim(), body.passed, body.note, "api")
            .map_err(|err| match err {
                aimos_core::reuse::FeedbackError::Store(err) => ApiError::from_store(&err),
                aimos_core::reuse::FeedbackError::NotFound(_) => {
                    ApiError::not_found(&err.to_string())
                }
                other => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_request_error",
                    other.to_string(),
                )
                .no_retry(),
            })
    })
    .await?;
    let insight = &recorded.insight;
    Ok(Json(json!({
        "insight_id": insight.id,
        "run_id": recorded.run_id,
        "succeeded": insight.succeeded,
        "failed": insight.failed,
        "retired": recorded.retired.iter().map(|(id, why)| json!({"insight_id": id, "reason": why})).collect::<Vec<_>>(),
    }))
    .into_response())
}
