//! BERT cross-encoder (ms-marco-MiniLM-L-6-v2 layout) on candle
