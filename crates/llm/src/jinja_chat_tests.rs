//! Tests of the chat-template interpreter (jinja_chat.rs) against the templates real GGUF
//! models carry.

use super::*;

/// SmolLM2-Instruct's template, as its GGUF carries it.
const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// Llama 3 Instruct's template.
const LLAMA3: &str = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

/// A Zephyr-style template written over several lines with whitespace control.
const ZEPHYR: &str = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% else %}\n{{ raise_exception('unknown role') }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

#[test]
fn smollm2_template_renders_chatml_exactly() {
    let t = JinjaTemplate::parse(SMOLLM2).unwrap();
    assert_eq!(
        t.render_chat("S", "U", "", "<|im_end|>").unwrap(),
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
    );
}

#[test]
fn llama3_template_with_set_filters_and_bos() {
    let t = JinjaTemplate::parse(LLAMA3).unwrap();
    assert_eq!(
        t.render_chat(" S ", "U", "<|begin_of_text|>", "").unwrap(),
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    );
}

#[test]
fn trim_blocks_and_lstrip_blocks_like_hugging_face() {
    let t = JinjaTemplate::parse(ZEPHYR).unwrap();
    assert_eq!(
        t.render_chat("S", "U", "", "</s>").unwrap(),
        "<|system|>\nS</s>\n<|user|>\nU</s>\n<|assistant|>\n"
    );
}

#[test]
fn unsupported_syntax_is_an_error_not_a_wrong_prompt() {
    assert!(JinjaTemplate::parse("{% macro x() %}{% endmacro %}").is_err());
    assert!(
        JinjaTemplate::parse("{{ messages | tojson }}")
            .unwrap()
            .render_chat("", "", "", "")
            .is_err()
    );
    assert!(JinjaTemplate::parse("{% if x %}open").is_err());
    let raising = JinjaTemplate::parse("{{ raise_exception('no system role') }}").unwrap();
    assert_eq!(
        raising.render_chat("", "", "", "").unwrap_err().0,
        "the template raised: no system role"
    );
}
