// safetensors: 8-byte little-endian header length N, an N-byte JSON header
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the tensor bytes. Loading follows the reference implementation's
// validation (header <= 100 MB, offsets consistent with dtype and shape,
// tensors packed from 0 without gaps or overlaps, exactly to the end of file)
// and maps the file so the arrays reference it instead of copying.
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "ember/io.h"
#include "ember/io_common.h"

namespace ember {

using namespace io_detail;
using json = nlohmann::json;

namespace {

constexpr uint64_t kMaxHeader = 100'000'000;  // the reference implementation's limit
constexpr size_t kMaxNdim = 64;

const std::map<std::string, Dtype>& st_dtypes() {
  static const std::map<std::string, Dtype> m = {
      {"BOOL", bool_},    {"U8", uint8},    {"I8", int8},     {"U16", uint16},   {"I16", int16},
      {"U32", uint32},    {"I32", int32},   {"U64", uint64},  {"I64", int64},    {"F16", float16},
      {"BF16", bfloat16}, {"F32", float32}, {"F64", float64}, {"C64", complex64}};
  return m;
}

std::string st_dtype_name(Dtype t) {
  for (auto& [name, d] : st_dtypes()) {
    if (d == t) return name;
  }
  return "?";
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct TensorEntry {
  std::string name;
  Dtype dtype = float32;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

uint64_t json_uint(const json& v, const std::string& ctx, const std::string& what) {
  if (!v.is_number_unsigned()) {
    throw std::runtime_error(ctx + what + " must be a non-negative integer, got " + v.dump().substr(0, 80));
  }
  return v.get<uint64_t>();
}

TensorEntry parse_entry(const std::string& name, const json& info, const std::string& ctx) {
  std::string tctx = ctx + "tensor '" + name + "': ";
  if (!info.is_object()) throw std::runtime_error(tctx + "entry must be a JSON object");
  for (auto& [k, v] : info.items()) {
    if (k != "dtype" && k != "shape" && k != "data_offsets") {
      throw std::runtime_error(tctx + "unexpected field '" + k + "'");
    }
  }
  for (const char* k : {"dtype", "shape", "data_offsets"}) {
    if (!info.contains(k)) throw std::runtime_error(tctx + "missing field '" + std::string(k) + "'");
  }
  TensorEntry e;
  e.name = name;
  const json& dt = info["dtype"];
  if (!dt.is_string()) throw std::runtime_error(tctx + "'dtype' must be a string");
  auto it = st_dtypes().find(dt.get<std::string>());
  if (it == st_dtypes().end()) {
    throw std::runtime_error(tctx + "unsupported dtype '" + dt.get<std::string>() + "'");
  }
  e.dtype = it->second;
  const json& sh = info["shape"];
  if (!sh.is_array() || sh.size() > kMaxNdim) {
    throw std::runtime_error(tctx + "'shape' must be an array of at most 64 integers");
  }
  uint64_t n = 1;
  for (auto& d : sh) {
    uint64_t v = json_uint(d, tctx, "'shape' entry");
    if (v > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
      throw std::runtime_error(tctx + "dimension " + std::to_string(v) + " exceeds 2^31-1");
    }
    e.shape.push_back(static_cast<int32_t>(v));
    n = checked_mul(n, v, tctx, "element count");
  }
  uint64_t nbytes = checked_mul(n, e.dtype.size(), tctx, "byte size");
  const json& off = info["data_offsets"];
  if (!off.is_array() || off.size() != 2) {
    throw std::runtime_error(tctx + "'data_offsets' must be [begin, end]");
  }
  e.begin = json_uint(off[0], tctx, "'data_offsets' begin");
  e.end = json_uint(off[1], tctx, "'data_offsets' end");
  if (e.end < e.begin || e.end - e.begin != nbytes) {
    throw std::runtime_error(tctx + "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                             "] do not span the " + std::to_string(nbytes) + " bytes of its dtype and shape");
  }
  return e;
}

}  // namespace

SafetensorsLoad load_safetensors(const std::string& path) {
  auto m = MappedFile::open(path, "load_safetensors");
  std::string ctx = where("load_safetensors", path);
  Reader r(m->data(), m->size(), ctx);
  uint64_t n = r.u64("header length");
  if (n > kMaxHeader) {
    throw std::runtime_error(ctx + "header length " + std::to_string(n) + " exceeds the 100 MB limit");
  }
  if (n > r.remaining()) {
    throw std::runtime_error(ctx + "header length " + std::to_string(n) + " exceeds the " +
                             std::to_string(r.remaining()) + " bytes after it");
  }
  const char* h = reinterpret_cast<const char*>(r.take(n, "header"));
  if (n == 0 || h[0] != '{') throw std::runtime_error(ctx + "header must be a JSON object starting with '{'");
  json header;
  try {
    // Duplicate keys would silently keep the last entry; reject them instead.
    std::vector<std::set<std::string>> keys;
    header = json::parse(h, h + n, [&](int, json::parse_event_t ev, json& parsed) {
      if (ev == json::parse_event_t::object_start) {
        keys.emplace_back();
      } else if (ev == json::parse_event_t::object_end) {
        keys.pop_back();
      } else if (ev == json::parse_event_t::key && !keys.back().insert(parsed.get<std::string>()).second) {
        throw std::runtime_error(ctx + "header repeats the key '" + parsed.get<std::string>() + "'");
      }
      return true;
    });
  } catch (const json::exception& e) {
    throw std::runtime_error(ctx + "invalid JSON header: " + e.what());
  }
  if (!header.is_object()) throw std::runtime_error(ctx + "header must be a JSON object");

  const uint8_t* data = m->data() + r.pos();
  uint64_t data_size = r.remaining();
  SafetensorsLoad out;
  std::vector<TensorEntry> entries;
  for (auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      if (!info.is_object()) throw std::runtime_error(ctx + "'__metadata__' must be an object");
      for (auto& [k, v] : info.items()) {
        if (!v.is_string()) throw std::runtime_error(ctx + "'__metadata__' value for '" + k + "' is not a string");
        out.second.emplace(k, v.get<std::string>());
      }
      continue;
    }
    entries.push_back(parse_entry(name, info, ctx));
  }
  // Packed from 0, no gaps or overlaps, ending at the end of the file.
  std::vector<const TensorEntry*> order;
  for (auto& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(),
            [](auto* a, auto* b) { return a->begin != b->begin ? a->begin < b->begin : a->end < b->end; });
  uint64_t expect = 0;
  for (auto* e : order) {
    if (e->begin != expect) {
      throw std::runtime_error(ctx + "tensor '" + e->name + "' starts at " + std::to_string(e->begin) +
                               (e->begin > expect ? " leaving a gap after " : " overlapping data before ") +
                               std::to_string(expect));
    }
    expect = e->end;
  }
  if (expect != data_size) {
    throw std::runtime_error(ctx + "tensors end at " + std::to_string(expect) + " but the data section has " +
                             std::to_string(data_size) + " bytes");
  }
  for (auto& e : entries) {
    out.first.emplace(e.name, borrow_or_copy(data + e.begin, e.shape, e.dtype, m));
  }
  return out;
}

void save_safetensors(const std::string& path_in, const std::unordered_map<std::string, array>& arrays,
                      const std::unordered_map<std::string, std::string>& metadata) {
  std::string path = ends_with(path_in, ".safetensors") ? path_in : path_in + ".safetensors";
  std::string ctx = where("save_safetensors", path);
  // Largest dtypes first, then by name (as the reference does), so every tensor stays aligned.
  std::vector<std::pair<std::string, array>> items;
  for (auto& [k, a] : arrays) {
    if (k == "__metadata__") throw std::invalid_argument(ctx + "'__metadata__' cannot be an array name");
    items.emplace_back(k, to_row_contiguous(a));
  }
  std::sort(items.begin(), items.end(), [](auto& a, auto& b) {
    return a.second.itemsize() != b.second.itemsize() ? a.second.itemsize() > b.second.itemsize() : a.first < b.first;
  });
  json header = json::object();
  if (!metadata.empty()) {
    json md = json::object();
    for (auto& [k, v] : metadata) md[k] = v;
    header["__metadata__"] = md;
  }
  uint64_t offset = 0;
  for (auto& [k, a] : items) {
    json shape = json::array();
    for (auto d : a.shape()) shape.push_back(d);
    header[k] = {
        {"dtype", st_dtype_name(a.dtype())}, {"shape", shape}, {"data_offsets", {offset, offset + a.nbytes()}}};
    offset += a.nbytes();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {
    throw std::invalid_argument(ctx + "cannot encode the header (names and metadata must be UTF-8): " + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  FileWriter w(path, "save_safetensors");
  w.le<uint64_t>(text.size());
  w.write(text);
  for (auto& [k, a] : items) {
    if (a.nbytes()) w.write(a.raw_ptr(), a.nbytes());
  }
  w.close();
}

}  // namespace ember
