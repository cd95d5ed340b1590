//! The tantivy side of a collection: the chunk store and BM25 leg. It holds every chunk's
//! text, source, position and metadata, answers BM25 queries built from analysed terms (user
//! text never reaches tantivy's query syntax), turns filters into exact-match term queries
//! and hydrates the chunks a search returns.

use crate::bm25_stats::{Bm25Stats, GlobalStatistics};
use crate::schema::{ChunkFields, chunk_schema, register_english_analyzer};
use crate::{ChunkId, Filters, IndexError, LegHit, Metadata, SOURCE_FILTER_KEY};
use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use tantivy::collector::{DocSetCollector, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{
    Bm25StatisticsProvider, BooleanQuery, ConstScoreQuery, Occur, Query, TermQuery,
};
use tantivy::schema::{IndexRecordOption, OwnedValue, Value};
use tantivy::{
    DocAddress, DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Score, Searcher,
    SegmentReader, TantivyDocument, Term,
};

/// Heap of the single indexing thread. Chunks are small; commits happen per ingest call.
const WRITER_HEAP_BYTES: usize = 32 * 1024 * 1024;

/// A chunk as stored in the text index.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredChunk {
    pub id: ChunkId,
    pub source: String,
    pub chunk_index: u32,
    /// Empty when read without text (scans).
    pub text: String,
    pub metadata: Metadata,
}

pub(crate) struct TextIndex {
    index: Index,
    reader: IndexReader,
    fields: ChunkFields,
}

impl TextIndex {
    /// Whether a text index was ever committed in `dir`.
    pub fn exists(dir: &Path) -> bool {
        dir.join("meta.json").is_file()
    }

