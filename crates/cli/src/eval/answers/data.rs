//! Reading a PubMedQA-layout folder (`items.jsonl`, one item a line: `id`, `question`,
//! `contexts`, `long_answer`, `final_decision`; see /work/shared/eval/pubmedqa-dev/README.md).
//! Every item's contexts joined with spaces make one corpus document whose `source` is the
//! item's id: the "gold abstract" its citations should point at.

use super::super::beir::CorpusDocument;
use anyhow::Context;
use serde::Deserialize;
use std::collections::HashSet;
use std::io::BufRead;
use std::path::Path;

/// One question with its reference answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The PubMed id, also the `source` of its abstract in the collection.
    pub id: String,
    pub question: String,
    pub long_answer: String,
    /// `yes`, `no` or `maybe` (empty when the file has none).
    pub final_decision: String,
}

#[derive(Debug)]
pub struct AnswersDataset {
    /// One document per item, in file order.
    pub corpus: Vec<CorpusDocument>,
    pub items: Vec<Item>,
}

#[derive(Deserialize)]
struct Line {
    id: serde_json::Value,
    question: String,
    contexts: Vec<String>,
    long_answer: String,
    #[serde(default)]
    final_decision: String,
}

/// Reads `dir/items.jsonl`; a malformed line, an empty abstract or a repeated id is an error
/// naming the line.
pub fn load(dir: &Path) -> anyhow::Result<AnswersDataset> {
    let path = dir.join("items.jsonl");
    let file =
        std::fs::File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut corpus = Vec::new();
    let mut items = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let number = i + 1;
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let item: Line = serde_json::from_str(&line)
            .with_context(|| format!("{}:{number}: not a PubMedQA item", path.display()))?;
        let id = match item.id {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            other => anyhow::bail!("{}:{number}: id {other} is not a string", path.display()),
        };
        if !seen.insert(id.clone()) {
            anyhow::bail!("{}:{number}: item {id:?} appears twice", path.display());
        }
        let text = item
            .contexts
            .iter()
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if text.is_empty() {
            anyhow::bail!("{}:{number}: item {id:?} has no contexts", path.display());
        }
        if item.question.trim().is_empty() {
            anyhow::bail!("{}:{number}: item {id:?} has no question", path.display());
        }
        corpus.push(CorpusDocument {
            id: id.clone(),
            text,
        });
        items.push(Item {
            id,
            question: item.question,
            long_answer: item.long_answer,
            final_decision: item.final_decision.to_lowercase(),
        });
    }
    if items.is_empty() {
        anyhow::bail!("{} holds no item", path.display());
    }
    Ok(AnswersDataset { corpus, items })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn contexts_become_one_document_per_item_and_bad_lines_name_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("items.jsonl");
        std::fs::write(
            &path,
            "{\"id\":\"1\",\"question\":\"Q?\",\"contexts\":[\"A.\",\" B. \"],\
             \"labels\":[\"X\",\"Y\"],\"long_answer\":\"L.\",\"final_decision\":\"YES\"}\n\n\
             {\"id\":2,\"question\":\"R?\",\"contexts\":[\"C.\"],\"long_answer\":\"M.\"}\n",
        )
        .unwrap();
        let data = load(dir.path()).unwrap();
        assert_eq!(data.corpus[0].id, "1");
        assert_eq!(data.corpus[0].text, "A. B.");
        assert_eq!(data.items[0].final_decision, "yes");
        assert_eq!(data.items[1].id, "2");
        assert_eq!(data.items[1].final_decision, "");

        std::fs::write(
            &path,
            "{\"id\":\"1\",\"question\":\"Q?\",\"contexts\":[\"A.\"],\"long_answer\":\"L.\"}\n\
             {\"id\":\"1\",\"question\":\"Q?\",\"contexts\":[\"A.\"],\"long_answer\":\"L.\"}\n",
        )
        .unwrap();
        let err = format!("{:#}", load(dir.path()).unwrap_err());
        assert!(
            err.contains("items.jsonl:2: item \"1\" appears twice"),
            "{err}"
        );
        std::fs::write(&path, "{\"id\":\"1\"}\n").unwrap();
        let err = format!("{:#}", load(dir.path()).unwrap_err());
        assert!(err.contains("items.jsonl:1: not a PubMedQA item"), "{err}");
    }
}
