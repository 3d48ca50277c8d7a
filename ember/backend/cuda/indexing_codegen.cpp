#include "ember/backend/cuda/indexing_codegen.h"

#include <algorithm>
#include <cstdlib>

#include "ember/backend/common/utils.h"
#include "ember/backend/cuda/jit.h"

namespace ember::gpu::idx {

namespace {

// ------------------------------------------------------------------ device library
// Every kernel is a grid-stride loop in 64-bit index math (indexing is memory-bound and
// the index arithmetic is a small part of it; one index width keeps the variant count down).
const char* kKernels = R"ember_src(
namespace ember {

constexpr int kMaxIndices = 4;

struct GatherArgs {
  int64_t nidx;
  const void* idx[kMaxIndices];
  int64_t axis[kMaxIndices];
  int64_t axis_size[kMaxIndices];
  int64_t axis_stride[kMaxIndices];
  int64_t extent[kMaxIndices];
  StridedArgs<kMaxIndices> index;
  StridedArgs<1> slice;
  int64_t slice_elems;
  StridedArgs<1> updates;
};

// The first error wins the flag and records the raw index and which index array held it.
__device__ inline void report_index_error(unsigned long long* err, int64_t raw, int j) {
  if (atomicCAS(err, 0ull, 1ull) == 0ull) {
    err[1] = static_cast<unsigned long long>(raw);
    err[2] = static_cast<unsigned long long>(j);
  }
}

// Element offset of the slice start for position p of I (indices normalized as on the CPU:
// negative counts from the end, and the slice must fit). False after reporting an error.
template <class I>
__device__ inline bool slice_start(const GatherArgs& g, int64_t p, unsigned long long* err, int64_t* off) {
  int64_t loc[kMaxIndices];
  elem_to_locs<int64_t>(p, g.index, loc);
  int64_t o = 0;
  for (int j = 0; j < g.nidx; ++j) {
    int64_t raw = static_cast<int64_t>(static_cast<const I*>(g.idx[j])[loc[j]]);
    int64_t v = raw < 0 ? raw + g.axis_size[j] : raw;
    if (v < 0 || v + g.extent[j] > g.axis_size[j]) {
      report_index_error(err, raw, j);
      return false;
    }
    o += v * g.axis_stride[j];
  }
  *off = o;
  return true;
}

// src, dst: any strided views of one shape (dst's pointer carries the destination offset).
template <class T>
__device__ void copy_strided(const T* src, T* dst, int64_t n, const StridedArgs<2>& a) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t loc[2];
    elem_to_locs<int64_t>(i, a, loc);
    dst[loc[1]] = src[loc[0]];
  }
}

// value: one element; out: (n,).
template <class T>
__device__ void fill(const T* value, T* out, int64_t n) {
  const T v = *value;
  for (int64_t i = global_thread(); i < n; i += grid_threads()) out[i] = v;
}

// out: (P, S) row-major = a[slice_start(p) + slice offset of s].
template <class T, class I>
__device__ void gather(const T* a, T* out, int64_t n, const GatherArgs& g, unsigned long long* err) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t p = i / g.slice_elems, s = i - p * g.slice_elems, off;
    if (!slice_start<I>(g, p, err, &off)) continue;
    int64_t sl[1];
    elem_to_locs<int64_t>(s, g.slice, sl);
    out[i] = a[off + sl[0]];
  }
}

// out: the indices' shape; a: equal shape but along the axis (its stride there is 0 in
// layout.strides[1], the indexed row's offset is added).
template <class T, class I>
__device__ void gather_axis(const T* a, const I* idx, T* out, int64_t n, int64_t na, int64_t a_axis_stride,
                            const StridedArgs<2>& layout, unsigned long long* err) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t loc[2];
    elem_to_locs<int64_t>(i, layout, loc);
    int64_t raw = static_cast<int64_t>(idx[loc[0]]);
    int64_t j = raw < 0 ? raw + na : raw;
    if (j < 0 || j >= na) {
      report_index_error(err, raw, 0);
      continue;
    }
    out[i] = a[loc[1] + j * a_axis_stride];
  }
}

