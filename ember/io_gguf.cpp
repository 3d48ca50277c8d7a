// GGUF (llama.cpp's model format), versions 2 and 3:
//   "GGUF" u32 version, u64 tensor_count, u64 kv_count,
//   kv_count x {string key, u32 type, value}, tensor_count x {string name,
//   u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset}, padding to
//   general.alignment, then the tensor data (offsets relative to its start).
// Strings are u64 length + bytes; arrays are u32 type + u64 count + values.
// ne[0] is the fastest-varying dimension, so Ember's row-major shape is ne reversed.
// Quantized types are dequantized to float32 with the block layouts of
// ggml-common.h (written here from the layout descriptions, scalar code).
#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "ember/io.h"
#include "ember/io_common.h"
#include "ember/utils.h"

namespace ember {

using namespace io_detail;

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint32_t kDefaultAlignment = 32;
constexpr int kMaxDims = 4;  // GGML_MAX_DIMS
// Hard caps on counts and lengths (each is also checked against the bytes left).
constexpr uint64_t kMaxString = 1ull << 30;
constexpr uint64_t kMaxName = 4096;
constexpr uint64_t kMaxTensors = 1ull << 24;
constexpr uint64_t kMaxKV = 1ull << 24;
constexpr uint64_t kMaxArrayElems = 1ull << 30;
constexpr int kMaxNesting = 8;
// A bound on the metadata values materialized in total (each costs ~48 bytes in memory).
constexpr uint64_t kMaxTotalValues = 1ull << 26;

enum GGMLType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
};

struct TypeInfo {
  const char* name;
  uint32_t block;        // elements per block
  uint32_t block_bytes;  // bytes per block
  bool quantized;
  Dtype dtype;  // the loaded dtype
};

const TypeInfo* type_info(uint32_t t) {
  static const std::map<uint32_t, TypeInfo> m = {
      {F32, {"F32", 1, 4, false, float32}},      {F16, {"F16", 1, 2, false, float16}},
      {BF16, {"BF16", 1, 2, false, bfloat16}},   {F64, {"F64", 1, 8, false, float64}},
      {I8, {"I8", 1, 1, false, int8}},           {I16, {"I16", 1, 2, false, int16}},
      {I32, {"I32", 1, 4, false, int32}},        {I64, {"I64", 1, 8, false, int64}},
      {Q4_0, {"Q4_0", 32, 18, true, float32}},   {Q4_1, {"Q4_1", 32, 20, true, float32}},
      {Q5_0, {"Q5_0", 32, 22, true, float32}},   {Q5_1, {"Q5_1", 32, 24, true, float32}},
      {Q8_0, {"Q8_0", 32, 34, true, float32}},   {Q4_K, {"Q4_K", 256, 144, true, float32}},
      {Q5_K, {"Q5_K", 256, 176, true, float32}}, {Q6_K, {"Q6_K", 256, 210, true, float32}},
  };
  auto it = m.find(t);
  return it == m.end() ? nullptr : &it->second;
}

const char* value_type_name(uint32_t t) {
  static const char* names[] = {"uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
                                "bool",  "string", "array",  "uint64", "int64",  "float64"};
  return t <= 12 ? names[t] : "invalid";
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// ---------------------------------------------------------------- dequantization

float half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return detail::half_bits_to_float(h);
}

// block_q4_0 {half d; u8 qs[16]}: x[j] = (lo nibble - 8) * d, x[j + 16] = (hi nibble - 8) * d.
void dq_q4_0(const uint8_t* b, float* y) {
  float d = half(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((qs[j] & 0xF) - 8) * d;
    y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}

// block_q4_1 {half d; half m; u8 qs[16]}: x = nibble * d + m.
void dq_q4_1(const uint8_t* b, float* y) {
  float d = half(b), m = half(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>(qs[j] & 0xF) * d + m;
    y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}

// block_q5_0 {half d; u8 qh[4]; u8 qs[16]}: 5-bit q = nibble | (bit j (or j+16) of qh) << 4; x = (q - 16) * d.
void dq_q5_0(const uint8_t* b, float* y) {
  float d = half(b);
  uint32_t qh;
  std::memcpy(&qh, b + 2, 4);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < 16; ++j) {
    int q0 = (qs[j] & 0xF) | (((qh >> j) & 1) << 4);
    int q1 = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
    y[j] = static_cast<float>(q0 - 16) * d;
    y[j + 16] = static_cast<float>(q1 - 16) * d;
  }
}

// block_q5_1 {half d; half m; u8 qh[4]; u8 qs[16]}: x = q * d + m.
void dq_q5_1(const uint8_t* b, float* y) {
  float d = half(b), m = half(b + 2);
  uint32_t qh;
  std::memcpy(&qh, b + 4, 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < 16; ++j) {
    int q0 = (qs[j] & 0xF) | (((qh >> j) & 1) << 4);
    int q1 = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
    y[j] = static_cast<float>(q0) * d + m;
    y[j + 16] = static_cast<float>(q1) * d + m;
  }
}

// block_q8_0 {half d; i8 qs[32]}: x = q * d.
void dq_q8_0(const uint8_t* b, float* y) {
  float d = half(b);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<int8_t>(b[2 + j])) * d;
}

