//! Reading a BEIR-layout folder: `corpus.jsonl` (`_id`, `title`, `text`), `queries.jsonl`
//! (`_id`, `text`) and `qrels/test.tsv` (`query-id corpus-id score`, graded). Only the test
//! split is read: nothing in the harness is fitted, so no train qrels are needed.

use super::metrics::Judgements;
use anyhow::Context;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;

/// One corpus document as it is ingested.
#[derive(Debug, Clone, PartialEq)]
pub struct CorpusDocument {
    pub id: String,
    /// `title + " " + text` (just the text when there is no title), as BEIR embeds it.
    pub text: String,
}

/// A test query with its judgements.
#[derive(Debug, Clone, PartialEq)]
pub struct TestQuery {
    pub id: String,
    pub text: String,
    pub judged: Judgements,
}

#[derive(Debug)]
pub struct BeirDataset {
    pub corpus: Vec<CorpusDocument>,
    /// Test queries with at least one relevant document, in queries.jsonl order.
    pub queries: Vec<TestQuery>,
    /// Corpus lines without any text (not ingestable).
    pub empty_documents: usize,
    /// Test queries skipped because no judged document is relevant.
    pub queries_without_relevant: usize,
}

#[derive(Deserialize)]
struct CorpusLine {
    #[serde(rename = "_id")]
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
struct QueryLine {
    #[serde(rename = "_id")]
    id: String,
    text: String,
}

/// Reads the corpus, the queries and the test qrels under `dir`.
pub fn load(dir: &Path) -> anyhow::Result<BeirDataset> {
    let (corpus, empty_documents) = read_corpus(&dir.join("corpus.jsonl"))?;
    let qrels = read_qrels(&dir.join("qrels").join("test.tsv"))?;
    let all_queries = read_queries(&dir.join("queries.jsonl"))?;
    let known: HashSet<&str> = all_queries.iter().map(|(id, _)| id.as_str()).collect();
    if let Some(missing) = qrels.keys().find(|id| !known.contains(id.as_str())) {
        anyhow::bail!("qrels/test.tsv judges query {missing:?}, which queries.jsonl lacks");
    }
    let mut queries = Vec::new();
    let mut queries_without_relevant = 0;
    for (id, text) in all_queries {
        let Some(judged) = qrels.get(&id) else {
            continue;
        };
        if judged.values().any(|&g| g > 0) {
            queries.push(TestQuery {
                id,
                text,
                judged: judged.clone(),
            });
        } else {
            queries_without_relevant += 1;
        }
    }
    Ok(BeirDataset {
        corpus,
        queries,
        empty_documents,
        queries_without_relevant,
    })
}

fn lines(path: &Path) -> anyhow::Result<impl Iterator<Item = (usize, std::io::Result<String>)>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(std::io::BufReader::new(file)
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l)))
}

fn read_corpus(path: &Path) -> anyhow::Result<(Vec<CorpusDocument>, usize)> {
    let mut corpus = Vec::new();
    let mut seen = HashSet::new();
    let mut empty = 0;
    for (number, line) in lines(path)? {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let doc: CorpusLine = serde_json::from_str(&line)
            .with_context(|| format!("{}:{number}: not a corpus line", path.display()))?;
        if !seen.insert(doc.id.clone()) {
            anyhow::bail!(
                "{}:{number}: document {:?} appears twice",
                path.display(),
                doc.id
            );
        }
        let text = format!("{} {}", doc.title.trim(), doc.text.trim())
            .trim()
            .to_string();
        if text.is_empty() {
            empty += 1;
            continue;
        }
        corpus.push(CorpusDocument { id: doc.id, text });
    }
    Ok((corpus, empty))
}

fn read_queries(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut queries = Vec::new();
    for (number, line) in lines(path)? {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let q: QueryLine = serde_json::from_str(&line)
            .with_context(|| format!("{}:{number}: not a query line", path.display()))?;
        queries.push((q.id, q.text));
    }
    Ok(queries)
}

/// Query id → (document id → grade). The header line (`query-id ...`) is skipped.
fn read_qrels(path: &Path) -> anyhow::Result<HashMap<String, Judgements>> {
    let mut qrels: HashMap<String, Judgements> = HashMap::new();
    for (number, line) in lines(path)? {
        let line = line?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() || (number == 1 && fields[0] == "query-id") {
            continue;
        }
        let [query, doc, grade] = fields[..] else {
            anyhow::bail!(
                "{}:{number}: expected `query-id corpus-id score`, got {line:?}",
                path.display()
            );
        };
        let grade: i32 = grade.parse().with_context(|| {
            format!(
                "{}:{number}: score {grade:?} is not an integer",
                path.display()
            )
        })?;
        qrels
            .entry(query.to_string())
            .or_default()
            .insert(doc.to_string(), grade);
    }
    Ok(qrels)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn reads_title_and_text_graded_qrels_and_skips_unjudged_queries() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "corpus.jsonl",
            "{\"_id\":\"d1\",\"title\":\"Moon\",\"text\":\"It orbits.\"}\n\
             {\"_id\":\"d2\",\"text\":\"No title here.\"}\n\
             {\"_id\":\"d3\",\"title\":\"\",\"text\":\" \"}\n",
        );
        write(
            dir.path(),
            "queries.jsonl",
            "{\"_id\":\"q2\",\"text\":\"second\"}\n{\"_id\":\"q1\",\"text\":\"first\"}\n\
             {\"_id\":\"q3\",\"text\":\"unjudged\"}\n{\"_id\":\"q4\",\"text\":\"only zeros\"}\n",
        );
        write(
            dir.path(),
            "qrels/test.tsv",
            "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t1\nq2\td2\t1\nq4\td1\t0\n",
        );
        let data = load(dir.path()).unwrap();
        assert_eq!(data.corpus.len(), 2);
        assert_eq!(data.corpus[0].text, "Moon It orbits.");
        assert_eq!(data.corpus[1].text, "No title here.");
        assert_eq!(data.empty_documents, 1);
        let ids: Vec<&str> = data.queries.iter().map(|q| q.id.as_str()).collect();
        assert_eq!(ids, ["q2", "q1"]);
        assert_eq!(data.queries[1].judged.get("d1"), Some(&2));
        assert_eq!(data.queries_without_relevant, 1);
    }

    #[test]
    fn bad_files_are_errors_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "corpus.jsonl",
            "{\"_id\":\"d1\",\"text\":\"x\"}\n",
        );
        write(
            dir.path(),
            "queries.jsonl",
            "{\"_id\":\"q1\",\"text\":\"x\"}\n",
        );
        write(dir.path(), "qrels/test.tsv", "q1\td1\thigh\n");
        let err = format!("{:#}", load(dir.path()).unwrap_err());
        assert!(err.contains("test.tsv:1: score \"high\""), "{err}");
        write(dir.path(), "qrels/test.tsv", "q9\td1\t1\n");
        let err = format!("{:#}", load(dir.path()).unwrap_err());
        assert!(err.contains("judges query \"q9\""), "{err}");
    }
}
