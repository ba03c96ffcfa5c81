//! The phases' logic over test doubles of the model, store and verifier traits; the real
//! models run in the CLI's end-to-end tests.

use std::time::Duration;

use super::accounting::estimate;
use super::recall::CLAIM_TTL;
use super::*;
use crate::chat::ResponseFormat;
use crate::insight::{Insight, InsightDraft};
use crate::policy::Goal;
use crate::reuse;
use crate::store::Outcome;
use crate::testing::{MemoryStore, ScriptedModel, ScriptedVerifier, block_on};
use crate::verify::Verifier;

const GOOD: &str = r#"{"diagnosis":"the loop reads one past the end","plan":["change <= to <"],"key_facts":["len is 3"],"pitfalls":[],"confidence":0.8,"reasoning":"index 3 of 3"}"#;

fn task() -> Task {
    Task {
        problem: "index out of bounds: the len is 3 but the index is 3".into(),
        context: vec![Document {
            path: "src/lib.rs".into(),
            text: "for i in 0..=v.len() { v[i] }".into(),
        }],
    }
}

#[test]
fn a_run_waits_for_another_consulting_on_the_same_brief_and_recalls_its_insight() {
    // The smart model has no answer: consulting here would fail the run.
    let smart = ScriptedModel::new("smart", 3.0, &[]);
    let cheap = ScriptedModel::new("cheap", 0.1, &["use 0..v.len()"]);
    let store = Arc::new(MemoryStore::default());
    let pipeline = Pipeline { smart: smart.clone(), cheap: cheap.clone(), store: store.clone() };
    let material = Material::new(&task());
    let brief = pipeline
        .brief(
            &task().problem,
            &aimos_context::Hints::default(),
            &material,
            RunOptions::default().brief_budget,
            false,
            None,
        )
        .render();
    let key = format!("consult:{}", digest(&brief));
    // Another run (another replica, say) is consulting on the same brief.
    assert!(store.claim(&key, "other run", CLAIM_TTL).expect("claim"));
    let other = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let insight = Insight {
                id: new_id(),
                fingerprint: fingerprint(&task().problem),
                problem: task().problem,
                brief,
                draft: InsightDraft::parse(GOOD).expect("good"),
                smart_model: "smart".into(),
                cost: Cost { usd: 0.01 },
                created_at: now_rfc3339(),
                applied: 1,
                succeeded: 0,
                failed: 0,
                invalidated: None,
                namespace: None,
            };
            store.put_insight(&insight).expect("put");
            store.release(&key, "other run").expect("release");
            insight.id
        })
    };
    let record = block_on(pipeline.run(&task(), &RunOptions::default())).expect("run");
    let made = other.join().expect("other run");
    let kinds: Vec<StepKind> = record.steps.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [StepKind::Distill, StepKind::Recall, StepKind::Execute]);
    assert_eq!(record.insight_id.as_deref(), Some(made.as_str()));
    assert!(smart.requests.lock().expect("lock").is_empty(), "nobody paid twice");
    let executed = &cheap.requests.lock().expect("lock")[0];
    assert!(
        executed.messages.iter().any(|m| m.content.contains("the loop reads one past the end"))
    );
    assert!(store.claims.lock().expect("lock").is_empty(), "no claim left behind");
}

#[test]
fn a_guided_executor_reads_excerpts_when_asked_and_an_unguided_one_whole_files() {
    let mut text = String::new();
    for i in 0..300 {
        text.push_str(&format!("fn helper_{i}(v: &[u8]) -> usize {{ v.len() * {i} }}\n"));
    }
    text.push_str("fn checksum(v: &[u8]) -> u32 { for i in 0..=v.len() { v[i] } }\n");
    let task = Task {
        problem: "checksum panics: index out of bounds: the len is 3 but the index is 3".into(),
        context: vec![Document { path: "src/lib.rs".into(), text }],
    };
    let run = |strategy: Strategy, guided_context: Option<usize>| {
        let smart = ScriptedModel::new("smart", 3.0, &[GOOD]);
        let cheap = ScriptedModel::new("cheap", 0.1, &["use 0..v.len()"]);
        let pipeline =
            Pipeline { smart, cheap: cheap.clone(), store: Arc::new(MemoryStore::default()) };
        let options = RunOptions { strategy, guided_context, ..RunOptions::default() };
        let record = block_on(pipeline.run(&task, &options)).expect("run");
        let execute = record.steps.iter().find(|s| s.kind == StepKind::Execute).cloned();
        let prompt = cheap.requests.lock().expect("lock")[0].messages[1].content.clone();
        (execute.expect("an execute step"), prompt)
    };
    let (focused, prompt) = run(Strategy::Consult, Some(200));
    assert!(prompt.contains("fn checksum(v: &[u8])"), "{prompt}");
    assert!(!prompt.contains("fn helper_100("), "far from the problem: {prompt}");
    assert!(focused.context_tokens <= 200, "{}", focused.context_tokens);
    assert!(focused.note.as_deref().unwrap_or("").contains("focused: "), "{:?}", focused.note);
    // Without the option, and without an insight, the executor reads the whole file.
    let (whole, prompt) = run(Strategy::Consult, None);
    assert!(prompt.contains("fn helper_100("));
    assert!(whole.context_tokens > 5 * focused.context_tokens);
    let (alone, prompt) = run(Strategy::Cheap, Some(200));
    assert!(prompt.contains("fn helper_100("));
    assert!(alone.context_tokens >= whole.context_tokens);
}

#[test]
fn secrets_are_redacted_from_what_external_models_see_and_counted() {
    let mut smart = ScriptedModel::new("smart", 3.0, &[GOOD]);
    Arc::get_mut(&mut smart).expect("unshared").info.external = true;
    let cheap = ScriptedModel::new("cheap", 0.1, &["done", "done"]);
    let store = Arc::new(MemoryStore::default());
    let pipeline = Pipeline { smart: smart.clone(), cheap: cheap.clone(), store: store.clone() };
    let mut task = task();
    task.problem.push_str(" (the client uses AKIAIOSFODNN7EXAMPLE)");
    let record = block_on(pipeline.run(&task, &RunOptions::default())).expect("run");
    let brief = smart.requests.lock().expect("lock")[0].messages[1].content.clone();
    assert!(!brief.contains("AKIAIOSFODNN7EXAMPLE"), "{brief}");
    assert!(brief.contains("[REDACTED:aws_access_key]"), "{brief}");
    let note = record.steps[0].note.as_deref().unwrap_or_default();
    assert!(note.contains("1 secret redacted (aws_access_key ×1)"), "{note}");
    assert!(note.starts_with("brief of ") && note.contains("from 1 file"), "{note}");
    // Exposure: the consult carried the brief's excerpts of the context, out of the whole.
    let consult = &record.steps[1];
    assert!(consult.external && consult.redactions == 1, "{consult:?}");
    assert!(consult.context_tokens > 0, "{consult:?}");
    assert!(record.context_tokens > 0);
    let execute = &record.steps[2];
    assert!(!execute.external && execute.redactions == 0, "{execute:?}");
    // The embedded executor keeps the full text under the default policy...
    let executed = cheap.requests.lock().expect("lock")[0].clone();
    assert!(executed.messages.iter().any(|m| m.content.contains("AKIAIOSFODNN7EXAMPLE")));
    // ...and not under `all`.
    let options = RunOptions {
        strategy: Strategy::Cheap,
        redact: RedactPolicy::All,
        ..RunOptions::default()
    };
    let record = block_on(pipeline.run(&task, &options)).expect("run");
    let executed = cheap.requests.lock().expect("lock")[1].clone();
    assert!(!executed.messages.iter().any(|m| m.content.contains("AKIAIOSFODNN7EXAMPLE")));
    let note = record.steps.last().and_then(|s| s.note.as_deref()).unwrap_or_default();
    assert!(note.starts_with("2 secrets redacted (aws_access_key ×2)"), "{note}");
}

