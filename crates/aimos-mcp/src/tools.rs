//! The tools: their definitions and what each call does.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aimos_context::{DistillOptions, Document, Index, ingest};
use aimos_core::pipeline::EditOptions;
use aimos_core::{CommandVerifier, Pipeline, Strategy, Task, Verifier, error_chain};
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::Settings;
use crate::args;
use crate::paths::{Resolved, relative};

/// Every tool's name, in the order they are listed.
pub const TOOL_NAMES: [&str; 5] =
    ["consult", "distill", "fix", "search_insights", "record_outcome"];

/// The tools as a client lists them.
pub fn definitions(settings: &Settings) -> Vec<Tool> {
    let tool = |name: &'static str, title: &str, description: String| {
        Tool::new(name, description, JsonObject::new()).with_title(title)
    };
    let fix_test = if settings.commands {
        ""
    } else {
        " This server runs no commands: `test` is refused, and patches come back unchecked."
    };
    vec![
        tool(
            "consult",
            "Consult the smart model",
            "Ask a smart model for advice on a problem, as a consultant: it reads a short brief \
             (the problem, a map of the named files and their most relevant excerpts), never \
             the files whole, and answers with a diagnosis, a plan, key facts, pitfalls and \
             its confidence. You carry out the plan. A stored insight for a matching problem \
             stands in when its record is good (`recalled` is then true and nothing is paid). \
             Returns the insight, its id, the run's id and what it cost; report how it went \
             with `record_outcome`."
                .into(),
        )
        .with_input_schema::<args::Consult>()
        .annotate(ToolAnnotations::new().read_only(false).destructive(false).open_world(true)),
        tool(
            "distill",
            "Show the brief",
            "The brief `consult` would send to the smart model for this problem and these \
             paths: the problem, a map of the files and the most relevant excerpts within the \
             token budget, secrets replaced by placeholders when the smart model is remote. \
             Calls no model and stores nothing."
                .into(),
        )
        .with_input_schema::<args::Distill>()
        .annotate(ToolAnnotations::new().read_only(true).idempotent(true).open_world(false)),
        tool(
            "fix",
            "Write a checked patch",
            format!(
                "Have aimos's models fix a problem in the named files: they write edits in a \
                 scratch copy, `test` checks each try there, and the result is a unified diff \
                 (`git apply` takes it in the root) with the check's verdict. Your files are \
                 never changed: apply the patch yourself if you want it. Slow on local models \
                 (minutes).{fix_test}"
            ),
        )
        .with_input_schema::<args::Fix>()
        .annotate(ToolAnnotations::new().read_only(false).destructive(false).open_world(true)),
        tool(
            "search_insights",
            "Search stored insights",
            "Stored advice from earlier consultations, newest first or by words in the problem, \
             diagnosis and key facts, with how often each worked. Calls no model."
                .into(),
        )
        .with_input_schema::<args::SearchInsights>()
        .annotate(ToolAnnotations::new().read_only(true).idempotent(true).open_world(false)),
        tool(
            "record_outcome",
            "Record whether advice worked",
            "Record whether following an insight (or applying a fix's patch) solved the \
             problem. Outcomes decide which stored advice is reused, retire advice that keeps \
             failing, and calibrate the smart model's confidence."
                .into(),
        )
        .with_input_schema::<args::RecordOutcome>()
        .annotate(ToolAnnotations::new().read_only(false).destructive(false).open_world(false)),
    ]
}

/// Who makes a call: whose spend its runs are, and the insight namespace it works in.
#[derive(Debug, Default)]
pub struct Who {
    pub attribution: aimos_core::Attribution,
    pub namespace: Option<String>,
}

