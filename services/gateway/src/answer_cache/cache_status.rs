//! The `Cache-Status` response header (RFC 9211) of `/api/query` and `/api/query/stream`:
//! how the semantic cache took part in an answer, readable where the body is not — a load
//! balancer's access log, `curl -i`, a load tester counting hits without decoding answers.
//!
//! - a hit: `ragmesh; hit; detail=l1-exact` (tier `l1`/`l2`, match `exact`/`semantic`);
//! - a miss: `ragmesh; fwd=uri-miss` (answered by the pipeline, stored when complete);
//! - not looked up: `ragmesh; fwd=bypass` (cache disabled, or a `rewrite`/`multihop` query).
//!
//! The body's `cache` object says the same and more (similarity, the original question).

use crate::api::responses::CacheInfo;
use http::{HeaderName, HeaderValue};

pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// The header for an answer whose body says `cache` (None: the cache was not consulted).
pub fn header_value(cache: Option<&CacheInfo>) -> HeaderValue {
    let Some(cache) = cache else {
        return HeaderValue::from_static("ragmesh; fwd=bypass");
    };
    if !cache.hit {
        return HeaderValue::from_static("ragmesh; fwd=uri-miss");
    }
    HeaderValue::from_static(match (cache.tier.as_deref(), cache.match_kind.as_deref()) {
        (Some("l1"), Some("exact")) => "ragmesh; hit; detail=l1-exact",
        (Some("l1"), _) => "ragmesh; hit; detail=l1-semantic",
        (_, Some("exact")) => "ragmesh; hit; detail=l2-exact",
        _ => "ragmesh; hit; detail=l2-semantic",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(tier: &str, kind: &str) -> CacheInfo {
        CacheInfo {
            hit: true,
            tier: Some(tier.into()),
            match_kind: Some(kind.into()),
            similarity: Some(1.0),
            original_query: Some("q".into()),
        }
    }

    #[test]
    fn every_outcome_has_its_own_value() {
        let cases = [
            (Some(hit("l1", "exact")), "ragmesh; hit; detail=l1-exact"),
            (
                Some(hit("l1", "semantic")),
                "ragmesh; hit; detail=l1-semantic",
            ),
            (Some(hit("l2", "exact")), "ragmesh; hit; detail=l2-exact"),
            (
                Some(hit("l2", "semantic")),
                "ragmesh; hit; detail=l2-semantic",
            ),
            (Some(CacheInfo::miss()), "ragmesh; fwd=uri-miss"),
            (None, "ragmesh; fwd=bypass"),
        ];
        for (info, expected) in cases {
            assert_eq!(header_value(info.as_ref()), expected, "{info:?}");
        }
    }
}
