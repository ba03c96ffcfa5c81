//! Errors in OpenAI's format: `{"error": {"message", "type", "param", "code"}}` with the status
//! code a client's SDK expects, `retry-after` where waiting helps, and `x-should-retry: false`
//! where the gateway has already retried (so that the SDK does not multiply the retries).

use std::time::Duration;

use aimos_core::{ModelError, PipelineError, StoreError};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<&'static str>,
    pub retry_after: Option<Duration>,
    /// `Some(false)`: tell clients not to retry (the gateway did, or it cannot help).
    pub should_retry: Option<bool>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            retry_after: None,
            should_retry: None,
        }
    }

    pub fn invalid(message: &str, param: Option<&str>) -> ApiError {
        ApiError {
            param: param.map(str::to_owned),
            should_retry: Some(false),
            ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
        }
    }

    pub fn code(mut self, code: &'static str) -> ApiError {
        self.code = Some(code);
        self
    }

    pub fn no_retry(mut self) -> ApiError {
        self.should_retry = Some(false);
        self
    }

    /// The body of this error, also used for an error event inside a stream.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }

    pub fn from_model(err: &ModelError) -> ApiError {
        let message = err.to_string();
        let upstream = |status, kind| ApiError::new(status, kind, message.clone()).no_retry();
        let error = match err {
            ModelError::ContextTooLong { .. } => {
                ApiError::invalid(&message, Some("messages")).code("context_length_exceeded")
            }
            ModelError::InvalidSchema { .. } => {
                ApiError::invalid(&message, Some("response_format"))
            }
            ModelError::InvalidRequest { .. } => ApiError::invalid(&message, None),
            ModelError::Auth { .. } => {
                upstream(StatusCode::BAD_GATEWAY, "upstream_error").code("upstream_auth")
            }
            ModelError::RateLimited { .. } => {
                upstream(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error")
                    .code("upstream_rate_limited")
            }
            ModelError::Overloaded { .. }
            | ModelError::CircuitOpen { .. }
            | ModelError::Unavailable => {
                upstream(StatusCode::SERVICE_UNAVAILABLE, "overloaded_error")
            }
            ModelError::Timeout { .. } => upstream(StatusCode::GATEWAY_TIMEOUT, "timeout_error"),
            _ => upstream(StatusCode::BAD_GATEWAY, "upstream_error"),
        };
        ApiError { retry_after: err.retry_after(), ..error }
    }

    pub fn from_pipeline(err: &PipelineError) -> ApiError {
        match err {
            PipelineError::Model { source, .. } => {
                ApiError { message: aimos_core::error_chain(err), ..ApiError::from_model(source) }
            }
            PipelineError::EmptyProblem => ApiError::invalid(
                "the last user message is empty: there is no task",
                Some("messages"),
            ),
            PipelineError::Store(store) => ApiError::from_store(store),
            other => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                aimos_core::error_chain(other),
            )
            .no_retry(),
        }
    }

    pub fn from_store(err: &StoreError) -> ApiError {
        tracing::error!(error = %err, "store failure");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            format!("the store failed: {err}"),
        )
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", what.to_owned()).no_retry()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        if let Some(after) = self.retry_after {
            let secs = after.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                headers.insert("retry-after", value);
            }
        }
        if let Some(retry) = self.should_retry {
            headers.insert(
                "x-should-retry",
                HeaderValue::from_static(if retry { "true" } else { "false" }),
            );
        }
        response
    }
}
