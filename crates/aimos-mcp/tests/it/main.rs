//! The tools through the protocol, with rmcp's client on one end of an in-memory pipe. The
//! models are test doubles (`ScriptedModel`): these tests cover the server's logic; the real
//! model and the official Python SDK over stdio are in the CLI's tests.

use std::sync::Arc;

use aimos_core::testing::{MemoryStore, ScriptedModel};
use aimos_core::{Pipeline, Store};
use aimos_mcp::{AimosTools, Roots, Settings, TOOL_NAMES};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use rmcp::{ServiceError, ServiceExt};
use serde_json::{Value, json};

const GOOD: &str = r#"{"diagnosis":"total() skips the last item: the loop stops one early","plan":["loop over every item"],"key_facts":["range(len(items) - 1)"],"pitfalls":[],"confidence":0.8,"reasoning":"the test expects 6 and gets 3"}"#;

struct Harness {
    client: RunningService<RoleClient, ()>,
    store: Arc<MemoryStore>,
    smart: Arc<ScriptedModel>,
    _dir: tempfile::TempDir,
}

async fn start(answers: &[&str], tweak: impl FnOnce(&mut Settings)) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("project");
    std::fs::create_dir_all(&root).expect("mkdir");
    std::fs::write(
        root.join("cart.py"),
        "def total(items):\n    s = 0\n    for i in range(len(items) - 1):\n        s += items[i]\n    return s\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("outside.txt"), "not for the server").expect("write");
    let smart = ScriptedModel::new("smart", 3.0, answers);
    let store = Arc::new(MemoryStore::default());
    let pipeline = Pipeline {
        smart: smart.clone(),
        cheap: ScriptedModel::new("cheap", 0.1, &[]),
        store: store.clone(),
    };
    let mut settings = Settings::new(Roots::new(&[root]).expect("roots"));
    tweak(&mut settings);
    let tools = AimosTools::new(pipeline, settings);
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        if let Ok(service) = tools.serve(server_io).await {
            let _ = service.waiting().await;
        }
    });
    let client = ().serve(client_io).await.expect("client connects");
    Harness { client, store, smart, _dir: dir }
}

async fn call(h: &Harness, name: &str, args: Value) -> Result<CallToolResult, ServiceError> {
    let Value::Object(args) = args else { unreachable!("arguments are an object") };
    h.client.call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(args)).await
}