fn cascade(verifier: &Arc<ScriptedVerifier>) -> RunOptions {
    RunOptions {
        strategy: Strategy::Cascade,
        verifier: Some(Arc::clone(verifier) as Arc<dyn Verifier>),
        ..RunOptions::default()
    }
}

fn kinds(record: &RunRecord) -> Vec<&'static str> {
    record.steps.iter().map(|s| s.kind.as_str()).collect()
}

#[test]
fn cascade_needs_a_verifier() {
    let smart = ScriptedModel::new("smart", 3.0, &[]);
    let cheap = ScriptedModel::new("cheap", 0.1, &["x"]);
    let pipeline = Pipeline { smart, cheap, store: Arc::new(MemoryStore::default()) };
    let options = RunOptions { strategy: Strategy::Cascade, ..RunOptions::default() };
    let err = block_on(pipeline.run(&task(), &options)).expect_err("no verifier");
    assert!(matches!(err, PipelineError::NoVerifier), "{err}");
    assert!(err.to_string().contains("--verify"), "{err}");
}

#[test]
fn cascade_stops_at_the_cheap_model_when_its_result_passes() {
    let smart = ScriptedModel::new("smart", 3.0, &[]);
    let cheap = ScriptedModel::new("cheap", 0.1, &["use 0..v.len()"]);
    let store = Arc::new(MemoryStore::default());
    let pipeline = Pipeline { smart: smart.clone(), cheap, store };
    let verifier = ScriptedVerifier::new(&[true]);
    let record = block_on(pipeline.run(&task(), &cascade(&verifier))).expect("run");
    assert_eq!(kinds(&record), ["execute", "verify"]);
    assert_eq!(record.verified, Some(true));
    assert_eq!(record.result, "use 0..v.len()");
    assert!(smart.requests.lock().expect("lock").is_empty(), "the smart model is not called");
    assert!(record.steps[1].note.as_deref().is_some_and(|n| n.starts_with("passed scripted")));
}

#[test]
fn cascade_consults_with_the_failure_and_the_verdict_counts_for_the_insight() {
    let smart = ScriptedModel::new("smart", 3.0, &[GOOD]);
    let cheap = ScriptedModel::new("cheap", 0.1, &["v[v.len()]", "use 0..v.len()"]);
    let store = Arc::new(MemoryStore::default());
    let pipeline = Pipeline { smart: smart.clone(), cheap, store: store.clone() };
    let verifier = ScriptedVerifier::new(&[false, true]);
    let record = block_on(pipeline.run(&task(), &cascade(&verifier))).expect("run");
    assert_eq!(kinds(&record), ["execute", "verify", "distill", "consult", "execute", "verify"]);
    assert_eq!((record.verified, record.result.as_str()), (Some(true), "use 0..v.len()"));
    let brief = smart.requests.lock().expect("lock")[0].messages[1].content.clone();
    assert!(
        brief.contains("assertion failed: peek on []"),
        "the failure goes to the consultant: {brief}"
    );
    let outcomes = store.outcomes.lock().expect("lock");
    assert_eq!(outcomes.len(), 1);
    assert!(outcomes[0].passed && outcomes[0].source == "scripted");
    assert_eq!(Some(&outcomes[0].insight_id), record.insight_id.as_ref());
    assert_eq!(verifier.seen.lock().expect("lock").as_slice(), ["v[v.len()]", "use 0..v.len()"]);
}

#[test]
fn cascade_hands_the_task_to_the_smart_model_after_two_failures() {
    let smart = ScriptedModel::new("smart", 3.0, &[GOOD, "smart answer"]);
    let cheap = ScriptedModel::new("cheap", 0.1, &["bad", "still bad"]);
    let store = Arc::new(MemoryStore::default());
    let pipeline = Pipeline { smart: smart.clone(), cheap, store: store.clone() };
    let verifier = ScriptedVerifier::new(&[false, false, false]);
    let record = block_on(pipeline.run(&task(), &cascade(&verifier))).expect("run");
    assert_eq!(
        kinds(&record),
        ["execute", "verify", "distill", "consult", "execute", "verify", "execute", "verify"]
    );
    assert_eq!((record.verified, record.result.as_str()), (Some(false), "smart answer"));
    assert_eq!(record.steps[6].model.as_deref(), Some("smart"));
    let requests = smart.requests.lock().expect("lock");
    assert_eq!(requests.len(), 2);
    let last = &requests[1].messages[1].content;
    assert!(
        last.contains("Relevant context:")
            && last.contains("A second attempt, guided by a consultant, failed its check"),
        "{last}"
    );
    assert!(!store.outcomes.lock().expect("lock")[0].passed);
    // The whole run went to the ledger.
    assert_eq!(store.runs.lock().expect("lock")[0].steps.len(), 8);
}

#[test]
fn a_verifier_on_consult_records_the_verdict_on_the_run_and_the_insight() {
    let smart = ScriptedModel::new("smart", 3.0, &[GOOD]);
    let cheap = ScriptedModel::new("cheap", 0.1, &["use 0..v.len()"]);
    let store = Arc::new(MemoryStore::default());
    let pipeline = Pipeline { smart, cheap, store: store.clone() };
    let verifier = ScriptedVerifier::new(&[false]);
    let options =
        RunOptions { verifier: Some(verifier as Arc<dyn Verifier>), ..RunOptions::default() };
    let record = block_on(pipeline.run(&task(), &options)).expect("run");
    assert_eq!(kinds(&record), ["distill", "consult", "execute", "verify"]);
    assert_eq!(record.verified, Some(false));
    assert!(!store.outcomes.lock().expect("lock")[0].passed);
}

