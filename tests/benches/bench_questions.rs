//! The fixed question list of the end-to-end latency benchmark, kept apart from the
//! measuring code so the set can grow without touching it. The questions are about ragmesh's
//! own docs and the test fixtures, i.e. the corpus the benchmark ingests; each names the
//! documents that answer it so the run can say whether retrieval found them while it was timed.

/// (question, the documents that answer it). The expected documents only feed a sanity line
/// (is retrieval finding the right thing while we time it?), never the latency numbers.
pub const QUESTIONS: &[(&str, &[&str])] = &[
    (
        "Where does Hawaiian tradition say the goddess Pele lives?",
        &["kilauea.md"],
    ),
    (
        "How often is a sourdough starter fed when it is kept in the refrigerator?",
        &["sourdough.txt"],
    ),
    (
        "What is the most popular answer to 1.e4 among chess grandmasters?",
        &["sicilian.md"],
    ),
    (
        "What does the Rust borrow checker enforce about mutable references?",
        &["ownership.txt"],
    ),
    (
        "Which HTTP status does an upload of an unsupported file type get?",
        &["api.md"],
    ),
    (
        "Which events does the query streaming endpoint send, and in what order?",
        &["api.md"],
    ),
    (
        "What happens to citation markers that are outside the range of the sources?",
        &["api.md", "architecture.md"],
    ),
    (
        "What are the allowed values of k in a query request?",
        &["api.md", "configuration.md"],
    ),
    (
        "How are the BM25 and vector results combined into one ranking?",
        &["architecture.md"],
    ),
    (
        "Why does ingesting the same text again add no new chunks?",
        &["architecture.md", "api.md"],
    ),
    (
        "Which crate maps error kinds to gRPC codes and HTTP statuses?",
        &["architecture.md"],
    ),
    (
        "How many candidates does each retrieval leg fetch before fusion?",
        &["architecture.md", "configuration.md"],
    ),
    (
        "How do I override a setting with an environment variable?",
        &["configuration.md"],
    ),
    (
        "How many word pieces go into a chunk and how much do chunks overlap?",
        &["configuration.md"],
    ),
    (
        "What is the prompt token budget and which contexts are dropped first?",
        &["configuration.md"],
    ),
    (
        "Which repeat penalty does greedy decoding use by default?",
        &["configuration.md"],
    ),
    (
        "How does ragmesh models fetch check that a downloaded model is complete?",
        &["operations.md"],
    ),
    (
        "Which Prometheus metrics does the retrieval service record?",
        &["operations.md"],
    ),
    (
        "What still works when the generation service is down?",
        &["operations.md"],
    ),
    (
        "What does the readiness endpoint report when a backend is not serving?",
        &["operations.md", "api.md"],
    ),
];