// ---------------------------------------------------------------- scatter combines
// Reinterpreting a 4- or 8-byte value as the unsigned word atomicCAS takes.
template <class T> using word_t = conditional_t<sizeof(T) == 4, unsigned int, unsigned long long>;
template <class D, class S>
__device__ inline D bits_as(S v) {
  union { S s; D d; } u;
  u.s = v;
  return u.d;
}
// *p = f(*p) atomically: a compare-and-swap loop on the bits.
template <class T, class F>
__device__ inline void atomic_update(T* p, T v, F f) {
  using W = word_t<T>;
  W* wp = reinterpret_cast<W*>(p);
  W old = *wp, assumed;
  do {
    assumed = old;
    old = atomicCAS(wp, assumed, bits_as<W>(f(bits_as<T>(assumed), v)));
  } while (old != assumed);
}

template <class T>
__device__ inline T wrap_add(T a, T b) {
  if constexpr (is_integral_v<T>) return static_cast<T>(static_cast<wrap_t<T>>(a) + static_cast<wrap_t<T>>(b));
  else return a + b;
}
template <class T>
__device__ inline T wrap_mul(T a, T b) {
  if constexpr (is_integral_v<T>) return static_cast<T>(static_cast<wrap_t<T>>(a) * static_cast<wrap_t<T>>(b));
  else return a * b;
}

// The CPU's combine (backend/cpu/indexing.cpp): nan in place stays, a nan update replaces.
struct MaxOf {
  template <class T>
  __device__ T operator()(T cur, T upd) const {
    if constexpr (is_float_v<T>) {
      if (cur != cur) return cur;
      if (upd != upd) return upd;
    }
    return upd > cur ? upd : cur;
  }
};
struct MinOf {
  template <class T>
  __device__ T operator()(T cur, T upd) const {
    if constexpr (is_float_v<T>) {
      if (cur != cur) return cur;
      if (upd != upd) return upd;
    }
    return upd < cur ? upd : cur;
  }
};
struct ProdOf {
  template <class T>
  __device__ T operator()(T cur, T upd) const { return wrap_mul(cur, upd); }
};
struct SumOf {
  template <class T>
  __device__ T operator()(T cur, T upd) const { return wrap_add(cur, upd); }
};

// Sum takes the native atomicAdd where there is one (64-bit signed through the unsigned
// one: two's complement addition is the same), the others a CAS loop.
template <class Op, class T>
__device__ inline void atomic_combine(T* p, T v) {
  if constexpr (is_same_v<Op, SumOf> && (is_same_v<T, float> || is_same_v<T, double> || is_same_v<T, int32_t> ||
                                          is_same_v<T, uint32_t> || is_same_v<T, uint64_t>)) {
    atomicAdd(p, v);
  } else if constexpr (is_same_v<Op, SumOf> && is_same_v<T, int64_t>) {
    atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
  } else {
    atomic_update(p, v, Op{});
  }
}

// upd: I + slice, any layout; out: row-major. Order of combination is unspecified, so
// float Sum/Prod may round differently from the CPU's in-order loop.
template <class T, class I, class Op>
__device__ void scatter(const T* upd, T* out, int64_t n, const GatherArgs& g, unsigned long long* err) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t p = i / g.slice_elems, s = i - p * g.slice_elems, off;
    if (!slice_start<I>(g, p, err, &off)) continue;
    int64_t sl[1], ul[1];
    elem_to_locs<int64_t>(s, g.slice, sl);
    elem_to_locs<int64_t>(i, g.updates, ul);
    atomic_combine<Op>(out + off + sl[0], upd[ul[0]]);
  }
}

// Scatter without a reduction: the CPU applies updates in order of p, so the last position
// writing an element wins. Pass 1 claims each element for its largest p; pass 2 writes
// only the claimed updates. winner: out.size() int64s, -1 before pass 1.
template <class I>
__device__ void scatter_claim(long long* winner, int64_t n, const GatherArgs& g, unsigned long long* err) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t p = i / g.slice_elems, s = i - p * g.slice_elems, off;
    if (!slice_start<I>(g, p, err, &off)) continue;
    int64_t sl[1];
    elem_to_locs<int64_t>(s, g.slice, sl);
    atomicMax(winner + off + sl[0], static_cast<long long>(p));
  }
}
template <class T, class I>
__device__ void scatter_write(const T* upd, T* out, const long long* winner, int64_t n, const GatherArgs& g,
                              unsigned long long* err) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t p = i / g.slice_elems, s = i - p * g.slice_elems, off;
    if (!slice_start<I>(g, p, err, &off)) continue;
    int64_t sl[1], ul[1];
    elem_to_locs<int64_t>(s, g.slice, sl);
    int64_t d = off + sl[0];
    if (winner[d] != p) continue;
    elem_to_locs<int64_t>(i, g.updates, ul);
    out[d] = upd[ul[0]];
  }
}

