//! Insights: what the smart model answers when consulted, and what aimos keeps of it.
//!
//! The smart model fills in an [`InsightDraft`] (its JSON Schema is [`InsightDraft::schema`]);
//! aimos validates it and stores it as an [`Insight`] with its provenance.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::price::Cost;

/// The structured answer of a consultation, exactly as the smart model writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsightDraft {
    /// What is going on, in a few sentences.
    pub diagnosis: String,
    /// Steps for the executor, in order.
    pub plan: Vec<String>,
    /// Facts from the brief the executor must not miss.
    pub key_facts: Vec<String>,
    /// Mistakes to avoid.
    pub pitfalls: Vec<String>,
    /// The model's own confidence that following the plan solves the problem, 0 to 1.
    pub confidence: f64,
    /// Why the model believes the diagnosis.
    pub reasoning: String,
}

impl InsightDraft {
    /// The JSON Schema the smart model's answer must satisfy.
    pub fn schema() -> Value {
        // Bounded lengths keep a rambling model from running out of tokens mid-answer, and the
        // guidance short enough for a small executor: at most about 2,600 characters in all.
        let list = |max: u64| json!({"type": "array", "items": {"type": "string", "maxLength": 160}, "maxItems": max});
        json!({
            "type": "object",
            "properties": {
                "diagnosis": {"type": "string", "maxLength": 300},
                "plan": {"type": "array", "items": {"type": "string", "maxLength": 160}, "minItems": 1, "maxItems": 5},
                "key_facts": list(5),
                "pitfalls": list(3),
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                "reasoning": {"type": "string", "maxLength": 200}
            },
            "required": ["diagnosis", "plan", "key_facts", "pitfalls", "confidence", "reasoning"]
        })
    }

    /// Parses and checks a model's answer; the error says what is wrong, for a retry prompt.
    pub fn parse(text: &str) -> Result<InsightDraft, String> {
        let draft: InsightDraft = serde_json::from_str(text.trim())
            .map_err(|err| format!("the answer is not the requested JSON object: {err}"))?;
        draft.validate()?;
        Ok(draft)
    }

    fn validate(&self) -> Result<(), String> {
        if self.diagnosis.trim().is_empty() {
            return Err("`diagnosis` is empty".into());
        }
        if self.plan.iter().all(|step| step.trim().is_empty()) {
            return Err("`plan` has no steps".into());
        }
        if !(0.0..=1.0).contains(&self.confidence) || !self.confidence.is_finite() {
            return Err(format!("`confidence` must be between 0 and 1, got {}", self.confidence));
        }
        Ok(())
    }
}

/// A stored insight: the draft plus where it came from and how it has fared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Insight {
    /// UUIDv7: sorts by creation time.
    pub id: String,
    /// Digest of the normalised problem, for exact-match lookups.
    pub fingerprint: String,
    pub problem: String,
    /// The brief the smart model saw, exactly.
    pub brief: String,
    #[serde(flatten)]
    pub draft: InsightDraft,
    /// The consulted model.
    pub smart_model: String,
    /// What the consultation cost.
    pub cost: Cost,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub applied: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Set when the insight was taken out of recall (kept for audit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalidated: Option<Invalidation>,
    /// The namespace of the gateway key that paid for it: only runs in that namespace recall
    /// it. `None`: shared, recalled by every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl Insight {
    /// Whether a run in `namespace` (`None`: the shared one) may see this insight: shared
    /// insights are seen by all, a namespace's only by its own runs.
    pub fn visible_to(&self, namespace: Option<&str>) -> bool {
        self.namespace.is_none() || self.namespace.as_deref() == namespace
    }
}

/// Why and when an insight stopped being recalled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invalidation {
    /// RFC 3339, UTC.
    pub at: String,
    pub reason: String,
}

impl Insight {
    /// The insight as the executor reads it.
    pub fn as_guidance(&self) -> String {
        let mut text = format!("Diagnosis: {}\n\nPlan:\n", self.draft.diagnosis.trim());
        for (idx, step) in self.draft.plan.iter().enumerate() {
            text.push_str(&format!("{}. {}\n", idx + 1, step.trim()));
        }
        let mut section = |title: &str, items: &[String]| {
            if !items.is_empty() {
                text.push_str(&format!("\n{title}:\n"));
                for item in items {
                    text.push_str(&format!("- {}\n", item.trim()));
                }
            }
        };
        section("Key facts", &self.draft.key_facts);
        section("Pitfalls", &self.draft.pitfalls);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft_json(confidence: &str) -> String {
        format!(
            r#"{{"diagnosis":"off by one","plan":["use <"],"key_facts":[],"pitfalls":["do not use <="],"confidence":{confidence},"reasoning":"the loop reads past the end"}}"#
        )
    }

    #[test]
    fn a_well_formed_answer_parses() {
        let draft = InsightDraft::parse(&draft_json("0.8")).expect("valid");
        assert_eq!(draft.plan, vec!["use <"]);
        assert_eq!(draft.confidence, 0.8);
    }

    #[test]
    fn problems_with_an_answer_are_named_for_the_retry() {
        let err = InsightDraft::parse(&draft_json("1.7")).expect_err("out of range");
        assert!(err.contains("confidence"), "{err}");
        let err = InsightDraft::parse("{\"diagnosis\": \"x\"}").expect_err("fields missing");
        assert!(err.contains("missing field"), "{err}");
        let err = InsightDraft::parse("Sure! Here is my answer").expect_err("not JSON");
        assert!(err.contains("not the requested JSON"), "{err}");
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;

    /// The smart model's answer is outside input: no answer makes parsing panic.
    #[test]
    fn no_answer_makes_insight_parsing_panic() {
        let seeds: &[&[u8]] = &[
            br#"{"diagnosis":"off by one","plan":["use <"],"key_facts":["n is len"],"pitfalls":["do not use <="],"confidence":0.8,"reasoning":"the loop reads past the end"}"#,
            br#"  {"diagnosis":"x","plan":[""],"key_facts":[],"pitfalls":[],"confidence":1e308,"reasoning":""}  "#,
        ];
        crate::fuzz::run("insight", seeds, |input| {
            let _ = InsightDraft::parse(&crate::fuzz::text(input));
        });
    }
}
