//! The REST side: models, insights, runs, feedback, metrics and health.

use aimos_core::Outcome;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::keys::authorize;
use crate::{AppState, PIPELINE_MODELS, blocking};

pub async fn models(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, false).await?;
    let mut names: Vec<String> = PIPELINE_MODELS.iter().map(|&m| m.to_owned()).collect();
    names.extend(state.models.names());
    let data: Vec<_> = names
        .iter()
        .map(|id| json!({ "id": id, "object": "model", "created": 0, "owned_by": "aimos" }))
        .collect();
    Ok(Json(json!({ "object": "list", "data": data })).into_response())
}

#[derive(Debug, Deserialize)]
pub struct InsightQuery {
    q: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

pub async fn insights(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<InsightQuery>,
) -> Result<Response, ApiError> {
    let namespace = authorize(&state, &headers, false).await?.and_then(|k| k.namespace);
    let limit = query.limit.unwrap_or(20);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit must be between 1 and 200", Some("limit")));
    }
    let offset = query.offset.unwrap_or(0);
    let store = state.store.clone();
    let found = blocking(move || {
        let text = query.q.as_deref().filter(|q| !q.trim().is_empty());
        let mut found =
            store.insights(text, limit, offset).map_err(|err| ApiError::from_store(&err))?;
        // Another namespace's insights are not this key's to see (a page may come out short).
        found.retain(|insight| insight.visible_to(namespace.as_deref()));
        Ok(found)
    })
    .await?;
    Ok(Json(json!({ "object": "list", "data": found, "limit": limit, "offset": offset }))
        .into_response())
}

/// One stored thing by id, as JSON, or a 404 naming it (also when it belongs to an insight
/// namespace the key may not see).
async fn by_id<T: serde::Serialize + Send + 'static>(
    state: &AppState,
    headers: &HeaderMap,
    id: String,
    what: &'static str,
    get: fn(&dyn aimos_core::Store, &str) -> Result<Option<T>, aimos_core::StoreError>,
) -> Result<Response, ApiError> {
    let namespace = authorize(state, headers, false).await?.and_then(|k| k.namespace);
    let store = state.store.clone();
    let lookup = id.clone();
    let found = blocking(move || {
        visible(&*store, &lookup, namespace.as_deref())?;
        get(&*store, &lookup).map_err(|err| ApiError::from_store(&err))
    })
    .await?;
    match found {
        Some(found) => Ok(Json(found).into_response()),
        None => Err(ApiError::not_found(&format!("no {what} `{id}`"))),
    }
}

pub async fn insight(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    by_id(&state, &headers, id, "insight", |store, id| store.insight(id)).await
}

/// Refuses, as not found, an insight (or a run's insight) that `namespace` may not see.
pub(crate) fn visible(
    store: &dyn aimos_core::Store,
    id: &str,
    namespace: Option<&str>,
) -> Result<(), ApiError> {
    let failed = |err: aimos_core::StoreError| ApiError::from_store(&err);
    let insight_id = match store.run(id).map_err(failed)? {
        Some(run) => run.insight_id,
        None => Some(id.to_owned()),
    };
    let insight = match insight_id {
        Some(insight_id) => store.insight(&insight_id).map_err(failed)?,
        None => None,
    };
    match insight {
        Some(insight) if !insight.visible_to(namespace) => {
            Err(ApiError::not_found(&format!("no insight or run has the id `{id}`")))
        }
        _ => Ok(()),
    }
}

#[derive(Debug, Deserialize)]
pub struct Feedback {
    passed: bool,
    run_id: Option<String>,
    note: Option<String>,
}

pub async fn feedback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let namespace = authorize(&state, &headers, false).await?.and_then(|k| k.namespace);
    let feedback: Feedback = serde_json::from_slice(&body).map_err(|err| {
        ApiError::invalid(
            &format!("expected {{\"passed\": true|false, \"note\"?: text}}: {err}"),
            None,
        )
    })?;
    let outcome = Outcome {
        insight_id: id.clone(),
        run_id: feedback.run_id,
        passed: feedback.passed,
        source: "api".into(),
        note: feedback.note,
        created_at: aimos_core::ids::now_rfc3339(),
    };
    let store = state.store.clone();
    // The outcome counts for the insight, for calibration and for `auto`; an insight that
    // keeps failing leaves recall.
    let passed = outcome.passed;
    let updated = blocking(move || {
        visible(&*store, &outcome.insight_id, namespace.as_deref())?;
        let updated = store.record_outcome(&outcome).map_err(|err| ApiError::from_store(&err))?;
        if let Some(insight) = &updated {
            aimos_core::reuse::age(&*store, insight, passed)
                .map_err(|err| ApiError::from_store(&err))?;
        }
        Ok(updated)
    })
    .await?;
    match updated {
        Some(insight) => Ok(Json(insight).into_response()),
        None => Err(ApiError::not_found(&format!("no insight `{id}`"))),
    }
}

pub async fn run(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    by_id(&state, &headers, id, "run", |store, id| store.run(id)).await
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
        .into_response()
}

pub async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// Ready when the store answers.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.store.clone();
    match blocking(move || store.keys().map_err(|err| ApiError::from_store(&err))).await {
        Ok(_) => Json(json!({ "status": "ready" })).into_response(),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": err.message })),
        )
            .into_response(),
    }
}

pub async fn not_found() -> ApiError {
    ApiError::not_found(
        "no such route; the API is under /v1 (chat/completions, models, insights, runs)",
    )
}
