//! Text generation from llama-family GGUF models on candle, with the tokenizer rebuilt from GGUF metadata
