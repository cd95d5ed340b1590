//! Generation gRPC service: streams answers from the embedded GGUF model
