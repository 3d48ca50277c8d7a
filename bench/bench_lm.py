"""LLM prompt processing (pp512) and generation (tg128) tokens/s: `ember-lm bench` against
llama.cpp (llama-cpp-python, built from source by pip) on the same GGUF file with the same
thread count, 5 runs each, medians, in one run of this script. Both sides time the forward
passes only (random prompt ids, greedy argmax for ember, llama.cpp's eval for llama.cpp),
as llama-bench does. The models: the default SmolLM2-135M Q4_1 GGUF, and a random-weight
1.1B Llama written as Q4_0 by make_random_llama_gguf.py (created on first use).

    python3 bench/bench_lm.py [--model PATH ...] [--ember build/bin/ember-lm] [--threads N]

llama-cpp-python is optional: without it the table shows Ember's numbers alone.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time


def default_model() -> str:
    base = os.environ.get("EMBER_MODEL_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ember", "models"
    )
    return str(pathlib.Path(base) / "SmolLM2-135M-Instruct.Q4_1.gguf")


def random_1b_model() -> str:
    """The random 1.1B Llama Q4_0 GGUF beside the default model, written if missing."""
    path = pathlib.Path(default_model()).with_name("random-llama-1b.Q4_0.gguf")
    if not path.exists():
        script = pathlib.Path(__file__).resolve().parent / "make_random_llama_gguf.py"
        subprocess.run([sys.executable, str(script), "--out", str(path)], check=True)
    return str(path)


def ember_bench(exe: str, model: str, threads: int, n_prompt: int, n_gen: int, runs: int) -> dict:
    env = dict(os.environ, EMBER_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    out = subprocess.run(
        [exe, "bench", "--model", model, "-p", str(n_prompt), "-n", str(n_gen), "-r", str(runs), "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def llama_cpp_bench(model: str, threads: int, n_prompt: int, n_gen: int, runs: int) -> dict | None:
    try:
        from llama_cpp import Llama
    except ImportError:
        return None
    import random

    llm = Llama(
        model_path=model,
        n_ctx=n_prompt + n_gen + 8,
        n_batch=n_prompt,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    rng = random.Random(0)
    prompt = [rng.randrange(llm.n_vocab()) for _ in range(n_prompt)]
    pp, tg = [], []
    for r in range(runs + 1):  # run 0 warms up
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(prompt)
        if r:
            pp.append(n_prompt / (time.perf_counter() - t0))
        llm.reset()
        tok = prompt[0]
        t0 = time.perf_counter()
        for _ in range(n_gen):
            llm.eval([tok])
        if r:
            tg.append(n_gen / (time.perf_counter() - t0))
    return {"pp_tps": statistics.median(pp), "tg_tps": statistics.median(tg)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", help="a GGUF file (repeatable; default: SmolLM2 and random 1.1B)")
    ap.add_argument("--ember", default=str(pathlib.Path(__file__).resolve().parent.parent / "build/bin/ember-lm"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--n-prompt", type=int, default=512)
    ap.add_argument("--n-gen", type=int, default=128)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    for model in a.model or [default_model(), random_1b_model()]:
        e = ember_bench(a.ember, model, a.threads, a.n_prompt, a.n_gen, a.runs)
        ref = llama_cpp_bench(model, a.threads, a.n_prompt, a.n_gen, a.runs)
        print(f"model {model}, {a.threads} threads, median of {a.runs} runs")
        print("| test | ember tokens/s | llama.cpp tokens/s | ember / llama.cpp |")
        print("|---|---|---|---|")
        for key, name in (("pp_tps", f"pp{a.n_prompt}"), ("tg_tps", f"tg{a.n_gen}")):
            if ref:
                print(f"| {name} | {e[key]:.1f} | {ref[key]:.1f} | {e[key] / ref[key]:.2f}x |")
            else:
                print(f"| {name} | {e[key]:.1f} | (llama-cpp-python not installed) | - |")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
