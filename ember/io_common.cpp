// The shared pieces of the file-format loaders: the read-only mapping, arrays
// that borrow mapped bytes, and the checked writer (see io_common.h).
#include "ember/io_common.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>

#include "ember/io.h"
#include "ember/ops.h"

namespace ember::io_detail {

static_assert(std::endian::native == std::endian::little, "the file loaders assume a little-endian host");

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path, const char* fmt) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error(where(fmt, path) + "cannot open file: " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    throw std::runtime_error(where(fmt, path) + "cannot stat file: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw std::runtime_error(where(fmt, path) + "not a regular file");
  }
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->size_ = static_cast<size_t>(st.st_size);
  if (m->size_ > 0) {
    // Copy-on-write: a caller writing through data<T>() of a loaded array changes its
    // private copy of the page instead of faulting; the file is never modified.
    void* p = ::mmap(nullptr, m->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      m->size_ = 0;
      throw std::runtime_error(where(fmt, path) + "cannot map " + std::to_string(st.st_size) +
                               " bytes: " + std::strerror(e));
    }
    m->data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);  // the mapping stays valid without the descriptor
  return m;
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

namespace {

size_t alignment_of(Dtype dtype) {
  return dispatch_dtype(dtype, [](auto t) { return alignof(decltype(t)); });
}

}  // namespace

array empty_array(const Shape& shape, Dtype dtype) {
  array out = array::placeholder(shape, dtype);
  out.set_data(allocator::malloc(out.nbytes()));
  out.set_status(Status::available);
  return out;
}

array copy_bytes(const void* src, const Shape& shape, Dtype dtype) {
  array out = empty_array(shape, dtype);
  if (out.nbytes()) std::memcpy(out.raw_ptr(), src, out.nbytes());
  return out;
}

array borrow_or_copy(const uint8_t* src, const Shape& shape, Dtype dtype, std::shared_ptr<const void> owner) {
  size_t n = checked_size(shape, "load");
  if (dtype == bool_) {
    if (std::any_of(src, src + n, [](uint8_t b) { return b > 1; })) {
      array out = empty_array(shape, dtype);
      auto* dst = static_cast<uint8_t*>(out.raw_ptr());
      for (size_t i = 0; i < n; ++i) dst[i] = src[i] != 0;
      return out;
    }
  }
  if (n == 0 || reinterpret_cast<uintptr_t>(src) % alignment_of(dtype) != 0) {
    return copy_bytes(src, shape, dtype);
  }
  return array(const_cast<uint8_t*>(src), shape, dtype, [owner = std::move(owner)](void*) {});
}

array to_row_contiguous(array a) {
  a.eval();
  if (!a.flags().row_contiguous) {
    a = contiguous(a);
    a.eval();
  }
  return a;
}

void byteswap(void* data, size_t n, size_t word) {
  auto* p = static_cast<uint8_t*>(data);
  if (word <= 1) return;
  for (size_t i = 0; i < n; ++i, p += word) std::reverse(p, p + word);
}

FileWriter::FileWriter(const std::string& path, const char* fmt) : path_(path), fmt_(fmt) {
  f_ = std::fopen(path.c_str(), "wb");
  if (!f_) throw std::runtime_error(where(fmt_, path_) + "cannot open for writing: " + std::strerror(errno));
}

FileWriter::~FileWriter() {
  if (f_) std::fclose(f_);
}

void FileWriter::write(const void* data, size_t n) {
  if (n == 0) return;
  if (std::fwrite(data, 1, n, f_) != n) {
    throw std::runtime_error(where(fmt_, path_) + "write of " + std::to_string(n) +
                             " bytes failed: " + std::strerror(errno));
  }
  pos_ += n;
}

void FileWriter::pad_zeros(size_t n) {
  static const char zeros[64] = {};
  while (n > 0) {
    size_t k = std::min(n, sizeof(zeros));
    write(zeros, k);
    n -= k;
  }
}

void FileWriter::close() {
  std::FILE* f = f_;
  f_ = nullptr;
  if (f && std::fclose(f) != 0) {
    throw std::runtime_error(where(fmt_, path_) + "closing the file failed: " + std::strerror(errno));
  }
}

}  // namespace ember::io_detail

namespace ember {

std::unordered_map<std::string, array> load_dict(const std::string& path) {
  auto has_ext = [&](const char* ext) {
    std::string e(ext);
    return path.size() >= e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0;
  };
  if (has_ext(".npz")) return load_npz(path);
  if (has_ext(".safetensors")) return load_safetensors(path).first;
  if (has_ext(".gguf")) return load_gguf(path).arrays;
  if (has_ext(".npy")) return {{"arr_0", load(path)}};
  throw std::invalid_argument("[load_dict] " + path +
                              ": unknown extension (expected .npy, .npz, .safetensors or .gguf)");
}

}  // namespace ember
