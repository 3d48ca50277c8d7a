// The malformed-file battery: crafted .npy, .npz, safetensors and GGUF files
// (bad magic and versions, lengths of 2^63 and 2^64-1, overlapping, gapped and
// out-of-range offsets, bad dtypes, overflowing dimensions, bad alignment,
// mismatched metadata types, deep nesting, bad CRCs and zip headers, ...) must
// each raise a std::exception naming the file -- never crash, hang or try a
// huge allocation (std::bad_alloc counts as a failure). Then every format's
// valid file truncated at every byte offset must be rejected the same way.
// Meant to run under AddressSanitizer/UBSan too (make test-asan).
#include <gtest/gtest.h>

#include <ember/ember.h>

#include <functional>
#include <string>
#include <vector>

#include "io_test_utils.h"

using namespace ember;
using io_test::read_file;
using io_test::TempDir;

namespace {

using Buf = std::vector<uint8_t>;

enum class Fmt { npy, npz, safetensors, gguf };

const char* fmt_name(Fmt f) {
  switch (f) {
    case Fmt::npy:
      return "npy";
    case Fmt::npz:
      return "npz";
    case Fmt::safetensors:
      return "safetensors";
    case Fmt::gguf:
      return "gguf";
  }
  return "?";
}

void load_any(Fmt f, const std::string& path) {
  switch (f) {
    case Fmt::npy:
      load(path).eval();
      break;
    case Fmt::npz:
      load_npz(path);
      break;
    case Fmt::safetensors:
      load_safetensors(path);
      break;
    case Fmt::gguf:
      load_gguf(path);
      break;
  }
}

struct Case {
  std::string what;
  Buf bytes;
  std::string expect;  // a substring of the message ("" = any)
};

// Writes `bytes` to a file and expects the loader to throw a std::exception
// (not bad_alloc) whose message names the file (and contains `expect`).
void expect_rejected(Fmt f, const Buf& bytes, const std::string& what, const std::string& expect = "") {
  static TempDir dir(true);  // one in-memory directory for all cases
  std::string path = dir.file(std::string("bad.") + fmt_name(f));
  io_test::write_file(path, bytes);
  try {
    load_any(f, path);
    ADD_FAILURE() << fmt_name(f) << " '" << what << "': loaded without an error";
  } catch (const std::bad_alloc&) {
    ADD_FAILURE() << fmt_name(f) << " '" << what << "': tried a huge allocation (bad_alloc)";
  } catch (const std::exception& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << fmt_name(f) << " '" << what << "': message lacks the path: " << msg;
    if (!expect.empty()) {
      EXPECT_NE(msg.find(expect), std::string::npos)
          << fmt_name(f) << " '" << what << "': message: " << msg << "\nexpected to contain: " << expect;
    }
  }
}

void run_cases(Fmt f, const std::vector<Case>& cases) {
  for (auto& c : cases) expect_rejected(f, c.bytes, c.what, c.expect);
}

// ---------------------------------------------------------------- byte building

struct B {
  Buf b;
  template <class T>
  B& le(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b.insert(b.end(), p, p + sizeof(T));
    return *this;
  }
  B& u8(uint8_t v) { return le(v); }
  B& u16(uint16_t v) { return le(v); }
  B& u32(uint32_t v) { return le(v); }
  B& u64(uint64_t v) { return le(v); }
  B& raw(const std::string& s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  B& raw(const Buf& s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  B& gstr(const std::string& s) { return u64(s.size()).raw(s); }  // GGUF string
  B& zeros(size_t n) {
    b.insert(b.end(), n, 0);
    return *this;
  }
  B& pad_to(size_t a) { return zeros((a - b.size() % a) % a); }
};

void put32(Buf& b, size_t off, uint32_t v) { std::memcpy(b.data() + off, &v, 4); }
void put16(Buf& b, size_t off, uint16_t v) { std::memcpy(b.data() + off, &v, 2); }
uint32_t get32(const Buf& b, size_t off) {
  uint32_t v;
  std::memcpy(&v, b.data() + off, 4);
  return v;
}

// ---------------------------------------------------------------- .npy

// A .npy image with header dict `dict` (padded to 64 bytes) and `data` zero bytes.
Buf npy(const std::string& dict, size_t data, int major = 1) {
  size_t prefix = major == 1 ? 10 : 12;
  std::string h = dict;
  h.append((64 - (prefix + h.size() + 1) % 64) % 64, ' ');
  h += '\n';
  B b;
  b.raw("\x93NUMPY").u8(static_cast<uint8_t>(major)).u8(0);
  if (major == 1) {
    b.u16(static_cast<uint16_t>(h.size()));
  } else {
    b.u32(static_cast<uint32_t>(h.size()));
  }
  return b.raw(h).zeros(data).b;
}

std::string dict(const std::string& descr, const std::string& shape, const std::string& fortran = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
}

std::vector<Case> npy_cases() {
  Buf valid = npy(dict("<f4", "(2, 3)"), 24);
  std::vector<Case> c = {
      {"empty file", {}, "truncated"},
      {"bad magic",
       [&] {
         Buf b = valid;
         b[1] = 'X';
         return b;
       }(),
       "magic"},
      {"version 4.0",
       [&] {
         Buf b = valid;
         b[6] = 4;
         return b;
       }(),
       "version"},
      {"version 1.1",
       [&] {
         Buf b = valid;
         b[7] = 1;
         return b;
       }(),
       "version"},
      {"header length past the end",
       [&] {
         Buf b = valid;
         put16(b, 8, 0xFFFF);
         return b;
       }(),
       "truncated"},
      {"v2 header length 2^32-1",
       [&] {
         Buf b = npy(dict("<f4", "(2, 3)"), 24, 2);
         put32(b, 8, 0xFFFFFFFF);
         return b;
       }(),
       "header length"},
      {"object dtype", npy(dict("|O", "(2,)"), 16), "object"},
      {"structured dtype", npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8), "structured"},
      {"unknown descr f3", npy(dict("<f3", "(2,)"), 6), "descr"},
      {"complex128", npy(dict("<c16", "(2,)"), 32), "descr"},
      {"'|' on a 4-byte type", npy(dict("|f4", "(2,)"), 8), "byte order"},
      {"string dtype", npy(dict("<U5", "(2,)"), 40), "descr"},
      {"missing shape", npy("{'descr': '<f4', 'fortran_order': False, }", 4), "missing key 'shape'"},
      {"extra key", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1, }", 4),
       "unexpected header key"},
      {"duplicate key", npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4), "repeats"},
      {"fortran_order not a bool", npy(dict("<f4", "(1,)", "1"), 4), "True or False"},
      {"negative dimension", npy(dict("<f4", "(-1,)"), 4), "negative"},
      {"dimension over 2^31", npy(dict("<f4", "(99999999999,)"), 4), "exceeds"},
      {"element count overflow", npy(dict("<f8", "(2147483647, 2147483647, 2147483647)"), 8), "overflows"},
      {"data truncated", npy(dict("<f4", "(10,)"), 20), "truncated"},
      {"trailing bytes", npy(dict("<f4", "(2,)"), 12), "trailing"},
      {"unterminated string", npy("{'descr': '<f4, 'fortran_order': False, 'shape': (1,), }", 4), ""},
      {"bytes after the dict", npy(dict("<f4", "(1,)") + " junk", 4), "after the header"},
      {"not a dict", npy("['<f4', False, (1,)]", 4), "expected '{'"},
      {"shape is a list", npy(dict("<f4", "[1]"), 4), "expected '('"},
      {"65 dimensions",
       npy(dict(
               "<f4", "(" +
                          [] {
                            std::string s;
                            for (int i = 0; i < 65; ++i) s += "1, ";
                            return s;
                          }() +
                          ")"),
           4),
       "64"},
      {"escape in string", npy("{'descr': '<f\\x34', 'fortran_order': False, 'shape': (1,), }", 4), "escape"},
      {"float dimension", npy(dict("<f4", "(2.5,)"), 8), ""},
      {"shape missing comma", npy(dict("<f4", "(2 3)"), 24), "expected ','"},
  };
  return c;
}

