// NumPy .npy and .npz: a strict parser for the .npy header (a Python dict
// literal), byte-order and Fortran-order handling, and a zip reader/writer for
// .npz (stored and deflate members, CRC-32 checked). Format references: NEP 1
// (numpy.lib.format) and PKWARE's APPNOTE.TXT (local headers, central
// directory, end-of-central-directory record).
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include "ember/io.h"
#include "ember/io_common.h"
#include "ember/ops.h"

namespace ember {

using namespace io_detail;

namespace {

constexpr uint8_t kNpyMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
// A header larger than this is not a NumPy header (numpy itself refuses > 10000
// bytes by default); the cap bounds the parser's work on hostile files.
constexpr uint64_t kMaxNpyHeader = 1 << 20;
constexpr int kMaxNdim = 64;  // NumPy's NPY_MAXDIMS

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// ---------------------------------------------------------------- descr

std::string npy_descr(Dtype t) {
  switch (t.val) {
    case Dtype::Val::bool_:
      return "|b1";
    case Dtype::Val::uint8:
      return "|u1";
    case Dtype::Val::int8:
      return "|i1";
    case Dtype::Val::bfloat16:
      return "<V2";  // MLX's choice: NumPy has no bfloat16
    default:
      break;
  }
  char kind = is_complex(t) ? 'c' : is_floating_point(t) ? 'f' : is_unsigned(t) ? 'u' : 'i';
  return std::string("<") + kind + std::to_string(t.size());
}

struct Descr {
  Dtype dtype = float32;
  bool big_endian = false;
};

Descr parse_descr(const std::string& d, const std::string& ctx) {
  auto bad = [&](const std::string& why) {
    return std::runtime_error(ctx + "unsupported dtype descr '" + d + "'" + (why.empty() ? "" : ": " + why));
  };
  if (d.size() < 2 || d.size() > 4) throw bad("");
  Descr out;
  size_t i = 0;
  char order = 0;
  if (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=') order = d[i++];
  std::string code = d.substr(i);
  if (code == "O" || code == "O8" || code == "O4") throw bad("object arrays are not supported");
  static const std::map<std::string, Dtype> codes = {
      {"b1", bool_},   {"?", bool_},    {"u1", uint8},   {"u2", uint16},    {"u4", uint32},
      {"u8", uint64},  {"i1", int8},    {"i2", int16},   {"i4", int32},     {"i8", int64},
      {"f2", float16}, {"f4", float32}, {"f8", float64}, {"c8", complex64}, {"V2", bfloat16}};
  auto it = codes.find(code);
  if (it == codes.end()) throw bad("");
  out.dtype = it->second;
  // NumPy writes void types (MLX's bfloat16 '<V2' read back by NumPy) with '|'.
  if (order == '|' && out.dtype.size() > 1 && out.dtype != bfloat16) {
    throw bad("byte order '|' on a multi-byte type");
  }
  out.big_endian = order == '>' && out.dtype.size() > 1;
  return out;
}

// ---------------------------------------------------------------- header dict

// A strict parser for the header NumPy writes: {'descr': <str>, 'fortran_order':
// <bool>, 'shape': <tuple of ints>} with optional trailing commas and spaces.
class HeaderParser {
 public:
  HeaderParser(const char* p, size_t n, const std::string& ctx) : p_(p), n_(n), ctx_(ctx) {}

  void ws() {
    while (i_ < n_ && (p_[i_] == ' ' || p_[i_] == '\t' || p_[i_] == '\n' || p_[i_] == '\r')) ++i_;
  }
  bool at(char c) {
    ws();
    return i_ < n_ && p_[i_] == c;
  }
  void expect(char c, const char* what) {
    ws();
    if (i_ >= n_ || p_[i_] != c) {
      throw std::runtime_error(ctx_ + "malformed header: expected '" + std::string(1, c) + "' " + what + " at byte " +
                               std::to_string(i_) + " of " + snippet());
    }
    ++i_;
  }
  std::string str() {
    ws();
    if (i_ >= n_ || (p_[i_] != '\'' && p_[i_] != '"')) {
      throw std::runtime_error(ctx_ + "malformed header: expected a string at byte " + std::to_string(i_) + " of " +
                               snippet());
    }
    char q = p_[i_++];
    std::string s;
    while (i_ < n_ && p_[i_] != q) {
      if (p_[i_] == '\\') throw std::runtime_error(ctx_ + "malformed header: escapes in strings are not supported");
      s += p_[i_++];
    }
    if (i_ >= n_) throw std::runtime_error(ctx_ + "malformed header: unterminated string");
    ++i_;
    return s;
  }
  bool boolean() {
    ws();
    if (n_ - i_ >= 4 && std::memcmp(p_ + i_, "True", 4) == 0) {
      i_ += 4;
      return true;
    }
    if (n_ - i_ >= 5 && std::memcmp(p_ + i_, "False", 5) == 0) {
      i_ += 5;
      return false;
    }
    throw std::runtime_error(ctx_ + "malformed header: 'fortran_order' must be True or False, got " + snippet());
  }
  int32_t integer() {
    ws();
    if (i_ < n_ && p_[i_] == '-') throw std::runtime_error(ctx_ + "negative dimension in shape " + snippet());
    if (i_ >= n_ || p_[i_] < '0' || p_[i_] > '9') {
      throw std::runtime_error(ctx_ + "malformed header: expected an integer in 'shape' at byte " + std::to_string(i_) +
                               " of " + snippet());
    }
    int64_t v = 0;
    while (i_ < n_ && p_[i_] >= '0' && p_[i_] <= '9') {
      v = v * 10 + (p_[i_++] - '0');
      if (v > std::numeric_limits<int32_t>::max()) {
        throw std::runtime_error(ctx_ + "dimension in 'shape' exceeds 2^31-1: " + snippet());
      }
    }
    if (i_ < n_ && p_[i_] == 'L') ++i_;  // Python 2 longs
    return static_cast<int32_t>(v);
  }
  Shape shape() {
    expect('(', "opening 'shape'");
    Shape s;
    while (!at(')')) {
      if (s.size() >= kMaxNdim) throw std::runtime_error(ctx_ + "'shape' has more than 64 dimensions");
      s.push_back(integer());
      if (at(',')) {
        ++i_;
      } else if (!at(')')) {
        expect(',', "between dimensions");
      }
    }
    ++i_;
    return s;
  }
  std::string snippet() const {
    std::string s(p_, std::min<size_t>(n_, 120));
    for (auto& c : s) {
      if (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) > 126) c = '?';
    }
    return "\"" + s + (n_ > 120 ? "...\"" : "\"");
  }
  size_t pos() const { return i_; }
  size_t size() const { return n_; }
  char peek() {
    ws();
    return i_ < n_ ? p_[i_] : '\0';
  }

 private:
  const char* p_;
  size_t n_;
  size_t i_ = 0;
  const std::string& ctx_;
};

struct NpyHeader {
  Descr descr;
  bool fortran = false;
  Shape shape;
  size_t data_offset = 0;
};

NpyHeader parse_npy_header(const uint8_t* data, size_t size, const std::string& ctx) {
  Reader r(data, size, ctx);
  const uint8_t* magic = r.take(6, "magic");
  if (std::memcmp(magic, kNpyMagic, 6) != 0) throw std::runtime_error(ctx + "not a .npy file (bad magic string)");
  uint8_t major = r.u8("version"), minor = r.u8("version");
  if ((major != 1 && major != 2 && major != 3) || minor != 0) {
    throw std::runtime_error(ctx + "unsupported .npy format version " + std::to_string(major) + "." +
                             std::to_string(minor) + " (1.0, 2.0 and 3.0 are supported)");
  }
  uint64_t hlen = major == 1 ? r.u16("header length") : r.u32("header length");
  if (hlen > kMaxNpyHeader) {
    throw std::runtime_error(ctx + "header length " + std::to_string(hlen) + " exceeds the limit of " +
                             std::to_string(kMaxNpyHeader) + " bytes");
  }
  const char* h = reinterpret_cast<const char*>(r.take(hlen, "header"));
  NpyHeader out;
  out.data_offset = r.pos();

  HeaderParser p(h, hlen, ctx);
  p.expect('{', "at the start of the header dict");
  std::set<std::string> seen;
  while (!p.at('}')) {
    std::string key = p.str();
    if (!seen.insert(key).second) throw std::runtime_error(ctx + "header repeats key '" + key + "'");
    p.expect(':', "after a key");
    if (key == "descr") {
      if (p.peek() == '[') throw std::runtime_error(ctx + "structured dtypes are not supported");
      out.descr = parse_descr(p.str(), ctx);
    } else if (key == "fortran_order") {
      out.fortran = p.boolean();
    } else if (key == "shape") {
      out.shape = p.shape();
    } else {
      throw std::runtime_error(ctx + "unexpected header key '" + key + "'");
    }
    if (p.at(',')) {
      p.expect(',', "");
    } else if (!p.at('}')) {
      p.expect(',', "between entries");
    }
  }
  p.expect('}', "");
  p.ws();
  if (p.pos() != p.size()) throw std::runtime_error(ctx + "unexpected bytes after the header dict: " + p.snippet());
  for (const char* k : {"descr", "fortran_order", "shape"}) {
    if (!seen.count(k)) throw std::runtime_error(ctx + "header is missing key '" + std::string(k) + "'");
  }
  return out;
}

// The array stored in a whole .npy image at data[0, size). `owner` keeps the bytes alive.
array npy_array(const uint8_t* data, size_t size, const std::string& ctx, std::shared_ptr<const void> owner) {
  NpyHeader h = parse_npy_header(data, size, ctx);
  uint64_t n = 1;
  for (auto d : h.shape) n = checked_mul(n, static_cast<uint64_t>(d), ctx, "element count");
  uint64_t nbytes = checked_mul(n, h.descr.dtype.size(), ctx, "data size");
  uint64_t have = size - h.data_offset;
  if (have != nbytes) {
    throw std::runtime_error(ctx + "expected " + std::to_string(nbytes) + " data bytes for shape and dtype " +
                             dtype_name(h.descr.dtype) + ", found " + std::to_string(have) +
                             (have < nbytes ? " (truncated)" : " (trailing bytes)"));
  }
  Dtype dt = h.descr.dtype;
  // Fortran order: the bytes are the row-major layout of the reversed shape.
  Shape stored = h.shape;
  if (h.fortran) std::reverse(stored.begin(), stored.end());
  const uint8_t* src = data + h.data_offset;
  array a = [&] {
    if (h.descr.big_endian) {
      array c = copy_bytes(src, stored, dt);
      byteswap(c.raw_ptr(), is_complex(dt) ? 2 * n : n, is_complex(dt) ? 4 : dt.size());
      return c;
    }
    return borrow_or_copy(src, stored, dt, std::move(owner));
  }();
  if (h.fortran && a.ndim() > 1) {
    a = transpose(a);
    a.eval();
  }
  return a;
}

// The full .npy image header (magic, version, length, padded dict) for `a`.
std::string npy_header(const array& a) {
  std::string dict = "{'descr': '" + npy_descr(a.dtype()) + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < a.ndim(); ++i) {
    dict += std::to_string(a.shape()[i]);
    if (a.ndim() == 1 || i + 1 < a.ndim()) dict += a.ndim() == 1 ? "," : ", ";
  }
  dict += "), }";
  // Pad with spaces and a final newline so the data starts 64-byte aligned.
  int major = dict.size() + 1 + 10 > 65535 ? 2 : 1;
  size_t prefix = major == 1 ? 10 : 12;
  size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - prefix - dict.size() - 1, ' ');
  dict += '\n';
  std::string out(reinterpret_cast<const char*>(kNpyMagic), 6);
  out += static_cast<char>(major);
  out += '\0';
  uint32_t len = static_cast<uint32_t>(dict.size());
  out.append(reinterpret_cast<const char*>(&len), major == 1 ? 2 : 4);
  return out + dict;
}

