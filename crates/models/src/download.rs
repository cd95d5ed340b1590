//! Streams a wheel to a file while hashing it, stopping as soon as it grows past the size the
//! index announced, and refuses it unless size and sha256 both match at the end.

use crate::error::ModelsError;
use crate::simple_index::WheelFile;
use futures::StreamExt;
use indicatif::ProgressBar;
use sha2::{Digest, Sha256};
use std::path::Path;
use tokio::io::AsyncWriteExt;

/// Downloads `wheel` into `dest` (created or truncated) and returns the number of bytes.
pub(crate) async fn download_verified(
    client: &reqwest::Client,
    wheel: &WheelFile,
    dest: &Path,
    bar: &ProgressBar,
) -> Result<u64, ModelsError> {
    let url = wheel.url.to_string();
    let http = |source| ModelsError::Http {
        url: url.clone(),
        source,
    };
    let response = client.get(wheel.url.clone()).send().await.map_err(http)?;
    if !response.status().is_success() {
        return Err(ModelsError::HttpStatus {
            url,
            status: response.status().as_u16(),
        });
    }
    bar.set_length(wheel.size.or(response.content_length()).unwrap_or(0));
    bar.set_position(0);
    let mut file = tokio::fs::File::create(dest)
        .await
        .map_err(ModelsError::io(dest))?;
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(http)?;
        received += chunk.len() as u64;
        if let Some(expected) = wheel.size
            && received > expected
        {
            return Err(ModelsError::SizeMismatch {
                what: wheel.filename.clone(),
                expected,
                actual: received,
            });
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(ModelsError::io(dest))?;
        bar.inc(chunk.len() as u64);
    }
    file.sync_all().await.map_err(ModelsError::io(dest))?;
    if let Some(expected) = wheel.size
        && received != expected
    {
        return Err(ModelsError::SizeMismatch {
            what: wheel.filename.clone(),
            expected,
            actual: received,
        });
    }
    let actual = hex::encode(hasher.finalize());
    if actual != wheel.sha256 {
        return Err(ModelsError::HashMismatch {
            what: wheel.filename.clone(),
            expected: wheel.sha256.clone(),
            actual,
        });
    }
    Ok(received)
}
