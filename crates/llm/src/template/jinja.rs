//! A GGUF model's own chat template (`tokenizer.chat_template`, a Jinja program written for
//! Hugging Face transformers) rendered with minijinja the way transformers renders it:
//! `trim_blocks` and `lstrip_blocks` on, `{% break %}`/`{% continue %}`, Python's string and
//! dict methods (`.strip()`, `.startswith()`, `.split()`, `.items()` … via minijinja-contrib's
//! pycompat), and a `raise_exception(message)` function that fails the render with the
//! template's own message. Each render gets `messages` (`role`, `content`),
//! `add_generation_prompt`, `bos_token` and `eos_token`; nothing else is defined, so a template
//! that asks `strftime_now is defined` or `tools is defined` takes its own default branch (a
//! prompt never depends on today's date, which keeps it cacheable).

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, Error, ErrorKind, Value, context};

/// Name of the one template in a [`JinjaTemplate`]'s environment.
const NAME: &str = "chat_template";
/// What `raise_exception` puts before the template's message.
const RAISED: &str = "the template raised: ";

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// Why a template cannot be used: it does not parse, or rendering failed (for
/// `raise_exception`, the message is `the template raised: <its message>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

impl From<Error> for TemplateError {
    fn from(e: Error) -> Self {
        match e.detail() {
            Some(detail) if detail.starts_with(RAISED) => TemplateError(detail.to_string()),
            _ => TemplateError(e.to_string()),
        }
    }
}

/// `raise_exception(message)`: the template refuses the conversation.
fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(
        ErrorKind::InvalidOperation,
        format!("{RAISED}{message}"),
    ))
}

/// A parsed chat template, ready to render conversations.
pub struct JinjaTemplate {
    source: String,
    env: Environment<'static>,
}

impl std::fmt::Debug for JinjaTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JinjaTemplate")
            .field("source_chars", &self.source.len())
            .finish_non_exhaustive()
    }
}

impl PartialEq for JinjaTemplate {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl JinjaTemplate {
    /// Parses `source`; a syntax error is a [`TemplateError`].
    pub fn parse(source: &str) -> Result<JinjaTemplate, TemplateError> {
        let mut env = Environment::new();
        env.set_syntax(
            SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()?,
        );
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_template_owned(NAME, source.to_string())?;
        Ok(JinjaTemplate {
            source: source.to_string(),
            env,
        })
    }

    /// The prompt for `messages`, ending where the assistant's answer starts when
    /// `add_generation_prompt` is set.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
        bos: &str,
        eos: &str,
    ) -> Result<String, TemplateError> {
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| context! { role => m.role.as_str(), content => m.content.as_str() })
            .collect();
        let template = self.env.get_template(NAME)?;
        Ok(template.render(context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => bos,
            eos_token => eos,
        })?)
    }

    /// The prompt for one system and one user message, with the generation prompt.
    pub fn render_chat(
        &self,
        system: &str,
        user: &str,
        bos: &str,
        eos: &str,
    ) -> Result<String, TemplateError> {
        self.render(
            &[
                ChatMessage::new("system", system),
                ChatMessage::new("user", user),
            ],
            true,
            bos,
            eos,
        )
    }
}
