//! The dashboard's pages and JSON in process, over a real SQLite store filled by hand: what
//! each page shows, who may see it, bad input, and escaping. The browser test of the same
//! pages over real runs is in aimos-cli's tests.

use std::net::SocketAddr;
use std::sync::Arc;

use aimos_core::{Insight, RunRecord, Store};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

const SCRIPT: &str = "<script>alert(1)</script>";

fn insight(id: &str, problem: &str, namespace: Option<&str>) -> Insight {
    serde_json::from_value(json!({
        "id": id,
        "fingerprint": format!("fp-{id}"),
        "problem": problem,
        "brief": format!("Problem: {problem}\n{}", "context line\n".repeat(200)),
        "diagnosis": format!("the loop bound is off by one {SCRIPT}"),
        "plan": ["look at the bound", "use len - 1"],
        "key_facts": ["items has len elements"],
        "pitfalls": [],
        "confidence": 0.8,
        "reasoning": "the index equals the length",
        "smart_model": "local:qwen2.5-coder-1.5b",
        "cost": {"usd": 0.0001},
        "created_at": "2026-11-27T10:00:00.000Z",
        "applied": 1,
        "succeeded": 0,
        "failed": 0,
        "namespace": namespace,
    }))
    .unwrap()
}

fn run(
    id: &str,
    strategy: &str,
    created_at: &str,
    insight_id: Option<&str>,
    key: Option<&str>,
) -> RunRecord {
    serde_json::from_value(json!({
        "id": id,
        "created_at": created_at,
        "strategy": strategy,
        "reason": "chosen by the caller",
        "task_digest": "digest",
        "problem": format!("peek() panics {SCRIPT}"),
        "status": "succeeded",
        "result": "fixed",
        "error": null,
        "insight_id": insight_id,
        "cost": {"usd": 0.0002},
        "counterfactual": {
            "model": "local:qwen2.5-coder-1.5b",
            "cost": {"usd": 0.001},
            "prompt_tokens": 900,
            "completion_tokens": 100,
            "latency_ms": 20000.0,
            "latency_measured": false
        },
        "savings": 0.8,
        "latency_ms": 9000.0,
        "steps": [
            {"kind": "distill", "model": null, "prompt_tokens": 0, "completion_tokens": 0,
             "cost": {"usd": 0.0}, "latency_ms": 20.0, "prompt_digest": "d",
             "note": format!("brief of 200 tokens; {}", "a long note ".repeat(60))},
            {"kind": "execute", "model": "local:qwen2.5-coder-0.5b", "prompt_tokens": 700,
             "completion_tokens": 50, "cost": {"usd": 0.0002}, "latency_ms": 8000.0,
             "prompt_digest": "e", "note": null}
        ],
        "verified": strategy == "cheap",
        "attribution": {"key": key},
    }))
    .unwrap()
}

