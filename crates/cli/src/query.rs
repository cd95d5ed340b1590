//! `ragmesh query`: asks a running gateway and prints the answer with its numbered sources and
//! the per-step profile, or streams tokens as they come.

use crate::args::QueryArgs;
use crate::http_client::GatewayClient;
use serde_json::{Value, json};
use std::io::Write;

pub async fn run(args: QueryArgs) -> anyhow::Result<()> {
    let client = GatewayClient::new(&args.gateway.url)?;
    let body = json!({
        "query": args.query,
        "collection": args.collection,
        "k": args.k,
        "method": args.method,
        "rerank": args.rerank,
    });
    if args.stream {
        let mut out = std::io::stdout().lock();
        return client
            .post_sse("/api/query/stream", &body, |event| {
                match event.event.as_str() {
                    "token" => {
                        write!(out, "{}", event.data["text"].as_str().unwrap_or(""))?;
                        out.flush()?;
                    }
                    "done" => {
                        writeln!(out)?;
                        print_sources(&mut out, &event.data)?;
                    }
                    "error" => anyhow::bail!(
                        "{}: {}",
                        event.data["code"].as_str().unwrap_or("error"),
                        event.data["message"].as_str().unwrap_or("")
                    ),
                    _ => {}
                }
                Ok(())
            })
            .await;
    }
    let answer = client.post_json("/api/query", &body).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
        return Ok(());
    }
    writeln!(out, "{}\n", answer["answer"].as_str().unwrap_or(""))?;
    print_sources(&mut out, &answer)
}

fn print_sources(out: &mut impl Write, answer: &Value) -> anyhow::Result<()> {
    for source in answer["sources"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "[{}] {} (chunk {}, score {:.4})",
            source["index"],
            source["source"].as_str().unwrap_or("?"),
            source["chunk"],
            source["score"].as_f64().unwrap_or(0.0)
        )?;
    }
    let profile = &answer["profile"];
    if let Some(steps) = profile["steps"].as_array() {
        let parts: Vec<String> = steps
            .iter()
            .map(|s| {
                format!(
                    "{} {:.1} ms",
                    s["name"].as_str().unwrap_or("?"),
                    s["ms"].as_f64().unwrap_or(0.0)
                )
            })
            .collect();
        writeln!(
            out,
            "\nprofile: {} | total {:.1} ms, bottleneck {}",
            parts.join(", "),
            profile["total_ms"].as_f64().unwrap_or(0.0),
            profile["bottleneck"].as_str().unwrap_or("?")
        )?;
    }
    Ok(())
}