// The 6-bit scale and min of sub-block j from the 12 packed scale bytes of Q4_K/Q5_K:
// sub-blocks 0-3 keep them in the low 6 bits of bytes j and j+4; 4-7 split them
// between the low/high nibbles of byte j+4 and the top 2 bits of bytes j-4 and j.
void scale_min_k4(int j, const uint8_t* q, int& sc, int& mn) {
  if (j < 4) {
    sc = q[j] & 63;
    mn = q[j + 4] & 63;
  } else {
    sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// block_q4_K {half d; half dmin; u8 scales[12]; u8 qs[128]}: 8 sub-blocks of 32;
// each 64 elements use 32 bytes of qs (low nibbles, then high nibbles).
void dq_q4_k(const uint8_t* b, float* y) {
  float d = half(b), dmin = half(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  for (int j = 0; j < 8; j += 2) {
    int sc, mn;
    scale_min_k4(j, scales, sc, mn);
    float d1 = d * sc, m1 = dmin * mn;
    scale_min_k4(j + 1, scales, sc, mn);
    float d2 = d * sc, m2 = dmin * mn;
    for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    q += 32;
  }
}

// block_q5_K {half d; half dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}: as Q4_K plus a
// fifth bit per element from qh (bit pair (2i, 2i+1) for the i-th 64-element chunk).
void dq_q5_k(const uint8_t* b, float* y) {
  float d = half(b), dmin = half(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0; j < 8; j += 2) {
    int sc, mn;
    scale_min_k4(j, scales, sc, mn);
    float d1 = d * sc, m1 = dmin * mn;
    scale_min_k4(j + 1, scales, sc, mn);
    float d2 = d * sc, m2 = dmin * mn;
    for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
    ql += 32;
    u1 <<= 2;
    u2 <<= 2;
  }
}

// block_q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; half d}: 6-bit values (4 low bits
// from ql, 2 high bits from qh) minus 32, times d * a signed 8-bit scale per 16 elements.
void dq_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  float d = half(b + 208);
  for (int n = 0; n < 2; ++n) {
    for (int l = 0; l < 32; ++l) {
      int is = l / 16;
      int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * sc[is + 0] * q1;
      y[l + 32] = d * sc[is + 2] * q2;
      y[l + 64] = d * sc[is + 4] * q3;
      y[l + 96] = d * sc[is + 6] * q4;
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

void dequantize(uint32_t type, const uint8_t* src, float* dst, uint64_t blocks) {
  void (*fn)(const uint8_t*, float*) = nullptr;
  switch (type) {
    case Q4_0:
      fn = dq_q4_0;
      break;
    case Q4_1:
      fn = dq_q4_1;
      break;
    case Q5_0:
      fn = dq_q5_0;
      break;
    case Q5_1:
      fn = dq_q5_1;
      break;
    case Q8_0:
      fn = dq_q8_0;
      break;
    case Q4_K:
      fn = dq_q4_k;
      break;
    case Q5_K:
      fn = dq_q5_k;
      break;
    case Q6_K:
      fn = dq_q6_k;
      break;
    default:
      throw std::logic_error("[load_gguf] no dequantizer");
  }
  const TypeInfo* ti = type_info(type);
  for (uint64_t i = 0; i < blocks; ++i) fn(src + i * ti->block_bytes, dst + i * ti->block);
}

// ---------------------------------------------------------------- metadata reading

class MetaReader {
 public:
  explicit MetaReader(Reader& r) : r_(r) {}

  std::string string(const char* what, uint64_t cap = kMaxString) {
    uint64_t len = r_.u64(what);
    if (len > cap) {
      throw std::runtime_error(r_.ctx() + what + " length " + std::to_string(len) + " exceeds the limit of " +
                               std::to_string(cap));
    }
    const uint8_t* p = r_.take(len, what);  // checked against the bytes left before allocating
    return std::string(reinterpret_cast<const char*>(p), len);
  }

  // Smallest encoded size of one value of `type`, for bounding counts by bytes left.
  static uint64_t min_size(uint32_t type) {
    switch (static_cast<GGUFType>(type)) {
      case GGUFType::uint8:
      case GGUFType::int8:
      case GGUFType::bool_:
        return 1;
      case GGUFType::uint16:
      case GGUFType::int16:
        return 2;
      case GGUFType::uint32:
      case GGUFType::int32:
      case GGUFType::float32:
        return 4;
      case GGUFType::string:
      case GGUFType::uint64:
      case GGUFType::int64:
      case GGUFType::float64:
        return 8;
      case GGUFType::array:
        return 12;
    }
    return 1;
  }

  GGUFValue value(uint32_t type, const std::string& key, int depth) {
    if (++total_ > kMaxTotalValues) {
      throw std::runtime_error(r_.ctx() + "metadata holds more than " + std::to_string(kMaxTotalValues) + " values");
    }
    switch (static_cast<GGUFType>(type)) {
      case GGUFType::uint8:
        return r_.le<uint8_t>("uint8 value");
      case GGUFType::int8:
        return r_.le<int8_t>("int8 value");
      case GGUFType::uint16:
        return r_.le<uint16_t>("uint16 value");
      case GGUFType::int16:
        return r_.le<int16_t>("int16 value");
      case GGUFType::uint32:
        return r_.le<uint32_t>("uint32 value");
      case GGUFType::int32:
        return r_.le<int32_t>("int32 value");
      case GGUFType::float32:
        return r_.le<float>("float32 value");
      case GGUFType::uint64:
        return r_.le<uint64_t>("uint64 value");
      case GGUFType::int64:
        return r_.le<int64_t>("int64 value");
      case GGUFType::float64:
        return r_.le<double>("float64 value");
      case GGUFType::bool_: {
        uint8_t b = r_.u8("bool value");
        if (b > 1) {
          throw std::runtime_error(r_.ctx() + "key '" + key + "': bool value " + std::to_string(b) + " is not 0 or 1");
        }
        return b == 1;
      }
      case GGUFType::string:
        return string("string value");
      case GGUFType::array: {
        if (depth >= kMaxNesting) {
          throw std::runtime_error(r_.ctx() + "key '" + key + "': arrays nested deeper than " +
                                   std::to_string(kMaxNesting) + " levels");
        }
        GGUFArray arr;
        uint32_t et = r_.u32("array element type");
        if (et > 12) {
          throw std::runtime_error(r_.ctx() + "key '" + key + "': invalid array element type " + std::to_string(et));
        }
        arr.type = static_cast<GGUFType>(et);
        uint64_t n = r_.u64("array length");
        if (n > kMaxArrayElems || n > r_.remaining() / min_size(et)) {
          throw std::runtime_error(r_.ctx() + "key '" + key + "': array length " + std::to_string(n) +
                                   " exceeds the limit or the " + std::to_string(r_.remaining()) + " bytes left");
        }
        // Reserve only a little up front: memory then grows with the elements actually
        // parsed, never with a count the file merely claims (nested arrays multiply claims).
        arr.values.reserve(std::min<uint64_t>(n, 4096));
        for (uint64_t i = 0; i < n; ++i) arr.values.push_back(value(et, key, depth + 1));
        return arr;
      }
    }
    throw std::runtime_error(r_.ctx() + "key '" + key + "': invalid value type " + std::to_string(type));
  }

 private:
  Reader& r_;
  uint64_t total_ = 0;
};

// ---------------------------------------------------------------- metadata writing

void write_string(FileWriter& w, const std::string& s) {
  w.le<uint64_t>(s.size());
  w.write(s);
}

void check_value(const GGUFValue& v, const std::string& ctx, const std::string& key, int depth) {
  if (v.type() != GGUFType::array) return;
  if (depth >= kMaxNesting) throw std::invalid_argument(ctx + "key '" + key + "': arrays nested too deeply");
  const auto& arr = v.get<GGUFArray>();
  if (static_cast<uint32_t>(arr.type) > 12) {
    throw std::invalid_argument(ctx + "key '" + key + "': invalid array element type " +
                                std::to_string(static_cast<uint32_t>(arr.type)));
  }
  for (auto& e : arr.values) {
    if (e.type() != arr.type) {
      throw std::invalid_argument(ctx + "key '" + key + "': array of " +
                                  value_type_name(static_cast<uint32_t>(arr.type)) + " holds a " +
                                  value_type_name(static_cast<uint32_t>(e.type())));
    }
    check_value(e, ctx, key, depth + 1);
  }
}

void write_value(FileWriter& w, const GGUFValue& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          write_string(w, x);
        } else if constexpr (std::is_same_v<T, GGUFArray>) {
          w.le<uint32_t>(static_cast<uint32_t>(x.type));
          w.le<uint64_t>(x.values.size());
          for (auto& e : x.values) write_value(w, e);
        } else if constexpr (std::is_same_v<T, bool>) {
          w.le<uint8_t>(x ? 1 : 0);
        } else {
          w.le<T>(x);
        }
      },
      v.value);
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

GGUFLoad load_gguf(const std::string& path, bool keep_quantized) {
  auto m = MappedFile::open(path, "load_gguf");
  std::string ctx = where("load_gguf", path);
  Reader r(m->data(), m->size(), ctx);
  if (r.u32("magic") != kMagic) throw std::runtime_error(ctx + "not a GGUF file (bad magic)");
  uint32_t version = r.u32("version");
  if (version != 2 && version != 3) {
    throw std::runtime_error(ctx + "unsupported GGUF version " + std::to_string(version) + " (2 and 3 are supported)");
  }
  uint64_t n_tensors = r.u64("tensor count"), n_kv = r.u64("metadata count");
  // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info 8 + 4 + 4 + 8.
  if (n_kv > kMaxKV || n_kv > r.remaining() / 13) {
    throw std::runtime_error(ctx + "metadata count " + std::to_string(n_kv) + " exceeds the limit or the bytes left");
  }
  if (n_tensors > kMaxTensors || n_tensors > r.remaining() / 24) {
    throw std::runtime_error(ctx + "tensor count " + std::to_string(n_tensors) +
                             " exceeds the limit or the bytes left");
  }

  GGUFLoad out;
  MetaReader mr(r);
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = mr.string("metadata key", kMaxName);
    uint32_t type = r.u32("metadata value type");
    if (type > 12) {
      throw std::runtime_error(ctx + "key '" + key + "': invalid value type " + std::to_string(type));
    }
    GGUFValue v = mr.value(type, key, 0);
    if (!out.metadata.emplace(key, std::move(v)).second) throw std::runtime_error(ctx + "duplicate key '" + key + "'");
  }
  uint64_t alignment = kDefaultAlignment;
  if (auto it = out.metadata.find("general.alignment"); it != out.metadata.end()) {
    if (it->second.type() != GGUFType::uint32) {
      throw std::runtime_error(ctx + "general.alignment must be a uint32, got " +
                               value_type_name(static_cast<uint32_t>(it->second.type())));
    }
    alignment = it->second.get<uint32_t>();
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
      throw std::runtime_error(ctx + "general.alignment " + std::to_string(alignment) + " is not a power of two");
    }
  }

  struct Info {
    std::string name;
    Shape shape;
    uint32_t type;
    uint64_t offset, nbytes, nelem;
  };
  std::vector<Info> infos;
  std::set<std::string> names;
  infos.reserve(std::min<uint64_t>(n_tensors, 4096));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    Info t;
    t.name = mr.string("tensor name", kMaxName);
    std::string tctx = ctx + "tensor '" + t.name + "': ";
    if (!names.insert(t.name).second) throw std::runtime_error(ctx + "duplicate tensor '" + t.name + "'");
    uint32_t n_dims = r.u32("tensor dimension count");
    if (n_dims > kMaxDims) {
      throw std::runtime_error(tctx + std::to_string(n_dims) + " dimensions (at most 4 are supported)");
    }
    uint64_t ne[kMaxDims];
    t.nelem = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      ne[d] = r.u64("tensor dimension");
      if (ne[d] > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
        throw std::runtime_error(tctx + "dimension " + std::to_string(d) + " = " + std::to_string(ne[d]) +
                                 " exceeds 2^31-1");
      }
      t.nelem = checked_mul(t.nelem, ne[d], tctx, "element count");
    }
    for (uint32_t d = n_dims; d-- > 0;) t.shape.push_back(static_cast<int32_t>(ne[d]));
    t.type = r.u32("tensor type");
    const TypeInfo* ti = type_info(t.type);
    if (!ti) throw std::runtime_error(tctx + "unsupported ggml type " + std::to_string(t.type));
    if (ti->block > 1 && (n_dims == 0 || ne[0] % ti->block != 0)) {
      throw std::runtime_error(tctx + "row length " + std::to_string(n_dims ? ne[0] : 1) + " is not a multiple of " +
                               ti->name + "'s block size " + std::to_string(ti->block));
    }
    t.nbytes = checked_mul(t.nelem / ti->block, ti->block_bytes, tctx, "byte size");
    t.offset = r.u64("tensor data offset");
    if (t.offset % alignment != 0) {
      throw std::runtime_error(tctx + "data offset " + std::to_string(t.offset) +
                               " is not a multiple of the alignment " + std::to_string(alignment));
    }
    infos.push_back(std::move(t));
  }
  uint64_t data_start = align_up(r.pos(), alignment);
  uint64_t data_size = data_start <= m->size() ? m->size() - data_start : 0;
  if (!infos.empty() && data_start > m->size()) {
    throw std::runtime_error(ctx + "data section at " + std::to_string(data_start) +
                             " starts past the end of the file (" + std::to_string(m->size()) + " bytes)");
  }
  // Every tensor inside the data section, none overlapping another.
  std::vector<const Info*> order;
  for (auto& t : infos) {
    uint64_t end = checked_add(t.offset, t.nbytes, ctx + "tensor '" + t.name + "': ", "data end");
    if (end > data_size) {
      throw std::runtime_error(ctx + "tensor '" + t.name + "': data [" + std::to_string(t.offset) + ", " +
                               std::to_string(end) + ") exceeds the " + std::to_string(data_size) +
                               "-byte data section");
    }
    order.push_back(&t);
  }
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < order.size(); ++i) {
    if (order[i - 1]->offset + order[i - 1]->nbytes > order[i]->offset) {
      throw std::runtime_error(ctx + "tensors '" + order[i - 1]->name + "' and '" + order[i]->name + "' overlap");
    }
  }
  const uint8_t* data = m->data() + std::min<uint64_t>(data_start, m->size());
  for (auto& t : infos) {
    const TypeInfo* ti = type_info(t.type);
    const uint8_t* src = data + t.offset;
    if (!ti->quantized) {
      out.arrays.emplace(t.name, borrow_or_copy(src, t.shape, ti->dtype, m));
    } else if (keep_quantized) {
      // Rows of whole blocks (the row length is a multiple of the block size, checked above).
      int64_t row_len = t.shape.empty() ? 1 : t.shape.back();
      int64_t rows = static_cast<int64_t>(t.nelem) / std::max<int64_t>(row_len, 1);
      int64_t row_bytes = row_len / ti->block * ti->block_bytes;
      if (rows > std::numeric_limits<int32_t>::max() || row_bytes > std::numeric_limits<int32_t>::max()) {
        throw std::runtime_error(ctx + "tensor '" + t.name + "': too large to keep quantized");
      }
      GGUFQuantized q{ti->name, t.shape,
                      borrow_or_copy(src, {static_cast<int32_t>(rows), static_cast<int32_t>(row_bytes)}, uint8, m)};
      out.quantized.emplace(t.name, std::move(q));
    } else {
      array a = empty_array(t.shape, float32);
      dequantize(t.type, src, a.data<float>(), t.nelem / ti->block);
      out.arrays.emplace(t.name, std::move(a));
    }
  }
  return out;
}

