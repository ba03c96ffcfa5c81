use std::sync::Arc;
use std::time::Duration;

use aimos_gateway::Limits;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::{TEST_MODEL, call, events, fixture};

fn ask(model: &str, prompt: &str, max_tokens: u32) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_by_name_answers_in_one_piece_and_streamed() {
    let f = fixture(Limits::default());
    let (status, _, body) = call(&f.router, "GET", "/v1/models", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let models: Value = serde_json::from_str(&body).unwrap();
    let ids: Vec<&str> =
        models["data"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(ids, ["aimos/consult", "aimos/cascade", "aimos/auto", TEST_MODEL]);

    let (status, _, body) = call(
        &f.router,
        "POST",
        "/v1/chat/completions",
        None,
        Some(ask(TEST_MODEL, "What is the capital of France?", 12)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let whole: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(whole["object"], "chat.completion");
    assert_eq!(whole["model"], TEST_MODEL);
    let text = whole["choices"][0]["message"]["content"].as_str().unwrap().to_owned();
    assert!(!text.is_empty());
    assert_eq!(whole["usage"]["completion_tokens"], 12);
    assert_eq!(whole["choices"][0]["finish_reason"], "length");

    let mut streamed = ask(TEST_MODEL, "What is the capital of France?", 12);
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let (status, headers, body) =
        call(&f.router, "POST", "/v1/chat/completions", None, Some(streamed)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/event-stream");
    let events = events(&body);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> =
        events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let pieces: String =
        chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(pieces, text, "greedy: the same text streamed and whole");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 12);

    let (_, _, metrics) = call(&f.router, "GET", "/metrics", None, None).await;
    assert!(
        metrics
            .contains(&format!("aimos_requests_total{{model=\"{TEST_MODEL}\",status=\"200\"}} 2")),
        "{metrics}"
    );
    assert!(metrics.contains("aimos_gateway_overhead_seconds_count 2"), "{metrics}");
    assert!(metrics.contains("aimos_in_flight_requests 0"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_come_in_openai_format_with_the_right_status() {
    let f = fixture(Limits { max_body_bytes: 64 << 10, ..Limits::default() });
    let post = |body: Value| call(&f.router, "POST", "/v1/chat/completions", None, Some(body));

    let (status, headers, body) = post(json!({"model": TEST_MODEL, "messages": []})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers["x-should-retry"], "false");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert_eq!(error["error"]["param"], "messages");

    let (status, _, body) = post(ask("gpt-99", "hi", 4)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("model_not_found"), "{body}");

    let (status, _, body) = post(json!({"messages": "not a list"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let long = "word ".repeat(4000);
    let (status, _, body) = post(ask(TEST_MODEL, &long, 4)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("context_length_exceeded"), "{body}");

    let (status, _, _) = post(ask(TEST_MODEL, &"x".repeat(100 << 10), 4)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let (status, _, body) = call(&f.router, "GET", "/v1/nothing", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("\"error\""), "{body}");
    let (status, _, _) = call(&f.router, "GET", "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(&f.router, "GET", "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_budgets_and_rate_limits_hold() {
    let f = fixture(Limits::default());
    let (_, secret) = aimos_gateway::keys::create(&*f.store, "app", Some(0.0000005), None).unwrap();
    let (_, limited) = aimos_gateway::keys::create(&*f.store, "slow", None, Some(2)).unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await; // the "are there keys" answer expires
    let post = |key: Option<&'static str>, body: Value| {
        let router = f.router.clone();
        async move { call(&router, "POST", "/v1/chat/completions", key, Some(body)).await }
    };
    let secret: &'static str = Box::leak(secret.into_boxed_str());
    let limited: &'static str = Box::leak(limited.into_boxed_str());

    let (status, headers, body) = post(None, ask(TEST_MODEL, "hi", 4)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(headers["x-should-retry"], "false");
    let (status, _, _) = post(Some("aimos-not-a-key"), ask(TEST_MODEL, "hi", 4)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The budget is checked before a request and charged after: the first request spends it.
    let (status, _, body) =
        post(Some(secret), ask(TEST_MODEL, "Write a poem about the sea.", 64)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let spent = f.store.keys().unwrap().into_iter().find(|k| k.name == "app").unwrap().spent_usd;
    assert!(spent > 0.0000005, "{spent}");
    let (status, headers, body) = post(Some(secret), ask(TEST_MODEL, "hi", 4)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.contains("insufficient_quota"), "{body}");
    assert_eq!(headers["x-should-retry"], "false");

    for _ in 0..2 {
        let (status, _, body) = post(Some(limited), ask(TEST_MODEL, "hi", 2)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, headers, body) = post(Some(limited), ask(TEST_MODEL, "hi", 2)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.contains("rate_limit_exceeded"), "{body}");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");

    // Per-key series, and a model name the gateway does not serve never becomes a label.
    let (status, _, _) = post(Some(limited), ask("made-up-model-1234", "hi", 2)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the limit comes first");
    let (status, _, _) = post(Some(secret), ask("made-up-model-1234", "hi", 2)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    f.store.revoke_key("slow").unwrap();
    let (_, open) = aimos_gateway::keys::create(&*f.store, "open", None, None).unwrap();
    let (status, _, _) = call(
        &f.router,
        "POST",
        "/v1/chat/completions",
        Some(&open),
        Some(ask("made-up-model-1234", "hi", 2)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, metrics) = call(&f.router, "GET", "/metrics", None, None).await;
    assert!(!metrics.contains("made-up-model-1234"), "{metrics}");
    assert!(
        metrics.contains("aimos_requests_total{model=\"(unknown)\",status=\"404\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("aimos_key_requests_total{key=\"app\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("aimos_key_requests_total{key=\"slow\",status=\"200\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("aimos_key_cost_usd_total{key=\"app\"}"), "{metrics}");

    // Reading insights does not spend: an exhausted key may still read.
    let (status, _, _) = call(&f.router, "GET", "/v1/insights", Some(secret), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(f.store.revoke_key("app").unwrap());
    let (status, _, body) = call(&f.router, "GET", "/v1/insights", Some(secret), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("revoked"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aimos_consult_runs_the_pipeline_and_its_run_and_insight_are_served() {
    let f = fixture(Limits::default());
    let request = json!({
        "model": "aimos/consult",
        "messages": [
            {"role": "system", "content": "You help with Python code."},
            {"role": "user", "content": "def add(a, b): return a - b\n\nWhy does add(2, 3) return -1? Fix it."}
        ],
        "max_tokens": 60,
    });
    let (status, headers, body) =
        call(&f.router, "POST", "/v1/chat/completions", None, Some(request.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let run_id = headers["x-aimos-run-id"].to_str().unwrap().to_owned();
    assert_eq!(answer["aimos"]["run_id"], run_id.as_str());
    assert_eq!(answer["aimos"]["strategy"], "consult");
    let kinds: Vec<&str> = answer["aimos"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["distill", "consult", "execute"]);
    let steps_tokens: u64 = answer["aimos"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["prompt_tokens"].as_u64().unwrap() + s["completion_tokens"].as_u64().unwrap())
        .sum();
    assert_eq!(
        answer["usage"]["total_tokens"].as_u64(),
        Some(steps_tokens),
        "usage sums every step"
    );
    assert!(answer["aimos"]["counterfactual"]["cost"]["usd"].as_f64().unwrap() > 0.0);

    let (status, _, body) = call(&f.router, "GET", &format!("/v1/runs/{run_id}"), None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let insight_id = answer["aimos"]["insight_id"].as_str().unwrap().to_owned();
    let (status, _, body) =
        call(&f.router, "GET", &format!("/v1/insights/{insight_id}"), None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = call(&f.router, "GET", "/v1/insights?q=add&limit=5", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["data"][0]["id"], insight_id.as_str());
    let (status, _, body) = call(
        &f.router,
        "POST",
        &format!("/v1/insights/{insight_id}/feedback"),
        None,
        Some(json!({"passed": true, "run_id": run_id})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let updated: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(updated["succeeded"], 1);
    let (status, _, _) = call(&f.router, "GET", "/v1/insights/nope", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Streamed: the header comes first, the executor's text streams, the run closes the stream.
    let mut streamed = request;
    streamed["stream"] = json!(true);
    let (status, headers, body) =
        call(&f.router, "POST", "/v1/chat/completions", None, Some(streamed)).await;
    assert_eq!(status, StatusCode::OK);
    let run_id = headers["x-aimos-run-id"].to_str().unwrap().to_owned();
    let events = events(&body);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let last: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(last["aimos"]["run_id"], run_id.as_str());
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    let text: String = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str::<Value>(e).unwrap())
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
        .collect();
    let (_, _, run) = call(&f.router, "GET", &format!("/v1/runs/{run_id}"), None, None).await;
    let run: Value = serde_json::from_str(&run).unwrap();
    assert_eq!(
        run["result"].as_str(),
        Some(text.as_str()),
        "the streamed text is the recorded result"
    );

    let (_, _, metrics) = call(&f.router, "GET", "/metrics", None, None).await;
    assert!(
        metrics.contains("aimos_requests_total{model=\"aimos/consult\",status=\"200\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("aimos_counterfactual_usd_total"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aimos_cascade_is_checked_by_the_judge_and_aimos_auto_says_why_it_chose() {
    let f = fixture(Limits::default());
    let ask_for = |model: &str| {
        json!({
            "model": model,
            "messages": [
                {"role": "system", "content": "def add(a, b): return a - b"},
                {"role": "user", "content": "Why does add(2, 3) return -1? Fix it."}
            ],
            "max_tokens": 40,
        })
    };
    let kinds = |answer: &Value| -> Vec<String> {
        answer["aimos"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["kind"].as_str().map(str::to_owned))
            .collect()
    };

    let (status, headers, body) =
        call(&f.router, "POST", "/v1/chat/completions", None, Some(ask_for("aimos/cascade"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["model"], "aimos/cascade");
    assert_eq!(answer["aimos"]["strategy"], "cascade");
    let steps = kinds(&answer);
    assert_eq!(steps[..2], ["execute", "verify"], "{steps:?}");
    // The judge is a paid model call, recorded on the verify step.
    let judge = &answer["aimos"]["steps"][1];
    assert_eq!(judge["model"], format!("local:{TEST_MODEL}"), "{judge}");
    assert!(judge["prompt_tokens"].as_u64().unwrap() > 0, "{judge}");
    let run_id = headers["x-aimos-run-id"].to_str().unwrap().to_owned();
    let run = f.store.run(&run_id).unwrap().expect("recorded");
    assert!(run.verified.is_some());

    let (status, _, body) =
        call(&f.router, "POST", "/v1/chat/completions", None, Some(ask_for("aimos/auto"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(kinds(&answer)[0], "decide", "{body}");
    let note = answer["aimos"]["steps"][0]["note"].as_str().unwrap();
    assert!(note.starts_with("auto chose "), "{note}");
    assert!(note.contains("predicted: "), "{note}");
    let chosen = answer["aimos"]["strategy"].as_str().unwrap();
    assert!(["cheap", "consult", "smart", "brief"].contains(&chosen), "{chosen}");
    assert!(note.starts_with(&format!("auto chose {chosen}")), "{note}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_and_a_rate_limit_hold_under_concurrent_requests() {
    let f = fixture(Limits::default());
    // What one request costs, measured without keys.
    let request = ask(TEST_MODEL, "Name a colour.", 4);
    let (status, _, body) =
        call(&f.router, "POST", "/v1/chat/completions", None, Some(request.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let usage: Value = serde_json::from_str::<Value>(&body).unwrap()["usage"].clone();
    let price = aimos_local::catalog::find(TEST_MODEL).unwrap().price;
    let one = price.cost(&aimos_core::Usage {
        prompt_tokens: usage["prompt_tokens"].as_u64().unwrap(),
        completion_tokens: usage["completion_tokens"].as_u64().unwrap(),
        ..aimos_core::Usage::default()
    });
    let budget = one.usd * 3.5;
    let (_, secret) = aimos_gateway::keys::create(&*f.store, "team", Some(budget), None).unwrap();
    let (_, limited) = aimos_gateway::keys::create(&*f.store, "burst", None, Some(3)).unwrap();

    let wave = |key: String, n: usize| {
        let router = f.router.clone();
        let request = request.clone();
        async move {
            let calls: Vec<_> = (0..n)
                .map(|_| {
                    let (router, request, key) = (router.clone(), request.clone(), key.clone());
                    tokio::spawn(async move {
                        call(&router, "POST", "/v1/chat/completions", Some(&key), Some(request))
                            .await
                            .0
                    })
                })
                .collect();
            let mut ok = 0;
            for c in calls {
                if c.await.unwrap() == StatusCode::OK {
                    ok += 1;
                }
            }
            ok
        }
    };
    // Four at once all start under the budget; after them it is spent and every request stops.
    let mut ok = 0;
    for _ in 0..3 {
        ok += wave(secret.clone(), 4).await;
    }
    assert_eq!(ok, 4, "only the requests in flight when the budget ran out went over it");
    let spent = f.store.keys().unwrap().into_iter().find(|k| k.name == "team").unwrap().spent_usd;
    assert!(
        spent > budget && spent <= budget + 4.0 * one.usd + 1e-12,
        "spent {spent}, budget {budget}"
    );

    // Six at once against 3 a minute: exactly three pass.
    assert_eq!(wave(limited, 6).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_embedding_model_the_gateway_stores_what_an_insight_means() {
    use aimos_core::Embed;
    let embedder = aimos_local::load_embedder(
        "minilm-l6",
        &aimos_local::LoadOptions::default(),
        &mut aimos_local::NoProgress,
    )
    .unwrap();
    let policy = aimos_gateway::Policy {
        embedder: Some(Arc::clone(&embedder) as Arc<dyn Embed>),
        ..aimos_gateway::Policy::default()
    };
    let f = crate::fixture_with(Limits::default(), policy);
    let request = json!({
        "problem": "Why does add(2, 3) return -1?",
        "context": [{"path": "calc.py", "text": "def add(a, b):\n    return a - b\n"}],
        "budget": 256,
    });
    let (status, _, body) = call(&f.router, "POST", "/v1/aimos/consult", None, Some(request)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let advice: Value = serde_json::from_str(&body).unwrap();
    // The problem told in other words is near the stored one by meaning, and a reuse would
    // find it among its candidates.
    let paraphrase = "Calling add(2, 3) gives minus one instead of the sum; why?";
    let vector = embedder.embed(&[paraphrase]).unwrap().remove(0);
    let near = f.store.nearest_insights("local:minilm-l6", &vector, 1).unwrap();
    assert_eq!(near.len(), 1);
    assert_eq!(advice["insight_id"], near[0].0.id.as_str(), "{advice}");
    let policy = aimos_core::ReusePolicy { min_success: 0.0, ..Default::default() };
    let found =
        aimos_core::reuse::find_with(&*f.store, paraphrase, &policy, None, Some(&*embedder))
            .unwrap();
    assert!(found.iter().any(|c| c.insight.id == near[0].0.id), "similarity {}", near[0].1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_advisor_routes_return_an_insight_and_record_its_outcome() {
    let f = fixture(Limits::default());
    let request = json!({
        "problem": "Why does add(2, 3) return -1?",
        "context": [{"path": "calc.py", "text": "def add(a, b):\n    return a - b\n"}],
        "budget": 256,
        "reuse": false,
    });
    let (status, headers, body) =
        call(&f.router, "POST", "/v1/aimos/consult", None, Some(request)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let advice: Value = serde_json::from_str(&body).unwrap();
    let run_id = headers["x-aimos-run-id"].to_str().unwrap().to_owned();
    assert_eq!(advice["run_id"], run_id.as_str());
    assert_eq!(advice["recalled"], false);
    assert!(!advice["plan"].as_array().unwrap().is_empty(), "{advice}");
    assert!(advice["cost"]["usd"].as_f64().unwrap() > 0.0, "{advice}");

    let (_, _, run) = call(&f.router, "GET", &format!("/v1/runs/{run_id}"), None, None).await;
    let run: Value = serde_json::from_str(&run).unwrap();
    assert_eq!(run["reason"], "advice only: the caller executes");
    let kinds: Vec<&str> =
        run["steps"].as_array().unwrap().iter().filter_map(|s| s["kind"].as_str()).collect();
    assert_eq!(kinds, ["distill", "consult"], "no executor ran");

    let (status, _, body) = call(
        &f.router,
        "POST",
        "/v1/aimos/outcomes",
        None,
        Some(json!({"id": run_id, "passed": true, "note": "fixed"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let recorded: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(recorded["insight_id"], advice["insight_id"]);
    assert_eq!(recorded["succeeded"], 1);

    for (route, body, expected, says) in [
        ("/v1/aimos/consult", json!({"problem": 1}), StatusCode::BAD_REQUEST, "expected"),
        (
            "/v1/aimos/consult",
            json!({"problem": "x", "budget": 8}),
            StatusCode::BAD_REQUEST,
            "64 to 32768",
        ),
        (
            "/v1/aimos/consult",
            json!({"problem": "x", "files": []}),
            StatusCode::BAD_REQUEST,
            "unknown field `files`",
        ),
        ("/v1/aimos/consult", json!({"problem": " "}), StatusCode::BAD_REQUEST, "empty"),
        (
            "/v1/aimos/outcomes",
            json!({"id": "nope", "passed": true}),
            StatusCode::NOT_FOUND,
            "no insight or run",
        ),
        (
            "/v1/aimos/outcomes",
            json!({"id": "nope"}),
            StatusCode::BAD_REQUEST,
            "missing field `passed`",
        ),
    ] {
        let (status, _, text) = call(&f.router, "POST", route, None, Some(body.clone())).await;
        assert_eq!(status, expected, "{route} {body}: {text}");
        assert!(text.contains(says), "{route} {body}: {text}");
    }
    let (_, _, metrics) = call(&f.router, "GET", "/metrics", None, None).await;
    assert!(
        metrics.contains("aimos_requests_total{model=\"aimos/consult\",status=\"200\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let f = fixture(Limits::default());
    let (status, _, body) = call(&f.router, "GET", "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let document: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    let routes_in = |source: &'static str| -> Vec<&'static str> {
        source
            .lines()
            .filter_map(|l| l.trim().strip_prefix(".route(\""))
            .filter_map(|l| l.split('"').next())
            .collect()
    };
    let mut routes = routes_in(include_str!("../../src/lib.rs"));
    // The dashboard's pages are HTML; its JSON is documented.
    routes.extend(
        routes_in(include_str!("../../src/ui/mod.rs"))
            .into_iter()
            .filter(|r| r.starts_with("/ui/api/")),
    );
    assert!(routes.len() >= 12, "{routes:?}");
    for route in routes {
        assert!(paths.contains_key(route), "{route} is not in /openapi.json");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_in_a_namespace_sees_its_own_insights_and_no_other_namespace_s() {
    let f = fixture(Limits::default());
    let (_, alpha) =
        aimos_gateway::keys::create_in(&*f.store, "alpha", None, None, Some("team-a"), false)
            .unwrap();
    let (_, beta) =
        aimos_gateway::keys::create_in(&*f.store, "beta", None, None, Some("team-b"), false)
            .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await; // the "are there keys" answer expires
    let consult = |key: String| {
        let router = f.router.clone();
        async move {
            let body = json!({
                "problem": "Why does add(2, 3) return -1?",
                "context": [{"path": "calc.py", "text": "def add(a, b):\n    return a - b\n"}],
                "budget": 256,
            });
            let (status, _, text) =
                call(&router, "POST", "/v1/aimos/consult", Some(&key), Some(body)).await;
            assert_eq!(status, StatusCode::OK, "{text}");
            serde_json::from_str::<Value>(&text).unwrap()
        }
    };
    let a = consult(alpha.clone()).await;
    assert_eq!(a["recalled"], false);
    let id = a["insight_id"].as_str().unwrap().to_owned();
    let stored = f.store.insight(&id).unwrap().unwrap();
    assert_eq!(stored.namespace.as_deref(), Some("team-a"));

    // Beta neither reads, lists, rates nor recalls alpha's insight.
    let (status, _, _) =
        call(&f.router, "GET", &format!("/v1/insights/{id}"), Some(&beta), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(
        &f.router,
        "GET",
        &format!("/v1/runs/{}", a["run_id"].as_str().unwrap()),
        Some(&beta),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, list) = call(&f.router, "GET", "/v1/insights?q=add", Some(&beta), None).await;
    assert!(!list.contains(&id), "{list}");
    let outcome = json!({"id": id, "passed": false});
    let (status, _, _) =
        call(&f.router, "POST", "/v1/aimos/outcomes", Some(&beta), Some(outcome)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let b = consult(beta.clone()).await;
    assert_ne!(b["insight_id"], a["insight_id"], "beta paid for its own");
    // Alpha reads its own.
    let (status, _, _) =
        call(&f.router, "GET", &format!("/v1/insights/{id}"), Some(&alpha), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(f.store.insight(&id).unwrap().unwrap().failed, 0, "beta's outcome was refused");
}