/// Runs one call of a known tool; every failure becomes a tool result with `isError` set.
pub async fn call(
    pipeline: &Pipeline,
    settings: &Settings,
    name: &str,
    arguments: JsonObject,
    who: Who,
) -> CallToolResult {
    let outcome = async {
        match name {
            "consult" => consult(pipeline, settings, parse(name, arguments)?, who).await,
            "distill" => distill_brief(pipeline, settings, parse(name, arguments)?).await,
            "fix" => fix(pipeline, settings, parse(name, arguments)?, who).await,
            "search_insights" => search(pipeline, parse(name, arguments)?, who.namespace).await,
            "record_outcome" => {
                record_outcome(pipeline, parse(name, arguments)?, who.namespace).await
            }
            _ => Err(format!("unknown tool `{name}`")),
        }
    }
    .await;
    match outcome {
        Ok(value) => CallToolResult::structured(value),
        Err(message) => CallToolResult::error(vec![ContentBlock::text(message)]),
    }
}

/// The arguments as `T`, or a sentence naming the argument that is wrong.
fn parse<T: DeserializeOwned>(tool: &str, arguments: JsonObject) -> Result<T, String> {
    serde_path_to_error::deserialize(Value::Object(arguments)).map_err(|err| {
        let at = err.path().to_string();
        let inner = err.into_inner();
        if at == "." || at.is_empty() {
            format!("invalid arguments for `{tool}`: {inner}")
        } else {
            format!("invalid argument `{at}` for `{tool}`: {inner}")
        }
    })
}

/// The task's documents: the named paths (named relative to their root) and the text context.
fn material(
    settings: &Settings,
    paths: &[String],
    context: Option<String>,
) -> Result<(Vec<Document>, Vec<Value>), String> {
    let resolved =
        paths.iter().map(|p| settings.roots.resolve(p)).collect::<Result<Vec<_>, _>>()?;
    read(settings, paths, &resolved, context)
}

/// The documents of `resolved` (the caller's `paths`, resolved), each named relative to its
/// root, with the text context last.
fn read(
    settings: &Settings,
    paths: &[String],
    resolved: &[Resolved],
    context: Option<String>,
) -> Result<(Vec<Document>, Vec<Value>), String> {
    let mut documents = Vec::new();
    let mut skipped = Vec::new();
    for (given, resolved) in paths.iter().zip(resolved) {
        let read = ingest(std::slice::from_ref(&resolved.path), settings.limits)
            .map_err(|err| format!("reading `{given}`: {err}"))?;
        let name = |path: &str| relative(std::path::Path::new(path), &resolved.root);
        for mut doc in read.documents {
            doc.path = name(&doc.path);
            documents.push(doc);
        }
        for skip in read.skipped {
            skipped.push(json!({"path": name(&skip.path), "reason": skip.reason}));
        }
    }
    if let Some(text) = context.filter(|t| !t.trim().is_empty()) {
        check_context_size(settings, &text)?;
        documents.push(Document { path: "context.txt".into(), text });
    }
    Ok((documents, skipped))
}

fn check_context_size(settings: &Settings, text: &str) -> Result<(), String> {
    if text.len() > settings.max_context_bytes {
        return Err(format!(
            "`context` holds {} bytes, over this server's limit of {}; put the material in a \
             file under the root and name it in `paths`, where aimos reads what is relevant",
            text.len(),
            settings.max_context_bytes
        ));
    }
    Ok(())
}

fn budget(settings: &Settings, asked: Option<u32>) -> Result<usize, String> {
    match asked {
        None => Ok(settings.run.brief_budget),
        Some(b) if (64..=32768).contains(&b) => Ok(b as usize),
        Some(b) => Err(format!("`budget` {b} is out of range; give 64 to 32768 tokens")),
    }
}

fn problem(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("`problem` is empty; say what goes wrong, with the error output".into());
    }
    Ok(text.to_owned())
}

async fn consult(
    pipeline: &Pipeline,
    settings: &Settings,
    args: args::Consult,
    who: Who,
) -> Result<Value, String> {
    let problem = problem(&args.problem)?;
    let (context, skipped) = material(settings, &args.paths, args.context)?;
    let mut options = settings.run.clone();
    options.brief_budget = budget(settings, args.budget)?;
    options.attribution = who.attribution;
    options.namespace = who.namespace;
    if args.reuse == Some(false) {
        options.reuse.check = aimos_core::ReuseCheck::Never;
    }
    let task = Task { problem, context };
    let advice = pipeline.advise(&task, &options).await.map_err(|err| error_chain(&err))?;
    let mut out = advice.to_json();
    out["skipped"] = Value::Array(skipped);
    out["next"] = json!(
        "Follow the plan; then call record_outcome with this insight_id and whether it worked."
    );
    Ok(out)
}

