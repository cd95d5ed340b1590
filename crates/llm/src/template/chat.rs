//! Chat formats of instruction-tuned GGUF models. The file's `tokenizer.chat_template` (a
//! Jinja program) is rendered by minijinja (`jinja`); its family (which tokens end a turn) is
//! recognised by the turn markers it writes. A template that refuses a system turn (Gemma,
//! Mistral Instruct: `raise_exception`) gets the system text merged into the user turn, as
//! `system + "\n\n" + user`. Without a usable template — none, one that does not parse, or
//! one whose prompt drops the system or user text — the few formats llama-family models use
//! are rendered here, ChatML being the fallback (SmolLM2's own format).

use super::jinja::{ChatMessage, JinjaTemplate, TemplateError};
use std::sync::Arc;

/// A chat format: how system/user turns are wrapped and which token ends the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatTemplate {
    /// `<|im_start|>role\n…<|im_end|>\n` (SmolLM2, Qwen, many fine-tunes).
    ChatMl,
    /// `<|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>` (Llama 3).
    Llama3,
    /// `<|system|>\n…</s>\n<|user|>\n…</s>\n<|assistant|>\n` (Zephyr, TinyLlama chat).
    Zephyr,
    /// `[INST] system\n\nuser [/INST]` (Mistral / Llama 2 instruct).
    Inst,
}

impl ChatTemplate {
    /// The format a GGUF `tokenizer.chat_template` writes; ChatML when absent or unknown.
    pub fn detect(jinja: Option<&str>) -> ChatTemplate {
        Self::recognise(jinja).unwrap_or(ChatTemplate::ChatMl)
    }

    /// The format a GGUF `tokenizer.chat_template` writes; None when absent or unknown (the
    /// caller falls back to ChatML and says so).
    pub fn recognise(jinja: Option<&str>) -> Option<ChatTemplate> {
        let t = jinja?;
        if t.contains("<|im_start|>") {
            Some(ChatTemplate::ChatMl)
        } else if t.contains("<|start_header_id|>") {
            Some(ChatTemplate::Llama3)
        } else if t.contains("<|user|>") {
            Some(ChatTemplate::Zephyr)
        } else if t.contains("[INST]") {
            Some(ChatTemplate::Inst)
        } else {
            None
        }
    }

    /// The prompt for one system + one user turn, ending where the assistant's answer starts.
    pub fn render(self, system: &str, user: &str, bos: &str) -> String {
        match self {
            ChatTemplate::ChatMl => format!(
                "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
            ),
            ChatTemplate::Llama3 => format!(
                "{bos}<|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{user}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
            ),
            ChatTemplate::Zephyr => {
                format!("<|system|>\n{system}</s>\n<|user|>\n{user}</s>\n<|assistant|>\n")
            }
            ChatTemplate::Inst => format!("{bos}[INST] {system}\n\n{user} [/INST]"),
        }
    }

    /// Token strings that end the assistant's turn (besides the model's eos id).
    pub fn stop_tokens(self) -> &'static [&'static str] {
        match self {
            ChatTemplate::ChatMl => &["<|im_end|>", "<|endoftext|>"],
            ChatTemplate::Llama3 => &["<|eot_id|>", "<|end_of_text|>"],
            ChatTemplate::Zephyr | ChatTemplate::Inst => &["</s>"],
        }
    }
}

/// Where a model's chat format came from, for the load log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatSource {
    /// The GGUF's own Jinja template, rendered.
    GgufTemplate,
    /// The GGUF's template could not be rendered; its family was recognised by its markers.
    Recognised(String),
    /// No usable template: ChatML, and why.
    Fallback(String),
}

/// How a prompt is written for one model: its own template when it renders, else the
/// renderer of its family.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatFormat {
    pub family: ChatTemplate,
    jinja: Option<Arc<JinjaTemplate>>,
    /// The template refuses a system turn: the system text opens the user turn instead.
    merge_system: bool,
    eos: String,
}

/// The messages one system + user exchange becomes for a template.
fn turns(system: &str, user: &str, merge_system: bool) -> Vec<ChatMessage> {
    if merge_system {
        vec![ChatMessage::new("user", format!("{system}\n\n{user}"))]
    } else {
        vec![
            ChatMessage::new("system", system),
            ChatMessage::new("user", user),
        ]
    }
}

/// Renders a probe exchange; the template is usable when both texts come out.
fn probe(template: &JinjaTemplate, merge_system: bool, eos: &str) -> Result<(), TemplateError> {
    let prompt = template.render(
        &turns("PROBE-SYSTEM", "PROBE-USER", merge_system),
        true,
        "",
        eos,
    )?;
    if prompt.contains("PROBE-SYSTEM") && prompt.contains("PROBE-USER") {
        Ok(())
    } else {
        Err(TemplateError("it drops the system or user turn".into()))
    }
}

impl From<ChatTemplate> for ChatFormat {
    fn from(family: ChatTemplate) -> Self {
        ChatFormat {
            family,
            jinja: None,
            merge_system: false,
            eos: String::new(),
        }
    }
}

