//! `ragmesh backup` and `ragmesh restore`: the gateway's backup routes from the command line.
//! The archive format and its checks live in `ragmesh-index`; this module only moves bytes
//! and prints what happened.

use crate::args::{BackupArgs, RestoreArgs};
use crate::http_client::GatewayClient;
use anyhow::Context;
use std::io::Write;

pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let client = GatewayClient::new(&args.gateway.url)?;
    let path = format!("/api/collections/{}/backup", args.collection);
    let bytes = client.download(&path, &args.out).await?;
    writeln!(
        std::io::stdout().lock(),
        "backed up collection {} to {} ({bytes} bytes)",
        args.collection,
        args.out.display()
    )?;
    Ok(())
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let archive = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let client = GatewayClient::new(&args.gateway.url)?;
    let mut path = format!("/api/restore?replace={}", args.replace);
    if let Some(name) = &args.collection {
        path.push_str(&format!("&collection={name}"));
    }
    let answer = client.post_bytes(&path, archive).await?;
    writeln!(
        std::io::stdout().lock(),
        "restored collection {}: {} documents, {} chunks{}",
        answer["collection"].as_str().unwrap_or("?"),
        answer["documents"],
        answer["chunks"],
        if answer["replaced"] == true {
            " (replaced the existing one)"
        } else {
            ""
        }
    )?;
    Ok(())
}