// x + y as the CPU's ScatterAddAxis computes it: in compute_t (float for the half types),
// integers wrapping, bool as or.
template <class T>
__device__ inline T add_as_cpu(T x, T y) {
  if constexpr (is_same_v<T, bool>) {
    return x || y;
  } else if constexpr (is_integral_v<T>) {
    return wrap_add(x, y);
  } else {
    return cast_to<T>(cast_to<compute_t<T>>(x) + cast_to<compute_t<T>>(y));
  }
}

// out: (O, Na, I) row-major; idx, upd: (O, Nu, I), any layout. One thread owns a column
// (o, k) and adds its Nu updates in order, as the CPU does: deterministic and exact.
template <class T, class I>
__device__ void scatter_add_axis(const I* idx, const T* upd, T* out, int64_t cols, int64_t nu, int64_t na,
                                 int64_t idx_axis_stride, int64_t upd_axis_stride, int64_t out_axis_stride,
                                 const StridedArgs<3>& layout, unsigned long long* err) {
  for (int64_t c = global_thread(); c < cols; c += grid_threads()) {
    int64_t loc[3];
    elem_to_locs<int64_t>(c, layout, loc);
    for (int64_t j = 0; j < nu; ++j) {
      int64_t raw = static_cast<int64_t>(idx[loc[0] + j * idx_axis_stride]);
      int64_t d = raw < 0 ? raw + na : raw;
      if (d < 0 || d >= na) {
        report_index_error(err, raw, 0);
        break;
      }
      T* y = out + loc[2] + d * out_axis_stride;
      *y = add_as_cpu(*y, upd[loc[1] + j * upd_axis_stride]);
    }
  }
}

// The same with one thread per (update, column) pair and atomic adds: for few columns,
// where the column loop would leave the GPU idle. Integers stay exact; float sums lose the
// CPU's order (and so its exact rounding).
template <class T, class I>
__device__ void scatter_add_axis_atomic(const I* idx, const T* upd, T* out, int64_t cols, int64_t nu, int64_t na,
                                        int64_t idx_axis_stride, int64_t upd_axis_stride, int64_t out_axis_stride,
                                        const StridedArgs<3>& layout, unsigned long long* err) {
  for (int64_t t = global_thread(); t < cols * nu; t += grid_threads()) {
    int64_t j = t / cols, c = t - j * cols;  // neighbouring threads take neighbouring columns
    int64_t loc[3];
    elem_to_locs<int64_t>(c, layout, loc);
    int64_t raw = static_cast<int64_t>(idx[loc[0] + j * idx_axis_stride]);
    int64_t d = raw < 0 ? raw + na : raw;
    if (d < 0 || d >= na) {
      report_index_error(err, raw, 0);
      continue;
    }
    atomic_combine<SumOf>(out + loc[2] + d * out_axis_stride, upd[loc[1] + j * upd_axis_stride]);
  }
}

}  // namespace ember
)ember_src";

using jit::type_name;

const char* reduce_suffix(ScatterReduce r) {
  switch (r) {
    case ScatterReduce::None:
      return "none";
    case ScatterReduce::Sum:
      return "sum";
    case ScatterReduce::Prod:
      return "prod";
    case ScatterReduce::Max:
      return "max";
    case ScatterReduce::Min:
      return "min";
  }
  return "none";
}

const char* reduce_functor(ScatterReduce r) {
  switch (r) {
    case ScatterReduce::Sum:
      return "ember::SumOf";
    case ScatterReduce::Prod:
      return "ember::ProdOf";
    case ScatterReduce::Max:
      return "ember::MaxOf";
    case ScatterReduce::Min:
      return "ember::MinOf";
    default:
      return "ember::SumOf";
  }
}

