// save/load of .npy, .npz, safetensors and GGUF: round trips over every dtype
// each format supports and shapes {0-d, empty, odd, ~1M elements}, including
// non-contiguous inputs; then independent references: files written by NumPy,
// the safetensors package and gguf-py (llama.cpp's Python package, whose
// gguf.quants dequantizers check ours) are loaded and compared, and files Ember
// writes are read back by them. The Python cases skip when python3 or the
// package is missing (scripts/install-deps installs them).
#include <gtest/gtest.h>

#include <ember/ember.h>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "io_test_utils.h"
#include "test_utils.h"

using namespace ember;
using io_test::bytes_of;
using io_test::python_has;
using io_test::random_array;
using io_test::read_file;
using io_test::run_python;
using io_test::TempDir;
using test_utils::expect_error;

namespace {

const std::vector<Shape> kShapes = {{}, {0}, {0, 3}, {1}, {7}, {3, 5}, {2, 3, 5}, {2, 1, 3, 1}, {3, 0, 2}};

// Inputs that aren't row-contiguous: a transpose, a strided slice, a broadcast.
std::vector<array> non_contiguous(Dtype dt, std::mt19937& rng) {
  array a = random_array({6, 8}, dt, rng);
  array b = random_array({4, 1, 5}, dt, rng);
  return {transpose(a), slice(a, {1, 1}, {6, 8}, {2, 3}), broadcast_to(b, {4, 3, 5}),
          transpose(random_array({2, 3, 4}, dt, rng), {2, 0, 1})};
}

void expect_same(const array& got, const array& want, const std::string& what) {
  EXPECT_EQ(got.dtype(), want.dtype()) << what;
  EXPECT_EQ(got.shape(), want.shape()) << what;
  EXPECT_TRUE(bytes_of(got) == bytes_of(want)) << what << ": bytes differ";
}

std::string ctx(Dtype dt, const Shape& s) { return dtype_name(dt) + " " + io_test::shape_str(s); }

// Reads a manifest of lines "name dtype ndim d0 d1 ..." written by a Python script.
struct ManifestEntry {
  std::string name, dtype;
  Shape shape;
};
std::vector<ManifestEntry> read_manifest(const std::string& path) {
  std::ifstream f(path);
  std::vector<ManifestEntry> out;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream is(line);
    ManifestEntry e;
    int nd;
    if (!(is >> e.name >> e.dtype >> nd)) continue;
    for (int i = 0; i < nd; ++i) {
      int32_t d;
      is >> d;
      e.shape.push_back(d);
    }
    out.push_back(e);
  }
  return out;
}

}  // namespace

// ================================================================ .npy

TEST(IoNpy, RoundTripAllDtypesAndShapes) {
  TempDir dir;
  std::mt19937 rng(1);
  for (Dtype dt : kAllDtypes) {
    for (const Shape& s : kShapes) {
      array a = random_array(s, dt, rng);
      save(dir.file("a.npy"), a);
      expect_same(load(dir.file("a.npy")), a, ctx(dt, s));
    }
    for (array v : non_contiguous(dt, rng)) {
      save(dir.file("v.npy"), v);
      expect_same(load(dir.file("v.npy")), v, "non-contiguous " + ctx(dt, v.shape()));
    }
  }
}

TEST(IoNpy, LargeAndAppendsExtension) {
  TempDir dir;
  std::mt19937 rng(2);
  array a = random_array({1000, 1031}, float32, rng);
  save(dir.file("big"), a);  // ".npy" appended, as MLX does
  expect_same(load(dir.file("big.npy")), a, "1M float32");
  array b = arange(0, 1 << 20, int32);
  save(dir.file("ints.npy"), b);
  array back = load(dir.file("ints.npy"));
  EXPECT_EQ(sum(astype(back, int64)).item<int64_t>(), int64_t(1 << 20) * ((1 << 20) - 1) / 2);
}

