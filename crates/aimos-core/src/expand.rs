//! Query expansion: the cheap model guesses what the code behind a plain report is called
//! (identifiers, file names, phrases), so that the distiller can look for names the report
//! never says. The guesses are only searched for; what the index does not hold counts for
//! nothing.

use aimos_context::Hints;
use serde_json::Value;

use crate::chat::{ChatRequest, Message, ResponseFormat};
use crate::prompts;

/// Most tokens of the guesses.
pub const MAX_TOKENS: u32 = 120;

/// Most guesses of each kind that are kept.
const MOST: usize = 8;

/// The request for `problem`: greedy, under a schema of three short lists.
pub fn request(problem: &str) -> ChatRequest {
    let list = |most: usize, longest: usize| {
        serde_json::json!({
            "type": "array",
            "items": {"type": "string", "maxLength": longest},
            "maxItems": most
        })
    };
    let schema = serde_json::json!({
        "type": "object",
        "properties": {
            "identifiers": list(6, 60),
            "files": list(3, 60),
            "phrases": list(3, 60)
        },
        "required": ["identifiers", "files", "phrases"],
        "additionalProperties": false
    });
    // A long report is cut: its first lines say what it is about.
    let shown: String = problem.chars().take(2000).collect();
    ChatRequest {
        messages: vec![
            Message::system(prompts::EXPAND_SYSTEM),
            Message::user(format!(
                "Report:\n{shown}\n\nWhat is the code it is about likely called?"
            )),
        ],
        max_tokens: Some(MAX_TOKENS),
        temperature: Some(0.0),
        response_format: Some(ResponseFormat::JsonSchema { name: "search_hints".into(), schema }),
        ..ChatRequest::default()
    }
}

/// The hints in a model's answer; an answer out of form (or cut short) gives what could be
/// read of it, possibly nothing.
pub fn read(content: &str) -> Hints {
    let Ok(value) = serde_json::from_str::<Value>(content) else {
        return Hints::default();
    };
    let list = |field: &str| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for item in value[field].as_array().into_iter().flatten() {
            let Some(text) = item.as_str().map(str::trim) else { continue };
            if !text.is_empty() && text.len() <= 80 && !out.iter().any(|o| o == text) {
                out.push(text.to_owned());
            }
        }
        out.truncate(MOST);
        out
    };
    Hints { identifiers: list("identifiers"), files: list("files"), phrases: list("phrases") }
}

/// The hints in one line, for a step's note.
pub fn describe(hints: &Hints) -> String {
    if hints.is_empty() {
        return "no search hints".into();
    }
    let mut parts = Vec::new();
    for (kind, items) in
        [("identifiers", &hints.identifiers), ("files", &hints.files), ("phrases", &hints.phrases)]
    {
        if !items.is_empty() {
            parts.push(format!("{kind} {}", items.join(", ")));
        }
    }
    format!("searched for {}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_are_read_from_the_answer_and_a_broken_answer_gives_none() {
        let hints = read(
            r#"{"identifiers": ["get_matching_blocks", " ", "get_matching_blocks", "SequenceMatcher"],
                "files": ["difflib.py"], "phrases": ["matching blocks"]}"#,
        );
        assert_eq!(hints.identifiers, ["get_matching_blocks", "SequenceMatcher"]);
        assert_eq!(hints.files, ["difflib.py"]);
        assert!(describe(&hints).contains("files difflib.py"));
        assert!(read(r#"{"identifiers": ["a", "#).is_empty());
        assert!(read("not json").is_empty());
        assert_eq!(describe(&Hints::default()), "no search hints");
    }

    #[test]
    fn the_request_is_greedy_bounded_and_carries_the_report() {
        let long = "x".repeat(10_000);
        let request = request(&long);
        assert_eq!(request.temperature, Some(0.0));
        assert_eq!(request.max_tokens, Some(MAX_TOKENS));
        let asked = &request.messages[1].content;
        assert!(asked.len() < 2200, "{}", asked.len());
    }
}