// The extern "C" kernels of one variant: thin wrappers around the device templates.
std::string wrappers(const Variant& v) {
  const std::string T = type_name(v.data), I = type_name(v.index);
  const auto names = kernel_names(v);
  auto head = [](const std::string& k) { return "extern \"C\" __global__ void " + k + "("; };
  const std::string err = "unsigned long long* err";
  switch (v.family) {
    case Family::Copy:
      return head(names[0]) + "const " + T + "* src, " + T + "* dst, int64_t n, ember::StridedArgs<2> a) {\n" +
             "  ember::copy_strided<" + T + ">(src, dst, n, a);\n}\n";
    case Family::Fill:
      return head(names[0]) + "const " + T + "* value, " + T + "* out, int64_t n) {\n  ember::fill<" + T +
             ">(value, out, n);\n}\n";
    case Family::Gather:
      return head(names[0]) + "const " + T + "* a, " + T + "* out, int64_t n, ember::GatherArgs g, " + err +
             ") {\n  ember::gather<" + T + ", " + I + ">(a, out, n, g, err);\n}\n";
    case Family::GatherAxis:
      return head(names[0]) + "const " + T + "* a, const " + I + "* idx, " + T +
             "* out, int64_t n, int64_t na, int64_t a_axis_stride, ember::StridedArgs<2> layout, " + err +
             ") {\n  ember::gather_axis<" + T + ", " + I + ">(a, idx, out, n, na, a_axis_stride, layout, err);\n}\n";
    case Family::Scatter:
      return head(names[0]) + "const " + T + "* upd, " + T + "* out, int64_t n, ember::GatherArgs g, " + err +
             ") {\n  ember::scatter<" + T + ", " + I + ", " + reduce_functor(v.reduce) + ">(upd, out, n, g, err);\n}\n";
    case Family::ScatterNone:
      return head(names[0]) + "long long* winner, int64_t n, ember::GatherArgs g, " + err +
             ") {\n  ember::scatter_claim<" + I + ">(winner, n, g, err);\n}\n" + head(names[1]) + "const " + T +
             "* upd, " + T + "* out, const long long* winner, int64_t n, ember::GatherArgs g, " + err +
             ") {\n  ember::scatter_write<" + T + ", " + I + ">(upd, out, winner, n, g, err);\n}\n";
    case Family::ScatterAddAxis:
      return head(names[0]) + "const " + I + "* idx, const " + T + "* upd, " + T +
             "* out, int64_t cols, int64_t nu, int64_t na, int64_t idx_axis_stride, int64_t upd_axis_stride, "
             "int64_t out_axis_stride, ember::StridedArgs<3> layout, " +
             err + ") {\n  ember::scatter_add_axis<" + T + ", " + I +
             ">(idx, upd, out, cols, nu, na, idx_axis_stride, upd_axis_stride, out_axis_stride, layout, err);\n}\n" +
             (names.size() > 1
                  ? head(names[1]) + "const " + I + "* idx, const " + T + "* upd, " + T +
                        "* out, int64_t cols, int64_t nu, int64_t na, int64_t idx_axis_stride, "
                        "int64_t upd_axis_stride, int64_t out_axis_stride, ember::StridedArgs<3> layout, " +
                        err + ") {\n  ember::scatter_add_axis_atomic<" + T + ", " + I +
                        ">(idx, upd, out, cols, nu, na, idx_axis_stride, upd_axis_stride, out_axis_stride, layout, "
                        "err);\n}\n"
                  : std::string());
  }
  return "";
}

const Dtype kBits[] = {uint8, uint16, uint32, uint64};
const Dtype kIndexDtypes[] = {int8, int16, int32, int64, uint8, uint16, uint32, uint64};

// Collapses `shape` over `strides` (plus row-major, so a row-major linear index still maps
// to the right coordinates) into a StridedArgs; nullopt past kMaxDims axes.
template <int NARR>
std::optional<StridedArgs<NARR>> layout_of(const Shape& shape, std::vector<Strides> strides) {
  StridedArgs<NARR> a{};
  if (shape.empty()) return a;
  while (strides.size() < static_cast<size_t>(NARR)) strides.push_back(Strides(shape.size(), 0));
  strides.push_back(row_major_strides(shape));
  auto [s, st] = collapse_contiguous_dims(shape, strides);
  if (s.size() > static_cast<size_t>(kMaxDims)) return std::nullopt;
  a.ndim = static_cast<int32_t>(s.size());
  for (size_t d = 0; d < s.size(); ++d) {
    a.shape[d] = s[d];
    for (int k = 0; k < NARR; ++k) a.strides[k][d] = st[k][d];
  }
  return a;
}

