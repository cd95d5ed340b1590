"""sentence-transformers on the same chunks and cores as embed_throughput.rs, for a
side-by-side in docs/benchmarks.md. Run by hand after `cargo bench -p ragmesh-embed`, which
writes the chunks and prints their path:

    /tmp/pyref/bin/python crates/embed/benches/embed_throughput_st.py \
        target/tmp/embed_bench_texts.json ~/.cache/ragmesh/models/all-MiniLM-L6-v2
"""

import json
import os
import statistics
import sys
import time

import torch
from sentence_transformers import SentenceTransformer

BATCH = 32
QUERY_RUNS = 50


def chunks_per_second(model, texts):
    model.encode(texts[:BATCH], batch_size=BATCH, normalize_embeddings=True)  # warm-up
    start = time.perf_counter()
    for i in range(0, len(texts), BATCH):
        model.encode(texts[i : i + BATCH], batch_size=BATCH, normalize_embeddings=True)
    return len(texts) / (time.perf_counter() - start)


def query_latency_ms(model, query):
    model.encode([query], normalize_embeddings=True)
    times = []
    for _ in range(QUERY_RUNS):
        start = time.perf_counter()
        model.encode([query], normalize_embeddings=True)
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return statistics.median(times), times[round((len(times) - 1) * 0.95)]


def main():
    texts_path = sys.argv[1]
    model_dir = os.path.expanduser(
        sys.argv[2] if len(sys.argv) > 2 else "~/.cache/ragmesh/models/all-MiniLM-L6-v2"
    )
    with open(texts_path, encoding="utf-8") as f:
        data = json.load(f)
    model = SentenceTransformer(model_dir, device="cpu")
    print(f"sentence-transformers, torch {torch.__version__} (CPU), batch {BATCH}")
    with torch.inference_mode():
        for label, key in [("64-token chunks", "chunks_64"), ("200-token chunks", "chunks_200")]:
            for threads in (1, 2):
                torch.set_num_threads(threads)
                rate = chunks_per_second(model, data[key])
                print(f"{label:>17}, {threads} thread(s): {rate:7.1f} chunks/s")
        for threads in (1, 2):
            torch.set_num_threads(threads)
            p50, p95 = query_latency_ms(model, data["query"])
            print(f"single short query, {threads} thread(s): p50 {p50:.2f} ms, p95 {p95:.2f} ms ({QUERY_RUNS} runs)")


if __name__ == "__main__":
    main()