// ---------------------------------------------------------------- zip

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50, kEnd64LocSig = 0x07064b50,
                   kEnd64Sig = 0x06064b50;
constexpr uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;  // 1980-01-01
// Deflate cannot expand data by more than ~1032:1, so a member claiming more is corrupt.
constexpr uint64_t kMaxDeflateRatio = 1032;

uint32_t crc32_of(uint32_t crc, const void* p, size_t n) {
  if (n == 0) return crc;  // zlib's crc32 of a null buffer returns the initial value, not `crc`
  return static_cast<uint32_t>(crc32_z(crc, static_cast<const Bytef*>(p), n));
}

std::vector<uint8_t> inflate_member(const uint8_t* src, uint64_t csize, uint64_t usize, const std::string& ctx) {
  std::vector<uint8_t> out(std::max<uint64_t>(usize, 1));  // usize is bounded by kMaxDeflateRatio * csize
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) throw std::runtime_error(ctx + "zlib inflateInit2 failed");
  // zlib counts in 32-bit uInt: feed input and output in chunks of at most 1 GiB.
  const uint8_t* in = src;
  uint8_t* dst = out.data();
  uint64_t in_left = csize, out_left = usize;
  int rc;
  for (;;) {
    if (zs.avail_in == 0 && in_left > 0) {
      uint64_t step = std::min<uint64_t>(in_left, 1u << 30);
      zs.next_in = const_cast<Bytef*>(in);
      zs.avail_in = static_cast<uInt>(step);
      in += step;
      in_left -= step;
    }
    if (zs.avail_out == 0 && out_left > 0) {
      uint64_t step = std::min<uint64_t>(out_left, 1u << 30);
      zs.next_out = dst;
      zs.avail_out = static_cast<uInt>(step);
      dst += step;
      out_left -= step;
    }
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK) break;  // Z_STREAM_END, or an error / no progress possible (Z_BUF_ERROR)
  }
  uint64_t produced = zs.total_out, consumed = zs.total_in;
  std::string msg = zs.msg ? zs.msg : "";
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    if (rc == Z_DATA_ERROR) throw std::runtime_error(ctx + "corrupt deflate data: " + msg);
    throw std::runtime_error(ctx + "deflate data does not decompress to the declared " + std::to_string(usize) +
                             " bytes (zlib code " + std::to_string(rc) + " after " + std::to_string(produced) +
                             " bytes)");
  }
  if (produced != usize || consumed != csize) {
    throw std::runtime_error(ctx + "deflate stream size mismatch: " + std::to_string(consumed) + " of " +
                             std::to_string(csize) + " compressed bytes decode to " + std::to_string(produced) +
                             " bytes, declared " + std::to_string(usize));
  }
  out.resize(usize);
  return out;
}

