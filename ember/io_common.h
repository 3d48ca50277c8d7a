// Internal helpers shared by the file-format loaders (io_npy.cpp,
// io_safetensors.cpp, io_gguf.cpp): a read-only file mapping, a bounds-checked
// little-endian reader over untrusted bytes, overflow-checked size arithmetic,
// arrays that borrow mapped bytes, and a checked file writer. Not installed API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "ember/array.h"

namespace ember::io_detail {

/// "[fmt] path: " -- the prefix every loader error starts with.
inline std::string where(const char* fmt, const std::string& path) {
  return std::string("[") + fmt + "] " + path + ": ";
}

/// a * b, throwing (naming `what`) instead of wrapping around.
inline uint64_t checked_mul(uint64_t a, uint64_t b, const std::string& ctx, const char* what) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) {
    throw std::runtime_error(ctx + what + " overflows: " + std::to_string(a) + " * " + std::to_string(b));
  }
  return r;
}
/// a + b, throwing (naming `what`) instead of wrapping around.
inline uint64_t checked_add(uint64_t a, uint64_t b, const std::string& ctx, const char* what) {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r)) {
    throw std::runtime_error(ctx + what + " overflows: " + std::to_string(a) + " + " + std::to_string(b));
  }
  return r;
}

/// A whole file mapped copy-on-write (MAP_PRIVATE: writes stay private, the file is
/// never modified). Arrays that borrow its bytes hold a shared_ptr to it, so the
/// mapping lives as long as they do. An empty file maps to (nullptr, 0). As with any
/// mapping, another process truncating the file while it is mapped raises SIGBUS.
class MappedFile {
 public:
  /// Maps `path`; `fmt` names the loader in errors ("load_safetensors").
  static std::shared_ptr<MappedFile> open(const std::string& path, const char* fmt);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

/// A cursor over untrusted bytes: every read is checked against the end first,
/// and a failed check throws std::runtime_error naming `ctx`, the field, the
/// offset and the sizes involved.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size, std::string ctx) : data_(data), size_(size), ctx_(std::move(ctx)) {}

  size_t pos() const { return pos_; }
  size_t size() const { return size_; }
  size_t remaining() const { return size_ - pos_; }
  const std::string& ctx() const { return ctx_; }
  const uint8_t* base() const { return data_; }

  /// Throws unless `n` more bytes are available for `what`.
  void need(uint64_t n, const char* what) const {
    if (n > remaining()) {
      throw std::runtime_error(ctx_ + "truncated " + what + " at offset " + std::to_string(pos_) + ": needs " +
                               std::to_string(n) + " bytes, " + std::to_string(remaining()) + " left");
    }
  }
  /// Returns a pointer to the next `n` bytes and advances past them.
  const uint8_t* take(uint64_t n, const char* what) {
    need(n, what);
    const uint8_t* p = data_ + pos_;
    pos_ += static_cast<size_t>(n);
    return p;
  }
  void skip(uint64_t n, const char* what) { take(n, what); }
  /// Moves to absolute offset `off` (<= size).
  void seek(uint64_t off, const char* what) {
    if (off > size_) {
      throw std::runtime_error(ctx_ + what + " offset " + std::to_string(off) + " is past the end (size " +
                               std::to_string(size_) + ")");
    }
    pos_ = static_cast<size_t>(off);
  }

  template <class T>
  T le(const char* what) {
    static_assert(std::is_trivially_copyable_v<T>);
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));  // the host is little-endian (checked in io_npy.cpp)
    return v;
  }
  uint8_t u8(const char* what) { return le<uint8_t>(what); }
  uint16_t u16(const char* what) { return le<uint16_t>(what); }
  uint32_t u32(const char* what) { return le<uint32_t>(what); }
  uint64_t u64(const char* what) { return le<uint64_t>(what); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string ctx_;
};

/// An array of `shape`/`dtype` over `nbytes` at `src` (row-major). Borrows the
/// bytes (keeping `owner` alive) when they are aligned for the dtype's C++ type
/// and valid as-is; otherwise copies them into a fresh buffer. Bool bytes other
/// than 0/1 are normalized to 1 in a copy (a bool holding 2 is undefined in C++).
array borrow_or_copy(const uint8_t* src, const Shape& shape, Dtype dtype, std::shared_ptr<const void> owner);

/// A fresh row-contiguous array holding a copy of `shape`-many elements at `src`.
array copy_bytes(const void* src, const Shape& shape, Dtype dtype);

/// A fresh, uninitialized row-contiguous array (evaluated, data owned by the allocator).
array empty_array(const Shape& shape, Dtype dtype);

/// Evaluates `a` and returns it row-contiguous (copying if it is a view that isn't).
array to_row_contiguous(array a);

/// Reverses the bytes of each `word`-byte word of `n` words in place.
void byteswap(void* data, size_t n, size_t word);

/// Writes a file, throwing (naming `fmt`, the path and errno's text) on any failure.
class FileWriter {
 public:
  FileWriter(const std::string& path, const char* fmt);
  ~FileWriter();
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;
  void write(const void* data, size_t n);
  void write(const std::string& s) { write(s.data(), s.size()); }
  template <class T>
  void le(T v) {
    write(&v, sizeof(T));
  }
  void pad_zeros(size_t n);
  uint64_t pos() const { return pos_; }
  /// Flushes and closes; errors surface here rather than being lost in the destructor.
  void close();

 private:
  std::FILE* f_ = nullptr;
  std::string path_;
  const char* fmt_;
  uint64_t pos_ = 0;
};

}  // namespace ember::io_detail
