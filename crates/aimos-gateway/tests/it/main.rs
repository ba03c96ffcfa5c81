//! The gateway's handlers in process (`Router::oneshot`), with the real smollm2-135m behind
//! both the pass-through name and `aimos/consult`, and a real SQLite store.

#![allow(clippy::panic, clippy::unwrap_used)]

mod dashboard;
mod handlers;
mod sweep;

use std::sync::Arc;

use aimos_core::{Model, Pipeline, Store};
use aimos_gateway::{Gateway, Limits, ModelSource};
use aimos_local::{LoadOptions, LocalOptions, NoProgress};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

pub const TEST_MODEL: &str = "smollm2-135m";

/// Serves the test model under its catalog name (and nothing else).
struct OneModel(Arc<dyn Model>);

impl ModelSource for OneModel {
    fn names(&self) -> Vec<String> {
        vec![TEST_MODEL.to_owned()]
    }

    fn open(&self, name: &str) -> Result<Option<Arc<dyn Model>>, String> {
        Ok((name == TEST_MODEL).then(|| Arc::clone(&self.0)))
    }
}

pub struct Fixture {
    pub router: Router,
    pub store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

pub fn fixture(limits: Limits) -> Fixture {
    fixture_with(limits, aimos_gateway::Policy::default())
}

pub fn fixture_with(limits: Limits, policy: aimos_gateway::Policy) -> Fixture {
    let options = LoadOptions {
        run: LocalOptions { context_window: Some(2048), ..LocalOptions::default() },
        ..LoadOptions::default()
    };
    let model: Arc<dyn Model> = aimos_local::load(TEST_MODEL, &options, &mut NoProgress).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(aimos_store::SqliteStore::open(&dir.path().join("aimos.db")).unwrap());
    let pipeline = Pipeline {
        smart: Arc::clone(&model),
        cheap: Arc::clone(&model),
        store: Arc::clone(&store),
    };
    let router = aimos_gateway::router(Gateway {
        models: Arc::new(OneModel(model)),
        pipeline: Arc::new(pipeline),
        limits,
        policy,
        mcp: Some(aimos_gateway::Mcp { roots: aimos_mcp::Roots::none(), loopback_only: false }),
        dashboard: Default::default(),
        tasks: aimos_gateway::Tasks::default(),
    });
    Fixture { router, store, _dir: dir }
}

/// One request; returns the status, the headers and the body as text.
pub async fn call(
    router: &Router,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let request = match body {
        Some(body) => {
            request.header("content-type", "application/json").body(Body::from(body.to_string()))
        }
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}

/// The `data:` payloads of an event stream, `[DONE]` included.
pub fn events(text: &str) -> Vec<String> {
    text.split("\n\n").filter_map(|event| event.strip_prefix("data: ")).map(str::to_owned).collect()
}