#[test]
fn auto_decides_before_any_call_and_shifts_as_outcomes_accumulate() {
    let smart = ScriptedModel::new("smart", 3.0, &["smart answer"]);
    let answers: Vec<&str> = std::iter::repeat_n("use 0..v.len()", 13).collect();
    let cheap = ScriptedModel::new("cheap", 0.1, &answers);
    let store = Arc::new(MemoryStore::default());
    let pipeline = Pipeline { smart: smart.clone(), cheap, store: store.clone() };
    let auto = RunOptions {
        strategy: Strategy::Auto,
        goal: Goal { target_quality: Some(0.85), max_cost: None },
        ..RunOptions::default()
    };
    // Nothing learned yet: only the smart model's prior reaches 0.85.
    let first = block_on(pipeline.run(&task(), &auto)).expect("first");
    assert_eq!(first.strategy, Strategy::Smart);
    assert_eq!(kinds(&first), ["decide", "execute"]);
    assert!(first.reason.starts_with("auto chose smart"), "{}", first.reason);
    let note = first.steps[0].note.as_deref().unwrap_or_default();
    assert!(note.contains("predicted: cheap 0.50"), "{note}");
    // Twelve verified successes of the cheap model on this kind of task…
    let verifier = ScriptedVerifier::new(&[true; 12]);
    let cheap_runs = RunOptions {
        strategy: Strategy::Cheap,
        verifier: Some(verifier as Arc<dyn Verifier>),
        ..RunOptions::default()
    };
    for _ in 0..12 {
        block_on(pipeline.run(&task(), &cheap_runs)).expect("cheap run");
    }
    // …and auto hands the task to the cheap model.
    let later = block_on(pipeline.run(&task(), &auto)).expect("later");
    assert_eq!(later.strategy, Strategy::Cheap, "{}", later.reason);
    assert_eq!(smart.requests.lock().expect("lock").len(), 1);
}

#[test]
fn a_judge_verdict_is_a_paid_step_and_a_working_insight_supersedes_a_failed_one() {
    let judge_no = r#"{"passed":false,"reason":"peek still panics"}"#;
    let judge_yes = r#"{"passed":true,"reason":"handles the empty case"}"#;
    let smart = ScriptedModel::new("smart", 3.0, &[GOOD, judge_no, GOOD, judge_yes]);
    let cheap = ScriptedModel::new("cheap", 0.1, &["wrong", "right"]);
    let store = Arc::new(MemoryStore::default());
    let pipeline = Pipeline { smart: smart.clone(), cheap, store: store.clone() };
    let judge = crate::verify::JudgeVerifier { model: smart.clone() as Arc<dyn Model> };
    let options = RunOptions {
        verifier: Some(Arc::new(judge) as Arc<dyn Verifier>),
        ..RunOptions::default()
    };
    let first = block_on(pipeline.run(&task(), &options)).expect("first");
    let verify = first.steps.last().expect("verify");
    assert_eq!(verify.kind, StepKind::Verify);
    assert_eq!(verify.model.as_deref(), Some("smart"));
    assert!(verify.cost.usd > 0.0 && verify.prompt_tokens > 0, "{verify:?}");
    assert_eq!(first.verified, Some(false));
    // The judge saw the problem and the result, not the context.
    let asked = smart.requests.lock().expect("lock")[1].messages[1].content.clone();
    assert!(asked.contains("wrong"), "{asked}");
    assert!(!asked.contains("0..=v.len()"), "the judge saw the context: {asked}");

    // The failed insight is not reused; a new one is made, works, and supersedes it.
    let second = block_on(pipeline.run(&task(), &options)).expect("second");
    assert_eq!(second.verified, Some(true));
    assert_ne!(second.insight_id, first.insight_id);
    let old = store.insight(first.insight_id.as_deref().expect("id")).expect("read");
    let reason = old.and_then(|i| i.invalidated).map(|i| i.reason).unwrap_or_default();
    assert!(reason.starts_with("superseded by insight"), "{reason}");
    let note = second.steps.last().and_then(|s| s.note.clone()).unwrap_or_default();
    assert!(note.contains("invalidated: superseded"), "{note}");
}

#[test]
fn an_insight_that_keeps_failing_leaves_recall() {
    let store = MemoryStore::default();
    let smart = ScriptedModel::new("smart", 3.0, &[GOOD]);
    let cheap = ScriptedModel::new("cheap", 0.1, &["a"]);
    let pipeline = Pipeline { smart, cheap, store: Arc::new(MemoryStore::default()) };
    let record = block_on(pipeline.run(&task(), &RunOptions::default())).expect("run");
    let insight = pipeline
        .store
        .insight(record.insight_id.as_deref().expect("id"))
        .expect("read")
        .expect("stored");
    store.put_insight(&insight).expect("put");
    let mut invalidated = Vec::new();
    for n in 1..=4 {
        let updated = store
            .record_outcome(&Outcome {
                insight_id: insight.id.clone(),
                run_id: None,
                passed: false,
                source: "user".into(),
                note: None,
                created_at: now_rfc3339(),
            })
            .expect("recorded")
            .expect("found");
        invalidated = reuse::age(&store, &updated, false).expect("aged");
        // Stated confidence 0.8 as half of a prior worth four outcomes: four failures bring
        // the estimate to 2.6 / 8 < 0.35.
        assert_eq!(invalidated.is_empty(), n < 4, "after {n} failures");
    }
    assert!(invalidated[0].1.contains("4 of 4 outcomes failed"), "{invalidated:?}");
    let stored = store.insight(&insight.id).expect("read").expect("kept for audit");
    assert!(stored.invalidated.is_some());
    assert!(
        reuse::candidates(&insight.problem, vec![stored], &ReusePolicy::default(), &[]).is_empty()
    );
}

const APPLIES: &str = r#"{"applies":true,"reason":"the same off-by-one"}"#;
const DOES_NOT_APPLY: &str = r#"{"applies":false,"reason":"a different bug"}"#;

#[test]
fn a_solved_problem_reuses_its_insight_once_the_cheap_model_confirms_it() {
    let smart = ScriptedModel::new("smart", 3.0, &[GOOD]);
    let cheap = ScriptedModel::new("cheap", 0.1, &["use 0..v.len()", APPLIES, "use 0..v.len()"]);
    let store = Arc::new(MemoryStore::default());
    let pipeline = Pipeline { smart: smart.clone(), cheap: cheap.clone(), store };
    let first = block_on(pipeline.run(&task(), &RunOptions::default())).expect("first");
    let second = block_on(pipeline.run(&task(), &RunOptions::default())).expect("second");
    assert_eq!(kinds(&second), ["distill", "recall", "execute"]);
    assert_eq!(second.insight_id, first.insight_id);
    assert_eq!(smart.requests.lock().expect("lock").len(), 1, "no second consultation");
    let note = second.steps[1].note.as_deref().unwrap_or_default();
    assert!(note.starts_with("reused insight") && note.contains("confirmed it applies"), "{note}");
    // The executor got the stored advice.
    let executed = &cheap.requests.lock().expect("lock")[2];
    assert!(executed.messages[1].content.contains("change <= to <"));
    assert!(second.cost.usd < first.cost.usd);
}

