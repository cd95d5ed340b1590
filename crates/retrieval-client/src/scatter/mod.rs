//! A search over the cluster. With one shard it is one `Retrieve`; over several it is
//! scatter-gather: the query is embedded once, the shards' BM25 counts are summed
//! (`TermStats`), every shard returns its legs scored with those counts (`Retrieve` with
//! `legs`), and the legs are merged and fused as one index would ([`merge`]), so N shards rank
//! exactly as one. Profile steps: `embed`, `term_stats`, `shards`, `merge` (under `retrieve.`).

pub mod merge;

use crate::call::{CallContext, client, grpc_request};
use crate::cluster::RetrievalCluster;
use crate::error::RetrievalError;
use merge::{fuse_shard_legs, sum_stats};
use ragmesh_proto::v1::{
    EmbedRequest, Method, RetrieveRequest, RetrieveResponse, StepTiming, TermStatsRequest,
};
use std::time::Instant;

impl RetrievalCluster {
    /// A search: one shard as always, or scatter-gather as the module header says.
    pub async fn retrieve(
        &self,
        message: RetrieveRequest,
        ctx: &dyn CallContext,
    ) -> Result<RetrieveResponse, RetrievalError> {
        if self.count() == 1 {
            return self
                .read(0, self.rpc_timeout, |channel, left| {
                    let request = grpc_request(ctx, message.clone(), left);
                    async move { client(channel).retrieve(request).await }
                })
                .await;
        }
        self.scatter_retrieve(message, ctx).await
    }

    async fn scatter_retrieve(
        &self,
        mut message: RetrieveRequest,
        ctx: &dyn CallContext,
    ) -> Result<RetrieveResponse, RetrievalError> {
        let method = Method::try_from(message.method).unwrap_or(Method::Hybrid);
        let mut steps = Vec::new();
        if method != Method::Bm25 && message.query_vector.is_empty() {
            let started = Instant::now();
            let embedded = self
                .embed(
                    EmbedRequest {
                        texts: vec![message.query.clone()],
                    },
                    ctx,
                )
                .await?;
            message.query_vector = embedded
                .vectors
                .into_iter()
                .next()
                .map(|v| v.values)
                .unwrap_or_default();
            steps.push(step("embed", started));
        }
        if method != Method::Vector {
            let started = Instant::now();
            let request = TermStatsRequest {
                collection: message.collection.clone(),
                query: message.query.clone(),
            };
            let stats = self
                .gather(|shard| {
                    let request = request.clone();
                    async move {
                        self.read(shard, self.rpc_timeout, |channel, left| {
                            let request = grpc_request(ctx, request.clone(), left);
                            async move { client(channel).term_stats(request).await }
                        })
                        .await
                    }
                })
                .await?;
            message.bm25_stats = Some(sum_stats(stats.into_iter().filter_map(|s| s.stats)));
            steps.push(step("term_stats", started));
        }
        message.legs = true;
        let started = Instant::now();
        let k = message.k as usize;
        let legs = self
            .gather(|shard| {
                let message = message.clone();
                async move {
                    self.read(shard, self.rpc_timeout, |channel, left| {
                        let request = grpc_request(ctx, message.clone(), left);
                        async move { client(channel).retrieve(request).await }
                    })
                    .await
                }
            })
            .await?;
        steps.push(step("shards", started));
        let started = Instant::now();
        let chunks = fuse_shard_legs(legs, method, k);
        steps.push(step("merge", started));
        Ok(RetrieveResponse {
            chunks,
            steps,
            ..RetrieveResponse::default()
        })
    }
}

fn step(name: &str, started: Instant) -> StepTiming {
    StepTiming {
        name: name.to_string(),
        ms: started.elapsed().as_secs_f64() * 1e3,
    }
}
