//! `ragmesh ingest`: walks files and folders, and sends the `.txt`/`.md` files to the gateway
//! in batches with a progress bar. The path relative to the folder given becomes the source.

use crate::args::IngestArgs;
use crate::http_client::GatewayClient;
use anyhow::Context;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

/// File types the gateway accepts as plain text.
const TEXT_EXTENSIONS: &[&str] = &["txt", "md", "markdown"];
/// Upper bound on one request's text, well under the gateway's default body limit.
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct IngestReport {
    pub documents: u64,
    pub chunks: u64,
    pub chunks_added: u64,
    pub skipped: Vec<PathBuf>,
}

pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    let client = GatewayClient::new(&args.gateway.url)?;
    let report = ingest_paths(
        &client,
        &args.paths,
        &args.collection,
        args.batch.max(1),
        !args.quiet,
    )
    .await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "ingested {} documents ({} chunks, {} new) into collection {}",
        report.documents, report.chunks, report.chunks_added, args.collection
    )?;
    for path in &report.skipped {
        writeln!(out, "skipped (not .txt/.md): {}", path.display())?;
    }
    Ok(())
}

/// Sends every text file under `paths` to `collection`.
pub async fn ingest_paths(
    client: &GatewayClient,
    paths: &[PathBuf],
    collection: &str,
    batch: usize,
    progress: bool,
) -> anyhow::Result<IngestReport> {
    let mut report = IngestReport::default();
    let mut files = Vec::new();
    for path in paths {
        collect(path, path, &mut files, &mut report.skipped)?;
    }
    files.sort();
    let bar = if progress {
        indicatif::ProgressBar::new(files.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut pending: Vec<Value> = Vec::new();
    let mut pending_bytes = 0;
    for (source, path) in &files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{} is not readable UTF-8 text", path.display()))?;
        if text.trim().is_empty() {
            report.skipped.push(path.clone());
            bar.inc(1);
            continue;
        }
        pending_bytes += text.len();
        pending.push(json!({ "source": source, "text": text }));
        if pending.len() >= batch || pending_bytes >= MAX_BATCH_BYTES {
            send(client, collection, &mut pending, &mut report, &bar).await?;
            pending_bytes = 0;
        }
    }
    send(client, collection, &mut pending, &mut report, &bar).await?;
    bar.finish_and_clear();
    Ok(report)
}

async fn send(
    client: &GatewayClient,
    collection: &str,
    pending: &mut Vec<Value>,
    report: &mut IngestReport,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let count = pending.len() as u64;
    let body = json!({ "documents": std::mem::take(pending) });
    let answer = client
        .post_json(&format!("/api/collections/{collection}/documents"), &body)
        .await?;
    report.documents += answer["documents"].as_u64().unwrap_or(count);
    report.chunks += answer["chunks"].as_u64().unwrap_or(0);
    report.chunks_added += answer["chunks_added"].as_u64().unwrap_or(0);
    bar.inc(count);
    Ok(())
}

/// Collects (source name, path) of text files; a file given directly is named by its file name.
fn collect(
    root: &Path,
    path: &Path,
    files: &mut Vec<(String, PathBuf)>,
    skipped: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            collect(root, &entry.path(), files, skipped)?;
        }
        return Ok(());
    }
    let is_text = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| TEXT_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
    if !is_text {
        skipped.push(path.to_path_buf());
        return Ok(());
    }
    let source = if root == path {
        path.file_name().map(|n| n.to_string_lossy().into_owned())
    } else {
        path.strip_prefix(root)
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
    }
    .unwrap_or_else(|| path.display().to_string());
    files.push((source, path.to_path_buf()));
    Ok(())
}