// Index arrays' layout over I and the per-index-array fields of a GatherArgs.
bool fill_indices(GatherArgs& g, const std::vector<array>& indices, const std::vector<int>& axes, const Shape& shape,
                  const Strides& strides, const Shape& slice) {
  if (indices.size() > static_cast<size_t>(kMaxIndices)) return false;
  g.nidx = static_cast<int64_t>(indices.size());
  Shape ishape = indices.empty() ? Shape{} : indices[0].shape();
  std::vector<Strides> ist;
  for (const auto& x : indices) ist.push_back(x.strides());
  auto il = layout_of<kMaxIndices>(ishape, ist);
  if (!il) return false;
  g.index = *il;
  for (size_t j = 0; j < indices.size(); ++j) {
    g.axis[j] = axes[j];
    g.axis_size[j] = shape[axes[j]];
    g.axis_stride[j] = strides[axes[j]];
    g.extent[j] = slice[axes[j]];
  }
  return true;
}

}  // namespace

Dtype bits_dtype(Dtype t) {
  switch (t.size()) {
    case 1:
      return uint8;
    case 2:
      return uint16;
    case 4:
      return uint32;
    default:
      return uint64;
  }
}

bool is_index_dtype(Dtype t) { return is_integral(t) && t != bool_; }

bool scatter_supported(ScatterReduce r, Dtype t) {
  if (r == ScatterReduce::None) return true;
  return t == int32 || t == uint32 || t == int64 || t == uint64 || t == float32 || t == float64;
}

std::vector<std::string> kernel_names(const Variant& v) {
  const std::string T = dtype_name(v.data), I = dtype_name(v.index);
  switch (v.family) {
    case Family::Copy:
      return {"copy_strided_" + T};
    case Family::Fill:
      return {"fill_" + T};
    case Family::Gather:
      return {"gather_" + T + "_" + I};
    case Family::GatherAxis:
      return {"gather_axis_" + T + "_" + I};
    case Family::Scatter:
      return {std::string("scatter_") + reduce_suffix(v.reduce) + "_" + T + "_" + I};
    case Family::ScatterNone:
      return {"scatter_claim_" + T + "_" + I, "scatter_write_" + T + "_" + I};
    case Family::ScatterAddAxis:
      if (scatter_supported(ScatterReduce::Sum, v.data)) {
        return {"scatter_add_axis_" + T + "_" + I, "scatter_add_axis_atomic_" + T + "_" + I};
      }
      return {"scatter_add_axis_" + T + "_" + I};
  }
  return {};
}

std::string program_source(const std::vector<Variant>& variants, Target target) {
  std::string s = target == Target::Device ? jit::prelude() : jit::emulator_prelude();
  s += kKernels;
  for (const auto& v : variants) s += wrappers(v);
  if (target == Target::Emulator) {
    for (const auto& v : variants) {
      for (const auto& k : kernel_names(v)) {
        s += "EMBER_EMU_ENTRY(" + k + ")\n";
      }
    }
  }
  return s;
}

std::vector<Variant> all_variants() {
  std::vector<Variant> out;
  for (Dtype b : kBits) out.push_back({Family::Copy, b});
  for (Dtype b : kBits) out.push_back({Family::Fill, b});
  for (Dtype b : kBits) {
    for (Dtype i : kIndexDtypes) {
      out.push_back({Family::Gather, b, i});
      out.push_back({Family::GatherAxis, b, i});
      out.push_back({Family::ScatterNone, b, i});
    }
  }
  for (ScatterReduce r : {ScatterReduce::Sum, ScatterReduce::Prod, ScatterReduce::Max, ScatterReduce::Min}) {
    for (Dtype t : kAllDtypes) {
      if (!scatter_supported(r, t)) continue;
      for (Dtype i : kIndexDtypes) out.push_back({Family::Scatter, t, i, r});
    }
  }
  for (Dtype t : kAllDtypes) {
    for (Dtype i : kIndexDtypes) out.push_back({Family::ScatterAddAxis, t, i});
  }
  return out;
}

std::string compile_program(const std::vector<Variant>& variants, const std::string& name, const std::string& arch) {
  return jit::compile(program_source(variants), name, arch);
}

// ------------------------------------------------------------------ launch plans

std::optional<StridedArgs<2>> copy_plan(const Shape& shape, const Strides& src_strides, const Strides& dst_strides) {
  return layout_of<2>(shape, {src_strides, dst_strides});
}