struct Dash {
    router: Router,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

fn dashboard() -> Dash {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(aimos_store::SqliteStore::open(&dir.path().join("aimos.db")).unwrap());
    store
        .put_insight(&insight("i-shared", &format!("why does peek panic {SCRIPT}"), None))
        .unwrap();
    store.put_insight(&insight("i-team-b", "team b's secret problem", Some("team-b"))).unwrap();
    store
        .record_run(&run(
            "r1",
            "consult",
            "2026-11-27T10:00:01.000Z",
            Some("i-shared"),
            Some("alpha"),
        ))
        .unwrap();
    store.record_run(&run("r2", "cheap", "2026-11-28T09:00:00.000Z", None, None)).unwrap();
    store
        .record_run(&run(
            "r3",
            "consult",
            "2026-11-28T09:30:00.000Z",
            Some("i-team-b"),
            Some("beta"),
        ))
        .unwrap();
    let evals = vec![
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../eval-results/bugfix-heldout"),
        dir.path().join("not-an-eval"),
    ];
    let router =
        aimos_gateway::ui::router(Arc::clone(&store), aimos_gateway::ui::Settings { evals });
    Dash { router, store, _dir: dir }
}

/// A request from `peer` naming `host`, with `headers`.
async fn get_from(
    router: &Router,
    uri: &str,
    peer: &str,
    host: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut request = Request::builder().uri(uri).header("host", host);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(Body::empty()).unwrap();
    request.extensions_mut().insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    send(router, request).await
}

async fn send(
    router: &Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}

/// What a page says, its HTML entities read back.
fn text(html: &str) -> String {
    html.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&#x60;", "`")
        .replace("&amp;", "&")
}

/// A request from this machine, as a browser on it sends one.
async fn local(router: &Router, uri: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    get_from(router, uri, "127.0.0.1:50000", "127.0.0.1:8090", &[]).await
}

#[tokio::test]
async fn every_page_answers_on_this_machine_and_shows_model_text_as_text() {
    let d = dashboard();
    for uri in [
        "/ui",
        "/ui/runs",
        "/ui/runs/r1",
        "/ui/runs/r2",
        "/ui/insights",
        "/ui/insights/i-shared",
        "/ui/calibration",
        "/ui/keys",
        "/ui/evals",
    ] {
        let (status, headers, body) = local(&d.router, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        assert!(
            headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'")
        );
        assert!(!body.contains(SCRIPT), "{uri} holds raw model text: {body}");
        assert!(!body.contains("<script"), "{uri} runs a script");
    }
    let (_, _, insight) = local(&d.router, "/ui/insights/i-shared").await;
    assert!(insight.contains("&lt;script&gt;") && text(&insight).contains(SCRIPT), "{insight}");
    // A long brief shows its start, and the rest behind a disclosure.
    assert!(insight.contains("Show all"), "{insight}");
    let (_, _, run) = local(&d.router, "/ui/runs/r1").await;
    assert!(run.contains("Show all") && run.contains("class=\"bar\""), "{run}");
    assert!(run.contains("/ui/insights/i-shared"), "the run links its insight");
    assert!(insight.contains("/ui/runs/r1"), "the insight lists the runs that followed it");
    // Every page's JSON twin.
    for uri in
        ["/ui/api/runs", "/ui/api/insights", "/ui/api/calibration", "/ui/api/keys", "/ui/api/evals"]
    {
        let (status, headers, body) = local(&d.router, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        assert_eq!(headers["content-type"], "application/json", "{uri}");
        serde_json::from_str::<Value>(&body).unwrap();
    }
}

#[tokio::test]
async fn the_overview_and_filters_agree_with_the_store() {
    let d = dashboard();
    let (_, _, body) = local(&d.router, "/ui/api/overview").await;
    let overview: Value = serde_json::from_str(&body).unwrap();
    let stats = serde_json::to_value(d.store.stats().unwrap()).unwrap();
    for field in ["total", "by_day", "by_model", "exposure"] {
        assert_eq!(overview[field], stats[field], "{field}");
    }
    assert_eq!(overview["total"]["runs"], 3);
    assert_eq!(overview["sample_runs"], 3);
    let strategies: Vec<(&str, u64)> = overview["by_strategy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["strategy"].as_str().unwrap(), s["runs"].as_u64().unwrap()))
        .collect();
    assert_eq!(strategies, [("cheap", 1), ("consult", 2)]);
    let (_, _, page) = local(&d.router, "/ui").await;
    assert!(page.contains(r#"data-figure="runs">3<"#), "{page}");
    assert!(page.contains(r#"data-figure="cost">$0.000600<"#), "{page}");

    let ids = |body: &str| -> Vec<String> {
        let page: Value = serde_json::from_str(body).unwrap();
        page["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for (query, want) in [
        ("", vec!["r3", "r2", "r1"]),
        ("?strategy=cheap", vec!["r2"]),
        ("?key=alpha", vec!["r1"]),
        ("?insight=i-shared", vec!["r1"]),
        ("?verdict=passed", vec!["r2"]),
        ("?model=local%3Aqwen2.5-coder-0.5b&since=2026-11-28", vec!["r3", "r2"]),
        ("?until=2026-11-28&strategy=", vec!["r1"]),
        ("?page=1", vec![]),
    ] {
        let (status, _, body) = local(&d.router, &format!("/ui/api/runs{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(ids(&body), want, "{query}");
    }
}

#[tokio::test]
async fn bad_input_gets_a_page_that_says_what_to_do() {
    let d = dashboard();
    for (uri, status, says) in [
        ("/ui/runs/no-such-run", StatusCode::NOT_FOUND, "no run `no-such-run`"),
        ("/ui/insights/nope", StatusCode::NOT_FOUND, "no insight `nope`"),
        ("/ui/nothing/here", StatusCode::NOT_FOUND, "the dashboard starts at /ui"),
        ("/ui/runs?verdict=maybe", StatusCode::BAD_REQUEST, "use passed, failed or unjudged"),
        ("/ui/runs?strategy=fastest", StatusCode::BAD_REQUEST, "no strategy `fastest`; use one of"),
        ("/ui/runs?since=yesterday", StatusCode::BAD_REQUEST, "must be a date like 2026-11-28"),
        ("/ui/runs?page=-1", StatusCode::BAD_REQUEST, "`page` must be a page number"),
        ("/ui/insights?page=x", StatusCode::BAD_REQUEST, "`page` must be a page number"),
        ("/ui/evals/7/quality-cost.svg", StatusCode::NOT_FOUND, "no eval `7`"),
    ] {
        let (got, headers, body) = local(&d.router, uri).await;
        assert_eq!(got, status, "{uri}: {body}");
        assert!(text(&body).contains(says), "{uri}: {body}");
        assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"), "{uri}");
    }
    let (status, _, body) = local(&d.router, "/ui/api/runs/no-such-run").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(serde_json::from_str::<Value>(&body).unwrap()["error"]["message"].is_string());
    // A folder that is not an eval says so on the evals page; a real one shows its table and plot.
    let (_, _, evals) = local(&d.router, "/ui/evals").await;
    assert!(text(&evals).contains("is this an `aimos eval --out` folder?"), "{evals}");
    assert!(evals.contains("/ui/evals/0/quality-cost.svg"), "{evals}");
    let (status, headers, svg) = local(&d.router, "/ui/evals/0/quality-cost.svg").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/svg+xml");
    assert!(svg.contains("<svg"));
}

#[tokio::test]
async fn without_keys_only_this_machine_gets_in_and_with_keys_only_admins() {
    let d = dashboard();
    // No keys: loopback, naming this machine.
    let (status, _, body) =
        get_from(&d.router, "/ui", "10.0.0.5:50000", "10.0.0.1:8090", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(text(&body).contains("--admin"), "{body}");
    let (status, _, _) =
        get_from(&d.router, "/ui", "127.0.0.1:50000", "attacker.example:8090", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a page elsewhere must not reach it through DNS");
    let (status, _, _) = get_from(&d.router, "/ui", "[::1]:50000", "localhost:8090", &[]).await;
    assert_eq!(status, StatusCode::OK);

    // Keys: an admin key, as a bearer token or the login's cookie.
    let (_, user) = aimos_gateway::keys::create(&*d.store, "user", None, None).unwrap();
    let (_, admin) =
        aimos_gateway::keys::create_in(&*d.store, "root", None, None, None, true).unwrap();
    let (_, team_a) =
        aimos_gateway::keys::create_in(&*d.store, "team-a-admin", None, None, Some("team-a"), true)
            .unwrap();
    let (status, headers, _) = local(&d.router, "/ui/runs").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/ui/login?next=/ui/runs");
    let (status, _, _) = local(&d.router, "/ui/api/runs").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let bearer = |secret: &str| format!("Bearer {secret}");
    let (status, _, body) = get_from(
        &d.router,
        "/ui/api/runs",
        "127.0.0.1:1",
        "localhost",
        &[("authorization", &bearer(&user))],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(text(&body).contains("not an admin key"), "{body}");
    let (status, _, _) = get_from(
        &d.router,
        "/ui/api/runs",
        "10.0.0.5:1",
        "aimos.internal",
        &[("authorization", &bearer(&admin))],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "an admin key works from anywhere");

    // A key never sees another namespace's insights: not listed, not by id, not on a run.
    let as_team_a = [("authorization", bearer(&team_a))];
    let as_team_a: Vec<(&str, &str)> = as_team_a.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_, _, list) = get_from(&d.router, "/ui/api/insights", "10.0.0.5:1", "h", &as_team_a).await;
    let list: Value = serde_json::from_str(&list).unwrap();
    let ids: Vec<&str> =
        list["insights"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["i-shared"]);
    let (status, _, _) =
        get_from(&d.router, "/ui/insights/i-team-b", "10.0.0.5:1", "h", &as_team_a).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, run) = get_from(&d.router, "/ui/api/runs/r3", "10.0.0.5:1", "h", &as_team_a).await;
    assert!(serde_json::from_str::<Value>(&run).unwrap()["insight"].is_null(), "{run}");
    assert!(!run.contains("secret problem"), "{run}");

    // Logging in with the form sets a cookie that opens the pages; a wrong key does not.
    let login = |secret: &str, origin: &str| {
        Request::builder()
            .method("POST")
            .uri("/ui/login")
            .header("host", "127.0.0.1:8090")
            .header("origin", origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!("key={secret}&next=%2Fui%2Fkeys")))
            .unwrap()
    };
    let (status, _, body) = send(&d.router, login("wrong", "http://127.0.0.1:8090")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _, _) = send(&d.router, login(&admin, "http://evil.example")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a login posted from another site");
    let (status, headers, _) = send(&d.router, login(&admin, "http://127.0.0.1:8090")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/ui/keys");
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let (status, _, keys) =
        get_from(&d.router, "/ui/keys", "10.0.0.5:1", "h", &[("cookie", &cookie)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(keys.contains("root") && keys.contains("team-a-admin"), "{keys}");
    assert!(aimos_gateway::keys::create(&*d.store, "x", None, None).is_ok());
    assert!(d.store.revoke_key("root").unwrap());
    let (status, _, _) =
        get_from(&d.router, "/ui/keys", "10.0.0.5:1", "h", &[("cookie", &cookie)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "a revoked key's cookie no longer opens the pages");
}

#[tokio::test]
async fn feedback_by_form_is_recorded_once_and_only_from_the_dashboard() {
    let d = dashboard();
    let post = |origin: &str, body: &str| {
        let mut request = Request::builder()
            .method("POST")
            .uri("/ui/insights/i-shared/feedback")
            .header("host", "127.0.0.1:8090")
            .header("origin", origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body.to_owned()))
            .unwrap();
        request.extensions_mut().insert(ConnectInfo("127.0.0.1:5".parse::<SocketAddr>().unwrap()));
        request
    };
    let (status, _, _) = send(&d.router, post("http://evil.example", "worked=no")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, body) = send(&d.router, post("http://127.0.0.1:8090", "worked=perhaps")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(d.store.insight("i-shared").unwrap().unwrap().failed, 0, "nothing recorded yet");
    let (status, headers, _) =
        send(&d.router, post("http://127.0.0.1:8090", "worked=no&note=did+not+apply")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/ui/insights/i-shared?recorded=1#outcomes");
    let insight = d.store.insight("i-shared").unwrap().unwrap();
    assert_eq!((insight.succeeded, insight.failed), (0, 1));
    let outcome = d.store.outcome_points(10).unwrap();
    assert_eq!((outcome[0].source.as_str(), outcome[0].passed), ("user", false));
    let (_, _, page) = local(&d.router, "/ui/insights/i-shared?recorded=1").await;
    assert!(text(&page).contains("Your feedback was recorded."), "{page}");
    assert!(page.contains(r#"data-figure="failed">1<"#), "{page}");
}