fn text(result: &CallToolResult) -> String {
    result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tools_are_listed_with_schemas_a_model_can_act_on() {
    let h = start(&[], |_| {}).await;
    let tools = h.client.list_all_tools().await.expect("list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, TOOL_NAMES);
    for tool in &tools {
        assert!(tool.description.as_deref().is_some_and(|d| d.len() > 80), "{}", tool.name);
        let schema = tool.schema_as_json_value();
        let properties = schema["properties"].as_object().expect("properties");
        for (name, property) in properties {
            let described = property.get("description").and_then(Value::as_str).unwrap_or("");
            assert!(described.len() > 20, "{}.{name} has no description: {property}", tool.name);
        }
        assert_eq!(schema["additionalProperties"], json!(false), "{}", tool.name);
    }
    let consult = &tools[0].schema_as_json_value();
    assert_eq!(consult["required"], json!(["problem"]));
    let fix = &tools[2].schema_as_json_value();
    assert!(fix["properties"]["strategy"].to_string().contains("cascade"), "{fix}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consult_returns_the_insight_then_recalls_it_and_an_outcome_is_recorded() {
    let h = start(&[GOOD], |s| s.run.reuse.check = aimos_core::ReuseCheck::Off).await;
    let problem = "test_total fails: expected 6, got 3";
    let args = json!({"problem": problem, "paths": ["cart.py"], "budget": 256});
    let first = call(&h, "consult", args.clone()).await.expect("consult");
    assert_eq!(first.is_error, Some(false), "{}", text(&first));
    let out = first.structured_content.clone().expect("structured");
    assert_eq!(out["recalled"], json!(false));
    assert_eq!(out["diagnosis"], json!("total() skips the last item: the loop stops one early"));
    assert!(out["cost"]["usd"].as_f64().expect("usd") > 0.0, "{out}");
    // What the smart model read: the brief, with the named file's text and its path.
    let asked = h.smart.requests.lock().expect("lock")[0].messages[1].content.clone();
    assert!(asked.contains("cart.py") && asked.contains("range(len(items) - 1)"), "{asked}");
    // The text content carries the same JSON for clients that read text only.
    let from_text: Value = serde_json::from_str(&text(&first)).expect("json text");
    assert_eq!(from_text, out);

    let second = call(&h, "consult", args).await.expect("consult again");
    let again = second.structured_content.expect("structured");
    assert_eq!(again["recalled"], json!(true));
    assert_eq!(again["insight_id"], out["insight_id"]);
    assert_eq!(h.smart.requests.lock().expect("lock").len(), 1, "paid once");

    let recorded = call(
        &h,
        "record_outcome",
        json!({"id": out["run_id"], "passed": true, "note": "the test passes"}),
    )
    .await
    .expect("record");
    assert_eq!(recorded.is_error, Some(false), "{}", text(&recorded));
    let insight_id = out["insight_id"].as_str().expect("id");
    let stored = h.store.insight(insight_id).expect("read").expect("stored");
    assert_eq!(stored.succeeded, 1);
    assert_eq!(h.store.outcomes.lock().expect("lock")[0].source, "mcp");

    let found = call(&h, "search_insights", json!({"query": "total"})).await.expect("search");
    let found = found.structured_content.expect("structured");
    assert_eq!(found["insights"][0]["insight_id"], out["insight_id"]);
    assert_eq!(found["insights"][0]["succeeded"], json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_clear_tool_error_and_stores_nothing() {
    let h = start(&[GOOD], |s| {
        s.max_context_bytes = 100;
        s.commands = false;
    })
    .await;
    let cases = [
        ("consult", json!({"problem": 42}), "invalid argument `problem`"),
        ("consult", json!({"problem": "x", "budget": "big"}), "invalid argument `budget`"),
        ("consult", json!({"problem": "x", "budget": 10}), "out of range"),
        ("consult", json!({"problem": "x", "pathz": ["cart.py"]}), "unknown field `pathz`"),
        ("consult", json!({"paths": ["cart.py"]}), "missing field `problem`"),
        ("consult", json!({"problem": "  "}), "`problem` is empty"),
        ("consult", json!({"problem": "x", "paths": ["../outside.txt"]}), "outside the folders"),
        ("distill", json!({"problem": "x", "paths": ["/etc/passwd"]}), "outside the folders"),
        ("consult", json!({"problem": "x", "paths": ["nope.py"]}), "does not exist"),
        (
            "consult",
            json!({"problem": "x", "context": "y".repeat(101)}),
            "over this server's limit",
        ),
        ("fix", json!({"problem": "x", "paths": []}), "`paths` is empty"),
        ("fix", json!({"problem": "x", "paths": ["cart.py"], "test": "true"}), "runs no commands"),
        (
            "fix",
            json!({"problem": "x", "paths": ["cart.py"], "strategy": "fast"}),
            "unknown variant",
        ),
        ("search_insights", json!({"limit": 0}), "out of range"),
        ("record_outcome", json!({"id": "nope", "passed": true}), "no insight or run"),
        ("record_outcome", json!({"id": "x", "passed": "yes"}), "invalid argument `passed`"),
    ];
    for (tool, args, expected) in cases {
        let result =
            call(&h, tool, args.clone()).await.expect("a tool result, not a protocol error");
        assert_eq!(result.is_error, Some(true), "{tool} {args}");
        let message = text(&result);
        assert!(message.contains(expected), "{tool} {args}: {message}");
    }
    // An unknown tool is a protocol error that names the tools.
    let err = call(&h, "consultt", json!({})).await.expect_err("unknown tool");
    let message = err.to_string();
    assert!(
        message.contains("unknown tool `consultt`") && message.contains("record_outcome"),
        "{message}"
    );
    assert!(h.smart.requests.lock().expect("lock").is_empty(), "no model was called");
    assert!(h.store.insights.lock().expect("lock").is_empty());
    assert!(h.store.runs.lock().expect("lock").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distill_returns_the_brief_and_calls_no_model() {
    let h = start(&[], |_| {}).await;
    let result = call(
        &h,
        "distill",
        json!({"problem": "test_total fails: expected 6, got 3", "paths": ["."], "context": "pytest: 1 failed"}),
    )
    .await
    .expect("distill");
    assert_eq!(result.is_error, Some(false), "{}", text(&result));
    let out = result.structured_content.expect("structured");
    let brief = out["brief"].as_str().expect("brief");
    assert!(brief.contains("cart.py"), "{brief}");
    assert!(out["tokens"].as_u64().expect("tokens") <= 1024);
    assert_eq!(out["files"], json!(2), "the file and the text context");
    assert!(h.smart.requests.lock().expect("lock").is_empty());
}

/// A test double that answers as `ScriptedModel` does, after a pause: long enough for a
/// client to go away mid-call.
struct SlowModel(Arc<ScriptedModel>);

impl aimos_core::Model for SlowModel {
    fn info(&self) -> &aimos_core::ModelInfo {
        &self.0.info
    }
    fn chat_stream(&self, request: aimos_core::ChatRequest) -> aimos_core::ChatStream {
        // The pipeline calls models off the async workers, so a pause here blocks no one.
        std::thread::sleep(std::time::Duration::from_millis(500));
        aimos_core::Model::chat_stream(&*self.0, request)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consultation_whose_client_disconnects_is_still_stored_and_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("cart.py"), "def total(items):\n    return 0\n").expect("write");
    let store = Arc::new(MemoryStore::default());
    let pipeline = Pipeline {
        smart: Arc::new(SlowModel(ScriptedModel::new("smart", 3.0, &[GOOD]))),
        cheap: ScriptedModel::new("cheap", 0.1, &[]),
        store: store.clone(),
    };
    let mut settings = Settings::new(Roots::new(&[dir.path().to_path_buf()]).expect("roots"));
    settings.run.reuse.check = aimos_core::ReuseCheck::Never;
    let tools = AimosTools::new(pipeline, settings);
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    let server = {
        let tools = tools.clone();
        tokio::spawn(async move {
            if let Ok(service) = tools.clone().serve(server_io).await {
                let _ = service.waiting().await;
            }
            // As `serve_stdio` does: wait for calls in flight before returning.
            tools.drain().await;
        })
    };
    let client = ().serve(client_io).await.expect("client connects");
    let Value::Object(args) = json!({"problem": "total() returns 0", "paths": ["cart.py"]}) else {
        unreachable!()
    };
    let call = tokio::spawn(async move {
        let request = CallToolRequestParams::new("consult").with_arguments(args);
        let _ =
            tokio::time::timeout(std::time::Duration::from_millis(150), client.call_tool(request))
                .await;
        // The client goes away mid-call.
        drop(client);
    });
    call.await.expect("client task");
    assert!(store.runs.lock().expect("lock").is_empty(), "the call was still running");
    tokio::time::timeout(std::time::Duration::from_secs(10), server).await.expect("drained").ok();
    let runs = store.runs.lock().expect("lock").clone();
    assert_eq!(runs.len(), 1, "the run was recorded");
    assert_eq!(runs[0].status, aimos_core::RunStatus::Succeeded);
    assert_eq!(store.insights.lock().expect("lock").len(), 1, "the insight was stored");
}