std::vector<uint8_t> deflate_bytes(const std::string& head, const void* data, size_t n, const std::string& ctx) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error(ctx + "zlib deflateInit2 failed");
  }
  std::vector<uint8_t> out;
  std::vector<uint8_t> chunk(1 << 20);
  auto pump = [&](const void* p, size_t len, bool last) {
    const Bytef* in = static_cast<const Bytef*>(p);
    do {
      size_t step = std::min<size_t>(len, 1u << 30);
      zs.next_in = const_cast<Bytef*>(in);
      zs.avail_in = static_cast<uInt>(step);
      in += step;
      len -= step;
      int flush = (last && len == 0) ? Z_FINISH : Z_NO_FLUSH;
      int rc;
      do {
        zs.next_out = chunk.data();
        zs.avail_out = static_cast<uInt>(chunk.size());
        rc = deflate(&zs, flush);
        if (rc == Z_STREAM_ERROR) {
          deflateEnd(&zs);
          throw std::runtime_error(ctx + "zlib deflate failed");
        }
        out.insert(out.end(), chunk.data(), chunk.data() + (chunk.size() - zs.avail_out));
      } while (zs.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    } while (len > 0);
  };
  pump(head.data(), head.size(), false);
  pump(data, n, true);
  deflateEnd(&zs);
  return out;
}

}  // namespace

