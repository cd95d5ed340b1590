//! The documents of an ingest as clients send them (`POST /api/collections/{c}/documents`,
//! as JSON or as uploaded files) and their validation: checked whole before the retrieval
//! service is called, every message naming the document and the field.

use crate::error::GatewayError;
use ragmesh_proto::v1::Document;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

pub const MAX_SOURCE_CHARS: usize = 1024;
pub const MAX_DOCUMENTS: usize = 10_000;

fn invalid(message: String) -> GatewayError {
    GatewayError::InvalidArgument(message)
}

/// Body of `POST /api/collections/{c}/documents` as JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestBody {
    pub documents: Vec<DocumentBody>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentBody {
    pub source: String,
    pub text: String,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// Checks a batch of documents (from JSON or uploads): at least one, each with a usable source
/// name and non-blank text, no source twice. `label` names a document in messages.
pub fn validate_documents(
    documents: Vec<DocumentBody>,
    label: impl Fn(usize, &DocumentBody) -> String,
) -> Result<Vec<Document>, GatewayError> {
    if documents.is_empty() {
        return Err(invalid(
            "documents must not be empty: send at least one document".into(),
        ));
    }
    if documents.len() > MAX_DOCUMENTS {
        return Err(invalid(format!(
            "documents has {} entries; the limit per request is {MAX_DOCUMENTS}",
            documents.len()
        )));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(documents.len());
    for (i, doc) in documents.into_iter().enumerate() {
        let name = label(i, &doc);
        let source = doc.source.trim();
        if source.is_empty() {
            return Err(invalid(format!("{name}.source must not be empty")));
        }
        if source.chars().count() > MAX_SOURCE_CHARS {
            return Err(invalid(format!(
                "{name}.source is longer than {MAX_SOURCE_CHARS} characters"
            )));
        }
        if source.chars().any(char::is_control) {
            return Err(invalid(format!(
                "{name}.source must not contain control characters"
            )));
        }
        if doc.text.trim().is_empty() {
            return Err(invalid(format!(
                "{name}.text must not be empty (source {source:?})"
            )));
        }
        if !seen.insert(source.to_string()) {
            return Err(invalid(format!(
                "{name}: source {source:?} appears twice in this request"
            )));
        }
        let metadata = doc.metadata.unwrap_or_default();
        if metadata.keys().any(|key| key.trim().is_empty()) {
            return Err(invalid(format!("{name}.metadata keys must not be empty")));
        }
        out.push(Document {
            source: source.to_string(),
            text: doc.text,
            metadata: metadata.into_iter().collect(),
        });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn document_batches_are_checked_whole() {
        let doc = |source: &str, text: &str| DocumentBody {
            source: source.into(),
            text: text.into(),
            metadata: None,
        };
        let label = |i: usize, _: &DocumentBody| format!("documents[{i}]");
        let err = |docs| validate_documents(docs, label).unwrap_err().to_string();
        assert_eq!(
            err(vec![]),
            "documents must not be empty: send at least one document"
        );
        assert_eq!(
            err(vec![doc("a.txt", "ok"), doc(" ", "x")]),
            "documents[1].source must not be empty"
        );
        assert_eq!(
            err(vec![doc("a.txt", " \n")]),
            "documents[0].text must not be empty (source \"a.txt\")"
        );
        assert_eq!(
            err(vec![doc("a", "x"), doc("a ", "y")]),
            "documents[1]: source \"a\" appears twice in this request"
        );
        let ok = validate_documents(vec![doc(" a.md ", "text")], label).unwrap();
        assert_eq!(ok[0].source, "a.md");
    }
}
