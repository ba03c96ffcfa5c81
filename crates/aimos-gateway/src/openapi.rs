//! `GET /openapi.json`: the gateway's routes as an OpenAPI 3.1 document.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The document; a test checks that it names every route the router serves.
pub fn document() -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let failed = |what: &str| json!({"description": what, "content": {"application/json": {"schema": error}}});
    let ok = |what: &str, schema: Value| json!({"description": what, "content": {"application/json": {"schema": schema}}});
    let any = json!({"type": "object"});
    let id = |what: &str| json!([{"name": "id", "in": "path", "required": true, "description": what, "schema": {"type": "string"}}]);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "aimos gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "OpenAI-compatible chat completions for every served model and for the pipeline models aimos/consult, aimos/cascade and aimos/auto; the advisor routes (an insight for a caller that executes itself, and its outcome); stored insights and runs; metrics and health. Send a key as `Authorization: Bearer KEY` when the gateway has keys."
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/chat/completions": {"post": {
                "summary": "A chat completion, whole or streamed (server-sent events), from a model by name or from the pipeline",
                "requestBody": {"required": true, "content": {"application/json": {"schema": any}}},
                "responses": {"200": ok("The completion; pipeline models add an `aimos` object and the `x-aimos-run-id` header", any.clone()), "400": failed("A malformed request"), "401": failed("No key, or an unknown one"), "402": failed("The key's budget is spent"), "404": failed("No such model"), "429": failed("The key's rate limit")}
            }},
            "/v1/messages": {"post": {
                "summary": "Anthropic's Messages API, whole or streamed (named server-sent events), from a model by name or from the pipeline; a key as `x-api-key`; errors in Anthropic's format",
                "requestBody": {"required": true, "content": {"application/json": {"schema": any}}},
                "responses": {"200": ok("A message", any.clone()), "400": failed("A malformed request"), "401": failed("No key, or an unknown one"), "404": failed("No such model"), "429": failed("The key's budget or rate limit")}
            }},
            "/v1/models": {"get": {
                "summary": "The models this gateway serves",
                "responses": {"200": ok("An OpenAI-style list", any.clone())}
            }},
            "/v1/aimos/consult": {"post": {
                "summary": "Advice on a problem: the smart model reads a brief of the problem and its context and answers with an insight; the caller executes",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ConsultRequest"}}}},
                "responses": {"200": ok("The insight, its id, the run's id, whether it was recalled, and its cost", json!({"$ref": "#/components/schemas/Advice"})), "400": failed("A malformed request"), "401": failed("No key, or an unknown one"), "402": failed("The key's budget is spent"), "502": failed("The smart model failed")}
            }},
            "/v1/aimos/outcomes": {"post": {
                "summary": "Whether following an insight worked, by the insight's id or a run's",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OutcomeRequest"}}}},
                "responses": {"200": ok("The insight's new record", any.clone()), "404": failed("No insight or run has the id"), "422": failed("The run followed no insight")}
            }},
            "/v1/insights": {"get": {
                "summary": "Stored insights, newest first, or by words",
                "parameters": [
                    {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "Words in the problem, diagnosis and key facts"},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}}
                ],
                "responses": {"200": ok("A list of insights", any.clone())}
            }},
            "/v1/insights/{id}": {"get": {
                "summary": "One insight",
                "parameters": id("The insight's id"),
                "responses": {"200": ok("The insight", any.clone()), "404": failed("No such insight")}
            }},
            "/v1/insights/{id}/feedback": {"post": {
                "summary": "Whether following this insight worked",
                "parameters": id("The insight's id"),
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["passed"], "properties": {"passed": {"type": "boolean"}, "run_id": {"type": "string"}, "note": {"type": "string"}}}}}},
                "responses": {"200": ok("The insight's new record", any.clone()), "404": failed("No such insight")}
            }},
            "/v1/runs/{id}": {"get": {
                "summary": "One run of the ledger, with its steps",
                "parameters": id("The run's id (the x-aimos-run-id header)"),
                "responses": {"200": ok("The run", any.clone()), "404": failed("No such run")}
            }},
            "/mcp": {"post": {
                "summary": "aimos's MCP tools (consult, distill, fix, search_insights, record_outcome) over streamable HTTP, stateless, answered as JSON; fix runs no commands here",
                "requestBody": {"required": true, "content": {"application/json": {"schema": any}}},
                "responses": {"200": ok("A JSON-RPC response", any.clone()), "401": failed("No key, or an unknown one")}
            }},
            "/ui/api/overview": {"get": {
                "summary": "The dashboard's overview: aimos stats --json's totals, and strategies, hours and quality over the newest runs (an admin key, or loopback while the store has no key)",
                "responses": {"200": ok("The overview", any.clone()), "401": failed("No admin key"), "403": failed("Not an admin key, or not on this machine")}
            }},
            "/ui/api/runs": {"get": {
                "summary": "One page of runs, newest first, filtered",
                "parameters": [
                    {"name": "strategy", "in": "query", "schema": {"type": "string"}},
                    {"name": "model", "in": "query", "schema": {"type": "string"}, "description": "A model one of the run's steps called"},
                    {"name": "key", "in": "query", "schema": {"type": "string"}, "description": "The gateway key's name"},
                    {"name": "insight", "in": "query", "schema": {"type": "string"}, "description": "The id of the insight the run stored or followed"},
                    {"name": "verdict", "in": "query", "schema": {"enum": ["passed", "failed", "unjudged"]}},
                    {"name": "since", "in": "query", "schema": {"type": "string"}, "description": "A date or RFC 3339 time, UTC"},
                    {"name": "until", "in": "query", "schema": {"type": "string"}, "description": "A date or RFC 3339 time, UTC (exclusive)"},
                    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 0}}
                ],
                "responses": {"200": ok("Runs and the filter's choices", any.clone()), "400": failed("A filter that cannot be read")}
            }},
            "/ui/api/runs/{id}": {"get": {
                "summary": "A run with its waterfall, insight and shadow checks",
                "parameters": id("The run's id"),
                "responses": {"200": ok("The run", any.clone()), "404": failed("No such run")}
            }},
            "/ui/api/insights": {"get": {
                "summary": "One page of insights, newest first, or matching words, with success estimates",
                "parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}}, {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 0}}],
                "responses": {"200": ok("Insights", any.clone())}
            }},
            "/ui/api/insights/{id}": {"get": {
                "summary": "An insight whole, with its success estimate and outcomes",
                "parameters": id("The insight's id"),
                "responses": {"200": ok("The insight", any.clone()), "404": failed("No such insight, or one in another namespace")}
            }},
            "/ui/api/calibration": {"get": {"summary": "Per smart model, reliability of stated and calibrated confidence", "responses": {"200": ok("Calibration", any.clone())}}},
            "/ui/api/keys": {"get": {"summary": "Each key's spend against its budget, runs and last use", "responses": {"200": ok("Keys", any.clone())}}},
            "/ui/api/evals": {"get": {"summary": "The eval folders the dashboard was started with", "responses": {"200": ok("Evals", any.clone())}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "security": [], "responses": {"200": {"description": "Text exposition format"}}}},
            "/healthz": {"get": {"summary": "The process is up", "security": [], "responses": {"200": {"description": "ok"}}}},
            "/readyz": {"get": {"summary": "The store answers", "security": [], "responses": {"200": {"description": "ready"}, "503": {"description": "The store does not answer"}}}},
            "/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}}}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {"message": {"type": "string"}, "type": {"type": "string"}, "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}}},
                "ConsultRequest": {"type": "object", "required": ["problem"], "additionalProperties": false, "properties": {
                    "problem": {"type": "string", "description": "The problem, with its error output or failing test report"},
                    "context": {"type": "array", "description": "The material it is about", "items": {"type": "object", "required": ["path", "text"], "properties": {"path": {"type": "string"}, "text": {"type": "string"}}}},
                    "budget": {"type": "integer", "minimum": 64, "maximum": 32768, "description": "Most tokens of the brief the smart model reads"},
                    "reuse": {"type": "boolean", "description": "Whether a stored insight may stand in (default true)"},
                    "user": {"type": "string", "description": "Who the advice is for, recorded with the run"},
                    "metadata": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Tags recorded with the run"}
                }},
                "OutcomeRequest": {"type": "object", "required": ["id", "passed"], "additionalProperties": false, "properties": {
                    "id": {"type": "string", "description": "The insight's id, or the id of a run that followed one"},
                    "passed": {"type": "boolean"},
                    "note": {"type": "string"}
                }},
                "Advice": {"type": "object", "properties": {
                    "insight_id": {"type": "string"}, "run_id": {"type": "string"}, "recalled": {"type": "boolean"},
                    "diagnosis": {"type": "string"}, "plan": {"type": "array", "items": {"type": "string"}},
                    "key_facts": {"type": "array", "items": {"type": "string"}}, "pitfalls": {"type": "array", "items": {"type": "string"}},
                    "confidence": {"type": "number"}, "reasoning": {"type": "string"}, "smart_model": {"type": "string"},
                    "track_record": {"type": "object"},
                    "cost": {"type": "object", "properties": {"usd": {"type": "number"}, "prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"}, "smart_alone_usd": {"type": "number"}, "latency_ms": {"type": "number"}}}
                }}
            }
        }
    })
}

pub async fn serve() -> Response {
    Json(document()).into_response()
}
