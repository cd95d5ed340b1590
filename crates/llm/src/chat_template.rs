//! Chat formats of instruction-tuned GGUF models. The file's `tokenizer.chat_template` (a
//! Jinja program) is recognised by the turn markers it writes rather than executed: the few
//! formats llama-family models use are rendered here, ChatML being the default (SmolLM2's).

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
        let Some(t) = jinja else {
            return ChatTemplate::ChatMl;
        };
        if t.contains("<|im_start|>") {
            ChatTemplate::ChatMl
        } else if t.contains("<|start_header_id|>") {
            ChatTemplate::Llama3
        } else if t.contains("<|user|>") {
            ChatTemplate::Zephyr
        } else if t.contains("[INST]") {
            ChatTemplate::Inst
        } else {
            ChatTemplate::ChatMl
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
    fn chatml_prompt_ends_at_the_assistant_turn() {
        let p = ChatTemplate::ChatMl.render("S", "U", "");
        assert_eq!(
            p,
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
        );
    }
}