async fn distill_brief(
    pipeline: &Pipeline,
    settings: &Settings,
    args: args::Distill,
) -> Result<Value, String> {
    let problem = problem(&args.problem)?;
    let budget = budget(settings, args.budget)?;
    let (documents, skipped) = material(settings, &args.paths, args.context)?;
    let smart = Arc::clone(&pipeline.smart);
    let redact = settings.run.redact.applies(smart.info().external);
    let embedder = settings.run.embedder.clone();
    let brief = tokio::task::spawn_blocking(move || {
        let index = Index::from_documents(&documents);
        let counter = |text: &str| {
            smart.count_tokens(text).unwrap_or_else(|| aimos_context::count_tokens(text))
        };
        let brief = aimos_context::distill_dense(
            &problem,
            &aimos_context::Hints::default(),
            &index,
            &DistillOptions { budget, redact },
            &counter,
            embedder.as_deref().map(aimos_context::Rerank::new),
        );
        (brief, index.files().len())
    })
    .await
    .map_err(|err| format!("distilling stopped unexpectedly: {err}"))?;
    let (brief, files) = brief;
    let evidence: Vec<Value> = brief
        .evidence
        .iter()
        .map(|e| json!({"path": e.path, "start_line": e.start_line, "end_line": e.end_line}))
        .collect();
    Ok(json!({
        "brief": brief.render(),
        "tokens": brief.tokens,
        "budget": budget,
        "context_tokens": brief.context_tokens,
        "files": files,
        "excerpts": evidence,
        "redactions": brief.redactions.count(),
        "smart_model": pipeline.smart.info().id,
        "skipped": skipped,
    }))
}

async fn fix(
    pipeline: &Pipeline,
    settings: &Settings,
    args: args::Fix,
    who: Who,
) -> Result<Value, String> {
    let mut problem = problem(&args.problem)?;
    if args.paths.is_empty() {
        return Err("`paths` is empty: name the files or folders the fix may change".into());
    }
    if let Some(text) = args.context.filter(|t| !t.trim().is_empty()) {
        check_context_size(settings, &text)?;
        problem = format!("{}\n\n{}", problem.trim_end(), text.trim_end());
    }
    let test = args.test.filter(|t| !t.trim().is_empty());
    if test.is_some() && !settings.commands {
        return Err("this server runs no commands, so `test` is refused; leave it out for an \
                    unchecked patch"
            .into());
    }
    let strategy = match (args.strategy, &test) {
        (Some(s), _) => s.strategy(),
        (None, Some(_)) => Strategy::Cascade,
        (None, None) => Strategy::Consult,
    };
    if strategy == Strategy::Cascade && test.is_none() {
        return Err("the cascade strategy escalates when `test` fails: give `test`, or another \
                    strategy"
            .into());
    }
    let attempts = args.attempts.unwrap_or(2);
    if !(1..=10).contains(&attempts) {
        return Err(format!("`attempts` {attempts} is out of range; give 1 to 10"));
    }
    let resolved =
        args.paths.iter().map(|p| settings.roots.resolve(p)).collect::<Result<Vec<_>, _>>()?;
    let cwd = resolved[0].root.clone();
    if resolved.iter().any(|r| r.root != cwd) {
        return Err("`paths` lie under different roots; a fix works in one".into());
    }
    let (context, skipped) = read(settings, &args.paths, &resolved, None)?;
    let roots: Vec<PathBuf> = resolved.into_iter().map(|r| r.path).collect();
    let verifier = test.map(|command| {
        Arc::new(CommandVerifier {
            command,
            timeout: Duration::from_secs(args.test_timeout.unwrap_or(300).clamp(1, 3600)),
            dir: None,
        }) as Arc<dyn Verifier>
    });
    let options = aimos_core::RunOptions {
        strategy,
        verifier,
        edit: Some(EditOptions { roots, cwd, attempts, check_first: true }),
        attribution: who.attribution,
        namespace: who.namespace,
        ..settings.run.clone()
    };
    let task = Task { problem, context };
    let run = pipeline.run(&task, &options).await.map_err(|err| error_chain(&err))?;
    let steps: Vec<Value> = run
        .steps
        .iter()
        .map(|s| json!({"kind": s.kind, "model": s.model, "note": s.note}))
        .collect();
    Ok(json!({
        "run_id": run.id,
        "strategy": run.strategy,
        "patch": run.patch,
        "files_changed": run.files_changed,
        "verified": run.verified,
        "insight_id": run.insight_id,
        "steps": steps,
        "cost": run.spend_json(),
        "skipped": skipped,
        "applied": false,
        "next": if run.verified == Some(true) {
            "The check passed in a scratch copy. Apply the patch with `git apply` if you want it."
        } else {
            "The patch was not checked, or its check failed: read the steps before using it."
        },
    }))
}