// ---------------------------------------------------------------- public

void save(const std::string& path_in, array a) {
  std::string path = ends_with(path_in, ".npy") ? path_in : path_in + ".npy";
  a = to_row_contiguous(std::move(a));
  std::string head = npy_header(a);
  FileWriter w(path, "save");
  w.write(head);
  if (a.nbytes()) w.write(a.raw_ptr(), a.nbytes());
  w.close();
}

array load(const std::string& path) {
  auto m = MappedFile::open(path, "load");
  return npy_array(m->data(), m->size(), where("load", path), m);
}

void savez(const std::string& path_in, const std::unordered_map<std::string, array>& arrays, bool compressed) {
  const char* fmt = compressed ? "savez_compressed" : "savez";
  std::string path = ends_with(path_in, ".npz") ? path_in : path_in + ".npz";
  std::string ctx = where(fmt, path);
  if (arrays.size() > 0xFFFE) {
    throw std::invalid_argument(ctx + "too many arrays (" + std::to_string(arrays.size()) +
                                "); ZIP64 archives are not supported");
  }
  std::map<std::string, array> sorted(arrays.begin(), arrays.end());
  struct Entry {
    std::string name;
    uint32_t crc, csize, usize, offset;
    uint16_t method;
  };
  std::vector<Entry> entries;
  FileWriter w(path, fmt);
  for (auto& [key, arr] : sorted) {
    std::string name = key + ".npy";
    if (name.size() > 0xFFFF) throw std::invalid_argument(ctx + "array name too long: " + std::to_string(key.size()));
    array a = to_row_contiguous(arr);
    std::string head = npy_header(a);
    uint64_t usize = head.size() + static_cast<uint64_t>(a.nbytes());
    uint32_t crc = crc32_of(crc32_of(0, head.data(), head.size()), a.nbytes() ? a.raw_ptr() : nullptr, a.nbytes());
    std::vector<uint8_t> packed;
    if (compressed) packed = deflate_bytes(head, a.nbytes() ? a.raw_ptr() : nullptr, a.nbytes(), ctx);
    uint64_t csize = compressed ? packed.size() : usize;
    if (usize >= 0xFFFFFFFFull || csize >= 0xFFFFFFFFull || w.pos() >= 0xFFFFFFFFull) {
      throw std::invalid_argument(ctx + "array '" + key + "' (" + std::to_string(usize) +
                                  " bytes) needs ZIP64, which is not supported");
    }
    Entry e{name,
            crc,
            static_cast<uint32_t>(csize),
            static_cast<uint32_t>(usize),
            static_cast<uint32_t>(w.pos()),
            static_cast<uint16_t>(compressed ? 8 : 0)};
    w.le<uint32_t>(kLocalSig);
    w.le<uint16_t>(20);  // version needed: 2.0 (deflate)
    w.le<uint16_t>(0);   // flags
    w.le<uint16_t>(e.method);
    w.le<uint16_t>(0);  // time
    w.le<uint16_t>(kDosDate);
    w.le<uint32_t>(e.crc);
    w.le<uint32_t>(e.csize);
    w.le<uint32_t>(e.usize);
    w.le<uint16_t>(static_cast<uint16_t>(name.size()));
    w.le<uint16_t>(0);  // extra length
    w.write(name);
    if (compressed) {
      w.write(packed.data(), packed.size());
    } else {
      w.write(head);
      if (a.nbytes()) w.write(a.raw_ptr(), a.nbytes());
    }
    entries.push_back(e);
  }
  uint64_t cd_offset = w.pos();
  for (auto& e : entries) {
    w.le<uint32_t>(kCentralSig);
    w.le<uint16_t>(20);  // version made by
    w.le<uint16_t>(20);  // version needed
    w.le<uint16_t>(0);
    w.le<uint16_t>(e.method);
    w.le<uint16_t>(0);
    w.le<uint16_t>(kDosDate);
    w.le<uint32_t>(e.crc);
    w.le<uint32_t>(e.csize);
    w.le<uint32_t>(e.usize);
    w.le<uint16_t>(static_cast<uint16_t>(e.name.size()));
    w.le<uint16_t>(0);  // extra
    w.le<uint16_t>(0);  // comment
    w.le<uint16_t>(0);  // disk
    w.le<uint16_t>(0);  // internal attributes
    w.le<uint32_t>(0);  // external attributes
    w.le<uint32_t>(e.offset);
    w.write(e.name);
  }
  uint64_t cd_size = w.pos() - cd_offset;
  if (w.pos() >= 0xFFFFFFFFull) throw std::invalid_argument(ctx + "archive needs ZIP64, which is not supported");
  w.le<uint32_t>(kEndSig);
  w.le<uint16_t>(0);
  w.le<uint16_t>(0);
  w.le<uint16_t>(static_cast<uint16_t>(entries.size()));
  w.le<uint16_t>(static_cast<uint16_t>(entries.size()));
  w.le<uint32_t>(static_cast<uint32_t>(cd_size));
  w.le<uint32_t>(static_cast<uint32_t>(cd_offset));
  w.le<uint16_t>(0);  // comment length
  w.close();
}