impl ChatFormat {
    /// The format for a GGUF's `tokenizer.chat_template` (`eos` is the eos token's text). The
    /// template is used when it parses and renders a probe exchange containing both turns —
    /// with a system turn, or else with the system text merged into the user turn.
    pub fn from_gguf(jinja: Option<&str>, eos: &str) -> (ChatFormat, FormatSource) {
        let family = ChatTemplate::recognise(jinja);
        let Some(source) = jinja else {
            let format = ChatFormat::from(ChatTemplate::ChatMl);
            return (
                format,
                FormatSource::Fallback("the GGUF has no chat template".into()),
            );
        };
        let usable = JinjaTemplate::parse(source).and_then(|t| match probe(&t, false, eos) {
            Ok(()) => Ok((t, false)),
            Err(separate) => match probe(&t, true, eos) {
                Ok(()) => Ok((t, true)),
                Err(_) => Err(separate),
            },
        });
        match (usable, family) {
            (Ok((t, merge_system)), family) => (
                ChatFormat {
                    family: family.unwrap_or(ChatTemplate::ChatMl),
                    jinja: Some(Arc::new(t)),
                    merge_system,
                    eos: eos.to_string(),
                },
                FormatSource::GgufTemplate,
            ),
            (Err(e), Some(family)) => (
                ChatFormat::from(family),
                FormatSource::Recognised(format!(
                    "template not usable ({e}); recognised {family:?}"
                )),
            ),
            (Err(e), None) => (
                ChatFormat::from(ChatTemplate::ChatMl),
                FormatSource::Fallback(format!("template not usable ({e}) nor recognised")),
            ),
        }
    }

    /// The prompt for one system + one user turn, ending where the assistant's answer starts.
    pub fn render(&self, system: &str, user: &str, bos: &str) -> String {
        if let Some(t) = &self.jinja {
            match t.render(
                &turns(system, user, self.merge_system),
                true,
                bos,
                &self.eos,
            ) {
                Ok(prompt) => return prompt,
                Err(e) => {
                    tracing::warn!(error = %e, "chat template failed; using {:?}", self.family)
                }
            }
        }
        self.family.render(system, user, bos)
    }

    pub fn uses_gguf_template(&self) -> bool {
        self.jinja.is_some()
    }

    /// True when the template refuses a system turn and the system text opens the user turn.
    pub fn merges_system_turn(&self) -> bool {
        self.merge_system
    }

    /// Token strings that end the assistant's turn (besides the model's eos id).
    pub fn stop_tokens(&self) -> &'static [&'static str] {
        self.family.stop_tokens()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_formats_by_their_turn_markers() {
        assert_eq!(ChatTemplate::detect(None), ChatTemplate::ChatMl);
        assert_eq!(
            ChatTemplate::detect(Some("{{'<|im_start|>' + message['role']}}")),
            ChatTemplate::ChatMl
        );
        assert_eq!(
            ChatTemplate::detect(Some(
                "{{ '<|start_header_id|>' + role + '<|end_header_id|>' }}"
            )),
            ChatTemplate::Llama3
        );
        assert_eq!(
            ChatTemplate::detect(Some("{{ '[INST] ' + content }}")),
            ChatTemplate::Inst
        );
        assert_eq!(
            ChatTemplate::detect(Some("{{ '<|user|>\n' }}")),
            ChatTemplate::Zephyr
        );
        assert_eq!(
            ChatTemplate::detect(Some("{{ unknown }}")),
            ChatTemplate::ChatMl
        );
    }

    #[test]
    fn gguf_templates_are_interpreted_or_fall_back_with_a_reason() {
        let smol = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
        let (format, source) = ChatFormat::from_gguf(Some(smol), "<|im_end|>");
        assert_eq!(source, FormatSource::GgufTemplate);
        assert!(format.uses_gguf_template());
        assert_eq!(
            format.render("S", "U", ""),
            ChatTemplate::ChatMl.render("S", "U", "")
        );
        assert_eq!(format.stop_tokens(), ChatTemplate::ChatMl.stop_tokens());

        let (format, source) =
            ChatFormat::from_gguf(Some("{% macro m() %}<|start_header_id|>{% endmacro %}"), "");
        assert!(matches!(source, FormatSource::Recognised(_)), "{source:?}");
        assert_eq!(format.family, ChatTemplate::Llama3);

        let (format, source) = ChatFormat::from_gguf(Some("{{ messages[1]['content'] }}"), "");
        assert!(
            matches!(source, FormatSource::Fallback(ref why) if why.contains("drops")),
            "{source:?}"
        );
        assert_eq!(format.family, ChatTemplate::ChatMl);
        let (_, source) = ChatFormat::from_gguf(None, "");
        assert!(matches!(source, FormatSource::Fallback(_)));
    }

    #[test]
    fn chatml_prompt_ends_at_the_assistant_turn() {
        let p = ChatTemplate::ChatMl.render("S", "U", "");
        assert_eq!(
            p,
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
        );
    }
}