#[test]
fn an_insight_is_not_reused_when_the_check_says_no_or_its_record_is_bad() {
    // The check says it does not apply: consult again.
    let smart = ScriptedModel::new("smart", 3.0, &[GOOD, GOOD]);
    let cheap = ScriptedModel::new("cheap", 0.1, &["a", DOES_NOT_APPLY, "b"]);
    let pipeline =
        Pipeline { smart: smart.clone(), cheap, store: Arc::new(MemoryStore::default()) };
    block_on(pipeline.run(&task(), &RunOptions::default())).expect("first");
    let second = block_on(pipeline.run(&task(), &RunOptions::default())).expect("second");
    assert_eq!(kinds(&second), ["distill", "recall", "consult", "execute"]);
    assert!(second.steps[1].note.as_deref().is_some_and(|n| n.contains("does not apply")));

    // A failed verification drops a fresh insight below the bar: no check, a consultation.
    let smart = ScriptedModel::new("smart", 3.0, &[GOOD, GOOD]);
    let cheap = ScriptedModel::new("cheap", 0.1, &["wrong", "again"]);
    let pipeline = Pipeline { smart, cheap, store: Arc::new(MemoryStore::default()) };
    let verifier = ScriptedVerifier::new(&[false, true]);
    let options =
        RunOptions { verifier: Some(verifier as Arc<dyn Verifier>), ..RunOptions::default() };
    block_on(pipeline.run(&task(), &options)).expect("first");
    let second = block_on(pipeline.run(&task(), &options)).expect("second");
    assert_eq!(kinds(&second), ["distill", "consult", "execute", "verify"]);

    // And `never` always consults.
    let smart = ScriptedModel::new("smart", 3.0, &[GOOD, GOOD]);
    let cheap = ScriptedModel::new("cheap", 0.1, &["a", "b"]);
    let pipeline = Pipeline { smart, cheap, store: Arc::new(MemoryStore::default()) };
    let options = RunOptions {
        reuse: ReusePolicy { check: ReuseCheck::Never, ..ReusePolicy::default() },
        ..RunOptions::default()
    };
    block_on(pipeline.run(&task(), &options)).expect("first");
    let second = block_on(pipeline.run(&task(), &options)).expect("second");
    assert_eq!(kinds(&second), ["distill", "consult", "execute"]);
}

#[test]
fn consult_stores_the_insight_and_the_cheap_model_sees_it_with_the_context() {
    let smart = ScriptedModel::new("smart", 3.0, &[GOOD]);
    let cheap = ScriptedModel::new("cheap", 0.1, &["use 0..v.len()"]);
    let store = Arc::new(MemoryStore::default());
    let pipeline = Pipeline { smart: smart.clone(), cheap: cheap.clone(), store: store.clone() };
    let record = block_on(pipeline.run(&task(), &RunOptions::default())).expect("run");

    assert_eq!(record.result, "use 0..v.len()");
    let kinds: Vec<StepKind> = record.steps.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [StepKind::Distill, StepKind::Consult, StepKind::Execute]);
    let stored = store.insights.lock().expect("lock");
    assert_eq!(stored.len(), 1);
    assert_eq!(record.insight_id.as_deref(), Some(stored[0].id.as_str()));
    assert!(stored[0].brief.contains("index out of bounds"));

    let executed = &cheap.requests.lock().expect("lock")[0];
    let user = &executed.messages[1].content;
    assert!(user.contains("### src/lib.rs") && user.contains("change <= to <"), "{user}");
    let consulted = &smart.requests.lock().expect("lock")[0];
    assert!(matches!(consulted.response_format, Some(ResponseFormat::JsonSchema { .. })));

    assert!(record.counterfactual.cost.usd > 0.0);
    assert!(!record.counterfactual.latency_measured);
    assert!(
        (record.savings - (1.0 - record.cost.usd / record.counterfactual.cost.usd)).abs() < 1e-12
    );
    assert_eq!(store.runs.lock().expect("lock").len(), 1);
}

