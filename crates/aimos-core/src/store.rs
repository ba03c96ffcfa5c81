//! The `Store` trait: where insights and the ledger of runs live.
//!
//! aimos-store implements it for SQLite (one file, the default) and PostgreSQL (many gateway
//! replicas sharing one database).
//! Calls are blocking and short; a caller on an async runtime may move them off its threads.

use serde::Serialize;

use crate::insight::Insight;
use crate::price::Cost;
use crate::run::RunRecord;

/// Persistent insights and runs. One trait rather than one per group below: every caller that
/// holds a store (the pipeline, the gateway, the CLI) uses several groups, and the forwarding
/// implementations (the ledger queue, test doubles) would repeat themselves per trait.
pub trait Store: Send + Sync {
    // Insights: what the consultations produced, and recall's way in.

    /// Saves a new insight. Once this returns, the insight survives a crash.
    fn put_insight(&self, insight: &Insight) -> Result<(), StoreError>;

    fn insight(&self, id: &str) -> Result<Option<Insight>, StoreError>;

    /// Newest first; `text` filters by words in the problem, diagnosis and key facts.
    fn insights(
        &self,
        text: Option<&str>,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Insight>, StoreError>;

    /// Insights made from problems with this fingerprint, newest first (at most 20).
    fn insights_by_fingerprint(&self, fingerprint: &str) -> Result<Vec<Insight>, StoreError>;

    /// Keeps `vector`, made by the embedding model `model`, as the meaning of the insight's
    /// problem (replacing any earlier one). False if there is no such insight.
    fn put_insight_embedding(
        &self,
        id: &str,
        model: &str,
        vector: &[f32],
    ) -> Result<bool, StoreError>;

    /// The `limit` insights in recall whose problems' vectors by `model` are nearest to
    /// `vector` (unit vectors compared by their dot product), best first, with that cosine.
    fn nearest_insights(
        &self,
        model: &str,
        vector: &[f32],
        limit: usize,
    ) -> Result<Vec<(Insight, f32)>, StoreError>;

    /// Takes an insight out of recall (it keeps failing, or a better one superseded it); it is
    /// kept, with the reason, for audit. False if there is no such insight or it was already
    /// invalidated.
    fn invalidate_insight(&self, id: &str, reason: &str) -> Result<bool, StoreError>;

    /// Records whether following an insight worked, and returns the insight with its new
    /// counts, or `None` when no insight has that id.
    fn record_outcome(&self, outcome: &Outcome) -> Result<Option<Insight>, StoreError>;

    // The ledger: every run with its steps, and what the policy and calibration learn from.

    /// Saves a run with its steps, atomically.
    fn record_run(&self, run: &RunRecord) -> Result<(), StoreError>;

    /// Appends several runs at once, all or none: one transaction (and one sync to disk) for
    /// the lot, where the backend can. By default, one `record_run` each.
    fn record_runs(&self, runs: &[RunRecord]) -> Result<(), StoreError> {
        runs.iter().try_for_each(|run| self.record_run(run))
    }

    fn run(&self, id: &str) -> Result<Option<RunRecord>, StoreError>;

    /// Newest first.
    fn runs(&self, limit: usize, offset: usize) -> Result<Vec<RunRecord>, StoreError>;

    /// The runs `filter` matches, newest first. By default, the newest runs are read in pages
    /// and filtered here; the stores answer it with one query.
    fn runs_matching(
        &self,
        filter: &RunFilter,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        if filter.is_empty() {
            return self.runs(limit, offset);
        }
        let (mut found, mut skipped, mut page) = (Vec::new(), 0, 0);
        const PAGE: usize = 500;
        while found.len() < limit {
            let runs = self.runs(PAGE, page * PAGE)?;
            let last = runs.len() < PAGE;
            for run in runs.into_iter().filter(|run| filter.matches(run)) {
                if skipped < offset {
                    skipped += 1;
                } else if found.len() < limit {
                    found.push(run);
                }
            }
            if last {
                break;
            }
            page += 1;
        }
        Ok(found)
    }

    /// Totals over the ledger: overall, by day and by model.
    fn stats(&self) -> Result<Stats, StoreError>;

    /// The newest `limit` outcomes, each with the confidence its insight's smart model stated:
    /// what calibration and the policy learn from.
    fn outcome_points(&self, limit: usize) -> Result<Vec<OutcomePoint>, StoreError>;

    // Claims: one consultation at a time across processes sharing the store.

    /// Claims `key` for `holder` for `ttl`, unless another holder's claim is still live
    /// (claiming again extends one's own). Processes sharing a store use it so that only one
    /// of them pays for the same consultation at a time.
    fn claim(&self, key: &str, holder: &str, ttl: std::time::Duration) -> Result<bool, StoreError>;

    /// Gives up `holder`'s claim on `key` (nothing if it holds none).
    fn release(&self, key: &str, holder: &str) -> Result<(), StoreError>;

    // Gateway keys.

    /// Stores a new gateway key (its hash only). Fails if the name is taken.
    fn create_key(&self, key: &KeyRecord) -> Result<(), StoreError>;

    /// The key whose secret hashes to `hash`, revoked or not.
    fn key_by_hash(&self, hash: &str) -> Result<Option<KeyRecord>, StoreError>;

    /// Every key, oldest first.
    fn keys(&self) -> Result<Vec<KeyRecord>, StoreError>;

    /// Adds `usd` to what key `id` has spent, atomically; returns the new total.
    fn add_key_spend(&self, id: &str, usd: f64) -> Result<f64, StoreError>;

    /// Revokes the key named `name`; false if there is none (or it was revoked already).
    fn revoke_key(&self, name: &str) -> Result<bool, StoreError>;

    /// Takes one request from key `id`'s limit of `rpm` requests in any 60 seconds, counted
    /// across every process sharing the store: `None` when it fits (and is counted), else how
    /// long until the oldest request in the window leaves it.
    fn take_rate(&self, id: &str, rpm: u32) -> Result<Option<std::time::Duration>, StoreError>;

    /// Runs and money summed per key, per user or per tag (`name=value`), most expensive first;
    /// runs without one are summed under `None`.
    fn spend_by(&self, by: SpendBy) -> Result<Vec<Spend>, StoreError>;

    // Calibration of each smart model's stated confidence.

    /// Saves (replacing) the calibration fitted for one smart model.
    fn put_calibration(&self, calibration: &Calibration) -> Result<(), StoreError>;

    /// Every smart model's calibration, by model name.
    fn calibrations(&self) -> Result<Vec<Calibration>, StoreError>;
}

/// Which runs [`Store::runs_matching`] returns: each field that is set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunFilter {
    pub strategy: Option<crate::Strategy>,
    /// A model one of the run's steps called.
    pub model: Option<String>,
    /// The gateway key's name.
    pub key: Option<String>,
    /// The insight the run stored or followed.
    pub insight: Option<String>,
    /// Shadow checks of this live run.
    pub shadow_of: Option<String>,
    pub verdict: Option<RunVerdict>,
    /// Runs made at or after this RFC 3339 time (or date).
    pub since: Option<String>,
    /// Runs made before this RFC 3339 time (or date).
    pub until: Option<String>,
}

