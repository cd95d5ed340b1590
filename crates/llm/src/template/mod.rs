//! How a prompt is worded and written: the RAG wording ([`PromptTemplate`]: system text,
//! context format, citation instruction, language), the chat formats of instruction-tuned
//! models ([`ChatFormat`], [`ChatTemplate`]), and a GGUF's own Jinja chat template rendered
//! with minijinja ([`JinjaTemplate`]).

mod chat;
mod jinja;
mod prompt;

pub use chat::{ChatFormat, ChatTemplate, FormatSource};
pub use jinja::{ChatMessage, JinjaTemplate, TemplateError};
pub use prompt::{CONTEXT_FORMAT, PromptTemplate, SYSTEM_PROMPT};
