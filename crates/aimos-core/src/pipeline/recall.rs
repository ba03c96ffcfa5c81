//! Recall: a stored insight instead of a consultation. Two ways: an older insight for a matching
//! problem that the policy trusts and a model confirms applies (`reuse.rs` holds the matching
//! and the estimates), or the insight another run is making from the same brief right now —
//! consultations are single-flight across everything that shares a store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::consult::Consulted;
use super::distill::Distilled;
use super::{
    Pipeline, PipelineError, RunOptions, Task, digest, fingerprint, ms, redact_request, sleep,
};
use crate::ids::now_rfc3339;
use crate::insight::Insight;
use crate::reuse::{self, Candidate, ReuseCheck};
use crate::run::{RunRecord, Step, StepKind};

/// How long a claim to consult lasts: longer than any consultation, so that only a holder
/// that vanished lets it lapse.
pub(super) const CLAIM_TTL: Duration = Duration::from_secs(300);

/// How often a run waiting for another's consultation looks again.
const CLAIM_POLL: Duration = Duration::from_millis(200);

/// How a consultation was settled when this run claimed (or waited on) its brief.
pub(super) enum Claimed {
    /// This run holds the claim and must consult, then release it.
    Mine(String),
    /// Another run made the insight while this one waited.
    Recalled(Box<Insight>),
}

impl Pipeline {
    /// A stored insight for this problem, if one matches closely, has a good enough record, and
    /// (under the policy's check) a model confirms it applies; its guidance then stands in for
    /// a consultation. The check, or the reuse, is a `recall` step.
    pub(super) async fn recall_phase(
        &self,
        task: &Task,
        options: &RunOptions,
        brief: &Distilled,
        record: &mut RunRecord,
    ) -> Result<Option<Consulted>, PipelineError> {
        // A stored insight whose brief quotes other files than this one's was about other code,
        // however alike the two problems read.
        let Some(best) = self
            .reuse_candidates(&task.problem, options)?
            .into_iter()
            .find(|c| !reuse::briefs_differ(&brief.text, &c.insight.brief))
        else {
            return Ok(None);
        };
        let why = format!(
            "insight {} (match {:.2}, success estimate {:.2})",
            best.insight.id, best.matched, best.success
        );
        let checker = match options.reuse.check {
            ReuseCheck::Cheap => Some(("cheap", Arc::clone(&self.cheap))),
            ReuseCheck::Judge => Some(("smart", Arc::clone(&self.smart))),
            ReuseCheck::Off | ReuseCheck::Never => None,
        };
        let applies = match checker {
            None => {
                record.steps.push(Step::stage(
                    StepKind::Recall,
                    0.0,
                    digest(&best.insight.brief),
                    format!("reused {why} without a check"),
                ));
                true
            }
            Some((role, model)) => {
                let mut request = reuse::confirmation_request(&brief.text, &best.insight);
                let redactions =
                    redact_request(&mut request, options.redact, &*model).count() as u64;
                let mut call =
                    self.call(role, &*model, request, StepKind::Recall, None, None).await?;
                let (applies, reason) = reuse::read_confirmation(&call.response.content);
                call.step.note = Some(if applies {
                    format!("reused {why}: {} confirmed it applies ({reason})", call.response.model)
                } else {
                    format!(
                        "did not reuse {why}: {} found it does not apply ({reason})",
                        call.response.model
                    )
                });
                call.step.context_tokens = brief.context_tokens;
                call.step.redactions = redactions;
                record.steps.push(call.step);
                applies
            }
        };
        if !applies {
            return Ok(None);
        }
        record.insight_id = Some(best.insight.id.clone());
        record.reason = format!("{}; reused {why}", record.reason);
        Ok(Some(Consulted {
            guidance: best.insight.as_guidance(),
            rates: None,
            brief: brief.text.clone(),
            context_tokens: brief.context_tokens,
        }))
    }

    /// Stored insights that may stand in for a consultation on `problem`, best first.
    pub(super) fn reuse_candidates(
        &self,
        problem: &str,
        options: &RunOptions,
    ) -> Result<Vec<Candidate>, PipelineError> {
        Ok(reuse::find_with(
            &*self.store,
            problem,
            &options.reuse,
            options.namespace.as_deref(),
            options.embedder.as_deref(),
        )?)
    }

    /// Claims the consultation on `brief` for this run, unless another run (in this process or
    /// another sharing the store) holds it: then waits for that run's insight and recalls it
    /// (a `recall` step). If the holder fails or vanishes, this run takes the claim over.
    pub(super) async fn claim_or_wait(
        &self,
        problem: &str,
        brief: &str,
        namespace: Option<&str>,
        record: &mut RunRecord,
    ) -> Result<Claimed, PipelineError> {
        let fingerprint = fingerprint(problem);
        // Runs in different namespaces never wait for each other's insight.
        let key = match namespace {
            Some(namespace) => format!("consult:{namespace}:{}", digest(brief)),
            None => format!("consult:{}", digest(brief)),
        };
        let since = now_rfc3339();
        let started = Instant::now();
        let mut waited = false;
        loop {
            if self.store.claim(&key, &record.id, CLAIM_TTL)? {
                if waited
                    && let Some(insight) =
                        self.fresh_insight(&fingerprint, brief, &since, namespace)?
                {
                    let _ = self.store.release(&key, &record.id);
                    return Ok(Claimed::Recalled(Box::new(waited_for(insight, record, started))));
                }
                return Ok(Claimed::Mine(key));
            }
            waited = true;
            if let Some(insight) = self.fresh_insight(&fingerprint, brief, &since, namespace)? {
                return Ok(Claimed::Recalled(Box::new(waited_for(insight, record, started))));
            }
            sleep(CLAIM_POLL).await;
        }
    }

    /// An insight made from exactly `brief` since `since`.
    fn fresh_insight(
        &self,
        fingerprint: &str,
        brief: &str,
        since: &str,
        namespace: Option<&str>,
    ) -> Result<Option<Insight>, PipelineError> {
        Ok(self.store.insights_by_fingerprint(fingerprint)?.into_iter().find(|i| {
            i.brief == brief
                && i.created_at.as_str() >= since
                && i.namespace.as_deref() == namespace
        }))
    }
}

/// The `recall` step of a run that waited for another run's insight instead of paying for its
/// own.
fn waited_for(insight: Insight, record: &mut RunRecord, started: Instant) -> Insight {
    record.steps.push(Step::stage(
        StepKind::Recall,
        ms(started.elapsed()),
        digest(&insight.brief),
        format!(
            "waited for insight {} that another run was making from the same brief",
            insight.id
        ),
    ));
    insight
}
