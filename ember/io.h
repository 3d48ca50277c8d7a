// Saving and loading arrays: NumPy .npy/.npz, safetensors and GGUF, mirroring
// mlx.core's save/load/savez/savez_compressed/save_safetensors/save_gguf.
//
// Every loader treats its file as untrusted: sizes, counts and offsets are
// checked against the file size (and for overflow) before anything is
// allocated, and a malformed file raises std::runtime_error (or
// std::invalid_argument for a bad argument) naming the loader, the path, the
// field and the values -- never a crash. safetensors and GGUF files are
// memory-mapped: the loaded arrays reference the mapping (kept alive by them)
// instead of copying, unless a tensor's bytes are misaligned for its dtype.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "ember/array.h"

namespace ember {

// ---------------------------------------------------------------- NumPy

/// Saves `a` as a NumPy .npy file (format 1.0, or 2.0 when the header needs it);
/// ".npy" is appended to `path` when missing. Non-contiguous arrays are written
/// in row-major order. bfloat16 is written with descr '<V2', as MLX does
/// (NumPy reads it as 2-byte void; Ember and MLX read it back as bfloat16).
void save(const std::string& path, array a);

/// Loads a .npy file (format 1.0, 2.0 or 3.0; '<', '>' or '|' byte order;
/// C or Fortran order). Supports bool, (u)int8..64, float16/32/64, complex64 and
/// '<V2' as bfloat16; rejects object, structured and other dtypes.
array load(const std::string& path);

/// Saves arrays into a .npz (zip) archive, one "<name>.npy" member each, stored
/// or (compressed) deflated; ".npz" is appended to `path` when missing. Writing ZIP64
/// is not supported: an archive that would need it (a member or offset >= 4 GiB,
/// more than 65534 arrays) throws std::invalid_argument.
void savez(const std::string& path, const std::unordered_map<std::string, array>& arrays, bool compressed = false);
/// savez(path, arrays, true).
void savez_compressed(const std::string& path, const std::unordered_map<std::string, array>& arrays);

/// Loads every member of a .npz archive (stored or deflated; CRC-32 checked).
/// Keys are the member names without ".npy". ZIP64 archives (NumPy writes them for
/// members over 4 GiB) are read; encrypted, multi-disk and other methods are rejected.
std::unordered_map<std::string, array> load_npz(const std::string& path);

// ---------------------------------------------------------------- safetensors

using SafetensorsLoad = std::pair<std::unordered_map<std::string, array>, std::unordered_map<std::string, std::string>>;

/// Loads a .safetensors file: the arrays (borrowing the mapped file) and the
/// "__metadata__" string map. Dtypes: BOOL, U8..U64, I8..I64, F16, BF16, F32, F64, C64.
SafetensorsLoad load_safetensors(const std::string& path);

/// Saves arrays (and string metadata) as .safetensors; ".safetensors" is appended
/// when missing. The header is padded with spaces to a multiple of 8 bytes.
void save_safetensors(const std::string& path, const std::unordered_map<std::string, array>& arrays,
                      const std::unordered_map<std::string, std::string>& metadata = {});

// ---------------------------------------------------------------- GGUF

/// GGUF metadata value types, numbered as in the file format.
enum class GGUFType : uint32_t {
  uint8 = 0,
  int8 = 1,
  uint16 = 2,
  int16 = 3,
  uint32 = 4,
  int32 = 5,
  float32 = 6,
  bool_ = 7,
  string = 8,
  array = 9,
  uint64 = 10,
  int64 = 11,
  float64 = 12,
};

struct GGUFValue;

/// A GGUF metadata array: its element type and elements (all of that type;
/// elements may themselves be arrays).
struct GGUFArray {
  GGUFType type = GGUFType::uint8;
  std::vector<GGUFValue> values;
};

/// One GGUF metadata value. The variant's alternatives are in GGUFType order,
/// so `type()` is the index of the held alternative.
struct GGUFValue {
  using Variant = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool, std::string,
                               GGUFArray, uint64_t, int64_t, double>;
  Variant value;

  GGUFValue() = default;
  template <class T, class = std::enable_if_t<std::is_constructible_v<Variant, T>>>
  GGUFValue(T v) : value(std::move(v)) {}
  GGUFValue(const char* s) : value(std::string(s)) {}

  GGUFType type() const { return static_cast<GGUFType>(value.index()); }
  template <class T>
  const T& get() const {
    return std::get<T>(value);
  }
  bool operator==(const GGUFValue& o) const;
};

inline bool operator==(const GGUFArray& a, const GGUFArray& b) { return a.type == b.type && a.values == b.values; }
inline bool GGUFValue::operator==(const GGUFValue& o) const { return value == o.value; }

/// A GGUF tensor kept in its block-quantized form (load_gguf with keep_quantized).
struct GGUFQuantized {
  std::string type;    // ggml's name: "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"
  Shape shape;         // the logical row-major shape (GGUF's dimension order reversed)
  array blocks{0.0f};  // uint8 (rows, bytes per row): each row's blocks as stored, borrowing the mapped file
};

struct GGUFLoad {
  std::unordered_map<std::string, array> arrays;
  std::unordered_map<std::string, GGUFValue> metadata;
  std::unordered_map<std::string, GGUFQuantized> quantized;  // only with keep_quantized
};

/// Loads a GGUF file (versions 2 and 3). F32, F16, BF16, F64 and I8..I64 tensors
/// load as their dtype (borrowing the mapped file); Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
/// Q4_K, Q5_K and Q6_K are dequantized to float32. Shapes are row-major (GGUF's
/// dimension order reversed). general.alignment is honoured.
/// With keep_quantized, quantized tensors go to GGUFLoad::quantized as their raw blocks instead
/// (for loaders that repack or run them quantized).
GGUFLoad load_gguf(const std::string& path, bool keep_quantized = false);
/// A kept-quantized GGUF tensor dequantized to float32 (what load_gguf returns without
/// keep_quantized).
array dequantize_gguf(const GGUFQuantized& t);

/// Saves arrays (float32, float16 or bfloat16) and metadata as GGUF version 3 with
/// alignment 32 (or a valid uint32 "general.alignment" from `metadata`); ".gguf"
/// is appended when missing. At most 4 dimensions per array.
void save_gguf(const std::string& path, const std::unordered_map<std::string, array>& arrays,
               const std::unordered_map<std::string, GGUFValue>& metadata = {});

// ---------------------------------------------------------------- dispatch

/// Loads a dictionary of arrays by file extension: .npz, .safetensors or .gguf
/// (metadata dropped), or .npy (one array, key "arr_0").
std::unordered_map<std::string, array> load_dict(const std::string& path);

}  // namespace ember
