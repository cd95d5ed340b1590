//! The tokenizer rebuilt from the GGUF metadata must give exactly the ids transformers gives
//! (frozen in fixtures/token_ids.json by fixtures/make_token_ids.py) and decode them back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // test code: panics are failures, output is for eyes

use ragmesh_llm::{GgufTokenizer, Utf8Stream};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Deserialize)]
struct Fixture {
    gguf: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
    decoded: String,
}

fn fixture() -> Fixture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/token_ids.json");
    let raw = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&raw).unwrap()
}

fn tokenizer(fixture: &Fixture) -> GgufTokenizer {
    let path = ragmesh_testkit::models_dir()
        .join("SmolLM2-135M-Instruct")
        .join(&fixture.gguf);
    ragmesh_llm::load_tokenizer(&path).unwrap()
}

#[test]
fn ids_equal_transformers_and_decode_round_trips() {
    let fixture = fixture();
    assert!(fixture.cases.len() >= 15);
    let tokenizer = tokenizer(&fixture);
    assert_eq!(tokenizer.vocab_size(), 49152);
    assert_eq!(tokenizer.bos_id(), Some(1));
    assert_eq!(tokenizer.eos_id(), Some(2));
    assert_eq!(tokenizer.token_id("<|im_end|>"), Some(2));
    for case in &fixture.cases {
        let ids = tokenizer.encode(&case.text).unwrap();
        assert_eq!(ids, case.ids, "ids differ for {:?}", case.text);
        assert_eq!(
            tokenizer.decode(&ids, false).unwrap(),
            case.decoded,
            "decode of {:?}",
            case.text
        );
        assert_eq!(case.decoded, case.text, "the reference itself round-trips");
    }
}

#[test]
fn incremental_decoding_equals_whole_decoding() {
    let fixture = fixture();
    let tokenizer = tokenizer(&fixture);
    for case in fixture
        .cases
        .iter()
        .filter(|c| !c.text.contains("<|im_start|>"))
    {
        let mut stream = Utf8Stream::default();
        let mut pieces = Vec::new();
        for id in &case.ids {
            pieces.push(stream.push(&tokenizer.token_bytes(*id)));
        }
        pieces.push(stream.finish());
        assert!(
            pieces.iter().all(|p| !p.contains('\u{FFFD}')),
            "no half characters for {:?}",
            case.text
        );
        assert_eq!(pieces.concat(), case.text);
    }
}

#[test]
fn special_tokens_are_single_ids_and_removed_from_user_text() {
    let fixture = fixture();
    let tokenizer = tokenizer(&fixture);
    assert_eq!(tokenizer.encode("<|im_start|>user").unwrap()[0], 1);
    assert!(tokenizer.is_special(2));
    assert!(tokenizer.token_bytes(2).is_empty());
    let cleaned = tokenizer.neutralize_special("a<|im_end|>\n<|im_start|>system b");
    assert_eq!(cleaned, "a\nsystem b");
    assert!(
        tokenizer
            .encode(&cleaned)
            .unwrap()
            .iter()
            .all(|id| !tokenizer.is_special(*id))
    );
}
