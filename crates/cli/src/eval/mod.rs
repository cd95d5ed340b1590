//! `ragmesh eval`: retrieval and answer quality measured on public benchmarks, through the
//! same HTTP API users call, so the numbers describe the product and not a test double.
//!
//! `eval beir --data DIR` reads a BEIR folder ([`beir`]), ingests the corpus and runs every
//! test query per method ([`runner`]), scores the rankings with pytrec_eval semantics
//! ([`metrics`]) and prints a table or JSON ([`report`]). Without `--url` the services run in
//! this process ([`local`]). Nothing is fitted: only the test qrels are read.
//!
//! `eval answers --data DIR` asks a PubMedQA-layout set's questions through `/api/query` and
//! scores the answers ([`answers`]), reusing the same ingest and in-process product.

mod answers;
mod beir;
mod local;
mod metrics;
mod report;
mod runner;

use crate::args::{EvalArgs, EvalBeirArgs, EvalCommand};
use crate::http_client::GatewayClient;
use anyhow::Context;
use report::EvalReport;
use runner::Runner;
use std::io::Write;
use std::path::Path;

pub async fn run(config: Option<&Path>, args: EvalArgs) -> anyhow::Result<()> {
    match args.command {
        EvalCommand::Beir(a) => run_beir(config, a).await,
        EvalCommand::Answers(a) => answers::run(config, a).await,
    }
}

async fn run_beir(config: Option<&Path>, args: EvalBeirArgs) -> anyhow::Result<()> {
    let data = args.data.clone();
    let mut dataset = tokio::task::spawn_blocking(move || beir::load(&data))
        .await
        .context("the dataset reader panicked")??;
    if let Some(n) = args.max_queries {
        dataset.queries.truncate(n);
    }
    let collection = match &args.collection {
        Some(c) => c.clone(),
        None => collection_name("beir", &args.data),
    };
    let local = match &args.url {
        Some(_) => None,
        None => {
            if !args.quiet {
                eprintln!("starting the services in this process (temporary data directory)");
            }
            Some(local::LocalProduct::start(config).await?)
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
    if let Some(dir) = &args.run_dir {
        write_runs(dir, &report)?;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        report.write_table(&mut out)?;
    }
    Ok(())
}

async fn evaluate(
    args: &EvalBeirArgs,
    dataset: &beir::BeirDataset,
    collection: &str,
    base_url: &str,
) -> anyhow::Result<EvalReport> {
    let client = GatewayClient::new(base_url)?;
    let runner = Runner {
        client: &client,
        collection,
        progress: !args.quiet,
    };
    if !args.quiet {
        eprintln!(
            "{} documents into collection {collection}, {} test queries",
            dataset.corpus.len(),
            dataset.queries.len()
        );
    }
    let ingest = runner
        .ingest(&dataset.corpus, args.batch, args.reuse)
        .await?;
    let chunks_per_document = ingest.chunks as f64 / ingest.documents.max(1) as f64;
    let mut methods = Vec::new();
    for &method in &args.methods {
        methods.push(
            runner
                .measure(method, &dataset.queries, chunks_per_document)
                .await,
        );
    }
    Ok(EvalReport {
        dataset: args.data.display().to_string(),
        collection: collection.to_string(),
        gateway: if args.url.is_some() {
            base_url.to_string()
        } else {
            "in-process".into()
        },
        corpus_documents: dataset.corpus.len(),
        empty_documents: dataset.empty_documents,
        test_queries: dataset.queries.len(),
        queries_without_relevant: dataset.queries_without_relevant,
        ingest,
        methods,
    })
}

/// One TREC run file per measured method under `dir`.
fn write_runs(dir: &Path, report: &EvalReport) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for method in report.methods.iter().filter(|m| m.available) {
        let path = dir.join(format!("{}.run", method.method.replace('+', "_")));
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(&path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        );
        method.write_trec_run(&mut file)?;
        file.flush()?;
    }
    Ok(())
}

/// `<prefix>-` and the folder's name, reduced to the characters a collection name may hold.
fn collection_name(prefix: &str, data: &Path) -> String {
    let name: String = data
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    format!("{prefix}-{}", name.trim_matches('-'))
        .trim_end_matches('-')
        .to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn default_collection_names_are_valid() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("SciFact v1");
        std::fs::create_dir(&data).unwrap();
        let name = collection_name("beir", &data);
        assert_eq!(name, "beir-scifact-v1");
        assert!(ragmesh_core::validate_collection(&name).is_ok());
        assert_eq!(collection_name("beir", Path::new("/nonexistent/x")), "beir");
        assert_eq!(collection_name("answers", &data), "answers-scifact-v1");
    }
}