#[test]
fn an_invalid_insight_is_retried_once_with_the_reason() {
    let smart = ScriptedModel::new("smart", 3.0, &[r#"{"diagnosis":"x"}"#, GOOD]);
    let cheap = ScriptedModel::new("cheap", 0.1, &["done"]);
    let pipeline =
        Pipeline { smart: smart.clone(), cheap, store: Arc::new(MemoryStore::default()) };
    let record =
        block_on(pipeline.run(&task(), &RunOptions::default())).expect("second answer is valid");
    let consults = record.steps.iter().filter(|s| s.kind == StepKind::Consult).count();
    assert_eq!(consults, 2);
    let retry = &smart.requests.lock().expect("lock")[1];
    let last = &retry.messages.last().expect("message").content;
    assert!(last.contains("missing field"), "{last}");
}

#[test]
fn two_invalid_insights_fail_the_run_and_the_ledger_says_so() {
    let smart = ScriptedModel::new("smart", 3.0, &["nonsense", "more nonsense"]);
    let cheap = ScriptedModel::new("cheap", 0.1, &["never asked"]);
    let store = Arc::new(MemoryStore::default());
    let pipeline = Pipeline { smart, cheap: cheap.clone(), store: store.clone() };
    let err = block_on(pipeline.run(&task(), &RunOptions::default())).expect_err("fails");
    assert!(matches!(err, PipelineError::InvalidInsight { .. }), "{err:?}");
    assert!(cheap.requests.lock().expect("lock").is_empty());
    let runs = store.runs.lock().expect("lock");
    assert_eq!(runs[0].status, RunStatus::Failed);
    assert!(runs[0].error.as_deref().is_some_and(|e| e.contains("valid insight")));
}

#[test]
fn the_smart_baseline_measures_its_own_counterfactual_and_saves_nothing() {
    let smart = ScriptedModel::new("smart", 3.0, &["fixed"]);
    let cheap = ScriptedModel::new("cheap", 0.1, &[]);
    let pipeline = Pipeline { smart, cheap, store: Arc::new(MemoryStore::default()) };
    let options = RunOptions { strategy: Strategy::Smart, ..RunOptions::default() };
    let record = block_on(pipeline.run(&task(), &options)).expect("run");
    assert!(record.counterfactual.latency_measured);
    assert_eq!(record.counterfactual.cost, record.cost);
    assert_eq!(record.savings, 0.0);
}

/// The counterfactual of a cheap run takes the smart model's answer length from what the smart
/// model really wrote on earlier runs alone, not from the cheap model's answer.
#[test]
fn the_counterfactual_estimates_the_smart_answer_from_measured_smart_runs() {
    let long = "a long, careful answer ".repeat(20);
    let smart = ScriptedModel::new("smart", 3.0, &[&long, &long, &long]);
    let cheap = ScriptedModel::new("cheap", 0.1, &["short", "short"]);
    let pipeline = Pipeline { smart, cheap, store: Arc::new(MemoryStore::default()) };
    let cheap_run = RunOptions { strategy: Strategy::Cheap, ..RunOptions::default() };
    // Before the ledger holds enough smart runs, the answer's own length stands in.
    let before = block_on(pipeline.run(&task(), &cheap_run)).expect("cheap");
    assert_eq!(
        before.counterfactual.completion_tokens,
        aimos_context::estimate_tokens("short") as u64
    );
    let mut measured = Vec::new();
    for _ in 0..estimate::MIN_MEASURED {
        let smart_run = RunOptions { strategy: Strategy::Smart, ..RunOptions::default() };
        let record = block_on(pipeline.run(&task(), &smart_run)).expect("smart");
        measured.push(record.counterfactual.completion_tokens);
    }
    let after = block_on(pipeline.run(&task(), &cheap_run)).expect("cheap");
    assert!(!after.counterfactual.latency_measured, "an estimate says so");
    assert_eq!(after.counterfactual.completion_tokens, measured[1]);
    assert!(after.counterfactual.cost.usd > before.counterfactual.cost.usd);
}

/// A judge costs smart-model tokens: auto keeps it for the cascades it chooses only.
#[test]
fn auto_drops_a_judge_unless_it_chooses_cascade() {
    let smart = ScriptedModel::new("smart", 3.0, &["smart answer"]);
    let cheap = ScriptedModel::new("cheap", 0.1, &[]);
    let pipeline =
        Pipeline { smart: smart.clone(), cheap, store: Arc::new(MemoryStore::default()) };
    let judge = crate::verify::JudgeVerifier { model: smart.clone() as Arc<dyn Model> };
    let auto = RunOptions {
        strategy: Strategy::Auto,
        verifier: Some(Arc::new(judge) as Arc<dyn Verifier>),
        goal: Goal { target_quality: Some(0.85), max_cost: None },
        ..RunOptions::default()
    };
    let record = block_on(pipeline.run(&task(), &auto)).expect("auto");
    assert_eq!(record.strategy, Strategy::Smart, "{}", record.reason);
    assert_eq!(kinds(&record), ["decide", "execute"]);
    assert_eq!(record.verified, None);
    assert_eq!(smart.requests.lock().expect("lock").len(), 1);
}

#[test]
fn an_empty_problem_is_refused() {
    let model = ScriptedModel::new("m", 1.0, &[]);
    let pipeline =
        Pipeline { smart: model.clone(), cheap: model, store: Arc::new(MemoryStore::default()) };
    let task = Task { problem: "  \n".into(), context: vec![] };
    assert!(matches!(
        block_on(pipeline.run(&task, &RunOptions::default())),
        Err(PipelineError::EmptyProblem)
    ));
}

/// A project on disk for edit mode, with the task about it as the user would give it.
struct Project {
    dir: std::path::PathBuf,
}

impl Project {
    const LIB: &str = "def peek(items):\n    return items[len(items)]\n";

    fn new() -> Project {
        let dir = std::env::temp_dir().join(format!("aimos-edit-test-{}", crate::ids::new_id()));
        std::fs::create_dir_all(dir.join("src")).expect("mkdir");
        std::fs::write(dir.join("src/stack.py"), Project::LIB).expect("write");
        Project { dir }
    }

    fn task(&self) -> Task {
        Task {
            problem: "peek raises IndexError: list index out of range".into(),
            context: vec![Document { path: "src/stack.py".into(), text: Project::LIB.into() }],
        }
    }

    fn options(&self, strategy: Strategy, verdicts: Option<&Arc<ScriptedVerifier>>) -> RunOptions {
        RunOptions {
            strategy,
            verifier: verdicts.map(|v| Arc::clone(v) as Arc<dyn Verifier>),
            edit: Some(EditOptions {
                roots: vec![self.dir.clone()],
                cwd: self.dir.clone(),
                attempts: 2,
                check_first: false,
            }),
            ..RunOptions::default()
        }
    }

    fn untouched(&self) -> bool {
        std::fs::read_to_string(self.dir.join("src/stack.py")).expect("read") == Project::LIB
            && std::fs::read_dir(self.dir.join("src")).expect("dir").count() == 1
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn block(search: &str, replace: &str) -> String {
    format!("src/stack.py\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n")
}

const WRONG: &str = "    return items[len(items)]";
const FIXED: &str = "    return items[-1]";
const HALF: &str = "    return items[len(items) - 2]";

/// With `check_first`, the check runs on the unchanged copy and its failure joins the problem
/// the executor reads.
#[test]
fn the_check_runs_before_any_edit_and_its_failure_joins_the_problem() {
    let project = Project::new();
    let cheap = ScriptedModel::new("cheap", 0.1, &[&block(WRONG, FIXED)]);
    let smart = ScriptedModel::new("smart", 3.0, &[]);
    let pipeline =
        Pipeline { smart, cheap: cheap.clone(), store: Arc::new(MemoryStore::default()) };
    let verifier = Arc::new(crate::verify::CommandVerifier {
        command: "grep -q 'items\\[-1\\]' src/stack.py || { echo 'IndexError at src/stack.py:2'; exit 1; }".into(),
        timeout: Duration::from_secs(10),
        dir: None,
    });
    let mut options = project.options(Strategy::Cheap, None);
    options.verifier = Some(verifier as Arc<dyn Verifier>);
    if let Some(edit) = options.edit.as_mut() {
        edit.check_first = true;
    }
    let record = block_on(pipeline.run(&project.task(), &options)).expect("run");
    assert_eq!(kinds(&record), ["verify", "execute", "verify"]);
    let first = record.steps[0].note.as_deref().unwrap_or_default();
    assert!(first.starts_with("before any edit: failed"), "{first}");
    assert_eq!(record.verified, Some(true));
    let asked =
        cheap.requests.lock().expect("lock")[0].messages.last().expect("a turn").content.clone();
    assert!(asked.contains("Before any change, the check fails:"), "{asked}");
    assert!(asked.contains("IndexError at src/stack.py:2"), "{asked}");
    assert!(project.untouched());
}

/// In edit mode a context larger than the window is read as excerpts, and the whole request —
/// the worked example's turns and the closing line included — fits the executor's window.
#[test]
fn an_edit_request_fits_the_window_and_shows_excerpts_of_a_context_too_large() {
    let project = Project::new();
    let filler: String =
        (0..600).map(|i| format!("def helper_{i}(x):\n    return x + {i}\n\n")).collect();
    std::fs::write(project.dir.join("src/helpers.py"), &filler).expect("write");
    let cheap = ScriptedModel::new("cheap", 0.1, &[&block(WRONG, FIXED)]);
    let smart = ScriptedModel::new("smart", 3.0, &[]);
    let pipeline =
        Pipeline { smart, cheap: cheap.clone(), store: Arc::new(MemoryStore::default()) };
    let mut task = project.task();
    task.context.push(Document { path: "src/helpers.py".into(), text: filler });
    let options = project.options(Strategy::Cheap, None);
    let record = block_on(pipeline.run(&task, &options)).expect("run");
    assert_eq!(record.files_changed, ["src/stack.py"]);
    let request = &cheap.requests.lock().expect("lock")[0];
    let used: usize = request.messages.iter().map(|m| count(&*cheap, &m.content)).sum::<usize>()
        + request.max_tokens.unwrap_or_default() as usize;
    assert!(used <= 4096, "{used} tokens for a window of 4096");
    let shown = &request.messages.last().expect("the task").content;
    assert!(shown.contains("### src/stack.py:"), "excerpts, not whole files: {shown}");
    let note = record.steps[0].note.as_deref().unwrap_or_default();
    assert!(note.contains("focused"), "{note}");
}

#[test]
fn an_edit_lands_in_a_copy_and_the_run_returns_its_patch() {
    let project = Project::new();
    let cheap = ScriptedModel::new("cheap", 0.1, &[&block(WRONG, FIXED)]);
    let smart = ScriptedModel::new("smart", 3.0, &[]);
    let pipeline =
        Pipeline { smart, cheap: cheap.clone(), store: Arc::new(MemoryStore::default()) };
    let record = block_on(pipeline.run(&project.task(), &project.options(Strategy::Cheap, None)))
        .expect("run");
    assert_eq!(kinds(&record), ["execute"]);
    assert_eq!(record.files_changed, ["src/stack.py"]);
    let patch = record.patch.as_deref().expect("a patch");
    assert!(patch.contains("-    return items[len(items)]\n+    return items[-1]\n"), "{patch}");
    assert!(patch.starts_with("diff --git a/src/stack.py b/src/stack.py\n"), "{patch}");
    assert!(project.untouched(), "the user's tree is never written");
    let prompt = &cheap.requests.lock().expect("lock")[0];
    assert!(prompt.messages[0].content.contains("<<<<<<< SEARCH"), "the format is taught");
    let asked = &prompt.messages.last().expect("a user message").content;
    assert!(asked.contains("### src/stack.py"), "the file is shown: {asked}");
}

#[test]
fn a_failed_check_goes_back_with_the_edits_and_the_output_then_passes() {
    let project = Project::new();
    let cheap = ScriptedModel::new("cheap", 0.1, &[&block(WRONG, HALF), &block(WRONG, FIXED)]);
    let smart = ScriptedModel::new("smart", 3.0, &[]);
    let pipeline =
        Pipeline { smart, cheap: cheap.clone(), store: Arc::new(MemoryStore::default()) };
    let verifier = ScriptedVerifier::new(&[false, true]);
    let options = project.options(Strategy::Cheap, Some(&verifier));
    let record = block_on(pipeline.run(&project.task(), &options)).expect("run");
    assert_eq!(kinds(&record), ["execute", "verify", "execute", "verify"]);
    assert_eq!(record.verified, Some(true));
    let requests = cheap.requests.lock().expect("lock");
    let retry = &requests[1].messages.last().expect("asked").content;
    assert!(retry.contains("Your previous answer:") && retry.contains(HALF.trim()), "{retry}");
    assert!(retry.contains("assertion failed: peek on []"), "the check's output: {retry}");
    // Each attempt starts from the original files, so the second patch is the second edit only.
    let patch = record.patch.expect("a patch");
    assert!(patch.contains("+    return items[-1]") && !patch.contains("- 2]"), "{patch}");
    let seen = verifier.seen.lock().expect("lock");
    assert!(seen[0].contains("len(items) - 2") && seen[1].contains("items[-1]"), "{seen:?}");
    assert!(record.steps[0].note.as_deref().is_some_and(|n| n.contains("edit attempt 1/2")));
    assert!(project.untouched());
}

#[test]
fn a_block_that_matches_nowhere_goes_back_once_with_the_nearest_lines() {
    let project = Project::new();
    let misquoted = block("    return items[len(items)+0]", FIXED);
    let cheap = ScriptedModel::new("cheap", 0.1, &[&misquoted, &block(WRONG, FIXED)]);
    let smart = ScriptedModel::new("smart", 3.0, &[]);
    let pipeline =
        Pipeline { smart, cheap: cheap.clone(), store: Arc::new(MemoryStore::default()) };
    let verifier = ScriptedVerifier::new(&[true]);
    let options = project.options(Strategy::Cheap, Some(&verifier));
    let record = block_on(pipeline.run(&project.task(), &options)).expect("run");
    assert_eq!(kinds(&record), ["execute", "execute", "verify"]);
    assert!(record.steps[1].note.as_deref().is_some_and(|n| n.starts_with("repair of 1 block")));
    let requests = cheap.requests.lock().expect("lock");
    let repair = &requests[1].messages.last().expect("asked").content;
    assert!(repair.contains("not in the file; the nearest lines are:"), "{repair}");
    assert!(repair.contains("    2 |     return items[len(items)]"), "{repair}");
    assert!(record.patch.is_some_and(|p| p.contains("+    return items[-1]")));
}

#[test]
fn a_repair_that_would_overflow_the_window_goes_back_without_the_files() {
    // A file too big for the window: the first request is packed to fill it.
    let dir = std::env::temp_dir().join(format!("aimos-edit-test-{}", crate::ids::new_id()));
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    let mut text = String::new();
    for i in 0..400 {
        text.push_str(&format!(
            "def helper_{i}(items):\n    \"\"\"Peek at index {i} of the list.\"\"\"\n    return items[{i}]\n"
        ));
    }
    text.push_str(&format!("def peek(items):\n{WRONG}\n"));
    std::fs::write(dir.join("src/stack.py"), &text).expect("write");
    let task = Task {
        problem: "peek raises IndexError: list index out of range".into(),
        context: vec![Document { path: "src/stack.py".into(), text }],
    };
    // A long answer whose one block is misquoted.
    let misquoted = format!(
        "{}\n{}",
        "The fix is to return the last item. ".repeat(150),
        block("    return items[len(items)+0]", FIXED)
    );
    let cheap = ScriptedModel::new("cheap", 0.1, &[&misquoted, &block(WRONG, FIXED)]);
    let pipeline = Pipeline {
        smart: ScriptedModel::new("smart", 3.0, &[]),
        cheap: cheap.clone(),
        store: Arc::new(MemoryStore::default()),
    };
    let verifier = ScriptedVerifier::new(&[true]);
    let options = RunOptions {
        strategy: Strategy::Cheap,
        verifier: Some(verifier as Arc<dyn Verifier>),
        max_result_tokens: 1500,
        edit: Some(EditOptions {
            roots: vec![dir.clone()],
            cwd: dir.clone(),
            attempts: 1,
            check_first: false,
        }),
        ..RunOptions::default()
    };
    let record = block_on(pipeline.run(&task, &options)).expect("run");
    let requests = cheap.requests.lock().expect("lock");
    let tokens =
        |r: &ChatRequest| r.messages.iter().map(|m| count_tokens(&m.content)).sum::<usize>();
    let (first, repair) = (tokens(&requests[0]), tokens(&requests[1]));
    // The whole conversation one turn on would not leave room for a 1,500-token answer.
    assert!(first + count_tokens(&misquoted) + 1500 > 4096, "{first}");
    assert!(repair + 1500 <= 4096, "the repair leaves room for its answer: {repair}");
    let repair = &requests[1].messages.last().expect("asked").content;
    assert!(repair.contains("Your answer:\nThe fix is"), "{repair}");
    assert!(repair.contains("the nearest lines are:") && !repair.contains("helper_5("), "{repair}");
    assert!(record.patch.is_some_and(|p| p.contains("+    return items[-1]")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_answer_without_edits_fails_even_without_a_check() {
    let project = Project::new();
    let cheap = ScriptedModel::new("cheap", 0.1, &["Use items[-1].", "Still prose."]);
    let smart = ScriptedModel::new("smart", 3.0, &[]);
    let pipeline = Pipeline { smart, cheap, store: Arc::new(MemoryStore::default()) };
    let record = block_on(pipeline.run(&project.task(), &project.options(Strategy::Cheap, None)))
        .expect("run");
    assert_eq!(kinds(&record), ["execute", "verify", "execute", "verify"]);
    assert_eq!((record.verified, record.patch), (Some(false), None));
    let note = record.steps[3].note.as_deref().unwrap_or_default();
    assert!(note.contains("no edit applied: the answer held no search/replace block"), "{note}");
}

#[test]
fn cascade_in_edit_mode_tries_each_stage_its_attempts_then_escalates() {
    let project = Project::new();
    let half = block(WRONG, HALF);
    let cheap = ScriptedModel::new("cheap", 0.1, &[&half, &half, &half, &half]);
    let smart = ScriptedModel::new("smart", 3.0, &[GOOD, &block(WRONG, FIXED)]);
    let store = Arc::new(MemoryStore::default());
    let pipeline = Pipeline { smart: smart.clone(), cheap: cheap.clone(), store: store.clone() };
    let verifier = ScriptedVerifier::new(&[false, false, false, false, true]);
    let options = project.options(Strategy::Cascade, Some(&verifier));
    let record = block_on(pipeline.run(&project.task(), &options)).expect("run");
    assert_eq!(
        kinds(&record),
        [
            "execute", "verify", "execute", "verify", // the cheap model alone, twice
            "distill", "consult", "execute", "verify", "execute",
            "verify", // with the insight
            "execute", "verify" // the smart model from the brief
        ]
    );
    assert_eq!(record.verified, Some(true));
    assert!(record.patch.is_some_and(|p| p.contains("+    return items[-1]")));
    let from_brief = &smart.requests.lock().expect("lock")[1].messages;
    assert!(from_brief[0].content.contains("<<<<<<< SEARCH"), "the smart model edits too");
    // The failure it reads came from the second stage's patch, which was undone: it sees both.
    let asked = &from_brief.last().expect("a user turn").content;
    assert!(
        asked.contains("made this change, which was undone (do not make it again):\n"),
        "{asked}"
    );
    assert!(asked.contains("With it, the check"), "{asked}");
    // After the excerpts and the failures, the task itself comes last, before the closing line.
    let restated = format!("The task, again:\n{}\n\nAnswer now", project.task().problem);
    assert!(asked.contains(&restated), "{asked}");
    assert!(!store.outcomes.lock().expect("lock")[0].passed, "the insight's attempts failed");
    // Each stage's first try is greedy; its retry samples, seeded with the try's number.
    let sampling: Vec<(Option<f32>, Option<u64>)> =
        cheap.requests.lock().expect("lock").iter().map(|r| (r.temperature, r.seed)).collect();
    assert_eq!(
        sampling,
        [(Some(0.0), None), (Some(0.7), Some(2)), (Some(0.0), None), (Some(0.7), Some(2))]
    );
    assert!(project.untouched());
}

#[test]
fn brief_has_the_smart_model_work_from_the_brief_alone() {
    let smart = ScriptedModel::new("smart", 3.0, &["use 0..v.len()"]);
    let cheap = ScriptedModel::new("cheap", 0.1, &[]);
    let pipeline = Pipeline {
        smart: smart.clone(),
        cheap: cheap.clone(),
        store: Arc::new(MemoryStore::default()),
    };
    let options = RunOptions { strategy: Strategy::Brief, ..RunOptions::default() };
    let record = block_on(pipeline.run(&task(), &options)).expect("run");
    assert_eq!(kinds(&record), ["distill", "execute"]);
    assert_eq!(record.steps[1].model.as_deref(), Some("smart"));
    assert!(cheap.requests.lock().expect("lock").is_empty(), "no executor");
    let asked = &smart.requests.lock().expect("lock")[0].messages[1].content;
    assert!(asked.contains("Relevant context:\n### src/lib.rs"), "the brief: {asked}");
    assert!(record.steps[1].context_tokens > 0);
    assert!(record.insight_id.is_none(), "nothing to store: no consultation");
}

#[test]
fn blocks_that_change_nothing_are_named_as_such() {
    let project = Project::new();
    let same = block(WRONG, WRONG);
    let cheap = ScriptedModel::new("cheap", 0.1, &[&same]);
    let smart = ScriptedModel::new("smart", 3.0, &[]);
    let pipeline = Pipeline { smart, cheap, store: Arc::new(MemoryStore::default()) };
    let mut options = project.options(Strategy::Cheap, None);
    if let Some(edit) = options.edit.as_mut() {
        edit.attempts = 1;
    }
    let record = block_on(pipeline.run(&project.task(), &options)).expect("run");
    let note = record.steps[1].note.as_deref().unwrap_or_default();
    assert!(note.contains("its blocks change nothing"), "{note}");
}

#[test]
fn advice_consults_once_then_recalls_and_teaches_auto_nothing_about_the_cheap_model() {
    // One scripted answer: a second consultation would fail the test.
    let smart = ScriptedModel::new("smart", 3.0, &[GOOD]);
    let cheap = ScriptedModel::new("cheap", 0.1, &[]);
    let store = Arc::new(MemoryStore::default());
    let pipeline = Pipeline { smart: smart.clone(), cheap: cheap.clone(), store: store.clone() };
    let options = RunOptions {
        reuse: ReusePolicy { check: ReuseCheck::Off, ..ReusePolicy::default() },
        ..RunOptions::default()
    };
    let first = block_on(pipeline.advise(&task(), &options)).expect("advice");
    assert!(!first.recalled);
    assert_eq!(first.insight.draft.diagnosis, "the loop reads one past the end");
    let kinds: Vec<StepKind> = first.run.steps.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [StepKind::Distill, StepKind::Consult]);
    assert!(first.run.cost.usd > 0.0, "the consultation is paid for");
    assert!(first.run.counterfactual.prompt_tokens > 0);
    assert_eq!(first.run.result, first.insight.as_guidance());
    let stored = store.run(&first.run.id).expect("read").expect("recorded");
    assert_eq!(stored.insight_id.as_deref(), Some(first.insight.id.as_str()));
    assert_eq!(stored.reason, ADVICE_REASON);
    assert!(cheap.requests.lock().expect("lock").is_empty(), "no executor ran");

    let second = block_on(pipeline.advise(&task(), &options)).expect("recalled advice");
    assert!(second.recalled);
    assert_eq!(second.insight.id, first.insight.id);
    assert_eq!(second.run.cost.usd, 0.0);
    assert_eq!(smart.requests.lock().expect("lock").len(), 1, "consulted once");

    // The caller's outcome counts for the insight, not as an observation of `consult`.
    let outcome = Outcome {
        insight_id: first.insight.id.clone(),
        run_id: Some(first.run.id.clone()),
        passed: true,
        source: "user".into(),
        note: None,
        created_at: now_rfc3339(),
    };
    let updated = store.record_outcome(&outcome).expect("outcome").expect("insight");
    assert_eq!(updated.succeeded, 1);
    let runs = store.runs(10, 0).expect("runs");
    let points = store.outcome_points(10).expect("points");
    assert!(crate::policy::observations(&runs, &points).is_empty());
}

#[test]
fn advice_on_an_empty_problem_is_refused_before_any_model_call() {
    let smart = ScriptedModel::new("smart", 3.0, &[GOOD]);
    let pipeline = Pipeline {
        smart: smart.clone(),
        cheap: ScriptedModel::new("cheap", 0.1, &[]),
        store: Arc::new(MemoryStore::default()),
    };
    let task = Task { problem: "  \n".into(), context: Vec::new() };
    let err = block_on(pipeline.advise(&task, &RunOptions::default())).expect_err("empty");
    assert!(matches!(err, PipelineError::EmptyProblem), "{err}");
    assert!(smart.requests.lock().expect("lock").is_empty());
}

#[test]
fn an_insight_in_a_namespace_is_recalled_only_there_and_shared_ones_everywhere() {
    // Three answers: namespace a consults, b and the shared namespace each consult again.
    let smart = ScriptedModel::new("smart", 3.0, &[GOOD, GOOD, GOOD]);
    let store = Arc::new(MemoryStore::default());
    let pipeline = Pipeline {
        smart: smart.clone(),
        cheap: ScriptedModel::new("cheap", 0.1, &[]),
        store: store.clone(),
    };
    let options = |namespace: Option<&str>| RunOptions {
        reuse: ReusePolicy { check: ReuseCheck::Off, ..ReusePolicy::default() },
        namespace: namespace.map(str::to_owned),
        ..RunOptions::default()
    };
    let a = block_on(pipeline.advise(&task(), &options(Some("a")))).expect("a");
    assert!(!a.recalled);
    assert_eq!(a.insight.namespace.as_deref(), Some("a"));
    let b = block_on(pipeline.advise(&task(), &options(Some("b")))).expect("b");
    assert!(!b.recalled, "b does not see a's insight");
    let shared = block_on(pipeline.advise(&task(), &options(None))).expect("shared");
    assert!(!shared.recalled, "the shared namespace does not see a's insight");
    assert_eq!(shared.insight.namespace, None);
    // Namespace a sees its own insight and the shared one; both match.
    let again = block_on(pipeline.advise(&task(), &options(Some("a")))).expect("a again");
    assert!(again.recalled);
    assert!(
        [a.insight.id.as_str(), shared.insight.id.as_str()].contains(&again.insight.id.as_str())
    );
    let b_again = block_on(pipeline.advise(&task(), &options(Some("b")))).expect("b again");
    assert!(b_again.recalled);
    assert_ne!(b_again.insight.id, a.insight.id, "never a's");
    assert_eq!(smart.requests.lock().expect("lock").len(), 3);
}

#[test]
fn an_expanded_query_searches_the_cheap_models_guesses_and_bills_them_on_the_distill_step() {
    let mut text = String::new();
    for i in 0..200 {
        text.push_str(&format!("fn helper_{i}(v: &[u8]) -> usize {{ v.len() * {i} }}\n"));
    }
    text.push_str("fn fold_crc(v: &[u8]) -> u32 { v.iter().map(|&b| b as u32).sum() }\n");
    // A plain report: it names no code, and its words are not the code's.
    let task = Task {
        problem: "The integrity sum of a packet comes out wrong.".into(),
        context: vec![Document { path: "src/lib.rs".into(), text }],
    };
    let guesses = r#"{"identifiers":["fold_crc"],"files":["lib.rs"],"phrases":["crc"]}"#;
    let smart = ScriptedModel::new("smart", 3.0, &[GOOD]);
    let cheap = ScriptedModel::new("cheap", 0.1, &[guesses, "done"]);
    let pipeline =
        Pipeline { smart: smart.clone(), cheap, store: Arc::new(MemoryStore::default()) };
    let options = RunOptions { expand_query: true, ..RunOptions::default() };
    let record = block_on(pipeline.run(&task, &options)).expect("run");
    let distill = record.steps.iter().find(|s| s.kind == StepKind::Distill).expect("distilled");
    assert_eq!(distill.model.as_deref(), Some("cheap"));
    assert!(distill.prompt_tokens > 0 && distill.cost.usd > 0.0, "{distill:?}");
    assert!(distill.note.as_deref().unwrap_or("").contains("identifiers fold_crc"), "{distill:?}");
    let consulted = smart.requests.lock().expect("lock")[0].messages[1].content.clone();
    assert!(consulted.contains("fn fold_crc("), "{consulted}");
    // A problem that names code is not expanded: the distill step calls no model.
    let named = Task { problem: "fold_crc() returns 0 for [1, 2]".into(), ..task };
    let smart = ScriptedModel::new("smart", 3.0, &[GOOD]);
    let cheap = ScriptedModel::new("cheap", 0.1, &["done"]);
    let pipeline = Pipeline { smart, cheap, store: Arc::new(MemoryStore::default()) };
    let record = block_on(pipeline.run(&named, &options)).expect("run");
    let distill = record.steps.iter().find(|s| s.kind == StepKind::Distill).expect("distilled");
    assert_eq!(distill.model, None);
}
