//! The chat template: the GGUF's `tokenizer.chat_template` (Jinja) rendered with minijinja the
//! way Hugging Face renders it, with ChatML as the fallback when it is missing or fails.

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{Environment, Error, ErrorKind, Value, context};
use serde::Serialize;

/// The ChatML format, used when a model has no template or its template fails to render.
pub const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// One message as the template sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl TemplateMessage {
    /// A message with `role` and `content`.
    pub fn new(role: &str, content: &str) -> Self {
        Self {
            role: role.to_string(),
            content: content.to_string(),
        }
    }
}

/// A compiled chat template and the token texts it may refer to.
pub struct ChatTemplate {
    env: Environment<'static>,
    /// Whether the model's own template is used (false: ChatML fallback).
    pub is_model_template: bool,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// Compiles `source` (the GGUF's template), falling back to ChatML with a warning when it
    /// is absent or does not compile.
    pub fn new(source: Option<&str>, bos_token: &str, eos_token: &str) -> Self {
        let mut env = Environment::new();
        // As transformers' `ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)`.
        match SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
        {
            Ok(syntax) => env.set_syntax(syntax),
            Err(e) => tracing::warn!("chat template syntax settings: {e}"),
        }
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        let mut is_model_template = false;
        if let Some(src) = source.filter(|s| !s.trim().is_empty()) {
            match env.add_template_owned("chat", src.to_string()) {
                Ok(()) => is_model_template = true,
                Err(e) => {
                    tracing::warn!("the model's chat template does not compile ({e}); using ChatML")
                }
            }
        }
        if !is_model_template && let Err(e) = env.add_template("chat", CHATML) {
            tracing::error!("the ChatML template does not compile: {e}");
        }
        Self {
            env,
            is_model_template,
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
        }
    }

    /// Renders `messages` followed by the assistant's turn prompt. A template that fails at
    /// render time (a missing filter, an exception it raises) falls back to ChatML.
    pub fn render(&self, messages: &[TemplateMessage]) -> String {
        let ctx = context! {
            messages => Serde(messages),
            add_generation_prompt => true,
            bos_token => self.bos_token.as_str(),
            eos_token => self.eos_token.as_str(),
        };
        let rendered = self.env.get_template("chat").and_then(|t| t.render(&ctx));
        match rendered {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!("the model's chat template failed to render ({e}); using ChatML");
                render_chatml(messages)
            }
        }
    }
}

/// ChatML without a template engine (cannot fail).
pub fn render_chatml(messages: &[TemplateMessage]) -> String {
    let mut out = String::new();
    for m in messages {
        out.push_str(&format!(
            "<|im_start|>{}\n{}<|im_end|>\n",
            m.role, m.content
        ));
    }
    out.push_str("<|im_start|>assistant\n");
    out
}

fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

fn strftime_now(format: String) -> String {
    chrono::Local::now().format(&format).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history() -> Vec<TemplateMessage> {
        vec![
            TemplateMessage::new("system", "Be brief."),
            TemplateMessage::new("user", "Hi"),
            TemplateMessage::new("assistant", "Hello!"),
            TemplateMessage::new("user", "2+2?"),
        ]
    }

    #[test]
    fn chatml_fallback_equals_the_chatml_template() {
        let t = ChatTemplate::new(None, "", "");
        assert!(!t.is_model_template);
        assert_eq!(t.render(&history()), render_chatml(&history()));
    }

    #[test]
    fn python_methods_and_bos_work() {
        let src =
            "{{ bos_token }}{% for m in messages %}{{ m['content'].strip() | upper }}{% endfor %}";
        let t = ChatTemplate::new(Some(src), "<s>", "</s>");
        assert!(t.is_model_template);
        let msgs = [TemplateMessage::new("user", "  hi ")];
        assert_eq!(t.render(&msgs), "<s>HI");
    }

    #[test]
    fn a_template_that_raises_falls_back_to_chatml() {
        let src = "{{ raise_exception('roles must alternate') }}";
        let t = ChatTemplate::new(Some(src), "", "");
        assert_eq!(t.render(&history()), render_chatml(&history()));
        let broken = ChatTemplate::new(Some("{% for %}"), "", "");
        assert!(!broken.is_model_template);
    }
}