    /// Opens the index in `dir` (creating it when absent) with its single writer.
    pub fn open_or_create(dir: &Path) -> Result<(TextIndex, IndexWriter), IndexError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| IndexError::io(format!("create {}", dir.display()), e))?;
        let (schema, fields) = chunk_schema();
        let index = Index::open_or_create(MmapDirectory::open(dir)?, schema)?;
        register_english_analyzer(&index);
        let writer = index.writer_with_num_threads(1, WRITER_HEAP_BYTES)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok((
            TextIndex {
                index,
                reader,
                fields,
            },
            writer,
        ))
    }

    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    /// Makes the last commit visible to new searchers.
    pub fn reload(&self) -> Result<(), IndexError> {
        Ok(self.reader.reload()?)
    }

    pub fn id_term(&self, id: ChunkId) -> Term {
        Term::from_field_u64(self.fields.id, id.0)
    }

    pub fn document(&self, chunk: &StoredChunk) -> TantivyDocument {
        let f = &self.fields;
        let mut doc = TantivyDocument::new();
        doc.add_u64(f.id, chunk.id.0);
        doc.add_text(f.source, &chunk.source);
        doc.add_u64(f.chunk_index, u64::from(chunk.chunk_index));
        doc.add_text(f.text, &chunk.text);
        let object = chunk
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), OwnedValue::Str(v.clone())))
            .collect();
        doc.add_object(f.metadata, object);
        doc
    }

    /// The analysed terms of `text` (lowercased, stop words removed, stemmed), in order,
    /// repeats kept: a word asked for twice weighs twice.
    pub fn query_terms(&self, text: &str) -> Result<Vec<Term>, IndexError> {
        let mut analyzer = self.index.tokenizer_for_field(self.fields.text)?;
        let mut stream = analyzer.token_stream(text);
        let mut terms = Vec::new();
        while stream.advance() {
            terms.push(Term::from_field_text(
                self.fields.text,
                &stream.token().text,
            ));
        }
        Ok(terms)
    }

    /// A query matching exactly the chunks that satisfy every filter (None without filters).
    pub fn filter_query(&self, filters: &Filters) -> Option<Box<dyn Query>> {
        if filters.is_empty() {
            return None;
        }
        let clauses = filters
            .iter()
            .map(|(key, value)| {
                let term = if key == SOURCE_FILTER_KEY {
                    Term::from_field_text(self.fields.source, value)
                } else {
                    let mut term = Term::from_field_json_path(
                        self.fields.metadata,
                        &escape_json_key(key),
                        false,
                    );
                    term.append_type_and_str(value);
                    term
                };
                let query: Box<dyn Query> =
                    Box::new(TermQuery::new(term, IndexRecordOption::Basic));
                (Occur::Must, query)
            })
            .collect();
        Some(Box::new(BooleanQuery::new(clauses)))
    }

    /// This index's BM25 counts for the analysed terms of `text` (see [`Bm25Stats`]).
    pub fn term_stats(&self, searcher: &Searcher, text: &str) -> Result<Bm25Stats, IndexError> {
        let mut doc_freqs = HashMap::new();
        for term in self.query_terms(text)? {
            if let Some(word) = term.value().as_str() {
                let n = searcher.doc_freq(&term)?;
                doc_freqs.insert(word.to_string(), n);
            }
        }
        Ok(Bm25Stats {
            total_docs: Bm25StatisticsProvider::total_num_docs(searcher)?,
            total_tokens: Bm25StatisticsProvider::total_num_tokens(searcher, self.fields.text)?,
            doc_freqs,
        })
    }

    /// The BM25 leg: the best `depth` chunks for `text` among those passing `filters`, best
    /// first, ties broken by ascending chunk id. A text without indexable terms finds nothing.
    /// Scores use `stats` (a whole sharded collection's counts) when given, else this index's.
    pub fn bm25(
        &self,
        searcher: &Searcher,
        text: &str,
        depth: usize,
        filters: &Filters,
        stats: Option<&Bm25Stats>,
    ) -> Result<Vec<LegHit>, IndexError> {
        let terms = self.query_terms(text)?;
        if terms.is_empty() || depth == 0 {
            return Ok(Vec::new());
        }
        let should = terms
            .into_iter()
            .map(|t| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs));
                (Occur::Should, q)
            })
            .collect();
        let text_query: Box<dyn Query> = Box::new(BooleanQuery::new(should));
        let query: Box<dyn Query> = match self.filter_query(filters) {
            None => text_query,
            Some(filter) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, text_query),
                (Occur::Must, Box::new(ConstScoreQuery::new(filter, 0.0))),
            ])),
        };
        let collector = TopDocs::with_limit(depth).tweak_score(|segment: &SegmentReader| {
            // The id column exists in every segment (the schema makes it FAST); a segment
            // without it would rank its ties by id 0 and still be searched.
            let ids = segment
                .fast_fields()
                .u64("id")
                .ok()
                .map(|c| c.first_or_default_col(0));
            move |doc: DocId, score: Score| {
                let id = ids.as_ref().map_or(0, |c| c.get_val(doc));
                (score, Reverse(id))
            }
        });
        let top = match stats {
            None => searcher.search(&query, &collector)?,
            Some(stats) => {
                let global = GlobalStatistics {
                    stats,
                    local: searcher,
                };
                searcher.search_with_statistics_provider(&query, &collector, &global)?
            }
        };
        Ok(top
            .into_iter()
            .map(|((score, Reverse(id)), _)| LegHit {
                id: ChunkId(id),
                score,
            })
            .collect())
    }

    /// Ids of every chunk passing `filter`.
    pub fn matching_ids(
        &self,
        searcher: &Searcher,
        filter: &dyn Query,
    ) -> Result<HashSet<ChunkId>, IndexError> {
        let addresses = searcher.search(filter, &DocSetCollector)?;
        let mut by_segment: HashMap<u32, Vec<DocId>> = HashMap::new();
        for address in addresses {
            by_segment
                .entry(address.segment_ord)
                .or_default()
                .push(address.doc_id);
        }
        let mut ids = HashSet::new();
        for (segment_ord, docs) in by_segment {
            let column = searcher
                .segment_reader(segment_ord)
                .fast_fields()
                .u64("id")?;
            ids.extend(
                docs.into_iter()
                    .filter_map(|d| column.first(d))
                    .map(ChunkId),
            );
        }
        Ok(ids)
    }

    /// Loads the chunks with these ids (ids not in the index are left out).
    pub fn fetch(
        &self,
        searcher: &Searcher,
        ids: &[ChunkId],
    ) -> Result<HashMap<ChunkId, StoredChunk>, IndexError> {
        let mut found = HashMap::with_capacity(ids.len());
        for &id in ids {
            let query = TermQuery::new(self.id_term(id), IndexRecordOption::Basic);
            let top = searcher.search(&query, &TopDocs::with_limit(1).order_by_score())?;
            if let Some((_, address)) = top.first() {
                let chunk = self.read(searcher, *address, true)?;
                found.insert(chunk.id, chunk);
            }
        }
        Ok(found)
    }

    /// Every live chunk, without its text (for start-up reconciliation and the catalog).
    pub fn scan(&self, searcher: &Searcher) -> Result<Vec<StoredChunk>, IndexError> {
        self.scan_all(searcher, false)
    }

    /// Every live chunk with its text (for backups).
    pub fn scan_with_text(&self, searcher: &Searcher) -> Result<Vec<StoredChunk>, IndexError> {
        self.scan_all(searcher, true)
    }

    fn scan_all(
        &self,
        searcher: &Searcher,
        with_text: bool,
    ) -> Result<Vec<StoredChunk>, IndexError> {
        let mut chunks = Vec::with_capacity(searcher.num_docs() as usize);
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            for doc in segment.doc_ids_alive() {
                chunks.push(self.read(searcher, DocAddress::new(ord as u32, doc), with_text)?);
            }
        }
        Ok(chunks)
    }

    fn read(
        &self,
        searcher: &Searcher,
        address: DocAddress,
        with_text: bool,
    ) -> Result<StoredChunk, IndexError> {
        let f = &self.fields;
        let doc: TantivyDocument = searcher.doc(address)?;
        let id = doc.get_first(f.id).and_then(|v| v.as_u64());
        let Some(id) = id else {
            return Err(IndexError::Tantivy(tantivy::TantivyError::InternalError(
                format!("chunk document {address:?} has no id"),
            )));
        };
        let text_of = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let mut metadata = Metadata::new();
        if let Some(object) = doc.get_first(f.metadata).and_then(|v| v.as_object()) {
            for (key, value) in object {
                if let Some(value) = value.as_str() {
                    metadata.insert(key.to_string(), value.to_string());
                }
            }
        }
        Ok(StoredChunk {
            id: ChunkId(id),
            source: text_of(f.source),
            chunk_index: doc
                .get_first(f.chunk_index)
                .and_then(|v| v.as_u64())
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or_default(),
            text: if with_text {
                text_of(f.text)
            } else {
                String::new()
            },
            metadata,
        })
    }
}

/// A metadata key as one JSON path segment: dots and backslashes are escaped so that a key
/// like `a.b` is never read as a nested path.
fn escape_json_key(key: &str) -> String {
    let mut escaped = String::with_capacity(key.len());
    for ch in key.chars() {
        if matches!(ch, '.' | '\\') {
            escaped.push('\\');
        }
        escaped.push(ch);
    }
    escaped
}