/// What a run's verifier said about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunVerdict {
    Passed,
    Failed,
    /// No verifier judged it.
    Unjudged,
}

impl RunVerdict {
    pub fn of(verified: Option<bool>) -> RunVerdict {
        match verified {
            Some(true) => RunVerdict::Passed,
            Some(false) => RunVerdict::Failed,
            None => RunVerdict::Unjudged,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunVerdict::Passed => "passed",
            RunVerdict::Failed => "failed",
            RunVerdict::Unjudged => "unjudged",
        }
    }
}

impl std::str::FromStr for RunVerdict {
    type Err = String;

    fn from_str(s: &str) -> Result<RunVerdict, String> {
        match s {
            "passed" => Ok(RunVerdict::Passed),
            "failed" => Ok(RunVerdict::Failed),
            "unjudged" => Ok(RunVerdict::Unjudged),
            _ => Err(format!("no verdict `{s}`; use passed, failed or unjudged")),
        }
    }
}

impl RunFilter {
    pub fn is_empty(&self) -> bool {
        *self == RunFilter::default()
    }

    /// Whether `run` is one this filter keeps (what the stores' queries compute).
    pub fn matches(&self, run: &RunRecord) -> bool {
        self.strategy.is_none_or(|s| run.strategy == s)
            && self
                .model
                .as_deref()
                .is_none_or(|m| run.steps.iter().any(|s| s.model.as_deref() == Some(m)))
            && self.key.as_deref().is_none_or(|k| run.attribution.key.as_deref() == Some(k))
            && self.insight.as_deref().is_none_or(|i| run.insight_id.as_deref() == Some(i))
            && self.shadow_of.as_deref().is_none_or(|s| run.shadow_of.as_deref() == Some(s))
            && self.verdict.is_none_or(|v| RunVerdict::of(run.verified) == v)
            && self.since.as_deref().is_none_or(|t| run.created_at.as_str() >= t)
            && self.until.as_deref().is_none_or(|t| run.created_at.as_str() < t)
    }
}

