"""Throughput of `ember-lm serve` under concurrent clients (issue 10's benchmark).

Starts the server on the default model (or --model), then for concurrency 1, 4 and 16 runs that
many clients at once, each streaming chat completions of --max-tokens tokens (greedy, distinct
prompts; plain HTTP, so the clients take little of the machine: the tests use the openai
client), and prints aggregate generated tokens/s and the median time to first token. The ratio
of concurrency 4 to concurrency 1 is what continuous batching should lift above 2x.

    python3 bench/bench_server.py [--ember build/bin/ember-lm] [--model PATH] [--max-tokens 64]
"""

import argparse
import http.client
import json
import pathlib
import re
import statistics
import subprocess
import threading
import time


def start(ember, model):
    cmd = [ember, "serve", "--port", "0"] + (["--model", model] if model else [])
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.search(r"on http://127\.0\.0\.1:(\d+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, int(m.group(1))
    raise SystemExit("bench_server: the server did not start")


def stream_chat(port, content, max_tokens):
    """One streamed chat completion read straight off the socket (server-sent events parsed with
    json): the openai client's per-chunk work costs about a millisecond, which on a 2-core
    machine is taken from the server it measures. Returns (completion tokens, seconds to the
    first piece of text)."""
    body = json.dumps(
        {
            "model": "m",
            "messages": [{"role": "user", "content": content}],
            "temperature": 0,
            "max_tokens": max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise SystemExit(f"bench_server: HTTP {resp.status}: {resp.read()[:200]!r}")
    first, n = None, 0
    for line in resp:
        if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
            continue
        chunk = json.loads(line[6:])
        choices = chunk.get("choices") or []
        if first is None and choices and choices[0].get("delta", {}).get("content"):
            first = time.perf_counter() - t0
        if chunk.get("usage"):
            n = chunk["usage"]["completion_tokens"]
    conn.close()
    return n, first


def run(port, clients, requests_each, max_tokens):
    tokens, ttfts, lock = [0], [], threading.Lock()

    def client(i):
        for j in range(requests_each):
            n, first = stream_chat(port, f"Tell a story about the number {i * 100 + j}.", max_tokens)
            with lock:
                tokens[0] += n
                if first is not None:
                    ttfts.append(first)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return tokens[0] / wall, statistics.median(ttfts) if ttfts else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ember", default=str(pathlib.Path(__file__).resolve().parents[1] / "build" / "bin" / "ember-lm"))
    ap.add_argument("--model", default="")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--requests", type=int, default=2, help="requests per client")
    args = ap.parse_args()
    proc, port = start(args.ember, args.model)
    try:
        run(port, 1, 1, 8)  # warm-up
        rows = []
        for clients in (1, 4, 16):
            tps, ttft = run(port, clients, args.requests, args.max_tokens)
            rows.append((clients, tps, ttft))
        base = rows[0][1]
        print(f"ember-lm serve, {args.max_tokens} tokens per request, {args.requests} requests per client")
        print(f"{'clients':>8} {'tokens/s':>10} {'vs 1':>6} {'TTFT median':>12}")
        for clients, tps, ttft in rows:
            print(f"{clients:>8} {tps:>10.1f} {tps / base:>6.2f} {ttft * 1e3:>10.0f} ms")
        print(f"concurrency 4 / 1: {rows[1][1] / base:.2f}x (target >= 2x)")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
