//! GGUF chat templates of real model families rendered with minijinja, each asserted against
//! the exact prompt the template produces under Hugging Face transformers' Jinja settings
//! (`trim_blocks`, `lstrip_blocks`, `raise_exception`). The templates are the models' published
//! `chat_template` texts, kept as data under `fixtures/chat_templates/`; the expected prompts
//! were rendered from the same files with Python's jinja2 configured as transformers does.
//! The first four tests come from the unit tests of the Jinja-subset interpreter this
//! replaced.

#![allow(clippy::unwrap_used)] // test code: panics are failures

use ragmesh_llm::{ChatFormat, ChatMessage, ChatTemplate, FormatSource, JinjaTemplate};

const SMOLLM2: &str = include_str!("fixtures/chat_templates/smollm2.jinja");
const LLAMA3: &str = include_str!("fixtures/chat_templates/llama3.jinja");
const LLAMA3_1: &str = include_str!("fixtures/chat_templates/llama3_1.jinja");
const MISTRAL: &str = include_str!("fixtures/chat_templates/mistral_instruct_v0_2.jinja");
const GEMMA: &str = include_str!("fixtures/chat_templates/gemma.jinja");
const PHI3: &str = include_str!("fixtures/chat_templates/phi3.jinja");
const QWEN2_5: &str = include_str!("fixtures/chat_templates/qwen2_5.jinja");
const ZEPHYR: &str = include_str!("fixtures/chat_templates/zephyr.jinja");
const DEEPSEEK_R1: &str = include_str!("fixtures/chat_templates/deepseek_r1_distill.jinja");