void savez_compressed(const std::string& path, const std::unordered_map<std::string, array>& arrays) {
  savez(path, arrays, true);
}

std::unordered_map<std::string, array> load_npz(const std::string& path) {
  auto m = MappedFile::open(path, "load_npz");
  std::string ctx = where("load_npz", path);
  const uint8_t* base = m->data();
  uint64_t size = m->size();
  if (size < 22) throw std::runtime_error(ctx + "file of " + std::to_string(size) + " bytes is too small for a zip");

  // The end-of-central-directory record: the last 22 bytes plus a comment of up to 64 KiB.
  uint64_t eocd = UINT64_MAX;
  for (uint64_t pos = size - 22;; --pos) {
    uint32_t sig;
    std::memcpy(&sig, base + pos, 4);
    uint16_t clen;
    std::memcpy(&clen, base + pos + 20, 2);
    if (sig == kEndSig && pos + 22 + clen == size) {
      eocd = pos;
      break;
    }
    if (pos == 0 || size - 22 - pos >= 0xFFFF) break;
  }
  if (eocd == UINT64_MAX) throw std::runtime_error(ctx + "not a zip archive (no end-of-central-directory record)");
  Reader er(base + eocd, size - eocd, ctx + "end-of-central-directory record: ");
  er.skip(4, "signature");
  uint64_t disk = er.u16("disk number"), cd_disk = er.u16("central directory disk");
  uint64_t n_disk = er.u16("entries on disk"), n_entries = er.u16("entry count");
  uint64_t cd_size = er.u32("central directory size"), cd_offset = er.u32("central directory offset");
  uint64_t cd_limit = eocd;  // the central directory ends before this
  uint32_t loc_sig = 0;
  if (eocd >= 20) std::memcpy(&loc_sig, base + eocd - 20, 4);
  if (loc_sig == kEnd64LocSig) {
    // ZIP64: a locator right before the end record points at the ZIP64 end record,
    // which holds the 64-bit counts, sizes and offsets.
    Reader loc(base + eocd - 20, 20, ctx + "ZIP64 locator: ");
    loc.skip(4, "signature");
    uint32_t loc_disk = loc.u32("disk");
    uint64_t rec = loc.u64("ZIP64 end record offset");
    uint32_t n_disks = loc.u32("disk count");
    if (loc_disk != 0 || n_disks > 1) {
      throw std::runtime_error(ctx + "multi-disk zip archives are not supported (" + std::to_string(n_disks) +
                               " disks)");
    }
    Reader r64(base, eocd - 20, ctx + "ZIP64 end record: ");
    r64.seek(rec, "ZIP64 end record");
    if (r64.u32("signature") != kEnd64Sig) {
      throw std::runtime_error(ctx + "bad ZIP64 end record signature at offset " + std::to_string(rec));
    }
    r64.skip(12, "record size and versions");
    disk = r64.u32("disk number");
    cd_disk = r64.u32("central directory disk");
    n_disk = r64.u64("entries on disk");
    n_entries = r64.u64("entry count");
    cd_size = r64.u64("central directory size");
    cd_offset = r64.u64("central directory offset");
    cd_limit = rec;
  } else if (n_entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
    throw std::runtime_error(ctx + "end record has ZIP64 markers but no ZIP64 locator");
  }
  if (disk != 0 || cd_disk != 0 || n_disk != n_entries) {
    throw std::runtime_error(ctx + "multi-disk zip archives are not supported (disk " + std::to_string(disk) +
                             ", entries " + std::to_string(n_disk) + " of " + std::to_string(n_entries) + ")");
  }
  if (checked_add(cd_offset, cd_size, ctx, "central directory end") > cd_limit) {
    throw std::runtime_error(ctx + "central directory [" + std::to_string(cd_offset) + ", +" + std::to_string(cd_size) +
                             ") overruns the end record at " + std::to_string(cd_limit));
  }
  if (n_entries > cd_size / 46) {
    throw std::runtime_error(ctx + std::to_string(n_entries) + " entries cannot fit a central directory of " +
                             std::to_string(cd_size) + " bytes");
  }

  std::unordered_map<std::string, array> out;
  Reader cd(base + cd_offset, cd_size, ctx + "central directory: ");
  for (uint64_t i = 0; i < n_entries; ++i) {
    if (cd.u32("entry signature") != kCentralSig) {
      throw std::runtime_error(ctx + "central directory entry " + std::to_string(i) + " has a bad signature");
    }
    cd.skip(4, "versions");
    uint16_t flags = cd.u16("flags"), method = cd.u16("method");
    cd.skip(4, "time and date");
    uint32_t crc = cd.u32("crc");
    uint64_t csize = cd.u32("compressed size"), usize = cd.u32("uncompressed size");
    uint16_t nlen = cd.u16("name length"), xlen = cd.u16("extra length"), clen = cd.u16("comment length");
    cd.skip(8, "attributes");
    uint64_t lho = cd.u32("local header offset");
    std::string name(reinterpret_cast<const char*>(cd.take(nlen, "name")), nlen);
    std::string mctx = ctx + "member '" + name + "': ";
    Reader extra(cd.take(xlen, "extra field"), xlen, mctx + "extra field: ");
    cd.skip(clen, "comment");
    if (usize == 0xFFFFFFFF || csize == 0xFFFFFFFF || lho == 0xFFFFFFFF) {
      // The ZIP64 extra field (id 1) holds, in this order, those of the three that are 0xFFFFFFFF.
      bool found = false;
      while (extra.remaining() > 0 && !found) {
        uint16_t id = extra.u16("id"), len = extra.u16("length");
        Reader field(extra.take(len, "record"), len, mctx + "ZIP64 extra field: ");
        if (id != 1) continue;
        found = true;
        if (usize == 0xFFFFFFFF) usize = field.u64("uncompressed size");
        if (csize == 0xFFFFFFFF) csize = field.u64("compressed size");
        if (lho == 0xFFFFFFFF) lho = field.u64("local header offset");
      }
      if (!found) throw std::runtime_error(mctx + "ZIP64 sizes without a ZIP64 extra field");
    }
    if (flags & 0x41) throw std::runtime_error(mctx + "encrypted members are not supported");
    if (method != 0 && method != 8) {
      throw std::runtime_error(mctx + "unsupported compression method " + std::to_string(method) +
                               " (stored and deflate are supported)");
    }
    if (!ends_with(name, ".npy") || name.size() == 4) {
      throw std::runtime_error(mctx + "member name is not '<key>.npy'");
    }
    std::string key = name.substr(0, name.size() - 4);
    if (out.count(key)) throw std::runtime_error(mctx + "duplicate member");

    Reader lr(base, cd_offset, mctx + "local header: ");
    lr.seek(lho, "local header");
    if (lr.u32("signature") != kLocalSig) {
      throw std::runtime_error(mctx + "bad local header signature at offset " + std::to_string(lho));
    }
    lr.skip(2, "version");
    lr.skip(2, "flags");
    uint16_t lmethod = lr.u16("method");
    lr.skip(16, "time, date, crc and sizes");
    uint16_t lnlen = lr.u16("name length"), lxlen = lr.u16("extra length");
    std::string lname(reinterpret_cast<const char*>(lr.take(lnlen, "name")), lnlen);
    lr.skip(lxlen, "extra field");
    if (lmethod != method || lname != name) {
      throw std::runtime_error(mctx + "local header disagrees with the central directory (name '" + lname +
                               "', method " + std::to_string(lmethod) + ")");
    }
    const uint8_t* payload = lr.take(csize, "member data");
    if (method == 0 && csize != usize) {
      throw std::runtime_error(mctx + "stored member has compressed size " + std::to_string(csize) +
                               " != uncompressed size " + std::to_string(usize));
    }
    if (method == 8 && usize / kMaxDeflateRatio > csize + 1) {
      throw std::runtime_error(mctx + "declared uncompressed size " + std::to_string(usize) + " is impossible for " +
                               std::to_string(csize) + " deflate bytes");
    }
    if (method == 0) {
      if (crc32_of(0, payload, usize) != crc) throw std::runtime_error(mctx + "CRC-32 mismatch");
      out.emplace(key, npy_array(payload, usize, mctx, m));
    } else {
      auto bytes = std::make_shared<std::vector<uint8_t>>(inflate_member(payload, csize, usize, mctx));
      if (crc32_of(0, bytes->data(), bytes->size()) != crc) throw std::runtime_error(mctx + "CRC-32 mismatch");
      out.emplace(key, npy_array(bytes->data(), bytes->size(), mctx, bytes));
    }
  }
  return out;
}

}  // namespace ember