// ---------------------------------------------------------------- .npz

// Bitwise CRC-32 (the zip polynomial), independent of zlib's.
uint32_t crc32_ref(const Buf& d) {
  uint32_t c = 0xFFFFFFFFu;
  for (uint8_t x : d) {
    c ^= x;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

// A zip of stored members, built by hand.
Buf make_zip(const std::vector<std::pair<std::string, Buf>>& members) {
  B out;
  std::vector<uint32_t> offsets;
  for (auto& [name, data] : members) {
    offsets.push_back(static_cast<uint32_t>(out.b.size()));
    out.u32(0x04034b50).u16(20).u16(0).u16(0).u16(0).u16(0x21).u32(crc32_ref(data));
    out.u32(static_cast<uint32_t>(data.size())).u32(static_cast<uint32_t>(data.size()));
    out.u16(static_cast<uint16_t>(name.size())).u16(0).raw(name).raw(data);
  }
  uint32_t cd = static_cast<uint32_t>(out.b.size());
  for (size_t i = 0; i < members.size(); ++i) {
    auto& [name, data] = members[i];
    out.u32(0x02014b50).u16(20).u16(20).u16(0).u16(0).u16(0).u16(0x21).u32(crc32_ref(data));
    out.u32(static_cast<uint32_t>(data.size())).u32(static_cast<uint32_t>(data.size()));
    out.u16(static_cast<uint16_t>(name.size())).u16(0).u16(0).u16(0).u16(0).u32(0).u32(offsets[i]).raw(name);
  }
  uint32_t cd_size = static_cast<uint32_t>(out.b.size()) - cd;
  auto n = static_cast<uint16_t>(members.size());
  out.u32(0x06054b50).u16(0).u16(0).u16(n).u16(n).u32(cd_size).u32(cd).u16(0);
  return out.b;
}

// The same as a ZIP64 archive: central sizes 0xFFFFFFFF with the real ones in a ZIP64
// extra field (id 1), then a ZIP64 end record and locator before an end record of
// 0xFFFF / 0xFFFFFFFF markers. `extra_len` below 16 makes a short (corrupt) extra field.
Buf make_zip64(const std::vector<std::pair<std::string, Buf>>& members, uint16_t extra_len = 16) {
  B out;
  std::vector<uint64_t> offsets;
  for (auto& [name, data] : members) {
    offsets.push_back(out.b.size());
    out.u32(0x04034b50).u16(45).u16(0).u16(0).u16(0).u16(0x21).u32(crc32_ref(data)).u32(0xFFFFFFFF).u32(0xFFFFFFFF);
    out.u16(static_cast<uint16_t>(name.size())).u16(20).raw(name).u16(1).u16(16).u64(data.size()).u64(data.size());
    out.raw(data);
  }
  uint64_t cd = out.b.size();
  for (size_t i = 0; i < members.size(); ++i) {
    auto& [name, data] = members[i];
    out.u32(0x02014b50).u16(45).u16(45).u16(0).u16(0).u16(0).u16(0x21).u32(crc32_ref(data));
    out.u32(0xFFFFFFFF).u32(0xFFFFFFFF).u16(static_cast<uint16_t>(name.size())).u16(4 + extra_len).u16(0);
    out.u16(0).u16(0).u32(0).u32(static_cast<uint32_t>(offsets[i])).raw(name);
    B ex;
    ex.u64(data.size()).u64(data.size());
    ex.b.resize(extra_len);
    out.u16(1).u16(extra_len).raw(ex.b);
  }
  uint64_t cd_size = out.b.size() - cd, rec = out.b.size();
  out.u32(0x06064b50).u64(44).u16(45).u16(45).u32(0).u32(0).u64(members.size()).u64(members.size());
  out.u64(cd_size).u64(cd);
  out.u32(0x07064b50).u32(0).u64(rec).u32(1);
  out.u32(0x06054b50).u16(0).u16(0).u16(0xFFFF).u16(0xFFFF).u32(0xFFFFFFFF).u32(0xFFFFFFFF).u16(0);
  return out.b;
}

// Offsets inside a zip without a comment.
size_t eocd_of(const Buf& z) { return z.size() - 22; }
size_t cd_of(const Buf& z) { return get32(z, eocd_of(z) + 16); }

std::vector<Case> npz_cases(const Buf& deflated) {
  Buf a = npy(dict("<f4", "(2,)"), 8), b = npy(dict("|u1", "(3,)"), 3);
  Buf valid = make_zip({{"a.npy", a}, {"b.npy", b}});
  size_t cd = cd_of(valid), eocd = eocd_of(valid);
  auto mut = [&](const std::function<void(Buf&)>& f, Buf base = {}) {
    Buf z = base.empty() ? valid : base;
    f(z);
    return z;
  };
  size_t dcd = cd_of(deflated);
  std::vector<Case> c = {
      {"empty file", {}, "too small"},
      {"no end record", Buf(200, 0x41), "end-of-central-directory"},
      {"bad CRC in the central directory", mut([&](Buf& z) { z[cd + 16] ^= 1; }), "CRC"},
      {"corrupted member data", mut([&](Buf& z) {
         z[30 + 5 + 64] ^= 0x40; /* first data byte of a.npy */
       }),
       "CRC"},
      {"unsupported method (bzip2)", mut([&](Buf& z) {
         put16(z, cd + 10, 12);
         put16(z, 8, 12);
       }),
       "method 12"},
      {"encrypted member", mut([&](Buf& z) { put16(z, cd + 8, 1); }), "encrypted"},
      {"local header offset past the directory", mut([&](Buf& z) { put32(z, cd + 42, 0x7FFFFFF0); }), "offset"},
      {"central directory offset past the end", mut([&](Buf& z) { put32(z, eocd + 16, 0x7FFFFFF0); }), "overruns"},
      {"central directory size huge", mut([&](Buf& z) { put32(z, eocd + 12, 0x7FFFFFF0); }), "overruns"},
      {"entry count 0xFFFF (ZIP64)", mut([&](Buf& z) {
         put16(z, eocd + 8, 0xFFFF);
         put16(z, eocd + 10, 0xFFFF);
       }),
       "ZIP64"},
      {"compressed size 0xFFFFFFFF (ZIP64)", mut([&](Buf& z) { put32(z, cd + 20, 0xFFFFFFFF); }), "ZIP64"},
      {"bad local header signature", mut([&](Buf& z) { z[0] = 'Q'; }), "signature"},
      {"bad central directory signature", mut([&](Buf& z) { z[cd] = 'Q'; }), "signature"},
      {"local name differs", mut([&](Buf& z) { z[30] = 'c'; }), "disagrees"},
      {"member is not .npy", make_zip({{"a.txt", a}}), "not '<key>.npy'"},
      {"duplicate member", make_zip({{"a.npy", a}, {"a.npy", b}}), "duplicate"},
      {"stored sizes differ", mut([&](Buf& z) { put32(z, cd + 24, get32(z, cd + 24) - 1); }), "stored member"},
      {"member data past the directory", mut([&](Buf& z) {
         put32(z, cd + 20, 4096);
         put32(z, cd + 24, 4096);
       }),
       "truncated"},
      {"multi-disk archive", mut([&](Buf& z) { put16(z, eocd + 4, 1); }), "multi-disk"},
      {"entry count larger than the directory", mut([&](Buf& z) {
         put16(z, eocd + 8, 500);
         put16(z, eocd + 10, 500);
       }),
       "cannot fit"},
      {"ZIP64 locator",
       [&] {
         Buf z = valid;
         B loc;
         loc.u32(0x07064b50).u32(0).u64(0).u32(1);
         z.insert(z.begin() + static_cast<long>(eocd), loc.b.begin(), loc.b.end());
         put32(z, z.size() - 22 + 16, static_cast<uint32_t>(cd));
         return z;
       }(),
       "ZIP64"},
      {"malformed .npy inside", make_zip({{"a.npy", Buf(40, 'x')}}), "magic"},
      {"deflate: corrupt stream",
       mut(
           [&](Buf& z) {
             for (size_t i = 40; i < 60; ++i) z[i] ^= 0x5A;
           },
           deflated),
       ""},
      {"deflate: declared size too large", mut([&](Buf& z) { put32(z, dcd + 24, get32(z, dcd + 24) + 100); }, deflated),
       "deflate"},
      {"deflate: declared size too small", mut([&](Buf& z) { put32(z, dcd + 24, get32(z, dcd + 24) - 1); }, deflated),
       "deflate"},
      {"deflate: zip bomb size", mut([&](Buf& z) { put32(z, dcd + 24, 0xFFFFFFF0); }, deflated), "impossible"},
      {"ZIP64: extra field too short", make_zip64({{"a.npy", a}}, 8), "truncated"},
      {"ZIP64: end record offset past the end",
       [&] {
         Buf z = make_zip64({{"a.npy", a}});
         put32(z, z.size() - 22 - 20 + 8, 0x7FFFFFF0);
         return z;
       }(),
       "past the end"},
      {"ZIP64: entry count 2^63",
       [&] {
         Buf z = make_zip64({{"a.npy", a}});
         size_t rec = z.size() - 22 - 20 - 56;
         std::memcpy(z.data() + rec + 24, "\0\0\0\0\0\0\0\x80", 8);
         std::memcpy(z.data() + rec + 32, "\0\0\0\0\0\0\0\x80", 8);
         return z;
       }(),
       "cannot fit"},
      {"ZIP64: directory offset 2^64-1",
       [&] {
         Buf z = make_zip64({{"a.npy", a}});
         size_t rec = z.size() - 22 - 20 - 56;
         std::memset(z.data() + rec + 48, 0xFF, 8);
         return z;
       }(),
       "overflows"},
      {"ZIP64 markers without a locator", mut([&](Buf& z) { put32(z, eocd + 16, 0xFFFFFFFF); }), "no ZIP64 locator"},
      {"comment length disagrees", mut([&](Buf& z) { put16(z, eocd + 20, 5); }), "end-of-central-directory"},
  };
  return c;
}

// ---------------------------------------------------------------- safetensors

Buf st(const std::string& header, size_t data) { return B().u64(header.size()).raw(header).zeros(data).b; }

std::string ent(const std::string& name, const std::string& dtype, const std::string& shape, uint64_t b, uint64_t e) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(b) + "," + std::to_string(e) + "]}";
}

std::vector<Case> safetensors_cases() {
  std::string ok = "{" + ent("a", "F32", "[2]", 0, 8) + "," + ent("b", "U8", "[3]", 8, 11) + "}";
  std::vector<Case> c = {
      {"empty file", {}, "truncated"},
      {"7 bytes", Buf(7, 0), "truncated"},
      {"header length 2^63", B().u64(1ull << 63).raw("{}").b, "100 MB"},
      {"header length 2^64-1", B().u64(~0ull).raw("{}").b, "100 MB"},
      {"header length past the end", B().u64(1000).raw("{}").b, "exceeds the"},
      {"header length just over 100 MB", B().u64(100'000'001).raw("{}").b, "100 MB"},
      {"header length 0", B().u64(0).b, "JSON object"},
      {"header not JSON", st("{not json}", 0), "invalid JSON"},
      {"header is an array", st("[1, 2]", 0), "JSON object"},
      {"truncated JSON", st("{\"a\":{\"dtype\":\"F32\"", 0), "invalid JSON"},
      {"invalid UTF-8", st("{\"\xff\xfe\":{}}", 0), "invalid JSON"},
      {"unknown dtype", st("{" + ent("a", "F8_E4M3", "[2]", 0, 2) + "}", 2), "unsupported dtype"},
      {"dtype not a string", st("{\"a\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "'dtype' must be"},
      {"negative dimension", st("{" + ent("a", "F32", "[-1]", 0, 4) + "}", 4), "non-negative"},
      {"float dimension", st("{" + ent("a", "F32", "[1.5]", 0, 4) + "}", 4), "non-negative"},
      {"dimension over 2^31", st("{" + ent("a", "U8", "[4294967296]", 0, 4) + "}", 4), "exceeds"},
      {"element count overflow", st("{" + ent("a", "F64", "[2147483647,2147483647,2147483647]", 0, 8) + "}", 8),
       "overflows"},
      {"end before begin", st("{" + ent("a", "F32", "[0]", 8, 4) + "}", 8), "do not span"},
      {"offsets don't match the size", st("{" + ent("a", "F32", "[2]", 0, 4) + "}", 4), "do not span"},
      {"offset 2^64-1", st("{" + ent("a", "U8", "[1]", 18446744073709551614ull, 18446744073709551615ull) + "}", 1),
       "starts at"},
      {"gap between tensors", st("{" + ent("a", "F32", "[1]", 0, 4) + "," + ent("b", "U8", "[1]", 6, 7) + "}", 7),
       "gap"},
      {"overlapping tensors", st("{" + ent("a", "F32", "[2]", 0, 8) + "," + ent("b", "F32", "[1]", 4, 8) + "}", 8),
       "overlapping"},
      {"not starting at 0", st("{" + ent("a", "F32", "[1]", 4, 8) + "}", 8), "gap"},
      {"trailing bytes", st(ok, 12), "data section"},
      {"data truncated", st(ok, 10), "data section"},
      {"metadata value not a string", st("{\"__metadata__\":{\"a\":1}}", 0), "not a string"},
      {"metadata not an object", st("{\"__metadata__\":[\"a\"]}", 0), "must be an object"},
      {"missing dtype", st("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "missing field 'dtype'"},
      {"unknown field", st("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4),
       "unexpected field"},
      {"three data offsets", st("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,4]}}", 4),
       "[begin, end]"},
      {"entry not an object", st("{\"a\":[1]}", 0), "JSON object"},
      {"duplicate tensor name", st("{" + ent("a", "U8", "[1]", 0, 1) + "," + ent("a", "U8", "[1]", 0, 1) + "}", 1),
       "repeats"},
      {"duplicate metadata key", st("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0), "repeats"},
      {"65 dimensions",
       st("{" +
              ent(
                  "a", "U8",
                  "[1" +
                      [] {
                        std::string s;
                        for (int i = 0; i < 64; ++i) s += ",1";
                        return s;
                      }() +
                      "]",
                  0, 1) +
              "}",
          1),
       "at most 64"},
  };
  return c;
}

// ---------------------------------------------------------------- GGUF

struct GT {
  std::string name;
  std::vector<uint64_t> ne;
  uint32_t type;
  uint64_t offset;
};

// A GGUF file: header, kv pairs from `kvs` (n_kv of them), tensor infos, padding to `align`, `data` zero bytes.
Buf gguf(const std::function<void(B&)>& kvs, uint64_t n_kv, const std::vector<GT>& ts, size_t data,
         uint32_t version = 3, size_t align = 32) {
  B b;
  b.u32(0x46554747).u32(version).u64(ts.size()).u64(n_kv);
  kvs(b);
  for (auto& t : ts) {
    b.gstr(t.name).u32(static_cast<uint32_t>(t.ne.size()));
    for (auto d : t.ne) b.u64(d);
    b.u32(t.type).u64(t.offset);
  }
  b.pad_to(align);
  return b.zeros(data).b;
}

auto no_kv = [](B&) {};
auto kv_u32 = [](const std::string& k, uint32_t v) { return [=](B& b) { b.gstr(k).u32(4).u32(v); }; };

std::vector<Case> gguf_cases() {
  std::vector<GT> one = {{"w", {4, 2}, 0, 0}};  // F32 (2, 4): 32 bytes
  auto nested = [](int depth) {
    return [=](B& b) {
      b.gstr("deep").u32(9);
      for (int i = 0; i < depth; ++i) b.u32(9).u64(1);
      b.u32(4).u64(1).u32(7);
    };
  };
  std::vector<Case> c = {
      {"empty file", {}, "truncated"},
      {"bad magic",
       [&] {
         Buf b = gguf(no_kv, 0, one, 32);
         b[0] = 'X';
         return b;
       }(),
       "magic"},
      {"version 1", gguf(no_kv, 0, one, 32, 1), "version 1"},
      {"version 4", gguf(no_kv, 0, one, 32, 4), "version 4"},
      {"tensor count 2^63", B().u32(0x46554747).u32(3).u64(1ull << 63).u64(0).zeros(64).b, "tensor count"},
      {"kv count 2^64-1", B().u32(0x46554747).u32(3).u64(0).u64(~0ull).zeros(64).b, "metadata count"},
      {"key length 2^63", gguf([](B& b) { b.u64(1ull << 63).raw("k").u32(4).u32(1); }, 1, {}, 0), "limit"},
      {"key length 2^64-1", gguf([](B& b) { b.u64(~0ull).raw("k").u32(4).u32(1); }, 1, {}, 0), "limit"},
      {"string value length 2^64-1", gguf([](B& b) { b.gstr("k").u32(8).u64(~0ull).raw("abc"); }, 1, {}, 0), "limit"},
      {"string value past the end", gguf([](B& b) { b.gstr("k").u32(8).u64(1000).raw("abc"); }, 1, {}, 0), "truncated"},
      {"invalid value type 13", gguf([](B& b) { b.gstr("k").u32(13).u32(0); }, 1, {}, 0), "invalid value type"},
      {"array length 2^63", gguf([](B& b) { b.gstr("k").u32(9).u32(4).u64(1ull << 63); }, 1, {}, 0), "array length"},
      {"array length past the bytes left", gguf([](B& b) { b.gstr("k").u32(9).u32(8).u64(1000).gstr("a"); }, 1, {}, 0),
       "array length"},
      {"invalid array element type", gguf([](B& b) { b.gstr("k").u32(9).u32(77).u64(1); }, 1, {}, 0),
       "invalid array element type"},
      {"arrays nested too deep", gguf(nested(20), 1, {}, 0), "nested deeper"},
      {"bool value 2", gguf([](B& b) { b.gstr("k").u32(7).u8(2); }, 1, {}, 0), "bool value 2"},
      {"duplicate key", gguf([](B& b) { b.gstr("k").u32(4).u32(1).gstr("k").u32(4).u32(2); }, 2, {}, 0),
       "duplicate key"},
      {"alignment 0", gguf(kv_u32("general.alignment", 0), 1, one, 32), "power of two"},
      {"alignment 48", gguf(kv_u32("general.alignment", 48), 1, one, 32), "power of two"},
      {"alignment as uint64", gguf([](B& b) { b.gstr("general.alignment").u32(10).u64(32); }, 1, one, 32),
       "must be a uint32"},
      {"5 dimensions", gguf(no_kv, 0, {{"w", {1, 1, 1, 1, 1}, 0, 0}}, 32), "5 dimensions"},
      {"dimension 2^63", gguf(no_kv, 0, {{"w", {1ull << 63}, 0, 0}}, 32), "exceeds"},
      {"element count overflow", gguf(no_kv, 0, {{"w", {2147483647, 2147483647, 2147483647, 2147483647}, 0, 0}}, 32),
       "overflows"},
      {"unknown ggml type", gguf(no_kv, 0, {{"w", {8}, 99, 0}}, 32), "unsupported ggml type 99"},
      {"unaligned offset", gguf(no_kv, 0, {{"w", {4}, 0, 4}}, 64), "not a multiple"},
      {"offset past the end", gguf(no_kv, 0, {{"w", {8}, 0, 1024}}, 32), "exceeds"},
      {"offset + size overflows", gguf(no_kv, 0, {{"w", {8}, 0, ~0ull - 31}}, 32), "overflows"},
      {"overlapping tensors", gguf(no_kv, 0, {{"a", {16}, 0, 0}, {"b", {8}, 0, 32}}, 64), "overlap"},
      {"duplicate tensor name", gguf(no_kv, 0, {{"a", {8}, 0, 0}, {"a", {8}, 0, 32}}, 64), "duplicate tensor"},
      {"Q4_0 row not a multiple of 32", gguf(no_kv, 0, {{"q", {48, 2}, 2, 0}}, 64), "block size"},
      {"Q6_K row not a multiple of 256", gguf(no_kv, 0, {{"q", {128}, 14, 0}}, 256), "block size"},
      {"data truncated", gguf(no_kv, 0, {{"w", {16}, 0, 0}}, 32), "exceeds"},
      {"tensor name length 2^63", B().u32(0x46554747).u32(3).u64(1).u64(0).u64(1ull << 63).zeros(64).b, "limit"},
      {"header truncated mid tensor info",
       [&] {
         Buf b = gguf(no_kv, 0, one, 32);
         b.resize(54);
         return b;
       }(),
       "truncated"},
      {"nested array of huge length", gguf([](B& b) { b.gstr("k").u32(9).u32(9).u64(1).u32(0).u64(~0ull); }, 1, {}, 0),
       "array length"},
      {"metadata count past the bytes left", gguf(kv_u32("a", 1), 1000, {}, 0), "metadata count"},
  };
  return c;
}

}  // namespace

TEST(IoMalformed, Npy) { run_cases(Fmt::npy, npy_cases()); }

TEST(IoMalformed, Npz) {
  TempDir dir;
  savez_compressed(dir.file("d.npz"), {{"x", arange(0, 64, float32)}});
  run_cases(Fmt::npz, npz_cases(read_file(dir.file("d.npz"))));
}

TEST(IoMalformed, Safetensors) { run_cases(Fmt::safetensors, safetensors_cases()); }

TEST(IoMalformed, Gguf) { run_cases(Fmt::gguf, gguf_cases()); }

TEST(IoMalformed, CaseCount) {
  TempDir dir;
  size_t n = npy_cases().size() + npz_cases(Buf(100, 0)).size() + safetensors_cases().size() + gguf_cases().size();
  EXPECT_GE(n, 60u);
  std::cout << "[ io ] malformed-file cases: " << n << "\n";
}

// The crafted builders agree with the loaders when the input is valid, so the
// cases above fail for the reason they name and not for a builder bug.
TEST(IoMalformed, BuildersMakeValidFiles) {
  TempDir dir;
  io_test::write_file(dir.file("v.npy"), npy(dict("<f4", "(2, 3)"), 24));
  EXPECT_EQ(load(dir.file("v.npy")).shape(), (Shape{2, 3}));
  io_test::write_file(dir.file("v.npz"),
                      make_zip({{"a.npy", npy(dict("<f4", "(2,)"), 8)}, {"b.npy", npy(dict("|u1", "(3,)"), 3)}}));
  EXPECT_EQ(load_npz(dir.file("v.npz")).size(), 2u);
  io_test::write_file(dir.file("v64.npz"),
                      make_zip64({{"a.npy", npy(dict("<f4", "(2,)"), 8)}, {"b.npy", npy(dict("|u1", "(3,)"), 3)}}));
  EXPECT_EQ(load_npz(dir.file("v64.npz")).at("b").shape(), (Shape{3}));
  io_test::write_file(dir.file("v.safetensors"),
                      st("{" + ent("a", "F32", "[2]", 0, 8) + "," + ent("b", "U8", "[3]", 8, 11) + "}", 11));
  EXPECT_EQ(load_safetensors(dir.file("v.safetensors")).first.size(), 2u);
  io_test::write_file(dir.file("v.gguf"),
                      gguf(kv_u32("general.alignment", 64), 1,
                           {{"a", {16}, 0, 0}, {"q", {32, 2}, 2, 64}, {"k", {256}, 14, 128}}, 128 + 210));
  auto g = load_gguf(dir.file("v.gguf"));
  EXPECT_EQ(g.arrays.at("q").shape(), (Shape{2, 32}));
  EXPECT_EQ(g.arrays.at("k").shape(), (Shape{256}));
}

// Every prefix of a valid file is rejected cleanly.
TEST(IoMalformed, TruncatedAtEveryOffset) {
  TempDir dir;
  std::mt19937 rng(11);
  array f = io_test::random_array({3, 8}, float32, rng), h = io_test::random_array({16}, float16, rng);
  array b = io_test::random_array({5}, bool_, rng);
  save(dir.file("v.npy"), f);
  savez(dir.file("v.npz"), {{"f", f}, {"b", b}});
  savez_compressed(dir.file("vc.npz"), {{"f", f}, {"b", b}});
  save_safetensors(dir.file("v.safetensors"), {{"f", f}, {"h", h}, {"b", b}}, {{"k", "v"}});
  // Tensor sizes are multiples of 32 bytes, so the file ends exactly where the last tensor does.
  save_gguf(dir.file("v.gguf"), {{"f", f}, {"h", h}},
            {{"name", "x"}, {"n", uint32_t(3)}, {"a", GGUFArray{GGUFType::string, {GGUFValue("t")}}}});
  io_test::write_file(dir.file("v64.npz"), make_zip64({{"f.npy", read_file(dir.file("v.npy"))}}));
  struct F {
    Fmt fmt;
    const char* file;
  };
  size_t total = 0;
  for (F x : {F{Fmt::npy, "v.npy"}, F{Fmt::npz, "v.npz"}, F{Fmt::npz, "vc.npz"}, F{Fmt::npz, "v64.npz"},
              F{Fmt::safetensors, "v.safetensors"}, F{Fmt::gguf, "v.gguf"}}) {
    Buf full = read_file(dir.file(x.file));
    load_any(x.fmt, dir.file(x.file));  // the whole file loads
    for (size_t len = 0; len < full.size(); ++len) {
      expect_rejected(x.fmt, Buf(full.begin(), full.begin() + static_cast<long>(len)),
                      std::string(x.file) + " truncated to " + std::to_string(len));
      ++total;
    }
  }
  std::cout << "[ io ] truncated files rejected: " << total << "\n";
}