std::optional<GatherArgs> gather_plan(const array& a, const std::vector<array>& indices, const std::vector<int>& axes,
                                      const Shape& slice_sizes) {
  GatherArgs g{};
  if (!fill_indices(g, indices, axes, a.shape(), a.strides(), slice_sizes)) return std::nullopt;
  auto sl = layout_of<1>(slice_sizes, {a.strides()});
  if (!sl) return std::nullopt;
  g.slice = *sl;
  g.slice_elems = 1;
  for (auto d : slice_sizes) g.slice_elems *= d;
  return g;
}

std::optional<GatherArgs> scatter_plan(const Shape& out_shape, const std::vector<array>& indices, const array& updates,
                                       const std::vector<int>& axes) {
  GatherArgs g{};
  const Strides out_strides = row_major_strides(out_shape);
  const size_t r = updates.ndim() - out_shape.size();
  Shape slice(updates.shape().begin() + r, updates.shape().end());
  if (!fill_indices(g, indices, axes, out_shape, out_strides, slice)) return std::nullopt;
  auto sl = layout_of<1>(slice, {out_strides});
  auto ul = layout_of<1>(updates.shape(), {updates.strides()});
  if (!sl || !ul) return std::nullopt;
  g.slice = *sl;
  g.updates = *ul;
  g.slice_elems = 1;
  for (auto d : slice) g.slice_elems *= d;
  return g;
}

std::optional<GatherAxisPlan> gather_axis_plan(const array& a, const array& indices, int axis) {
  GatherAxisPlan p{};
  p.n = static_cast<int64_t>(indices.size());
  p.na = a.shape(axis);
  p.a_axis_stride = a.strides()[axis];
  Strides as = a.strides();
  as[axis] = 0;  // the row comes from the index, added in the kernel
  auto l = layout_of<2>(indices.shape(), {indices.strides(), as});
  if (!l) return std::nullopt;
  p.layout = *l;
  return p;
}

std::optional<ScatterAxisPlan> scatter_add_axis_plan(const Shape& out_shape, const array& indices, const array& updates,
                                                     int axis) {
  ScatterAxisPlan p{};
  const Strides os = row_major_strides(out_shape);
  p.nu = updates.shape(axis);
  p.na = out_shape[axis];
  p.idx_axis_stride = indices.strides()[axis];
  p.upd_axis_stride = updates.strides()[axis];
  p.out_axis_stride = os[axis];
  // Columns: every axis but `axis`.
  Shape cs;
  Strides is, us, ost;
  for (size_t d = 0; d < out_shape.size(); ++d) {
    if (static_cast<int>(d) == axis) continue;
    cs.push_back(updates.shape(d));
    is.push_back(indices.strides()[d]);
    us.push_back(updates.strides()[d]);
    ost.push_back(os[d]);
  }
  p.cols = 1;
  for (auto d : cs) p.cols *= d;
  auto l = layout_of<3>(cs, {is, us, ost});
  if (!l) return std::nullopt;
  p.layout = *l;
  // Fewer columns than about two waves of threads on a small GPU, each with a long
  // sequential loop: the column kernel would run mostly idle (a 1-D scatter is one thread).
  constexpr int64_t kFewColumns = 4096, kLongLoop = 8;
  p.use_atomic = scatter_supported(ScatterReduce::Sum, updates.dtype()) && p.cols < kFewColumns && p.nu >= kLongLoop;
  return p;
}

// Built with += (GCC 12 warns falsely, -Wrestrict, on "[" + std::string(op) + ...).
std::string gather_error_message(const char* op, const GatherArgs& g, const uint64_t err[kErrorWords]) {
  const size_t j = std::min<size_t>(err[2], kMaxIndices - 1);
  std::string s = axis_error_message(op, static_cast<int>(g.axis[j]), g.axis_size[j], err);
  if (g.extent[j] > 1) s += " and a slice of " + std::to_string(g.extent[j]);
  return s;
}

std::string axis_error_message(const char* op, int axis, int64_t size, const uint64_t err[kErrorWords]) {
  std::string s = "[";
  s += op;
  s += "] index ";
  s += std::to_string(static_cast<int64_t>(err[1]));
  s += " is out of bounds for axis ";
  s += std::to_string(axis);
  s += " with size ";
  s += std::to_string(size);
  return s;
}

}  // namespace ember::gpu::idx
