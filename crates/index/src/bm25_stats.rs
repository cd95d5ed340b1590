//! BM25 statistics of a whole collection split over shards. BM25 weighs a term by how many
//! chunks contain it among all chunks, and a chunk's length against the average: a shard that
//! scored with its own counts would rank differently from one index holding everything. So a
//! caller asks every shard for [`Collection::term_stats`](crate::Collection::term_stats) of
//! the query, sums them, and passes the sum to
//! [`Collection::search_legs`](crate::Collection::search_legs), which scores with it through
//! tantivy's `Bm25StatisticsProvider`.
//!
//! The counts are those tantivy itself uses (chunks stored in the segments, deleted ones
//! included until a merge drops them), so the sum over shards is exactly what one index
//! holding every chunk would use.

use std::collections::HashMap;
use tantivy::query::Bm25StatisticsProvider;
use tantivy::schema::Field;
use tantivy::{Searcher, Term};

/// Counts BM25 needs for one query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bm25Stats {
    /// Chunks in the text index.
    pub total_docs: u64,
    /// Tokens of the text field over all chunks.
    pub total_tokens: u64,
    /// Analysed term -> chunks containing it.
    pub doc_freqs: HashMap<String, u64>,
}

impl Bm25Stats {
    /// Adds another shard's counts.
    pub fn add(&mut self, other: &Bm25Stats) {
        self.total_docs += other.total_docs;
        self.total_tokens += other.total_tokens;
        for (term, n) in &other.doc_freqs {
            *self.doc_freqs.entry(term.clone()).or_insert(0) += n;
        }
    }
}

/// Global statistics for tantivy; a term the caller did not count falls back to this index.
pub(crate) struct GlobalStatistics<'a> {
    pub stats: &'a Bm25Stats,
    pub local: &'a Searcher,
}

impl Bm25StatisticsProvider for GlobalStatistics<'_> {
    fn total_num_tokens(&self, _field: Field) -> tantivy::Result<u64> {
        Ok(self.stats.total_tokens)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.stats.total_docs)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        match term
            .value()
            .as_str()
            .and_then(|t| self.stats.doc_freqs.get(t))
        {
            Some(n) => Ok(*n),
            None => self.local.doc_freq(term),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_counts_add_up() {
        let mut total = Bm25Stats {
            total_docs: 3,
            total_tokens: 30,
            doc_freqs: HashMap::from([("lava".to_string(), 2)]),
        };
        total.add(&Bm25Stats {
            total_docs: 4,
            total_tokens: 50,
            doc_freqs: HashMap::from([("lava".to_string(), 1), ("rust".to_string(), 4)]),
        });
        assert_eq!((total.total_docs, total.total_tokens), (7, 80));
        assert_eq!(total.doc_freqs["lava"], 3);
        assert_eq!(total.doc_freqs["rust"], 4);
    }
}
