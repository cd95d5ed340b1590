//! The tantivy schema of a chunk and the English analyzer its text is indexed with. Kept in
//! one place so that indexing, BM25 queries and filters agree on field names and tokenization.

use tantivy::Index;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, JsonObjectOptions, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};

/// Name under which the English analyzer is registered on every collection index.
pub(crate) const ENGLISH_ANALYZER: &str = "ragmesh_en";

/// Handles of the fields of a chunk document.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkFields {
    /// The chunk id (u64): indexed for deletes and lookups, fast for tie-breaking.
    pub id: Field,
    /// The document's source name, indexed untokenized for exact-match filters.
    pub source: Field,
    pub chunk_index: Field,
    /// The chunk text, analyzed for BM25 and stored for results.
    pub text: Field,
    /// The document's metadata (string values), indexed untokenized for exact-match filters.
    pub metadata: Field,
}

pub(crate) fn chunk_schema() -> (Schema, ChunkFields) {
    let mut builder = Schema::builder();
    let id = builder.add_u64_field("id", INDEXED | FAST | STORED);
    let source = builder.add_text_field("source", STRING | STORED);
    let chunk_index = builder.add_u64_field("chunk_index", STORED);
    let text_indexing = TextFieldIndexing::default()
        .set_tokenizer(ENGLISH_ANALYZER)
        .set_index_option(IndexRecordOption::WithFreqs);
    let text = builder.add_text_field(
        "text",
        TextOptions::default()
            .set_indexing_options(text_indexing)
            .set_stored(),
    );
    let metadata_indexing = TextFieldIndexing::default()
        .set_tokenizer("raw")
        .set_index_option(IndexRecordOption::Basic);
    let metadata = builder.add_json_field(
        "metadata",
        JsonObjectOptions::default()
            .set_stored()
            .set_indexing_options(metadata_indexing),
    );
    (
        builder.build(),
        ChunkFields {
            id,
            source,
            chunk_index,
            text,
            metadata,
        },
    )
}

/// Registers the English analyzer (lowercase, English stop words, Snowball stemming) on
/// `index`. Tokenizers are not persisted by tantivy, so this runs on every open.
pub(crate) fn register_english_analyzer(index: &Index) {
    let mut builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .dynamic();
    if let Some(stop_words) = StopWordFilter::new(Language::English) {
        builder = builder.filter_dynamic(stop_words);
    }
    let analyzer = builder
        .filter_dynamic(Stemmer::new(Language::English))
        .build();
    index.tokenizers().register(ENGLISH_ANALYZER, analyzer);
}
