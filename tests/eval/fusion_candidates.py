# Weight-free second-stage candidates (issue 3 §2), scored offline: fetches each leg's chunk
# list with its scores (`/api/retrieve`, method bm25 / vector / hybrid, k = DEPTH) from a running
# gateway whose collection holds a BEIR corpus (ingested by `ragmesh eval beir`), and scores
# parameter-free fusions of the two legs with pytrec_eval (nDCG@10, test qrels). Nothing is
# fitted. An experiment to choose what to build, not run by CI; numbers in docs/quality.md.
#
#   pip install pytrec-eval-terrier
#   DEPTH=370 python3 tests/eval/fusion_candidates.py http://127.0.0.1:39085 ../shared/eval/scifact beir-scifact
import json, sys, os, math, statistics, http.client, urllib.parse
import pytrec_eval
URL, DATA, COLL = sys.argv[1], sys.argv[2], sys.argv[3]
DEPTH = int(os.environ.get("DEPTH", "370"))
CACHE = os.environ.get("LEGS_CACHE", f"/tmp/ragmesh-legs-{COLL}-{DEPTH}.json")
u = urllib.parse.urlparse(URL)
queries = {}
for line in open(f"{DATA}/queries.jsonl"):
    q = json.loads(line); queries[q["_id"]] = q["text"]
qrels = {}
for i, line in enumerate(open(f"{DATA}/qrels/test.tsv")):
    if i == 0: continue
    qid, did, s = line.split()
    qrels.setdefault(qid, {})[did] = int(s)
def retrieve(query, method, k):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    c.request("POST", "/api/retrieve", json.dumps({"query": query, "collection": COLL, "method": method, "k": k}), {"content-type": "application/json"})
    r = c.getresponse(); d = r.read(); assert r.status == 200, d
    return [(s["source"], s["chunk"], s["score"]) for s in json.loads(d)["sources"]]
if os.path.exists(CACHE):
    legs = json.load(open(CACHE))
else:
    legs = {}
    for n, qid in enumerate(qrels):
        legs[qid] = {m: retrieve(queries[qid], m, DEPTH) for m in ("bm25", "vector", "hybrid")}
        if n % 50 == 0: print(n, file=sys.stderr)
    json.dump(legs, open(CACHE, "w"))
def best_chunk_docs(chunks):
    out = {}
    for src, ch, sc in chunks:
        out.setdefault(src, sc)  # list is best first: first chunk of a doc is its best
    return out
def run_from_ranked(docs):  # docs: list best first
    return {d: float(len(docs) - i) for i, d in enumerate(docs[:1000])}
def ndcg(run):
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"})
    res = ev.evaluate(run)
    return statistics.mean(v["ndcg_cut_10"] for v in res.values())
def minmax(d):
    if not d: return {}
    lo, hi = min(d.values()), max(d.values())
    return {k: (v - lo) / (hi - lo) if hi > lo else 1.0 for k, v in d.items()}
def zscore(d):
    vals = list(d.values()); mu = statistics.mean(vals); sd = statistics.pstdev(vals) or 1.0
    return {k: (v - mu) / sd for k, v in d.items()}
def rrf_docs(rankings, k=60):
    s = {}
    for r in rankings:
        for i, d in enumerate(r): s[d] = s.get(d, 0) + 1 / (k + i + 1)
    return s
def ranked(scores): return [d for d, _ in sorted(scores.items(), key=lambda x: -x[1])]
cands = {}
def add(name, fn):
    run = {}
    for qid, l in legs.items():
        run[qid] = run_from_ranked(fn(l))
    cands[name] = ndcg(run)
    print(f"{name:60s} {cands[name]:.4f}")
add("bm25 (doc = best chunk)", lambda l: list(best_chunk_docs(l["bm25"])))
add("vector (doc = best chunk)", lambda l: list(best_chunk_docs(l["vector"])))
add("hybrid as served (chunk RRF 60)", lambda l: list(best_chunk_docs(l["hybrid"])))
add("doc-level RRF 60", lambda l: ranked(rrf_docs([list(best_chunk_docs(l["bm25"])), list(best_chunk_docs(l["vector"]))])))
def combsum(l, norm, mnz=False, missing="min"):
    b, v = norm(best_chunk_docs(l["bm25"])), norm(best_chunk_docs(l["vector"]))
    mb, mv = min(b.values()), min(v.values())
    s = {}
    for d in set(b) | set(v):
        x = b.get(d, mb if missing == "min" else 0) + v.get(d, mv if missing == "min" else 0)
        if mnz: x *= (d in b) + (d in v)
        s[d] = x
    return ranked(s)
add("CombSUM min-max", lambda l: combsum(l, minmax))
add("CombMNZ min-max", lambda l: combsum(l, minmax, mnz=True))
add("CombSUM z-score", lambda l: combsum(l, zscore))
add("CombMNZ z-score", lambda l: combsum(l, zscore, mnz=True))
# chunk-level score fusion (a chunk's both scores when it is in both lists)
def chunk_combsum(l, norm):
    b = {(s, c): x for s, c, x in l["bm25"]}; v = {(s, c): x for s, c, x in l["vector"]}
    b, v = norm(b), norm(v); mb, mv = min(b.values()), min(v.values())
    s = {}
    for key in set(b) | set(v):
        s[key] = b.get(key, mb) + v.get(key, mv)
    docs = []
    seen = set()
    for (src, c) in ranked(s):
        if src not in seen: seen.add(src); docs.append(src)
    return docs
add("chunk CombSUM min-max", lambda l: chunk_combsum(l, minmax))
add("chunk CombSUM z-score", lambda l: chunk_combsum(l, zscore))
# document score = sum over its chunks (a document whose many chunks match ranks higher)
def doc_sum_rrf(l):
    s = {}
    for leg in ("bm25", "vector"):
        for i, (src, c, x) in enumerate(l[leg]): s[src] = s.get(src, 0) + 1 / (60 + i + 1)
    return ranked(s)
add("chunk RRF summed per document", doc_sum_rrf)
