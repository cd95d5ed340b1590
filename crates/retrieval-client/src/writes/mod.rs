//! Writes to the retrieval cluster: an ingest is split by owner shard (each part sent to its
//! shard, shards in parallel), a delete goes to the owner of its source. A shard of one
//! replica gets the one call it always got (never retried: a write whose answer was lost may
//! have been applied); a shard of several goes through [`replication`], which keeps the
//! writes a replica missed for it ([`handoff`]).

pub mod handoff;
pub mod replication;

use crate::call::{CallContext, client, grpc_request};
use crate::cluster::RetrievalCluster;
use crate::error::RetrievalError;
use crate::scatter::merge::merge_ingest;
use crate::shard_map::owner_shard;
use handoff::store::ShardWrite;
use ragmesh_proto::v1::{DeleteRequest, DeleteResponse, IngestRequest, IngestResponse};
use ragmesh_rpc::Retry;
use replication::WriteAnswer;

impl RetrievalCluster {
    /// A write on shard `shard`: one replica as before, or every replica (replication).
    async fn write(
        &self,
        shard: usize,
        write: ShardWrite,
        ctx: &dyn CallContext,
    ) -> Result<WriteAnswer, RetrievalError> {
        let upstream = &self.shards[shard];
        let timeout = match write {
            ShardWrite::Ingest(_) => self.ingest_timeout,
            ShardWrite::Delete(_) => self.rpc_timeout,
        };
        if upstream.len() > 1 {
            return self
                .replication
                .write((shard, self.count()), upstream, write, ctx, timeout)
                .await;
        }
        // Not retried: a write whose answer was lost may have been applied.
        let answer = match &write {
            ShardWrite::Ingest(message) => upstream
                .call(Retry::Never, timeout, |channel, left| {
                    let request = grpc_request(ctx, message.clone(), left);
                    async move { client(channel).ingest(request).await }
                })
                .await
                .map(WriteAnswer::Ingest),
            ShardWrite::Delete(message) => upstream
                .call(Retry::Never, timeout, |channel, left| {
                    let request = grpc_request(ctx, message.clone(), left);
                    async move { client(channel).delete(request).await }
                })
                .await
                .map(WriteAnswer::Delete),
        };
        answer.map_err(|e| self.shard_error(shard, e))
    }

    /// Ingests each document on its owner shard (shards in parallel). Each shard's part is
    /// stored whole or not at all; with several shards, a failure of one leaves the others'
    /// parts stored (re-sending the request is harmless: ingest is idempotent).
    pub async fn ingest(
        &self,
        message: IngestRequest,
        ctx: &dyn CallContext,
    ) -> Result<IngestResponse, RetrievalError> {
        let n = self.count();
        let mut parts: Vec<IngestRequest> = (0..n)
            .map(|_| IngestRequest {
                collection: message.collection.clone(),
                documents: Vec::new(),
            })
            .collect();
        for document in message.documents {
            parts[owner_shard(&document.source, n)]
                .documents
                .push(document);
        }
        let calls = parts
            .into_iter()
            .enumerate()
            .filter(|(i, part)| !part.documents.is_empty() || (*i == 0 && n == 1))
            .map(|(i, part)| async move {
                match self.write(i, ShardWrite::Ingest(part), ctx).await? {
                    WriteAnswer::Ingest(answer) => Ok(answer),
                    WriteAnswer::Delete(_) => Err(RetrievalError::no_answer()),
                }
            });
        let answers = futures::future::join_all(calls)
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        if n == 1 {
            return answers
                .into_iter()
                .next()
                .ok_or_else(RetrievalError::no_answer);
        }
        Ok(merge_ingest(&message.collection, answers))
    }

    /// Deletes a source on its owner shard.
    pub async fn delete(
        &self,
        message: DeleteRequest,
        ctx: &dyn CallContext,
    ) -> Result<DeleteResponse, RetrievalError> {
        let shard = owner_shard(&message.source, self.count());
        match self.write(shard, ShardWrite::Delete(message), ctx).await? {
            WriteAnswer::Delete(answer) => Ok(answer),
            WriteAnswer::Ingest(_) => Err(RetrievalError::no_answer()),
        }
    }
}
