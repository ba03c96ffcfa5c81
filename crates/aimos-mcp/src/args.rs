//! The tools' arguments: what they deserialize into and, through their doc comments, the input
//! schemas a calling model reads.

use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;

/// `consult`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Consult {
    /// The problem, in full: what you are trying to do or what goes wrong, with the exact
    /// error output, stack trace or failing test report. The smart model reads this and a
    /// brief of the files, nothing else.
    pub problem: String,
    /// Files or folders the problem is about, relative to the server's first root or
    /// absolute under one of its roots. Folders are read recursively, honouring .gitignore.
    /// aimos picks the relevant excerpts; naming a whole folder is fine.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Further material as text that is not in a file: a log, a diff, a design note.
    #[serde(default)]
    pub context: Option<String>,
    /// Most tokens of the brief the smart model reads (64 to 32768; default the server's,
    /// usually 1024). A larger brief costs more and helps on problems spread over many files.
    #[serde(default)]
    #[schemars(range(min = 64, max = 32768))]
    pub budget: Option<u32>,
    /// Whether a stored insight for a matching problem may stand in for a new consultation
    /// (default true). Set false to pay for a fresh answer.
    #[serde(default)]
    pub reuse: Option<bool>,
}

/// `distill`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Distill {
    /// The problem, as you would give it to `consult`.
    pub problem: String,
    /// Files or folders the problem is about, relative to the server's first root or
    /// absolute under one of its roots.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Further material as text that is not in a file.
    #[serde(default)]
    pub context: Option<String>,
    /// Most tokens of the brief (64 to 32768; default the server's, usually 1024).
    #[serde(default)]
    #[schemars(range(min = 64, max = 32768))]
    pub budget: Option<u32>,
}

/// The strategies `fix` can run.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FixStrategy {
    /// The cheap model alone.
    Cheap,
    /// The smart model alone.
    Smart,
    /// The smart model advises on a brief; the cheap model edits.
    Consult,
    /// The cheap model; on a failed check, consult and retry; then the smart model from the
    /// brief. Needs `test`.
    Cascade,
    /// The smart model edits from the brief alone.
    Brief,
    /// The cheapest strategy predicted to succeed, learned from past outcomes.
    Auto,
}

impl FixStrategy {
    pub fn strategy(self) -> aimos_core::Strategy {
        use aimos_core::Strategy;
        match self {
            FixStrategy::Cheap => Strategy::Cheap,
            FixStrategy::Smart => Strategy::Smart,
            FixStrategy::Consult => Strategy::Consult,
            FixStrategy::Cascade => Strategy::Cascade,
            FixStrategy::Brief => Strategy::Brief,
            FixStrategy::Auto => Strategy::Auto,
        }
    }
}

/// `fix`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fix {
    /// The problem: what is wrong, with the exact error output or failing test report.
    pub problem: String,
    /// The files or folders the fix may change, relative to the server's first root or
    /// absolute under one of its roots (at least one). They are copied to a scratch folder;
    /// your files are never changed.
    pub paths: Vec<String>,
    /// Further material as text that is not in a file; it is added to the problem.
    #[serde(default)]
    pub context: Option<String>,
    /// A shell command that passes (exit status 0) when the problem is fixed, such as
    /// `python3 -m pytest -q` or `cargo test`. It runs in the scratch copy, in the folder the
    /// paths share. Without it the patch is unchecked.
    #[serde(default)]
    pub test: Option<String>,
    /// How aimos's models share the work (default: cascade with a test, consult without).
    #[serde(default)]
    pub strategy: Option<FixStrategy>,
    /// Tries each model gets after a failed check, 1 to 10 (default 2).
    #[serde(default)]
    #[schemars(range(min = 1, max = 10))]
    pub attempts: Option<u32>,
    /// Seconds the test may run before it counts as failed (default 300).
    #[serde(default)]
    #[schemars(range(min = 1, max = 3600))]
    pub test_timeout: Option<u64>,
}

/// `search_insights`' arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchInsights {
    /// Words to look for in stored problems, diagnoses and key facts; omit for the newest.
    #[serde(default)]
    pub query: Option<String>,
    /// Most insights to return, 1 to 100 (default 10).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
}

/// `record_outcome`'s arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordOutcome {
    /// The insight's id (`insight_id` from `consult`), or a run's id (`run_id` from `consult`
    /// or `fix`), whose insight the outcome is for.
    pub id: String,
    /// True if following the advice (or applying the patch) solved the problem.
    pub passed: bool,
    /// What happened, in a sentence: kept with the outcome.
    #[serde(default)]
    pub note: Option<String>,
}
