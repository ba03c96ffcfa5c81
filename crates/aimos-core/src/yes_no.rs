//! One yes-or-no question to a model, under a JSON schema: the reuse check, the shadow check and
//! the judge all ask one. This module builds the request and reads the answer; callers send it
//! through their own path (a pipeline step, a verifier) so that each is accounted for where it
//! happens.

use serde_json::Value;

use crate::chat::{ChatRequest, Message, ResponseFormat};

/// Most tokens of a yes-or-no answer: the flag and a one-sentence reason.
const MAX_TOKENS: u32 = 256;

/// A yes-or-no question whose answer is `{FIELD: bool, "reason": text}`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct YesNo {
    /// The schema's name, as the model's response format carries it.
    pub name: &'static str,
    /// The boolean field (`applies`, `passed`).
    pub field: &'static str,
}

impl YesNo {
    /// The JSON Schema of the answer.
    pub fn schema(&self) -> Value {
        serde_json::json!({
            "type": "object",
            "properties": {
                self.field: {"type": "boolean"},
                "reason": {"type": "string", "maxLength": 300}
            },
            "required": [self.field, "reason"],
            "additionalProperties": false
        })
    }

    /// The request: `system` and `question`, greedy, under the schema.
    pub fn request(&self, system: &str, question: String) -> ChatRequest {
        ChatRequest {
            messages: vec![Message::system(system), Message::user(question)],
            max_tokens: Some(MAX_TOKENS),
            temperature: Some(0.0),
            response_format: Some(ResponseFormat::JsonSchema {
                name: self.name.into(),
                schema: self.schema(),
            }),
            ..ChatRequest::default()
        }
    }

    /// The answer and its reason; an answer not in the schema's form is a no, and the reason
    /// says that `who` answered out of form.
    pub fn read(&self, content: &str, who: &str) -> (bool, String) {
        self.parse(content).unwrap_or_else(|| {
            let shown: String = content.chars().take(200).collect();
            (false, format!("{who} did not answer in the expected form: {shown}"))
        })
    }

    fn parse(&self, content: &str) -> Option<(bool, String)> {
        let value = serde_json::from_str::<Value>(content).ok()?;
        Some((value[self.field].as_bool()?, value["reason"].as_str()?.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSED: YesNo = YesNo { name: "verdict", field: "passed" };

    #[test]
    fn an_answer_in_form_is_read_and_anything_else_is_a_no_that_says_why() {
        assert_eq!(
            PASSED.read(r#"{"passed": true, "reason": "fits"}"#, "the judge"),
            (true, "fits".to_owned())
        );
        for bad in ["", "yes", r#"{"passed": "yes", "reason": "x"}"#, r#"{"passed": true}"#] {
            let (passed, reason) = PASSED.read(bad, "the judge");
            assert!(!passed, "{bad}");
            assert!(
                reason.starts_with("the judge did not answer in the expected form"),
                "{reason}"
            );
        }
    }

    #[test]
    fn the_request_carries_the_schema_for_its_field() {
        let request = PASSED.request("system", "question".into());
        let Some(ResponseFormat::JsonSchema { name, schema }) = &request.response_format else {
            panic!("a schema");
        };
        assert_eq!(name, "verdict");
        assert_eq!(schema["required"][0], "passed");
        assert_eq!(request.temperature, Some(0.0));
    }
}
