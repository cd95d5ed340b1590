//! Reading a `multipart/form-data` upload into documents. Each file part goes through
//! `ragmesh_extract` (txt, Markdown, HTML, PDF, docx), so the server holds the one
//! implementation of "file to text" that every client, `ragmesh ingest` included, relies on.
//!
//! All or nothing: every part is read and extracted before one `Ingest` call is made; the first
//! bad part (unknown type → 415, unreadable content → 422, both naming the file) rejects the
//! whole request, so nothing from it is stored and what was stored before is untouched. An
//! optional `metadata` part (a JSON object of strings) applies to every file of the request;
//! a document's own title (HTML `<title>`, first Markdown `#` heading, docx title) is added
//! as `title` unless that part sets one.
//!
//! Extraction is bounded (`[gateway.extract]`): each file gets the per-file bounds on
//! decompressed bytes and on text, narrowed to what is left of the per-request ones, so many
//! small files cannot add up to what one file may not be.

use crate::api::extract::{BodyLimit, multipart_error};
use crate::api::ingest_body::{DocumentBody, validate_documents};
use crate::error::GatewayError;
use axum::extract::Multipart;
use ragmesh_config::ExtractSettings;
use ragmesh_extract::{Bound, Extracted, Limits, Scope, allowed_extensions};
use ragmesh_proto::v1::Document;
use std::collections::BTreeMap;

/// Name of the optional form field holding metadata for every file.
pub const METADATA_FIELD: &str = "metadata";

/// One checked part of an upload.
enum UploadPart {
    /// A file's source name and its extracted text.
    File((String, Extracted)),
    Metadata(BTreeMap<String, String>),
}

/// Reads every part, checking each; the first bad part rejects the whole request. The parts
/// after a bad one are still read (the body limit bounds them) so the client can finish
/// sending and see the error instead of a reset connection.
pub async fn read_uploads(
    mut multipart: Multipart,
    limit: BodyLimit,
    bounds: &ExtractSettings,
) -> Result<Vec<Document>, GatewayError> {
    let mut budget = RequestBudget::new(bounds);
    let mut files = Vec::new();
    let mut shared_metadata = None;
    let mut first_error = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e.status(), e.body_text(), limit))?
    {
        let file_name = field.file_name().map(str::to_string);
        let part = field.name().unwrap_or("").to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| multipart_error(e.status(), e.body_text(), limit))?;
        if first_error.is_some() {
            continue;
        }
        let part = match file_name {
            Some(name) => extract_file(name, bytes, budget.limits())
                .await
                .map(|file| {
                    budget.spend(&file.1);
                    UploadPart::File(file)
                }),
            None if part == METADATA_FIELD && shared_metadata.is_none() => {
                parse_metadata(&bytes).map(UploadPart::Metadata)
            }
            None => Err(GatewayError::InvalidArgument(format!(
                "multipart part {part:?} is not a file: upload documents as file parts ({}), \
                 and metadata for all of them as one {METADATA_FIELD:?} part holding a JSON object",
                allowed_extensions()
            ))),
        };
        match part {
            Ok(UploadPart::File(file)) => files.push(file),
            Ok(UploadPart::Metadata(metadata)) => shared_metadata = Some(metadata),
            Err(e) => first_error = Some(e),
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    if files.is_empty() {
        return Err(GatewayError::InvalidArgument(format!(
            "the upload has no files: send one or more file parts ({})",
            allowed_extensions()
        )));
    }
    let shared_metadata = shared_metadata.unwrap_or_default();
    let documents = files
        .into_iter()
        .map(|(source, extracted)| document(source, extracted, &shared_metadata))
        .collect();
    validate_documents(documents, |_, doc| format!("file {:?}", doc.source))
}

/// What is left of one request's extraction bounds.
struct RequestBudget {
    bounds: ExtractSettings,
    inflated: u64,
    text: u64,
}

impl RequestBudget {
    fn new(bounds: &ExtractSettings) -> RequestBudget {
        RequestBudget {
            bounds: bounds.clone(),
            inflated: 0,
            text: 0,
        }
    }

