//! `ragmesh eval answers`: answer quality (citations, grounding, loops, overlap with the
//! reference) and answer latency, measured through `/api/query` exactly as a user asks.
//!
//! It reads a PubMedQA-layout folder ([`data`]), ingests every abstract through the same ingest
//! path as `eval beir` (its [`Runner`]), asks every question (`--limit`, `--concurrency`),
//! scores each response ([`score`], with the metrics of [`metrics`] over the text reading of
//! [`text`]) and prints a table or JSON ([`report`]). Without `--url` the services run in this
//! process with the answer cache off, so every question is really answered.

mod data;
mod metrics;
mod report;
mod score;
mod text;

use super::local::LocalProduct;
use super::runner::Runner;
use crate::args::EvalAnswersArgs;
use crate::http_client::GatewayClient;
use anyhow::Context;
use futures::StreamExt;
use report::AnswersReport;
use score::{ItemScore, QueryAnswer};
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

pub async fn run(config: Option<&Path>, args: EvalAnswersArgs) -> anyhow::Result<()> {
    let data = args.data.clone();
    let dataset = tokio::task::spawn_blocking(move || data::load(&data))
        .await
        .context("the dataset reader panicked")??;
    let collection = match &args.collection {
        Some(c) => c.clone(),
        None => super::collection_name("answers", &args.data),
    };
    let local = match &args.url {
        Some(_) => None,
        None => {
            if !args.quiet {
                eprintln!(
                    "starting the services in this process (temporary data directory, \
                     answer cache off)"
                );
            }
            Some(LocalProduct::start_with(config, |s| s.cache.enabled = false).await?)
        }
    };
    let base_url = match (&args.url, &local) {
        (Some(url), _) => url.clone(),
        (None, Some(l)) => l.base_url.clone(),
        (None, None) => anyhow::bail!("no gateway to evaluate"),
    };
    let result = evaluate(&args, &dataset, &collection, &base_url).await;
    if let Some(local) = local {
        local.stop().await;
    }
    let report = result?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        report.write_table(&mut out)?;
    }
    out.flush()?;
    if report.failed > 0 {
        anyhow::bail!(
            "{} of {} questions failed (see the report)",
            report.failed,
            report.questions
        );
    }
    Ok(())
}

async fn evaluate(
    args: &EvalAnswersArgs,
    dataset: &data::AnswersDataset,
    collection: &str,
    base_url: &str,
) -> anyhow::Result<AnswersReport> {
    let client = GatewayClient::new(base_url)?;
    let runner = Runner {
        client: &client,
        collection,
        progress: !args.quiet,
    };
    let questions: Vec<&data::Item> = dataset
        .items
        .iter()
        .take(args.limit.unwrap_or(usize::MAX))
        .collect();
    if !args.quiet {
        eprintln!(
            "{} abstracts into collection {collection}, {} questions",
            dataset.corpus.len(),
            questions.len()
        );
    }
    let ingest = runner
        .ingest(&dataset.corpus, args.batch, args.reuse)
        .await?;
    let bar = progress_bar(!args.quiet, questions.len());
    let client = &client;
    let bar_ref = &bar;
    let mut items: Vec<(usize, ItemScore)> = futures::stream::iter(questions.iter().enumerate())
        .map(|(i, item)| async move {
            let scored = ask(client, args, collection, item).await;
            bar_ref.inc(1);
            (i, scored)
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    bar.finish_and_clear();
    items.sort_by_key(|(i, _)| *i);
    let items: Vec<ItemScore> = items.into_iter().map(|(_, s)| s).collect();
    let failed = items.iter().filter(|i| i.error.is_some()).count();
    Ok(AnswersReport {
        dataset: args.data.display().to_string(),
        collection: collection.to_string(),
        gateway: if args.url.is_some() {
            base_url.to_string()
        } else {
            "in-process".into()
        },
        answer_mode: args.answer_mode.map(|m| m.label().to_string()),
        k: args.k,
        concurrency: args.concurrency.max(1),
        corpus_documents: dataset.corpus.len(),
        questions: items.len(),
        answered: items.len() - failed,
        failed,
        cache_hits: items.iter().filter(|i| i.cache_hit).count(),
        overlap_threshold: metrics::OVERLAP_SUPPORTED,
        ingest,
        summary: report::summarise(&items),
        items,
    })
}

/// Asks one question; a failed request becomes a failed row (the run goes on).
async fn ask(
    client: &GatewayClient,
    args: &EvalAnswersArgs,
    collection: &str,
    item: &data::Item,
) -> ItemScore {
    let mut body = json!({ "query": item.question, "collection": collection });
    if let Some(k) = args.k {
        body["k"] = k.into();
    }
    // Only sent when asked for: a gateway without the answers work rejects unknown fields.
    if let Some(mode) = args.answer_mode {
        body["answer_mode"] = mode.label().into();
    }
    let started = Instant::now();
    let answer = client.post_json("/api/query", &body).await;
    let total_ms = started.elapsed().as_secs_f64() * 1e3;
    let parsed = answer.and_then(|value| {
        serde_json::from_value::<QueryAnswer>(value).context("the answer is not a QueryResponse")
    });
    match parsed {
        Ok(response) => score::score(item, &response, total_ms),
        Err(e) => ItemScore::failed(item, format!("{e:#}"), total_ms),
    }
}

fn progress_bar(enabled: bool, len: usize) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64).with_message("questions");
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg:>14} [{bar:40}] {pos}/{len} eta {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
