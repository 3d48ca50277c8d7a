"""Convolutions against a NumPy reference, and save/load round trips with NumPy
(and the safetensors package when installed)."""

import ember.core as mx
import numpy as np
import pytest
from helpers import assert_close


def conv_ref(x, w, stride, padding, dilation, groups):
    """Channels-last cross-correlation over the spatial axes of x (N, *S, C_in), w (C_out, *K, C_in/groups)."""
    nsp = x.ndim - 2
    x = np.pad(x, [(0, 0)] + [(p, p) for p in padding] + [(0, 0)]).astype(np.float64)
    n, c_out, cin_g = x.shape[0], w.shape[0], w.shape[-1]
    ksz = w.shape[1:-1]
    out_sp = [(x.shape[1 + i] - dilation[i] * (ksz[i] - 1) - 1) // stride[i] + 1 for i in range(nsp)]
    out = np.zeros([n, *out_sp, c_out])
    cout_g = c_out // groups
    for o in np.ndindex(*out_sp):
        for k in np.ndindex(*ksz):
            pos = tuple(o[i] * stride[i] + k[i] * dilation[i] for i in range(nsp))
            patch = x[(slice(None), *pos)]  # (N, C_in)
            for g in range(groups):
                xs = patch[:, g * cin_g : (g + 1) * cin_g]
                ws = w[(slice(g * cout_g, (g + 1) * cout_g), *k)]  # (cout_g, cin_g)
                out[(slice(None), *o, slice(g * cout_g, (g + 1) * cout_g))] += xs @ ws.T
    return out


@pytest.mark.parametrize("stride, padding, dilation, groups", [(1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 2)])
def test_conv1d_2d_vs_reference(rng, stride, padding, dilation, groups):
    x = rng.standard_normal((2, 9, 4)).astype(np.float32)
    w = rng.standard_normal((6, 3, 4 // groups)).astype(np.float32)
    out = mx.conv1d(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
    assert_close(out, conv_ref(x, w, [stride], [padding], [dilation], groups), tol=1e-4)
    x2 = rng.standard_normal((2, 7, 8, 4)).astype(np.float32)
    w2 = rng.standard_normal((6, 3, 2, 4 // groups)).astype(np.float32)
    out2 = mx.conv2d(x2, w2, stride=(stride, 1), padding=padding, dilation=dilation, groups=groups)
    ref2 = conv_ref(x2, w2, [stride, 1], [padding] * 2, [dilation] * 2, groups)
    assert_close(out2, ref2, tol=1e-4)
    gen = mx.conv_general(x2, w2, stride=[stride, 1], padding=padding, kernel_dilation=dilation, groups=groups)
    assert_close(gen, ref2, tol=1e-4)


def test_conv3d_and_transposed_shapes(rng):
    x = rng.standard_normal((1, 4, 5, 6, 2)).astype(np.float32)
    w = rng.standard_normal((3, 2, 2, 2, 2)).astype(np.float32)
    assert_close(mx.conv3d(x, w, padding=1), conv_ref(x, w, [1] * 3, [1] * 3, [1] * 3, 1), tol=1e-4)
    # conv_transpose1d is the gradient of conv1d with respect to its input.
    xt = rng.standard_normal((2, 5, 3)).astype(np.float32)
    wt = rng.standard_normal((4, 3, 3)).astype(np.float32)
    out = mx.conv_transpose1d(xt, wt, stride=2)
    assert out.shape == (2, (5 - 1) * 2 + 3, 4)
    assert mx.conv_transpose2d(mx.ones((1, 3, 3, 2)), mx.ones((4, 2, 2, 2)), stride=2).shape == (1, 6, 6, 4)
    assert mx.conv_transpose3d(mx.ones((1, 2, 2, 2, 2)), mx.ones((1, 2, 2, 2, 2))).shape == (1, 3, 3, 3, 1)
    with pytest.raises(ValueError, match="stride"):
        mx.conv2d(mx.ones((1, 4, 4, 1)), mx.ones((1, 2, 2, 1)), stride=(1, 1, 1))


def test_conv_gradient_matches_finite_difference(rng):
    x = mx.array(rng.standard_normal((1, 6, 2)).astype(np.float32))
    w = mx.array(rng.standard_normal((3, 3, 2)).astype(np.float32))
    g = mx.grad(lambda w: (mx.conv1d(x, w) ** 2).sum())(w)
    eps = 1e-2
    e = np.zeros(w.shape, np.float32)
    e[1, 2, 0] = eps

    def f(w_):
        return float((mx.conv1d(x, w_) ** 2).sum().item())

    fd = (f(w + mx.array(e)) - f(w - mx.array(e))) / (2 * eps)
    assert np.array(g)[1, 2, 0] == pytest.approx(fd, rel=1e-2, abs=1e-2)


def test_save_load_npy_with_numpy(tmp_path, rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    mx.save(str(tmp_path / "a"), mx.array(x))
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), x)
    np.save(tmp_path / "b.npy", x.T.astype(np.int16))
    loaded = mx.load(tmp_path / "b.npy")
    assert loaded.dtype == mx.int16
    np.testing.assert_array_equal(np.array(loaded), x.T.astype(np.int16))


def test_savez_and_load_dict(tmp_path):
    a, b = mx.arange(5), mx.ones((2, 2), dtype=mx.float16)
    mx.savez(str(tmp_path / "z.npz"), a, b=b)
    with np.load(tmp_path / "z.npz") as f:
        assert sorted(f.files) == ["arr_0", "b"]
        np.testing.assert_array_equal(f["arr_0"], np.arange(5))
    d = mx.load(str(tmp_path / "z.npz"))
    assert set(d) == {"arr_0", "b"} and d["b"].dtype == mx.float16
    mx.savez_compressed(str(tmp_path / "c.npz"), x=mx.zeros((100,)))
    assert mx.load(str(tmp_path / "c.npz"))["x"].shape == (100,)


def test_safetensors_and_gguf(tmp_path, rng):
    x = rng.standard_normal((3, 2)).astype(np.float32)
    path = str(tmp_path / "w.safetensors")
    mx.save_safetensors(path, {"w": mx.array(x), "b": mx.array([1, 2], dtype=mx.bfloat16)}, metadata={"k": "v"})
    arrays, meta = mx.load(path, return_metadata=True)
    assert meta == {"k": "v"} and arrays["b"].dtype == mx.bfloat16
    np.testing.assert_array_equal(np.array(arrays["w"]), x)
    st = pytest.importorskip("safetensors.numpy")
    plain = str(tmp_path / "plain.safetensors")  # NumPy has no bfloat16
    mx.save_safetensors(plain, {"w": mx.array(x)})
    np.testing.assert_array_equal(st.load_file(plain)["w"], x)
    st.save_file({"v": x.T.copy()}, str(tmp_path / "theirs.safetensors"))
    np.testing.assert_array_equal(np.array(mx.load(str(tmp_path / "theirs.safetensors"))["v"]), x.T)
    gpath = str(tmp_path / "m.gguf")
    mx.save_gguf(gpath, {"t": mx.array(x)})
    np.testing.assert_array_equal(np.array(mx.load(gpath)["t"]), x)


def test_load_errors(tmp_path):
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not a numpy file")
    with pytest.raises((RuntimeError, ValueError)):
        mx.load(str(bad))
    with pytest.raises(ValueError, match="unknown format"):
        mx.load(str(tmp_path / "x.txt"))
    with pytest.raises(TypeError):
        mx.save(123, mx.ones((1,)))


def test_gguf_metadata_round_trip_and_against_gguf_py(tmp_path, rng):
    # As mlx.core: numbers are arrays (0-d, or 1-d for a GGUF array), strings str,
    # string arrays lists of str; values keep their dtype.
    x = rng.standard_normal((2, 3)).astype(np.float32)
    meta = {
        "general.name": "tiny",
        "tokenizer.ggml.tokens": ["<s>", "a", "bc"],
        "llama.context_length": mx.array(2048, dtype=mx.uint32),
        "llama.rope.freq_base": mx.array(10000.5),
        "scores": mx.array([0.5, -1.0, 2.0]),
        "ids": mx.array([3, -4], dtype=mx.int64),
        "flag": mx.array(True),
    }
    path = str(tmp_path / "meta.gguf")
    mx.save_gguf(path, {"w": mx.array(x)}, meta)
    arrays, got = mx.load(path, return_metadata=True)
    np.testing.assert_array_equal(np.array(arrays["w"]), x)
    assert got["general.name"] == "tiny" and got["tokenizer.ggml.tokens"] == ["<s>", "a", "bc"]
    for k in ("llama.context_length", "llama.rope.freq_base", "scores", "ids", "flag"):
        assert got[k].dtype == meta[k].dtype and got[k].shape == meta[k].shape, k
        np.testing.assert_array_equal(np.array(got[k]), np.array(meta[k]))
    # An independent reader (gguf-py, from llama.cpp) sees the same fields and tensor.
    gguf = pytest.importorskip("gguf")
    reader = gguf.GGUFReader(path)
    fields = reader.fields
    name = fields["general.name"]
    assert bytes(name.parts[name.data[0]]).decode() == "tiny"
    ctx = fields["llama.context_length"]
    assert int(ctx.parts[ctx.data[0]][0]) == 2048
    scores = fields["scores"]
    assert [float(scores.parts[i][0]) for i in scores.data] == [0.5, -1.0, 2.0]
    np.testing.assert_array_equal(np.asarray(reader.tensors[0].data).reshape(2, 3), x)
    # And a file gguf-py wrote loads with its metadata.
    theirs = str(tmp_path / "theirs.gguf")
    w = gguf.GGUFWriter(theirs, "llama")
    w.add_uint32("llama.block_count", 7)
    w.add_string("general.name", "theirs")
    w.add_array("tokenizer.ggml.scores", [1.5, 2.5])
    w.add_tensor("t", x)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    arrays, got = mx.load(theirs, return_metadata=True)
    assert got["general.name"] == "theirs" and got["general.architecture"] == "llama"
    assert got["llama.block_count"].dtype == mx.uint32 and got["llama.block_count"].item() == 7
    np.testing.assert_array_equal(np.array(got["tokenizer.ggml.scores"]), np.array([1.5, 2.5], dtype=np.float32))
    np.testing.assert_array_equal(np.array(arrays["t"]), x)
    with pytest.raises(ValueError, match="must be 0-d or 1-d"):
        mx.save_gguf(str(tmp_path / "bad.gguf"), {"w": mx.array(x)}, {"m": mx.zeros((2, 2))})
    with pytest.raises(ValueError, match="metadata is only returned for safetensors and gguf"):
        mx.load(str(tmp_path / "x.npz"), return_metadata=True)


def test_save_and_load_through_file_objects(tmp_path, rng):
    # Binary file objects work wherever paths do (MLX accepts both).
    import io

    x = rng.standard_normal((3, 4)).astype(np.float32)
    buf = io.BytesIO()
    mx.save(buf, mx.array(x))
    buf.seek(0)
    np.testing.assert_array_equal(np.load(io.BytesIO(buf.getvalue())), x)  # NumPy reads what we wrote
    np.testing.assert_array_equal(np.array(mx.load(buf, format="npy")), x)
    for fmt, saver in (
        ("npz", lambda f: mx.savez(f, w=mx.array(x))),
        ("npz", lambda f: mx.savez_compressed(f, w=mx.array(x))),
        ("safetensors", lambda f: mx.save_safetensors(f, {"w": mx.array(x)})),
        ("gguf", lambda f: mx.save_gguf(f, {"w": mx.array(x)})),
    ):
        b = io.BytesIO()
        saver(b)
        b.seek(0)
        np.testing.assert_array_equal(np.array(mx.load(b, format=fmt)["w"]), x, err_msg=fmt)
    # A real file: the format comes from its name.
    path = tmp_path / "f.safetensors"
    with open(path, "wb") as f:
        mx.save_safetensors(f, {"w": mx.array(x)})
    with open(path, "rb") as f:
        np.testing.assert_array_equal(np.array(mx.load(f)["w"]), x)
    with pytest.raises(ValueError, match="give format="):
        mx.load(io.BytesIO(b"x"))
    with pytest.raises(TypeError):
        mx.save(object(), mx.ones((1,)))
