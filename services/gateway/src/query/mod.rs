//! A query, from its validated plan to its answer: the pipeline that runs it (retrieve,
//! rerank, generate, complete), the model's answer stream, honest citations, the per-query
//! profile and the window of recent profiles behind `/api/profile/stats`, which generator
//! answers, and query expansion ([`expand`]: rewrite, multihop).

pub mod answer;
pub mod answer_stream;
pub mod citations;
pub mod expand;
pub mod generator_choice;
pub mod instruct;
pub mod pipeline;
pub mod plan;
pub mod profile;
pub mod profile_window;
pub mod sources;