    /// The next file's limits: the per-file bound, or what is left of the request's when less.
    fn limits(&self) -> Limits {
        let bound = |per_file: u64, per_request: u64, used: u64| {
            let left = per_request.saturating_sub(used);
            if left < per_file {
                Bound {
                    bytes: left,
                    scope: Scope::Request(per_request),
                }
            } else {
                Bound::per_file(per_file)
            }
        };
        let b = &self.bounds;
        Limits {
            inflated: bound(
                b.max_inflated_bytes_per_file,
                b.max_inflated_bytes_per_request,
                self.inflated,
            ),
            text: bound(
                b.max_text_bytes_per_file,
                b.max_text_bytes_per_request,
                self.text,
            ),
        }
    }

    fn spend(&mut self, extracted: &Extracted) {
        self.inflated = self.inflated.saturating_add(extracted.inflated_bytes);
        self.text = self.text.saturating_add(extracted.text.len() as u64);
    }
}

/// Extracts one file's text off the async threads (a large PDF takes a while to parse).
async fn extract_file(
    name: String,
    bytes: bytes::Bytes,
    limits: Limits,
) -> Result<(String, Extracted), GatewayError> {
    tokio::task::spawn_blocking(move || -> Result<(String, Extracted), GatewayError> {
        let extracted = ragmesh_extract::extract_within(&name, &bytes, &limits)?;
        Ok((name, extracted))
    })
    .await
    .map_err(|e| GatewayError::Extraction(format!("text extraction stopped: {e}")))?
}

fn parse_metadata(bytes: &[u8]) -> Result<BTreeMap<String, String>, GatewayError> {
    serde_json::from_slice(bytes).map_err(|e| {
        GatewayError::InvalidArgument(format!(
            "multipart part {METADATA_FIELD:?} must be a JSON object of string values: {e}"
        ))
    })
}

fn document(
    source: String,
    extracted: Extracted,
    shared: &BTreeMap<String, String>,
) -> DocumentBody {
    let mut metadata = shared.clone();
    if let Some(title) = extracted.title {
        metadata.entry("title".to_string()).or_insert(title);
    }
    DocumentBody {
        source,
        text: extracted.text,
        metadata: Some(metadata),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ragmesh_extract::Format;

    #[test]
    fn shared_metadata_applies_to_every_file_and_a_title_is_added_unless_given() {
        let shared = parse_metadata(br#"{"language":"en"}"#).unwrap();
        let titled = Extracted {
            format: Format::Html,
            text: "body".into(),
            title: Some("Page title".into()),
            inflated_bytes: 0,
        };
        let doc = document("a.html".into(), titled.clone(), &shared);
        let metadata = doc.metadata.unwrap();
        assert_eq!(metadata["language"], "en");
        assert_eq!(metadata["title"], "Page title");

        let mut given = shared.clone();
        given.insert("title".into(), "Mine".into());
        let doc = document("a.html".into(), titled, &given);
        assert_eq!(doc.metadata.unwrap()["title"], "Mine");

        let err = parse_metadata(br#"{"n": 1}"#).unwrap_err();
        assert_eq!(
            ragmesh_core::Classify::code(&err).http().as_u16(),
            400,
            "{err}"
        );
        assert!(err.to_string().contains("\"metadata\""), "{err}");
    }

    #[test]
    fn files_share_the_request_budget_and_the_last_one_gets_what_is_left() {
        let bounds = ExtractSettings {
            max_inflated_bytes_per_file: 100,
            max_inflated_bytes_per_request: 250,
            max_text_bytes_per_file: 10,
            max_text_bytes_per_request: 25,
        };
        let mut budget = RequestBudget::new(&bounds);
        assert_eq!(budget.limits().inflated, Bound::per_file(100));
        let file = Extracted {
            format: Format::Pdf,
            text: "0123456789".into(),
            title: None,
            inflated_bytes: 100,
        };
        budget.spend(&file);
        budget.spend(&file);
        let limits = budget.limits();
        assert_eq!(
            limits.inflated,
            Bound {
                bytes: 50,
                scope: Scope::Request(250)
            }
        );
        assert_eq!(
            limits.text,
            Bound {
                bytes: 5,
                scope: Scope::Request(25)
            }
        );
    }
}
