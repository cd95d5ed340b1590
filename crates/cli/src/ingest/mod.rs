//! `ragmesh ingest`: sends files and folders to the gateway as multipart uploads, so the
//! server's extractor (txt, Markdown, HTML, PDF, docx) is the only one. Files go in batches
//! bounded by count and bytes, several requests in flight, with a progress bar. A journal of
//! acknowledged files (see [`journal`]) makes a re-run skip what the gateway
//! already has unchanged. No failure is hidden: a batch the gateway rejects as bad input is
//! re-sent file by file so the good files still go in and each bad one is named with the
//! gateway's reason; the run then exits non-zero.
//!
//! The folder: what is sent is found by [`walk`]; what was acknowledged is kept by
//! [`journal`]; this file sends.

mod journal;
mod walk;

use crate::args::IngestArgs;
use crate::http_client::GatewayClient;
use futures::StreamExt;
use journal::{Journal, default_path, sha256_hex};
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use walk::{Candidate, Skipped, collect};

/// How a run batches and sends.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub collection: String,
    /// Most files in one request.
    pub batch_files: usize,
    /// Most file bytes in one request (a larger file goes alone).
    pub batch_bytes: u64,
    /// Requests in flight at once.
    pub parallel: usize,
    pub progress: bool,
}

#[derive(Debug, Default)]
pub struct IngestReport {
    /// Files the gateway acknowledged in this run.
    pub documents: u64,
    pub chunks: u64,
    pub chunks_added: u64,
    /// Files not sent because the journal records them with the same content.
    pub unchanged: u64,
    pub skipped: Vec<Skipped>,
    /// (file, why it failed).
    pub failed: Vec<(PathBuf, String)>,
}

pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    let client = GatewayClient::new(&args.gateway.url)?;
    let journal_path = args
        .journal
        .clone()
        .unwrap_or_else(|| default_path(&args.gateway.url, &args.collection, &args.paths));
    let mut journal = Journal::open(
        &journal_path,
        &args.gateway.url,
        &args.collection,
        args.restart,
    )?;
    let options = IngestOptions {
        collection: args.collection.clone(),
        batch_files: args.batch.max(1),
        batch_bytes: args.batch_bytes.max(1),
        parallel: args.parallel.max(1),
        progress: !args.quiet,
    };
    let report = ingest_paths(&client, &args.paths, &options, Some(&mut journal)).await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "ingested {} files ({} chunks, {} new) into collection {}; {} unchanged since the last run",
        report.documents, report.chunks, report.chunks_added, args.collection, report.unchanged
    )?;
    for skipped in &report.skipped {
        writeln!(
            out,
            "skipped {}: {}",
            skipped.path.display(),
            skipped.reason
        )?;
    }
    for (path, reason) in &report.failed {
        writeln!(out, "failed {}: {reason}", path.display())?;
    }
    writeln!(out, "journal: {}", journal.path().display())?;
    if !report.failed.is_empty() {
        anyhow::bail!(
            "{} of {} files failed (listed above); re-run to retry them",
            report.failed.len(),
            report.failed.len() as u64 + report.documents
        );
    }
    Ok(())
}

/// A file chosen to be sent, with its size when planned.
#[derive(Debug, Clone)]
struct Planned {
    file: Candidate,
    size: u64,
}

/// What one request (or its file-by-file retry) did.
#[derive(Debug, Default)]
struct BatchOutcome {
    /// (source, sha256 of what was sent) for every acknowledged file.
    acknowledged: Vec<(String, String)>,
    chunks: u64,
    chunks_added: u64,
    failed: Vec<(PathBuf, String)>,
    files: u64,
}

