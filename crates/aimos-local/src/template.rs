//! Chat templates: turning a list of messages into the exact prompt text a model was trained on.
//!
//! The GGUF carries its template as Jinja source. llama.cpp's own `apply_chat_template` guesses
//! the format from heuristics and drops details such as a model's default system prompt, so the
//! Jinja source is rendered here (with Python-compatible string methods, as the templates expect).
//! A model without a usable template falls back to ChatML.

use aimos_core::{Message, ModelError};
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use minijinja::{Environment, ErrorKind, Value, context};

/// A model's chat template, ready to render.
pub struct ChatTemplate {
    env: Option<Environment<'static>>,
    bos_text: String,
    eos_text: String,
    bos: Option<LlamaToken>,
}

const TEMPLATE_NAME: &str = "chat";

impl ChatTemplate {
    /// The template of `llama`, or ChatML when it has none that renders.
    pub fn from_model(llama: &LlamaModel) -> ChatTemplate {
        let vocab = llama.vocab();
        let token_text = |token: LlamaToken| {
            (token.0 >= 0 && token.0 < vocab.n_tokens())
                .then(|| vocab.text(token).map(|t| t.to_string_lossy().into_owned()))
                .flatten()
        };
        let bos = vocab.bos();
        let bos_text = token_text(bos).unwrap_or_default();
        let eos_text = token_text(vocab.eos()).unwrap_or_default();
        let bos = (vocab.should_add_bos() && !bos_text.is_empty()).then_some(bos);
        let source = llama.chat_template(None).ok().and_then(|t| t.to_string().ok());
        let mut template = ChatTemplate { env: None, bos_text, eos_text, bos };
        if let Some(source) = source {
            template.env = jinja_environment(source);
            // A template that cannot render a plain conversation is no use; fall back.
            let probe = [Message::system("s"), Message::user("u")];
            if template.render(&probe).is_err() {
                tracing::warn!("the model's chat template does not render; using ChatML");
                template.env = None;
            }
        }
        template
    }

    /// Renders `messages` with the assistant's turn opened, ready for generation.
    pub fn render(&self, messages: &[Message]) -> Result<String, ModelError> {
        let Some(env) = &self.env else {
            return Ok(chatml(messages));
        };
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| context! { role => m.role.as_str(), content => m.content.as_str() })
            .collect();
        env.get_template(TEMPLATE_NAME)
            .and_then(|template| {
                template.render(context! {
                    messages => messages,
                    add_generation_prompt => true,
                    bos_token => self.bos_text.as_str(),
                    eos_token => self.eos_text.as_str(),
                })
            })
            .map_err(|err| ModelError::InvalidRequest {
                message: format!("the model's chat template rejected the conversation: {err:#}"),
            })
    }

    /// Tokens of a rendered prompt, with the BOS token added when the model wants one and the
    /// template did not already write it.
    pub fn tokenize(&self, llama: &LlamaModel, prompt: &str) -> Vec<LlamaToken> {
        let mut tokens = llama.vocab().tokenize(prompt.as_bytes(), false, true);
        if let Some(bos) = self.bos
            && tokens.first() != Some(&bos)
        {
            tokens.insert(0, bos);
        }
        tokens
    }
}

fn jinja_environment(source: String) -> Option<Environment<'static>> {
    let mut env = Environment::new();
    // The settings Hugging Face's `apply_chat_template` renders with.
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", |message: String| -> Result<Value, minijinja::Error> {
        Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
    });
    match env.add_template_owned(TEMPLATE_NAME, source) {
        Ok(()) => Some(env),
        Err(err) => {
            tracing::warn!(error = %err, "the model's chat template does not parse; using ChatML");
            None
        }
    }
}

fn chatml(messages: &[Message]) -> String {
    let mut prompt = String::new();
    for message in messages {
        prompt.push_str("<|im_start|>");
        prompt.push_str(message.role.as_str());
        prompt.push('\n');
        prompt.push_str(&message.content);
        prompt.push_str("<|im_end|>\n");
    }
    prompt.push_str("<|im_start|>assistant\n");
    prompt
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_with(source: &str, messages: &[Message]) -> Result<String, ModelError> {
        let template = ChatTemplate {
            env: jinja_environment(source.to_owned()),
            bos_text: "<s>".into(),
            eos_text: "</s>".into(),
            bos: None,
        };
        assert!(template.env.is_some(), "template parses");
        template.render(messages)
    }

    #[test]
    fn renders_python_style_templates() {
        let source = "{{ bos_token }}{% for m in messages %}[{{ m['role'].upper() }}] {{ m.content.strip() }}\n{% endfor %}{% if add_generation_prompt %}[ASSISTANT]{% endif %}";
        let out = render_with(source, &[Message::system(" be brief "), Message::user("hi")])
            .expect("renders");
        assert_eq!(out, "<s>[SYSTEM] be brief\n[USER] hi\n[ASSISTANT]");
    }

    #[test]
    fn raise_exception_in_a_template_is_a_clear_error() {
        let source = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversation must start with user') }}{% endif %}ok";
        let err = render_with(source, &[Message::assistant("hi")]).expect_err("template refuses");
        assert!(err.to_string().contains("Conversation must start with user"), "{err}");
    }

    #[test]
    fn chatml_opens_the_assistant_turn() {
        let out = chatml(&[Message::user("2+2?")]);
        assert_eq!(out, "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n");
    }
}