TEST(IoNpy, HeaderIsNumpyFormat) {
  TempDir dir;
  save(dir.file("h.npy"), zeros({2, 3}, float32));
  auto b = read_file(dir.file("h.npy"));
  std::string head(b.begin(), b.begin() + 128);
  EXPECT_EQ(head.substr(1, 5), "NUMPY");
  EXPECT_EQ(b[6], 1);  // version 1.0
  uint16_t hlen = b[8] | (b[9] << 8);
  EXPECT_EQ((10 + hlen) % 64, 0u);  // data 64-byte aligned
  EXPECT_NE(head.find("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), std::string::npos);
  EXPECT_EQ(b.size(), 10u + hlen + 24);
  EXPECT_EQ(b[10 + hlen - 1], '\n');
}

TEST(IoNpy, ReadsNumpyWrittenFiles) {
  if (!python_has("numpy")) GTEST_SKIP() << "python3 with numpy not available";
  TempDir dir;
  // Every dtype, both byte orders, C and Fortran order, format versions 1.0/2.0/3.0.
  ASSERT_TRUE(run_python(dir, R"PY(
import numpy as np
rng = np.random.default_rng(0)
names = {'?': 'bool', 'u1': 'uint8', 'u2': 'uint16', 'u4': 'uint32', 'u8': 'uint64', 'i1': 'int8',
         'i2': 'int16', 'i4': 'int32', 'i8': 'int64', 'f2': 'float16', 'f4': 'float32', 'f8': 'float64',
         'c8': 'complex64'}
shapes = [(), (0, 3), (5,), (3, 4, 2), (2, 3)]
lines = []
k = 0
for c, name in names.items():
    for order in '<>':
        for fortran in (False, True):
            for shape in shapes:
                dt = np.dtype(c)
                n = int(np.prod(shape))
                raw = rng.integers(0, 256, size=n * dt.itemsize, dtype=np.uint8)
                if c == '?':
                    raw &= 1
                if c in ('f2', 'f4', 'f8', 'c8'):  # finite values so byte-order casts are exact
                    raw = (rng.standard_normal(n * (2 if c == 'c8' else 1)) * 100).astype(
                        {'f2': 'f2', 'f4': 'f4', 'f8': 'f8', 'c8': 'f4'}[c]).view(np.uint8)
                a = raw.view(dt.newbyteorder('<')).reshape(shape)
                b = a.astype(dt.newbyteorder(order))
                if fortran:
                    b = np.asfortranarray(b)
                with open(f'n{k}.npy', 'wb') as f:
                    np.lib.format.write_array(f, b, version=[(1, 0), (2, 0), (3, 0)][k % 3])
                open(f'n{k}.bin', 'wb').write(a.tobytes())
                lines.append(f'n{k} {name} {b.ndim} ' + ' '.join(map(str, b.shape)))  # asfortranarray makes 0-d 1-d
                k += 1
# bfloat16 as NumPy writes a 2-byte void ('|V2').
v = rng.integers(0, 65536, size=6, dtype=np.uint16).view('V2').reshape(2, 3)
np.save(f'n{k}.npy', v)
open(f'n{k}.bin', 'wb').write(v.tobytes())
lines.append(f'n{k} bfloat16 2 2 3')
open('manifest.txt', 'w').write('\n'.join(lines) + '\n')
)PY"));
  auto entries = read_manifest(dir.file("manifest.txt"));
  ASSERT_EQ(entries.size(), 13u * 2 * 2 * 5 + 1);
  for (auto& e : entries) {
    array a = load(dir.file(e.name + ".npy"));
    EXPECT_EQ(dtype_name(a.dtype()), e.dtype) << e.name;
    EXPECT_EQ(a.shape(), e.shape) << e.name;
    EXPECT_TRUE(bytes_of(a) == read_file(dir.file(e.name + ".bin"))) << e.name << " " << e.dtype;
  }
}

TEST(IoNpy, NumpyReadsEmberFiles) {
  if (!python_has("numpy")) GTEST_SKIP() << "python3 with numpy not available";
  TempDir dir;
  std::mt19937 rng(3);
  std::string manifest;
  int k = 0;
  auto add = [&](const array& a) {
    std::string name = "e" + std::to_string(k++);
    save(dir.file(name + ".npy"), a);
    io_test::write_file(dir.file(name + ".bin"), bytes_of(a));
    manifest += name + " " + dtype_name(a.dtype()) + " " + std::to_string(a.ndim());
    for (auto d : a.shape()) manifest += " " + std::to_string(d);
    manifest += "\n";
  };
  for (Dtype dt : kAllDtypes) {
    for (const Shape& s : kShapes) add(random_array(s, dt, rng));
    for (const array& v : non_contiguous(dt, rng)) add(v);
  }
  io_test::write_file(dir.file("manifest.txt"), manifest);
  ASSERT_TRUE(run_python(dir, R"PY(
import numpy as np
codes = {'bool': '|b1', 'uint8': '|u1', 'uint16': '<u2', 'uint32': '<u4', 'uint64': '<u8', 'int8': '|i1',
         'int16': '<i2', 'int32': '<i4', 'int64': '<i8', 'float16': '<f2', 'bfloat16': '|V2',
         'float32': '<f4', 'float64': '<f8', 'complex64': '<c8'}
for line in open('manifest.txt'):
    name, dt, nd, *shape = line.split()
    a = np.load(name + '.npy')
    assert a.dtype.str == codes[dt], (name, a.dtype.str, dt)
    assert a.shape == tuple(int(s) for s in shape), (name, a.shape, shape)
    assert a.tobytes() == open(name + '.bin', 'rb').read(), name
)PY"));
}

// ================================================================ .npz

TEST(IoNpz, RoundTripStoredAndCompressed) {
  TempDir dir;
  std::mt19937 rng(4);
  for (bool compressed : {false, true}) {
    for (const Shape& s : kShapes) {
      std::unordered_map<std::string, array> in;
      for (Dtype dt : kAllDtypes) in.emplace(dtype_name(dt), random_array(s, dt, rng));
      in.emplace("view", transpose(random_array({3, 4}, int16, rng)));
      savez(dir.file("a.npz"), in, compressed);
      auto out = load_npz(dir.file("a.npz"));
      ASSERT_EQ(out.size(), in.size());
      for (auto& [k, v] : in)
        expect_same(out.at(k), v, k + (compressed ? " compressed " : " stored ") + ctx(v.dtype(), s));
    }
  }
  // Large, compressible and not, both methods; extension appended.
  std::unordered_map<std::string, array> big = {{"r", random_array({1 << 20}, uint8, rng)},
                                                {"z", zeros({512, 2048}, float32)}};
  savez_compressed(dir.file("big"), big);
  auto out = load_npz(dir.file("big.npz"));
  expect_same(out.at("r"), big.at("r"), "1M uint8");
  expect_same(out.at("z"), big.at("z"), "1M zeros");
  EXPECT_LT(read_file(dir.file("big.npz")).size(), (1u << 20) + 200000u);  // the zeros compressed
  EXPECT_EQ(load_dict(dir.file("big.npz")).size(), 2u);
  savez(dir.file("empty.npz"), {});
  EXPECT_TRUE(load_npz(dir.file("empty.npz")).empty());
}

TEST(IoNpz, ReadsNumpyWrittenArchives) {
  if (!python_has("numpy")) GTEST_SKIP() << "python3 with numpy not available";
  TempDir dir;
  ASSERT_TRUE(run_python(dir, R"PY(
import numpy as np
rng = np.random.default_rng(1)
arrs = {
    'f': rng.standard_normal((3, 4)).astype('f4'),
    'big_endian': rng.integers(-1000, 1000, (5, 2)).astype('>i4'),
    'fortran': np.asfortranarray(rng.standard_normal((4, 3))),
    'b': rng.integers(0, 2, (7,)).astype(bool),
    'h': rng.standard_normal((2, 2, 2)).astype('f2'),
    'c': (rng.standard_normal(3) + 1j * rng.standard_normal(3)).astype('c8'),
    'scalar': np.array(3, dtype='u8'),
    'empty': np.zeros((0, 4), dtype='i2'),
    'large': rng.standard_normal(1 << 20).astype('f4'),
}
np.savez('plain.npz', **arrs)
np.savez_compressed('packed.npz', **arrs)
with open('manifest.txt', 'w') as m:
    for k, a in arrs.items():
        open(k + '.bin', 'wb').write(np.ascontiguousarray(a).astype(a.dtype.newbyteorder('<')).tobytes())
        m.write(f'{k} x {a.ndim} ' + ' '.join(map(str, a.shape)) + '\n')
)PY"));
  auto entries = read_manifest(dir.file("manifest.txt"));
  for (const char* file : {"plain.npz", "packed.npz"}) {
    auto out = load_npz(dir.file(file));
    ASSERT_EQ(out.size(), entries.size()) << file;
    for (auto& e : entries) {
      ASSERT_TRUE(out.count(e.name)) << file << " " << e.name;
      EXPECT_EQ(out.at(e.name).shape(), e.shape) << e.name;
      EXPECT_TRUE(bytes_of(out.at(e.name)) == read_file(dir.file(e.name + ".bin"))) << file << " " << e.name;
    }
  }
}

TEST(IoNpz, ReadsZip64Archives) {
  if (!python_has("numpy")) GTEST_SKIP() << "python3 with numpy not available";
  TempDir dir;
  // Lowering zipfile's limits makes NumPy's own savez write the ZIP64 records it
  // uses for members over 4 GiB (extra fields, ZIP64 end record and locator).
  ASSERT_TRUE(run_python(dir, R"PY(
import numpy as np, zipfile
zipfile.ZIP64_LIMIT = 64
zipfile.ZIP_FILECOUNT_LIMIT = 1
rng = np.random.default_rng(4)
arrs = {'a': rng.standard_normal((30, 7)).astype('f4'), 'b': np.arange(1000, dtype='i8'), 'c': np.zeros((0, 2))}
np.savez('z64.npz', **arrs)
np.savez_compressed('z64c.npz', **arrs)
for f in ('z64.npz', 'z64c.npz'):
    data = open(f, 'rb').read()
    assert b'PK\x06\x06' in data and b'PK\x06\x07' in data, 'no ZIP64 records'
for k, a in arrs.items():
    open(k + '.bin', 'wb').write(a.tobytes())
)PY"));
  for (const char* f : {"z64.npz", "z64c.npz"}) {
    auto out = load_npz(dir.file(f));
    ASSERT_EQ(out.size(), 3u) << f;
    for (const char* k : {"a", "b", "c"}) {
      EXPECT_TRUE(bytes_of(out.at(k)) == read_file(dir.file(std::string(k) + ".bin"))) << f << " " << k;
    }
    EXPECT_EQ(out.at("a").shape(), (Shape{30, 7}));
  }
}

TEST(IoNpz, NumpyReadsEmberArchives) {
  if (!python_has("numpy")) GTEST_SKIP() << "python3 with numpy not available";
  TempDir dir;
  std::mt19937 rng(5);
  std::unordered_map<std::string, array> in;
  for (Dtype dt : kAllDtypes) in.emplace(dtype_name(dt), random_array({3, 5}, dt, rng));
  in.emplace("scalar", random_array({}, float64, rng));
  in.emplace("empty", random_array({0, 2}, int32, rng));
  in.emplace("sliced", slice(random_array({9, 9}, float32, rng), {0, 1}, {9, 9}, {3, 2}));
  in.emplace("large", random_array({1 << 20}, float32, rng));
  for (auto& [k, v] : in) io_test::write_file(dir.file(k + ".bin"), bytes_of(v));
  savez(dir.file("plain.npz"), in);
  savez_compressed(dir.file("packed.npz"), in);
  ASSERT_TRUE(run_python(dir, R"PY(
import numpy as np, zipfile
for f in ('plain.npz', 'packed.npz'):
    assert zipfile.ZipFile(f).testzip() is None  # CRCs and headers verified by zipfile
    z = np.load(f)
    assert len(z.files) == 18, z.files
    for k in z.files:
        assert z[k].tobytes() == open(k + '.bin', 'rb').read(), (f, k)
    assert z['scalar'].shape == () and z['empty'].shape == (0, 2) and z['sliced'].shape == (3, 4)
)PY"));
}

// ================================================================ safetensors

TEST(IoSafetensors, RoundTripAllDtypesAndShapes) {
  TempDir dir;
  std::mt19937 rng(6);
  for (const Shape& s : kShapes) {
    std::unordered_map<std::string, array> in;
    for (Dtype dt : kAllDtypes) in.emplace(dtype_name(dt), random_array(s, dt, rng));
    for (array v : non_contiguous(float16, rng)) in.emplace("v" + std::to_string(in.size()), v);
    save_safetensors(dir.file("a.safetensors"), in, {{"format", "ember"}, {"note", "x"}});
    auto [out, meta] = load_safetensors(dir.file("a.safetensors"));
    ASSERT_EQ(out.size(), in.size());
    for (auto& [k, v] : in) expect_same(out.at(k), v, k + " " + io_test::shape_str(s));
    EXPECT_EQ(meta.at("format"), "ember");
    EXPECT_EQ(meta.size(), 2u);
  }
  std::unordered_map<std::string, array> big = {{"w", random_array({1024, 1024}, bfloat16, rng)},
                                                {"b", random_array({1024}, float32, rng)}};
  save_safetensors(dir.file("big"), big);  // extension appended
  auto [out, meta] = load_safetensors(dir.file("big.safetensors"));
  EXPECT_TRUE(meta.empty());
  expect_same(out.at("w"), big.at("w"), "1M bf16");
  expect_same(out.at("b"), big.at("b"), "b");
  // Header padded to 8 bytes, so each tensor is aligned in the mapping and borrowed, not copied.
  auto bytes = read_file(dir.file("big.safetensors"));
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  std::string header(bytes.begin() + 8, bytes.begin() + 8 + n);
  EXPECT_EQ(header.find_first_not_of(' ', header.find_last_of('}') + 1), std::string::npos) << header;
  EXPECT_TRUE(out.at("w").data_shared_ptr()->deleter != nullptr) << "expected a borrowed (mapped) buffer";
}

TEST(IoSafetensors, MappingOutlivesOtherArrays) {
  TempDir dir;
  std::mt19937 rng(7);
  array a = random_array({100, 10}, float32, rng);
  save_safetensors(dir.file("m.safetensors"), {{"a", a}, {"b", ones({3})}});
  array kept = [&] {
    auto [out, meta] = load_safetensors(dir.file("m.safetensors"));
    return out.at("a");
  }();
  std::filesystem::remove(dir.file("m.safetensors"));  // the mapping stays valid
  EXPECT_TRUE(bytes_of(kept) == bytes_of(a));
  EXPECT_TRUE(bytes_of(add(kept, kept)) == bytes_of(add(a, a)));
}

TEST(IoSafetensors, WritesToLoadedArraysStayPrivate) {
  TempDir dir;
  save_safetensors(dir.file("w.safetensors"), {{"a", arange(0, 16, float32)}});
  auto before = read_file(dir.file("w.safetensors"));
  array a = load_safetensors(dir.file("w.safetensors")).first.at("a");
  a.eval();
  a.data<float>()[3] = 42.0f;  // the mapping is copy-on-write: no fault, the file is unchanged
  EXPECT_EQ(a.data<float>()[3], 42.0f);
  EXPECT_TRUE(read_file(dir.file("w.safetensors")) == before);
  array fresh = load_safetensors(dir.file("w.safetensors")).first.at("a");
  fresh.eval();
  EXPECT_EQ(fresh.data<float>()[3], 3.0f);
}

TEST(IoSafetensors, ReadsPackageWrittenFiles) {
  if (!python_has("numpy, safetensors")) GTEST_SKIP() << "python3 with safetensors not available";
  TempDir dir;
  ASSERT_TRUE(run_python(dir, R"PY(
import numpy as np
from safetensors.numpy import save_file
rng = np.random.default_rng(2)
names = {'bool': '?', 'uint8': 'u1', 'int8': 'i1', 'uint16': 'u2', 'int16': 'i2', 'uint32': 'u4',
         'int32': 'i4', 'uint64': 'u8', 'int64': 'i8', 'float16': 'f2', 'float32': 'f4', 'float64': 'f8'}
arrs = {}
for i, (name, c) in enumerate(names.items()):
    shape = [(3, 5), (), (0, 2), (7,), (2, 3, 4)][i % 5]
    arrs[name] = (rng.integers(0, 2, shape) if c == '?' else rng.integers(0, 100, shape)).astype(c)
save_file(arrs, 'p.safetensors', metadata={'format': 'pt', 'answer': '42'})
with open('manifest.txt', 'w') as m:
    for k, a in arrs.items():
        open(k + '.bin', 'wb').write(a.tobytes())
        m.write(f'{k} {k} {a.ndim} ' + ' '.join(map(str, a.shape)) + '\n')
)PY"));
  auto [out, meta] = load_safetensors(dir.file("p.safetensors"));
  EXPECT_EQ(meta.at("format"), "pt");
  EXPECT_EQ(meta.at("answer"), "42");
  auto entries = read_manifest(dir.file("manifest.txt"));
  ASSERT_EQ(out.size(), entries.size());
  for (auto& e : entries) {
    EXPECT_EQ(dtype_name(out.at(e.name).dtype()), e.dtype);
    EXPECT_EQ(out.at(e.name).shape(), e.shape) << e.name;
    EXPECT_TRUE(bytes_of(out.at(e.name)) == read_file(dir.file(e.name + ".bin"))) << e.name;
  }
}

TEST(IoSafetensors, PackageReadsEmberFiles) {
  if (!python_has("numpy, safetensors")) GTEST_SKIP() << "python3 with safetensors not available";
  TempDir dir;
  std::mt19937 rng(8);
  std::unordered_map<std::string, array> in;
  for (Dtype dt : {bool_, uint8, int8, uint16, int16, uint32, int32, uint64, int64, float16, float32, float64}) {
    in.emplace(dtype_name(dt), random_array({4, 3}, dt, rng));
  }
  in.emplace("scalar", random_array({}, int32, rng));
  in.emplace("empty", random_array({2, 0}, float32, rng));
  in.emplace("transposed", transpose(random_array({5, 3}, float32, rng)));
  for (auto& [k, v] : in) io_test::write_file(dir.file(k + ".bin"), bytes_of(v));
  save_safetensors(dir.file("e.safetensors"), in, {{"format", "np"}});
  ASSERT_TRUE(run_python(dir, R"PY(
from safetensors.numpy import load_file
from safetensors import safe_open
d = load_file('e.safetensors')
assert len(d) == 15, sorted(d)
for k, a in d.items():
    assert a.tobytes() == open(k + '.bin', 'rb').read(), k
assert d['transposed'].shape == (3, 5) and d['scalar'].shape == () and d['empty'].shape == (2, 0)
with safe_open('e.safetensors', framework='np') as f:
    assert f.metadata() == {'format': 'np'}, f.metadata()
)PY"));
}

// ================================================================ GGUF

TEST(IoGguf, RoundTripTensorsAndMetadata) {
  TempDir dir;
  std::mt19937 rng(9);
  GGUFArray strings{GGUFType::string, {GGUFValue("a"), GGUFValue(""), GGUFValue("héllo")}};
  GGUFArray nested{GGUFType::array,
                   {GGUFValue(GGUFArray{GGUFType::int32, {GGUFValue(int32_t(1)), GGUFValue(int32_t(-2))}}),
                    GGUFValue(GGUFArray{GGUFType::int32, {}})}};
  std::unordered_map<std::string, GGUFValue> meta = {{"u8", uint8_t(200)},
                                                     {"i8", int8_t(-100)},
                                                     {"u16", uint16_t(60000)},
                                                     {"i16", int16_t(-30000)},
                                                     {"u32", uint32_t(4000000000u)},
                                                     {"i32", int32_t(-2000000000)},
                                                     {"f32", 1.5f},
                                                     {"bool", true},
                                                     {"str", std::string("llama")},
                                                     {"strings", strings},
                                                     {"u64", uint64_t(1) << 63},
                                                     {"i64", int64_t(-1) << 62},
                                                     {"f64", 2.25},
                                                     {"nested", nested},
                                                     {"empty", GGUFArray{GGUFType::float32, {}}}};
  for (const Shape& s : {Shape{}, Shape{0}, Shape{1}, Shape{7}, Shape{3, 5}, Shape{2, 3, 5}, Shape{2, 1, 3, 2}}) {
    std::unordered_map<std::string, array> in;
    for (Dtype dt : {float32, float16, bfloat16}) in.emplace(dtype_name(dt), random_array(s, dt, rng));
    in.emplace("t", transpose(random_array({3, 4}, float32, rng)));
    save_gguf(dir.file("a.gguf"), in, meta);
    GGUFLoad out = load_gguf(dir.file("a.gguf"));
    ASSERT_EQ(out.arrays.size(), in.size());
    for (auto& [k, v] : in) expect_same(out.arrays.at(k), v, k + " " + io_test::shape_str(s));
    EXPECT_EQ(out.metadata.size(), meta.size());
    for (auto& [k, v] : meta) EXPECT_TRUE(out.metadata.at(k) == v) << k;
  }
  array big = random_array({1024, 1024}, float16, rng);
  save_gguf(dir.file("big"), {{"w", big}});
  GGUFLoad out = load_gguf(dir.file("big.gguf"));
  expect_same(out.arrays.at("w"), big, "1M f16");
  EXPECT_TRUE(out.arrays.at("w").data_shared_ptr()->deleter != nullptr) << "expected a borrowed (mapped) buffer";
  EXPECT_EQ(load_dict(dir.file("big.gguf")).size(), 1u);
}

TEST(IoGguf, SaveRejectsUnsupported) {
  TempDir dir;
  expect_error<std::invalid_argument>(
      [&] {
        save_gguf(dir.file("x.gguf"), {{"a", zeros({2}, int32)}});
      },
      "float32, float16 and bfloat16");
  expect_error<std::invalid_argument>(
      [&] {
        save_gguf(dir.file("x.gguf"), {{"a", zeros({1, 1, 1, 1, 1})}});
      },
      "at most 4");
  GGUFArray mixed{GGUFType::int32, {GGUFValue(int32_t(1)), GGUFValue(1.0f)}};
  expect_error<std::invalid_argument>(
      [&] {
        save_gguf(dir.file("x.gguf"), {}, {{"m", mixed}});
      },
      "array of int32 holds a float32");
  expect_error<std::invalid_argument>(
      [&] {
        save_gguf(dir.file("x.gguf"), {}, {{"general.alignment", uint32_t(24)}});
      },
      "power of two");
  save_gguf(dir.file("a64.gguf"), {{"a", ones({5})}}, {{"general.alignment", uint32_t(64)}});
  EXPECT_TRUE(bytes_of(load_gguf(dir.file("a64.gguf")).arrays.at("a")) == bytes_of(ones({5})));
}

TEST(IoGguf, ReadsGgufPyFilesAndDequantizes) {
  if (!python_has("numpy, gguf")) GTEST_SKIP() << "python3 with gguf (gguf-py) not available";
  TempDir dir;
  // gguf.quants quantizes Q4_0/Q4_1/Q5_0/Q5_1/Q8_0; for the k-quants it only has
  // dequantizers, so those blocks are random bytes with sane fp16 scales. Its
  // dequantized values are the reference for ours.
  ASSERT_TRUE(run_python(dir, R"PY(
import numpy as np, gguf
from gguf import GGMLQuantizationType as Q
rng = np.random.default_rng(3)
w = gguf.GGUFWriter('p.gguf', 'llama')
w.add_uint8('m.u8', 7); w.add_int8('m.i8', -7); w.add_uint16('m.u16', 65535); w.add_int16('m.i16', -5)
w.add_uint32('m.u32', 123456); w.add_int32('m.i32', -123456); w.add_float32('m.f32', 0.5)
w.add_bool('m.bool', True); w.add_string('m.str', 'hello'); w.add_uint64('m.u64', 2**60)
w.add_int64('m.i64', -2**60); w.add_float64('m.f64', 0.125)
w.add_array('m.tokens', ['<s>', '</s>', 'a'])
w.add_array('m.nested', [[1, 2], [3]])
lines = []
f32 = rng.standard_normal((3, 5)).astype('f4'); w.add_tensor('f32', f32)
f16 = rng.standard_normal((2, 3, 4)).astype('f2'); w.add_tensor('f16', f16)
i32 = rng.integers(-9, 9, (6,)).astype('i4'); w.add_tensor('i32', i32)
for name, a in (('f32', f32), ('f16', f16), ('i32', i32)):
    open(name + '.bin', 'wb').write(a.tobytes())
    lines.append(f'{name} raw {a.ndim} ' + ' '.join(map(str, a.shape)))
for qt in (Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0):
    x = rng.standard_normal((4, 96)).astype('f4')
    q = gguf.quants.quantize(x, qt)
    w.add_tensor(qt.name, q, raw_dtype=qt)
    open(qt.name + '.bin', 'wb').write(gguf.quants.dequantize(q, qt).astype('f4').tobytes())
    lines.append(f'{qt.name} q 2 4 96')
for qt, dpos in ((Q.Q4_K, (0, 2)), (Q.Q5_K, (0, 2)), (Q.Q6_K, (208,))):
    bs, ts = gguf.GGML_QUANT_SIZES[qt]
    rows, nb = 3, 2
    blocks = rng.integers(0, 256, (rows * nb, ts), dtype=np.uint8)
    for p in dpos:
        blocks[:, p:p + 2] = (rng.random((rows * nb, 1)) * 0.1).astype('f2').view(np.uint8)
    q = blocks.reshape(rows, nb * ts)
    w.add_tensor(qt.name, q, raw_dtype=qt)
    open(qt.name + '.bin', 'wb').write(gguf.quants.dequantize(q, qt).astype('f4').tobytes())
    lines.append(f'{qt.name} q 2 {rows} {nb * bs}')
w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
open('manifest.txt', 'w').write('\n'.join(lines) + '\n')
)PY"));
  GGUFLoad out = load_gguf(dir.file("p.gguf"));
  auto& md = out.metadata;
  EXPECT_EQ(md.at("general.architecture").get<std::string>(), "llama");
  EXPECT_EQ(md.at("m.u8").get<uint8_t>(), 7);
  EXPECT_EQ(md.at("m.i8").get<int8_t>(), -7);
  EXPECT_EQ(md.at("m.u16").get<uint16_t>(), 65535);
  EXPECT_EQ(md.at("m.i16").get<int16_t>(), -5);
  EXPECT_EQ(md.at("m.u32").get<uint32_t>(), 123456u);
  EXPECT_EQ(md.at("m.i32").get<int32_t>(), -123456);
  EXPECT_EQ(md.at("m.f32").get<float>(), 0.5f);
  EXPECT_EQ(md.at("m.bool").get<bool>(), true);
  EXPECT_EQ(md.at("m.str").get<std::string>(), "hello");
  EXPECT_EQ(md.at("m.u64").get<uint64_t>(), uint64_t(1) << 60);
  EXPECT_EQ(md.at("m.i64").get<int64_t>(), -(int64_t(1) << 60));
  EXPECT_EQ(md.at("m.f64").get<double>(), 0.125);
  auto& toks = md.at("m.tokens").get<GGUFArray>();
  ASSERT_EQ(toks.type, GGUFType::string);
  ASSERT_EQ(toks.values.size(), 3u);
  EXPECT_EQ(toks.values[1].get<std::string>(), "</s>");
  auto& nested = md.at("m.nested").get<GGUFArray>();
  ASSERT_EQ(nested.type, GGUFType::array);
  EXPECT_EQ(nested.values[0].get<GGUFArray>().values.size(), 2u);
  EXPECT_EQ(nested.values[1].get<GGUFArray>().values[0].get<int32_t>(), 3);

  for (auto& e : read_manifest(dir.file("manifest.txt"))) {
    array a = out.arrays.at(e.name);
    EXPECT_EQ(a.shape(), e.shape) << e.name;
    auto ref = read_file(dir.file(e.name + ".bin"));
    if (e.dtype == "raw") {
      EXPECT_TRUE(bytes_of(a) == ref) << e.name;
      continue;
    }
    ASSERT_EQ(a.dtype(), float32) << e.name;
    ASSERT_EQ(ref.size(), a.size() * 4) << e.name;
    auto got = test_utils::values<float>(a);
    size_t bad = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      float want;
      std::memcpy(&want, ref.data() + 4 * i, 4);
      if (!(std::fabs(got[i] - want) <= 1e-5f * (1.0f + std::fabs(want)))) {
        if (bad++ < 5) ADD_FAILURE() << e.name << "[" << i << "] = " << got[i] << ", gguf-py gives " << want;
      }
    }
    EXPECT_EQ(bad, 0u) << e.name;
  }
}

TEST(IoGguf, GgufPyReadsEmberFiles) {
  if (!python_has("numpy, gguf")) GTEST_SKIP() << "python3 with gguf (gguf-py) not available";
  TempDir dir;
  std::mt19937 rng(10);
  array f32 = random_array({3, 5}, float32, rng), f16 = random_array({2, 3, 4}, float16, rng);
  array bf = random_array({8}, bfloat16, rng), tr = transpose(random_array({4, 6}, float32, rng));
  for (auto& [k, v] : std::vector<std::pair<std::string, array>>{{"f32", f32}, {"f16", f16}, {"bf", bf}, {"tr", tr}}) {
    io_test::write_file(dir.file(k + ".bin"), bytes_of(v));
  }
  save_gguf(dir.file("e.gguf"), {{"f32", f32}, {"f16", f16}, {"bf", bf}, {"tr", tr}},
            {{"general.architecture", "llama"},
             {"n", uint32_t(42)},
             {"x", -0.5},
             {"toks", GGUFArray{GGUFType::string, {GGUFValue("a"), GGUFValue("bc")}}}});
  ASSERT_TRUE(run_python(dir, R"PY(
import gguf
r = gguf.GGUFReader('e.gguf')
assert r.fields['general.architecture'].contents() == 'llama'
assert r.fields['n'].contents() == 42 and r.fields['x'].contents() == -0.5
assert r.fields['toks'].contents() == ['a', 'bc'], r.fields['toks'].contents()
assert r.alignment == 32 if hasattr(r, 'alignment') else True
shapes = {'f32': [5, 3], 'f16': [4, 3, 2], 'bf': [8], 'tr': [4, 6]}
names = {'f32': 'F32', 'f16': 'F16', 'bf': 'BF16', 'tr': 'F32'}
assert sorted(t.name for t in r.tensors) == sorted(shapes)
for t in r.tensors:
    assert list(t.shape) == shapes[t.name], (t.name, t.shape)
    assert t.tensor_type.name == names[t.name], (t.name, t.tensor_type)
    assert t.data.tobytes() == open(t.name + '.bin', 'rb').read(), t.name
    assert t.data_offset % 32 == 0
)PY"));
}

// ================================================================ dispatch

TEST(IoDispatch, LoadDictByExtension) {
  TempDir dir;
  save(dir.file("a.npy"), arange(5));
  EXPECT_EQ(load_dict(dir.file("a.npy")).at("arr_0").size(), 5u);
  save_safetensors(dir.file("a.safetensors"), {{"x", ones({2})}});
  EXPECT_EQ(load_dict(dir.file("a.safetensors")).count("x"), 1u);
  expect_error<std::invalid_argument>([&] { load_dict(dir.file("a.txt")); }, "unknown extension");
  expect_error<std::runtime_error>([&] { load(dir.file("missing.npy")); }, "cannot open");
}
