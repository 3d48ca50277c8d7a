"""Writes a random-weight Llama as a GGUF for decode and prefill benchmarks (bench_lm.py):
about 1.1 billion parameters by default (Llama 3.2 1B's shape with SmolLM2's 49152-token
vocabulary), every matrix Q4_0 (or Q5_0, Q8_0), the embedding tied to the output.

    python3 bench/make_random_llama_gguf.py --out PATH [--tokenizer-from GGUF] [--type Q4_0]

The tokenizer metadata is copied from --tokenizer-from (default: the SmolLM2 GGUF that
`make demo` downloads), so llama.cpp and ember-lm both load the file. The blocks are random
bytes with per-block scales that give each weight a standard deviation near
1 / sqrt(fan-in), so activations stay finite through the layers; the text is noise, the
speed is a real model's.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

import numpy as np


def default_tokenizer_gguf() -> pathlib.Path:
    base = os.environ.get("EMBER_MODEL_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ember", "models"
    )
    return pathlib.Path(base) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def random_blocks(rng, rows: int, cols: int, qtype: str) -> np.ndarray:
    """(rows, cols) weights as random ggml blocks, uint8 (rows, bytes per row)."""
    nb = cols // 32
    # Q4_0: d * (q - 8), q uniform on 0..15 (std 4.6 d); Q5_0: d * (q - 16), q uniform on 0..31
    # (std 9.2 d; 4 bytes of fifth bits, then 16 of nibbles); Q8_0: d * q, q uniform int8 (std 74 d).
    spread = {"Q4_0": 4.6, "Q5_0": 9.2, "Q8_0": 74.0}[qtype]
    d = (rng.uniform(0.8, 1.2, (rows, nb, 1)) / np.sqrt(cols) / spread).astype(np.float16)
    payload = {"Q4_0": 16, "Q5_0": 20, "Q8_0": 32}[qtype]
    q = rng.integers(0, 256, (rows, nb, payload), dtype=np.uint8)
    return np.concatenate([d.view(np.uint8), q], axis=2).reshape(rows, -1)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer-from", default=str(default_tokenizer_gguf()))
    ap.add_argument("--type", default="Q4_0", choices=["Q4_0", "Q5_0", "Q8_0"])
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=8)
    ap.add_argument("--ffn", type=int, default=8192)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    import gguf

    src = gguf.GGUFReader(a.tokenizer_from)
    vocab = len(src.fields["tokenizer.ggml.tokens"].contents())
    H, L, nh, nkv, F = a.hidden, a.layers, a.heads, a.kv_heads, a.ffn
    hd = H // nh
    qt = gguf.GGMLQuantizationType[a.type]
    rng = np.random.default_rng(a.seed)

    out = pathlib.Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    w = gguf.GGUFWriter(str(tmp), "llama")
    w.add_name("random-llama")
    w.add_block_count(L)
    w.add_context_length(4096)
    w.add_embedding_length(H)
    w.add_feed_forward_length(F)
    w.add_head_count(nh)
    w.add_head_count_kv(nkv)
    w.add_rope_dimension_count(hd)
    w.add_rope_freq_base(500000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(vocab)
    w.add_file_type(getattr(gguf.LlamaFileType, "MOSTLY_" + a.type))
    for key, field in src.fields.items():
        if not key.startswith("tokenizer."):
            continue
        kind = field.types[0]
        if kind == gguf.GGUFValueType.ARRAY:
            w.add_array(key, field.contents())
        else:
            w.add_key_value(key, field.contents(), kind)

    def matrix(name: str, rows: int, cols: int) -> None:
        w.add_tensor(name, random_blocks(rng, rows, cols, a.type), raw_dtype=qt)

    def norm(name: str) -> None:
        w.add_tensor(name, (1 + 0.05 * rng.standard_normal(H)).astype(np.float32))

    matrix("token_embd.weight", vocab, H)
    for i in range(L):
        p = f"blk.{i}."
        norm(p + "attn_norm.weight")
        matrix(p + "attn_q.weight", nh * hd, H)
        matrix(p + "attn_k.weight", nkv * hd, H)
        matrix(p + "attn_v.weight", nkv * hd, H)
        matrix(p + "attn_output.weight", H, nh * hd)
        norm(p + "ffn_norm.weight")
        matrix(p + "ffn_gate.weight", F, H)
        matrix(p + "ffn_up.weight", F, H)
        matrix(p + "ffn_down.weight", H, F)
    norm("output_norm.weight")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tmp.replace(out)
    params = vocab * H + L * (2 * nh * hd * H + 2 * nkv * hd * H + 3 * F * H + 2 * H) + H
    print(f"wrote {out}: {params / 1e9:.2f}B parameters, {a.type}, {out.stat().st_size / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