async fn search(
    pipeline: &Pipeline,
    args: args::SearchInsights,
    namespace: Option<String>,
) -> Result<Value, String> {
    let limit = args.limit.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(format!("`limit` {limit} is out of range; give 1 to 100"));
    }
    let query = args.query.filter(|q| !q.trim().is_empty());
    let store = Arc::clone(&pipeline.store);
    let found =
        tokio::task::spawn_blocking(move || store.insights(query.as_deref(), limit as usize, 0))
            .await
            .map_err(|err| format!("searching stopped unexpectedly: {err}"))?
            .map_err(|err| error_chain(&err))?;
    let insights: Vec<Value> = found
        .iter()
        .filter(|i| i.visible_to(namespace.as_deref()))
        .map(|i| {
            json!({
                "insight_id": i.id,
                "problem": shorten(&i.problem, 400),
                "diagnosis": i.draft.diagnosis,
                "plan": i.draft.plan,
                "key_facts": i.draft.key_facts,
                "pitfalls": i.draft.pitfalls,
                "confidence": i.draft.confidence,
                "succeeded": i.succeeded,
                "failed": i.failed,
                "smart_model": i.smart_model,
                "created_at": i.created_at,
                "retired": i.invalidated.as_ref().map(|v| &v.reason),
            })
        })
        .collect();
    Ok(json!({ "insights": insights }))
}

async fn record_outcome(
    pipeline: &Pipeline,
    args: args::RecordOutcome,
    namespace: Option<String>,
) -> Result<Value, String> {
    let id = args.id.trim().to_owned();
    if id.is_empty() {
        return Err("`id` is empty; give the insight_id or run_id that consult returned".into());
    }
    let store = Arc::clone(&pipeline.store);
    let passed = args.passed;
    let note = args.note.filter(|n| !n.trim().is_empty());
    tokio::task::spawn_blocking(move || {
        // An insight of another namespace is as good as absent.
        let insight_id = match store.run(&id).map_err(|err| error_chain(&err))? {
            Some(run) => run.insight_id,
            None => Some(id.clone()),
        };
        if let Some(insight_id) = insight_id
            && let Some(insight) = store.insight(&insight_id).map_err(|err| error_chain(&err))?
            && !insight.visible_to(namespace.as_deref())
        {
            return Err(format!("no insight or run has the id `{id}`"));
        }
        let recorded = aimos_core::reuse::record_feedback(&*store, &id, passed, note, "mcp")
            .map_err(|err| error_chain(&err))?;
        let insight = &recorded.insight;
        Ok(json!({
            "insight_id": insight.id,
            "run_id": recorded.run_id,
            "passed": passed,
            "succeeded": insight.succeeded,
            "failed": insight.failed,
            "retired": recorded.retired.iter().map(|(id, why)| json!({"insight_id": id, "reason": why})).collect::<Vec<_>>(),
        }))
    })
    .await
    .map_err(|err| format!("recording stopped unexpectedly: {err}"))?
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}