/// What [`Store::spend_by`] groups runs by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpendBy {
    Key,
    User,
    Tag,
}

impl std::str::FromStr for SpendBy {
    type Err = String;

    fn from_str(s: &str) -> Result<SpendBy, String> {
        match s {
            "key" => Ok(SpendBy::Key),
            "user" => Ok(SpendBy::User),
            "tag" => Ok(SpendBy::Tag),
            _ => Err(format!("cannot group by `{s}`; use key, user or tag")),
        }
    }
}

/// One group of [`Store::spend_by`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Spend {
    /// The key's name, the user, or `name=value` for a tag; `None` for runs without one.
    pub name: Option<String>,
    pub runs: u64,
    pub cost_usd: f64,
    /// What the smart model alone would have cost for the same runs.
    pub counterfactual_usd: f64,
    /// When the newest of the runs was made (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_at: Option<String>,
}

/// The 60-second window of a per-minute rate limit.
pub const RATE_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// An outcome with the confidence the insight's smart model stated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomePoint {
    pub insight_id: String,
    pub run_id: Option<String>,
    pub smart_model: String,
    /// The confidence the smart model stated when it wrote the insight.
    pub confidence: f64,
    pub passed: bool,
    pub source: String,
    pub created_at: String,
}

/// A mapping from one smart model's stated confidence to a probability of success, fitted on
/// outcomes: `p = 1 / (1 + exp(-(slope * logit(confidence) + intercept)))` (Platt scaling).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    pub smart_model: String,
    pub slope: f64,
    pub intercept: f64,
    /// Outcomes it was fitted on.
    pub points: u64,
    /// RFC 3339, UTC.
    pub fitted_at: String,
}

/// Seconds since the Unix epoch, as claims record their expiry.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A gateway API key as stored: never the key itself, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    /// Lower-case hex SHA-256 of the secret.
    #[serde(skip)]
    pub hash: String,
    /// Most dollars the key may spend; `None` is no limit.
    pub budget_usd: Option<f64>,
    pub spent_usd: f64,
    /// Most requests a minute; `None` is no limit.
    pub rpm: Option<u32>,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// The insight namespace the key works in: its runs recall that namespace's insights and
    /// the shared ones, and store theirs there. `None`: the shared namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Whether the key may open the dashboard (every namespace's insights, every key's runs).
    #[serde(default)]
    pub admin: bool,
}

/// Whether following an insight worked, from a verifier or a person.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub insight_id: String,
    pub run_id: Option<String>,
    pub passed: bool,
    /// `user` for feedback, or the verifier that judged.
    pub source: String,
    pub note: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// Runs and money over some span of the ledger.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub runs: u64,
    pub failed: u64,
    pub cost: Cost,
    /// What the smart model alone would have cost for the same runs.
    pub counterfactual: Cost,
}

impl Totals {
    /// Fraction of the counterfactual cost saved (negative when the runs cost more).
    pub fn savings(&self) -> f64 {
        if self.counterfactual.usd > 0.0 {
            1.0 - self.cost.usd / self.counterfactual.usd
        } else {
            0.0
        }
    }
}

/// What one model was used for across the ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelUsage {
    pub model: String,
    pub calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: Cost,
}

/// The ledger summed up.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub total: Totals,
    /// Newest day first; days are UTC dates (`2026-11-26`).
    pub by_day: Vec<(String, Totals)>,
    /// Most expensive first.
    pub by_model: Vec<ModelUsage>,
    /// What went to models outside this machine, per model.
    #[serde(default)]
    pub exposure: Vec<Exposure>,
}

/// How much of users' context one external model was sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Exposure {
    pub model: String,
    pub steps: u64,
    /// Tokens of context the steps carried.
    pub context_tokens_sent: u64,
    /// Tokens of the whole context of those steps' runs (a run counted once per step).
    pub context_tokens_total: u64,
    pub redactions: u64,
}

/// Why the store could not do what was asked. Nothing already stored is harmed by any of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("the store {location} is locked by another process; try again when it finishes")]
    Locked { location: String },
    #[error(
        "the store {location} was written by a newer aimos (schema version {found}, this build knows up to {supported}); upgrade aimos"
    )]
    NewerSchema { location: String, found: i64, supported: i64 },
    #[error("{location} is not an aimos store, or it is damaged: {message}")]
    Corrupt { location: String, message: String },
    #[error("store error at {location}: {message}")]
    Backend { location: String, message: String },
}