/// A Zephyr-style template written over several lines with whitespace control, raising on an
/// unknown role (from the interpreter's tests).
const ZEPHYR_RAISING: &str = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% else %}\n{{ raise_exception('unknown role') }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

const SYSTEM: &str = "You are a helpful assistant";

/// system + user + assistant + user.
fn conversation() -> Vec<ChatMessage> {
    vec![
        ChatMessage::new("system", SYSTEM),
        ChatMessage::new("user", "Hello"),
        ChatMessage::new("assistant", "Hi there"),
        ChatMessage::new("user", "Who are you"),
    ]
}

fn parse(source: &str) -> JinjaTemplate {
    JinjaTemplate::parse(source).unwrap()
}

/// What the embedded backend writes: the GGUF's template for one system + user exchange.
fn rag_prompt(source: &str, bos: &str, eos: &str) -> (String, ChatFormat) {
    let (format, from) = ChatFormat::from_gguf(Some(source), eos);
    assert_eq!(from, FormatSource::GgufTemplate, "{format:?}");
    (format.render(SYSTEM, "Hello", bos), format)
}

// ---- moved from the interpreter's unit tests ----

#[test]
fn smollm2_template_renders_chatml_exactly() {
    assert_eq!(
        parse(SMOLLM2)
            .render_chat("S", "U", "", "<|im_end|>")
            .unwrap(),
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
    );
}

#[test]
fn llama3_template_with_set_filters_and_bos() {
    assert_eq!(
        parse(LLAMA3)
            .render_chat(" S ", "U", "<|begin_of_text|>", "")
            .unwrap(),
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    );
}

#[test]
fn trim_blocks_and_lstrip_blocks_like_hugging_face() {
    assert_eq!(
        parse(ZEPHYR_RAISING)
            .render_chat("S", "U", "", "</s>")
            .unwrap(),
        "<|system|>\nS</s>\n<|user|>\nU</s>\n<|assistant|>\n"
    );
}

/// The interpreter's cases `{% macro %}` and `| tojson` are gone: minijinja renders both, so
/// they now render instead of failing; broken syntax, unknown filters and `raise_exception`
/// are still errors.
#[test]
fn broken_templates_are_an_error_not_a_wrong_prompt() {
    assert!(JinjaTemplate::parse("{% macro x( %}{% endmacro %}").is_err());
    assert!(JinjaTemplate::parse("{% if x %}open").is_err());
    let unknown_filter = JinjaTemplate::parse("{{ messages | no_such_filter }}")
        .and_then(|t| t.render_chat("", "", "", ""));
    assert!(unknown_filter.is_err());
    let raising = parse("{{ raise_exception('no system role') }}");
    assert_eq!(
        raising.render_chat("", "", "", "").unwrap_err().0,
        "the template raised: no system role"
    );
    assert_eq!(
        parse("{% macro m(x) %}<{{ x }}>{% endmacro %}{{ m(messages | length) }}{{ messages[0] | tojson }}")
            .render_chat("S", "U", "", "")
            .unwrap(),
        r#"<2>{"role": "system", "content": "S"}"#
    );
}

// ---- real model families ----

#[test]
fn smollm2_chatml() {
    let t = parse(SMOLLM2);
    assert_eq!(
        t.render(&conversation(), true, "", "<|im_end|>").unwrap(),
        "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n"
    );
    // Without a system turn the template writes its own.
    assert_eq!(
        t.render(&[ChatMessage::new("user", "Hello")], true, "", "<|im_end|>")
            .unwrap(),
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
    );
    let (prompt, format) = rag_prompt(SMOLLM2, "", "<|im_end|>");
    assert_eq!(prompt, ChatTemplate::ChatMl.render(SYSTEM, "Hello", ""));
    assert_eq!(format.family, ChatTemplate::ChatMl);
}

#[test]
fn llama3_instruct() {
    assert_eq!(
        parse(LLAMA3)
            .render(&conversation(), true, "<|begin_of_text|>", "<|eot_id|>")
            .unwrap(),
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    );
    let (prompt, format) = rag_prompt(LLAMA3, "<|begin_of_text|>", "<|eot_id|>");
    assert_eq!(
        prompt,
        ChatTemplate::Llama3.render(SYSTEM, "Hello", "<|begin_of_text|>")
    );
    assert_eq!(format.family, ChatTemplate::Llama3);
}

/// Llama 3.1 declares tools, `date_string` and `builtin_tools` when they are not defined and
/// writes a dated system header; no tools are passed, so its tool blocks stay out.
#[test]
fn llama3_1_instruct_with_its_date_header_and_tool_blocks() {
    assert_eq!(
        parse(LLAMA3_1)
            .render(&conversation(), true, "<|begin_of_text|>", "<|eot_id|>")
            .unwrap(),
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nYou are a helpful assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    );
    let (prompt, format) = rag_prompt(LLAMA3_1, "<|begin_of_text|>", "<|eot_id|>");
    assert_eq!(
        prompt,
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nYou are a helpful assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    );
    assert_eq!(format.family, ChatTemplate::Llama3);
    assert!(!format.merges_system_turn());
}

/// Mistral Instruct v0.2 refuses anything but alternating user/assistant turns; the RAG
/// prompt merges the system text into the user turn.
#[test]
fn mistral_instruct_raises_on_a_system_turn_and_gets_it_merged() {
    let t = parse(MISTRAL);
    assert_eq!(
        t.render(&conversation(), true, "<s>", "</s>")
            .unwrap_err()
            .0,
        "the template raised: Conversation roles must alternate user/assistant/user/assistant/..."
    );
    assert_eq!(
        t.render(&conversation()[1..], true, "<s>", "</s>").unwrap(),
        "<s>[INST] Hello [/INST]Hi there</s>[INST] Who are you [/INST]"
    );
    let (prompt, format) = rag_prompt(MISTRAL, "<s>", "</s>");
    assert_eq!(
        prompt,
        "<s>[INST] You are a helpful assistant\n\nHello [/INST]"
    );
    assert_eq!(prompt, ChatTemplate::Inst.render(SYSTEM, "Hello", "<s>"));
    assert_eq!(format.family, ChatTemplate::Inst);
    assert!(format.merges_system_turn());
}

/// Gemma has no system role: its template raises, so the system text opens the user turn.
#[test]
fn gemma_raises_on_a_system_turn_and_gets_it_merged() {
    let t = parse(GEMMA);
    assert_eq!(
        t.render(&conversation(), true, "<bos>", "<eos>")
            .unwrap_err()
            .0,
        "the template raised: System role not supported"
    );
    assert_eq!(
        t.render(&conversation()[1..], true, "<bos>", "<eos>")
            .unwrap(),
        "<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\n"
    );
    let (prompt, format) = rag_prompt(GEMMA, "<bos>", "<eos>");
    assert_eq!(
        prompt,
        "<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n<start_of_turn>model\n"
    );
    assert!(format.merges_system_turn());
}

#[test]
fn phi3_mini() {
    assert_eq!(
        parse(PHI3)
            .render(&conversation(), true, "<s>", "<|endoftext|>")
            .unwrap(),
        "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n"
    );
    // Without the generation prompt the template ends with eos.
    assert_eq!(
        parse(PHI3)
            .render(&conversation()[..2], false, "<s>", "<|endoftext|>")
            .unwrap(),
        "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|endoftext|>"
    );
    let (prompt, _) = rag_prompt(PHI3, "<s>", "<|endoftext|>");
    assert_eq!(
        prompt,
        "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\n"
    );
}

/// Qwen2.5's template has a tools branch (not taken: no tools) and a default system turn.
#[test]
fn qwen2_5_instruct_with_its_tools_branch() {
    let t = parse(QWEN2_5);
    assert_eq!(
        t.render(&conversation(), true, "", "<|im_end|>").unwrap(),
        "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(
        t.render(&[ChatMessage::new("user", "Hello")], true, "", "<|im_end|>")
            .unwrap(),
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
    );
    let (prompt, format) = rag_prompt(QWEN2_5, "", "<|im_end|>");
    assert_eq!(prompt, ChatTemplate::ChatMl.render(SYSTEM, "Hello", ""));
    assert_eq!(format.family, ChatTemplate::ChatMl);
}

#[test]
fn zephyr_beta() {
    assert_eq!(
        parse(ZEPHYR)
            .render(&conversation(), true, "<s>", "</s>")
            .unwrap(),
        "<|system|>\nYou are a helpful assistant</s>\n<|user|>\nHello</s>\n<|assistant|>\nHi there</s>\n<|user|>\nWho are you</s>\n<|assistant|>\n"
    );
    let (prompt, format) = rag_prompt(ZEPHYR, "<s>", "</s>");
    assert_eq!(prompt, ChatTemplate::Zephyr.render(SYSTEM, "Hello", "<s>"));
    assert_eq!(format.family, ChatTemplate::Zephyr);
}

/// DeepSeek-R1-Distill uses `namespace()` and Python's `str.split` (pycompat) and opens the
/// answer with `<think>`.
#[test]
fn deepseek_r1_distill_with_namespace_and_python_methods() {
    let bos = "<｜begin▁of▁sentence｜>";
    let eos = "<｜end▁of▁sentence｜>";
    let t = parse(DEEPSEEK_R1);
    assert_eq!(
        t.render(&conversation(), true, bos, eos).unwrap(),
        "<｜begin▁of▁sentence｜>You are a helpful assistant<｜User｜>Hello<｜Assistant｜>Hi there<｜end▁of▁sentence｜><｜User｜>Who are you<｜Assistant｜><think>\n"
    );
    // An earlier answer's reasoning is cut at `</think>` with `.split('</think>')[-1]`.
    let with_reasoning = [
        ChatMessage::new("user", "Hello"),
        ChatMessage::new("assistant", "<think>hm</think>Hi there"),
        ChatMessage::new("user", "Who are you"),
    ];
    assert_eq!(
        t.render(&with_reasoning, true, bos, eos).unwrap(),
        "<｜begin▁of▁sentence｜><｜User｜>Hello<｜Assistant｜>Hi there<｜end▁of▁sentence｜><｜User｜>Who are you<｜Assistant｜><think>\n"
    );
    let (prompt, _) = rag_prompt(DEEPSEEK_R1, bos, eos);
    assert_eq!(
        prompt,
        "<｜begin▁of▁sentence｜>You are a helpful assistant<｜User｜>Hello<｜Assistant｜><think>\n"
    );
}

#[test]
fn python_string_methods_render() {
    let t = parse(
        "{% for m in messages %}{{ m.content.strip() }}|{% if m.content.startswith(' S') %}starts{% endif %}|{{ m.role.upper() }};{% endfor %}",
    );
    assert_eq!(
        t.render_chat(" S ", "U", "", "").unwrap(),
        "S|starts|SYSTEM;U||USER;"
    );
}