/// Sends every supported file under `paths` to the collection; with a journal, files it
/// records unchanged are skipped and acknowledged ones are recorded after each request.
pub async fn ingest_paths(
    client: &GatewayClient,
    paths: &[PathBuf],
    options: &IngestOptions,
    mut journal: Option<&mut Journal>,
) -> anyhow::Result<IngestReport> {
    let (files, skipped) = collect(paths)?;
    let mut report = IngestReport {
        skipped,
        ..IngestReport::default()
    };
    let mut planned = Vec::new();
    for file in files {
        let bytes = match std::fs::read(&file.path) {
            Ok(bytes) => bytes,
            Err(e) => {
                report.failed.push((file.path, format!("cannot read: {e}")));
                continue;
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            report.skipped.push(Skipped {
                path: file.path,
                reason: "empty file".into(),
            });
            continue;
        }
        let hash = sha256_hex(&bytes);
        if journal
            .as_deref()
            .is_some_and(|j| j.is_acknowledged(&file.source, &hash))
        {
            report.unchanged += 1;
            continue;
        }
        planned.push(Planned {
            size: bytes.len() as u64,
            file,
        });
    }
    let batches = batches(planned, options.batch_files, options.batch_bytes);
    let bar = progress_bar(
        options.progress,
        batches.iter().map(|b| b.len() as u64).sum(),
        &options.collection,
    );
    let path = format!("/api/collections/{}/documents", options.collection);
    let mut outcomes = futures::stream::iter(batches)
        .map(|batch| send_batch(client, &path, batch))
        .buffer_unordered(options.parallel);
    while let Some(outcome) = outcomes.next().await {
        bar.inc(outcome.files);
        report.documents += outcome.acknowledged.len() as u64;
        report.chunks += outcome.chunks;
        report.chunks_added += outcome.chunks_added;
        for (path, reason) in outcome.failed {
            bar.suspend(|| eprintln!("failed {}: {reason}", path.display()));
            report.failed.push((path, reason));
        }
        if let Some(journal) = journal.as_deref_mut()
            && !outcome.acknowledged.is_empty()
        {
            for (source, hash) in &outcome.acknowledged {
                journal.record(source, hash);
            }
            journal.save()?;
        }
    }
    bar.finish_and_clear();
    Ok(report)
}

/// Groups files in order into requests of at most `max_files` files and `max_bytes` bytes.
fn batches(planned: Vec<Planned>, max_files: usize, max_bytes: u64) -> Vec<Vec<Planned>> {
    let mut out: Vec<Vec<Planned>> = Vec::new();
    let mut bytes = 0;
    for file in planned {
        let full = out
            .last()
            .is_none_or(|b| b.len() >= max_files || bytes + file.size > max_bytes);
        if full {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += file.size;
        if let Some(batch) = out.last_mut() {
            batch.push(file);
        }
    }
    out
}

/// Sends one batch; a batch rejected as bad input is re-sent one file at a time so the bad
/// file is named and the others still go in.
async fn send_batch(client: &GatewayClient, path: &str, batch: Vec<Planned>) -> BatchOutcome {
    let mut outcome = BatchOutcome {
        files: batch.len() as u64,
        ..BatchOutcome::default()
    };
    let mut parts = Vec::with_capacity(batch.len());
    let mut sent = Vec::with_capacity(batch.len());
    for planned in &batch {
        match std::fs::read(&planned.file.path) {
            Ok(bytes) => {
                sent.push((planned.file.clone(), sha256_hex(&bytes)));
                parts.push((planned.file.source.clone(), bytes));
            }
            Err(e) => outcome
                .failed
                .push((planned.file.path.clone(), format!("cannot read: {e}"))),
        }
    }
    if parts.is_empty() {
        return outcome;
    }
    let single = parts.len() == 1;
    match client.post_files(path, parts).await {
        Ok(Ok(answer)) => acknowledge(&mut outcome, sent, &answer),
        Ok(Err(rejection)) if rejection.is_client_error() && !single => {
            for (file, _) in sent {
                let bytes = match std::fs::read(&file.path) {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        outcome
                            .failed
                            .push((file.path, format!("cannot read: {e}")));
                        continue;
                    }
                };
                let hash = sha256_hex(&bytes);
                match client
                    .post_files(path, vec![(file.source.clone(), bytes)])
                    .await
                {
                    Ok(Ok(answer)) => acknowledge(&mut outcome, vec![(file, hash)], &answer),
                    Ok(Err(rejection)) => outcome
                        .failed
                        .push((file.path, format!("gateway answered {rejection}"))),
                    Err(e) => outcome.failed.push((file.path, format!("{e:#}"))),
                }
            }
        }
        Ok(Err(rejection)) => {
            for (file, _) in sent {
                outcome
                    .failed
                    .push((file.path, format!("gateway answered {rejection}")));
            }
        }
        Err(e) => {
            for (file, _) in sent {
                outcome.failed.push((file.path, format!("{e:#}")));
            }
        }
    }
    outcome
}

fn acknowledge(outcome: &mut BatchOutcome, sent: Vec<(Candidate, String)>, answer: &Value) {
    outcome.chunks += answer["chunks"].as_u64().unwrap_or(0);
    outcome.chunks_added += answer["chunks_added"].as_u64().unwrap_or(0);
    outcome
        .acknowledged
        .extend(sent.into_iter().map(|(file, hash)| (file.source, hash)));
}

/// The bar `models fetch` shows, counting files.
fn progress_bar(visible: bool, files: u64, collection: &str) -> indicatif::ProgressBar {
    if !visible || files == 0 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(files),
        indicatif::ProgressDrawTarget::stderr(),
    );
    let style = indicatif::ProgressStyle::with_template(
        "{msg:24} [{bar:30}] {pos:>7}/{len:<7} files {per_sec:>12} eta {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(format!("ingest → {collection}"));
    bar
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn planned(name: &str, size: u64) -> Planned {
        Planned {
            file: Candidate {
                source: name.into(),
                path: name.into(),
            },
            size,
        }
    }

    #[test]
    fn batches_keep_order_and_respect_both_bounds() {
        let files = vec![
            planned("a", 40),
            planned("b", 40),
            planned("c", 40),
            planned("huge", 500),
            planned("d", 10),
            planned("e", 10),
            planned("f", 10),
        ];
        let names: Vec<Vec<String>> = batches(files, 2, 100)
            .into_iter()
            .map(|b| b.into_iter().map(|p| p.file.source).collect())
            .collect();
        assert_eq!(
            names,
            [
                vec!["a", "b"],
                vec!["c"],
                vec!["huge"],
                vec!["d", "e"],
                vec!["f"]
            ]
        );
    }
}