array dequantize_gguf(const GGUFQuantized& t) {
  const TypeInfo* ti = nullptr;
  uint32_t type = 0;
  for (uint32_t id : {Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K}) {
    if (t.type == type_info(id)->name) ti = type_info(id), type = id;
  }
  if (!ti) throw std::invalid_argument("[dequantize_gguf] unknown quantized type \"" + t.type + "\"");
  int64_t n = 1;
  for (int d : t.shape) n *= d;
  if (t.blocks.dtype() != uint8 || t.blocks.ndim() != 2 || n % ti->block != 0 ||
      static_cast<int64_t>(t.blocks.size()) != n / ti->block * ti->block_bytes) {
    throw std::invalid_argument("[dequantize_gguf] " + t.type + " blocks of shape " +
                                shape_to_string(t.blocks.shape()) + " do not hold a tensor of shape " +
                                shape_to_string(t.shape));
  }
  array src = t.blocks;
  src.eval();
  array out = empty_array(t.shape, float32);
  dequantize(type, src.data<uint8_t>(), out.data<float>(), static_cast<uint64_t>(n / ti->block));
  return out;
}

void save_gguf(const std::string& path_in, const std::unordered_map<std::string, array>& arrays,
               const std::unordered_map<std::string, GGUFValue>& metadata) {
  std::string path = ends_with(path_in, ".gguf") ? path_in : path_in + ".gguf";
  std::string ctx = where("save_gguf", path);
  uint64_t alignment = kDefaultAlignment;
  std::map<std::string, const GGUFValue*> kv;
  for (auto& [k, v] : metadata) {
    check_value(v, ctx, k, 0);
    kv.emplace(k, &v);
  }
  if (auto it = kv.find("general.alignment"); it != kv.end()) {
    const GGUFValue& v = *it->second;
    if (v.type() != GGUFType::uint32 || v.get<uint32_t>() == 0 || (v.get<uint32_t>() & (v.get<uint32_t>() - 1))) {
      throw std::invalid_argument(ctx + "general.alignment must be a uint32 power of two");
    }
    alignment = v.get<uint32_t>();
  }
  struct Item {
    std::string name;
    array a;
    uint32_t type;
    uint64_t offset;
  };
  std::vector<Item> items;
  std::map<std::string, array> sorted(arrays.begin(), arrays.end());
  uint64_t offset = 0;
  for (auto& [name, arr] : sorted) {
    uint32_t type;
    if (arr.dtype() == float32) {
      type = F32;
    } else if (arr.dtype() == float16) {
      type = F16;
    } else if (arr.dtype() == bfloat16) {
      type = BF16;
    } else {
      throw std::invalid_argument(ctx + "array '" + name + "' has dtype " + dtype_name(arr.dtype()) +
                                  "; GGUF saving supports float32, float16 and bfloat16");
    }
    if (arr.ndim() > kMaxDims) {
      throw std::invalid_argument(ctx + "array '" + name + "' has " + std::to_string(arr.ndim()) +
                                  " dimensions; GGUF supports at most 4");
    }
    array a = to_row_contiguous(arr);
    items.push_back({name, a, type, offset});
    offset = align_up(offset + a.nbytes(), alignment);
  }
  FileWriter w(path, "save_gguf");
  w.le<uint32_t>(kMagic);
  w.le<uint32_t>(3);
  w.le<uint64_t>(items.size());
  w.le<uint64_t>(kv.size());
  for (auto& [k, v] : kv) {
    write_string(w, k);
    w.le<uint32_t>(static_cast<uint32_t>(v->type()));
    write_value(w, *v);
  }
  for (auto& it : items) {
    write_string(w, it.name);
    w.le<uint32_t>(static_cast<uint32_t>(it.a.ndim()));
    for (size_t d = it.a.ndim(); d-- > 0;) w.le<uint64_t>(static_cast<uint64_t>(it.a.shape()[d]));
    w.le<uint32_t>(it.type);
    w.le<uint64_t>(it.offset);
  }
  w.pad_zeros(align_up(w.pos(), alignment) - w.pos());
  uint64_t data_start = w.pos();
  for (auto& it : items) {
    w.pad_zeros(data_start + it.offset - w.pos());
    if (it.a.nbytes()) w.write(it.a.raw_ptr(), it.a.nbytes());
  }
  w.pad_zeros(align_up(w.pos() - data_start, alignment) + data_start - w.pos());
  w.close();
}

}  // namespace ember
