// ember.core shape and indexing ops: reshape, transpose, concatenate, split,
// pad, repeat, take, put_along_axis, ... with mlx.core's names and arguments.
#include "common.h"

namespace ember::py {

namespace {
std::vector<array> to_array_list(nb::handle seq) {
  std::vector<array> v;
  for (nb::handle h : seq) v.push_back(to_array(h));
  return v;
}
}  // namespace

void init_ops_shape(nb::module_& m) {
  m.def(
      "reshape", [](const ArrayLike& a, Shape shape, StreamOrDevice s) { return reshape(a, std::move(shape), s); },
      "a"_a, "shape"_a, nb::kw_only(), "stream"_a = nb::none(), "a with a new shape (one entry may be -1).");
  m.def(
      "flatten",
      [](const ArrayLike& a, int start_axis, int end_axis, StreamOrDevice s) {
        return flatten(a, start_axis, end_axis, s);
      },
      "a"_a, "start_axis"_a = 0, "end_axis"_a = -1, nb::kw_only(), "stream"_a = nb::none(),
      "Axes start_axis..end_axis merged into one.");
  m.def(
      "unflatten",
      [](const ArrayLike& a, int axis, Shape shape, StreamOrDevice s) { return unflatten(a, axis, shape, s); }, "a"_a,
      "axis"_a, "shape"_a, nb::kw_only(), "stream"_a = nb::none(), "axis split into shape.");
  m.def(
      "squeeze",
      [](const ArrayLike& a, std::optional<IntOrVec> axis, StreamOrDevice s) {
        return axis ? squeeze(a, reduce_axes(axis, 0), s) : squeeze(a, s);
      },
      "a"_a, "axis"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none(), "Size-1 axes removed.");
  m.def(
      "expand_dims",
      [](const ArrayLike& a, IntOrVec axis, StreamOrDevice s) { return expand_dims(a, reduce_axes(axis, 0), s); },
      "a"_a, "axis"_a, nb::kw_only(), "stream"_a = nb::none(), "Size-1 axes inserted at axis.");
  m.def(
      "transpose",
      [](const ArrayLike& a, std::optional<std::vector<int>> axes, StreamOrDevice s) {
        return axes ? transpose(a, *axes, s) : transpose(a, s);
      },
      "a"_a, "axes"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none(), "Axes permuted (reversed by default).");
  m.def(
      "permute_dims",
      [](const ArrayLike& a, std::optional<std::vector<int>> axes, StreamOrDevice s) {
        return axes ? transpose(a, *axes, s) : transpose(a, s);
      },
      "a"_a, "axes"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none(), "Alias of transpose.");
  m.def(
      "swapaxes", [](const ArrayLike& a, int a1, int a2, StreamOrDevice s) { return swapaxes(a, a1, a2, s); }, "a"_a,
      "axis1"_a, "axis2"_a, nb::kw_only(), "stream"_a = nb::none(), "Two axes swapped.");
  m.def(
      "moveaxis", [](const ArrayLike& a, int src, int dst, StreamOrDevice s) { return moveaxis(a, src, dst, s); },
      "a"_a, "source"_a, "destination"_a, nb::kw_only(), "stream"_a = nb::none(), "An axis moved.");
  m.def(
      "broadcast_to", [](nb::handle a, Shape shape, StreamOrDevice s) { return broadcast_to(to_array(a), shape, s); },
      "a"_a, "shape"_a, nb::kw_only(), "stream"_a = nb::none(), "a broadcast to shape.");
  m.def(
      "broadcast_arrays",
      [](nb::args arrays, StreamOrDevice s) { return nb::tuple(nb::cast(broadcast_arrays(to_array_list(arrays), s))); },
      "arrays"_a, nb::kw_only(), "stream"_a = nb::none(), "The arrays broadcast against each other.");
  m.def(
      "concatenate",
      [](nb::handle arrays, std::optional<int> axis, StreamOrDevice s) {
        auto v = to_array_list(arrays);
        return axis ? concatenate(v, *axis, s) : concatenate(v, s);
      },
      "arrays"_a, "axis"_a = 0, nb::kw_only(), "stream"_a = nb::none(),
      "The arrays joined along axis (flattened first when None).");
  m.def(
      "concat",
      [](nb::handle arrays, std::optional<int> axis, StreamOrDevice s) {
        auto v = to_array_list(arrays);
        return axis ? concatenate(v, *axis, s) : concatenate(v, s);
      },
      "arrays"_a, "axis"_a = 0, nb::kw_only(), "stream"_a = nb::none(), "Alias of concatenate.");
  m.def(
      "stack", [](nb::handle arrays, int axis, StreamOrDevice s) { return stack(to_array_list(arrays), axis, s); },
      "arrays"_a, "axis"_a = 0, nb::kw_only(), "stream"_a = nb::none(), "The arrays stacked along a new axis.");
  m.def(
      "split",
      [](const ArrayLike& a, std::variant<int, Shape> ind, int axis, StreamOrDevice s) {
        if (auto* n = std::get_if<int>(&ind)) return split(a, *n, axis, s);
        return split(a, std::get<Shape>(ind), axis, s);
      },
      "a"_a, "indices_or_sections"_a, "axis"_a = 0, nb::kw_only(), "stream"_a = nb::none(),
      "a split into equal sections, or at the given indices, along axis.");
  m.def(
      "as_strided",
      [](const ArrayLike& a, std::optional<Shape> shape, std::optional<Strides> strides, size_t offset,
         StreamOrDevice s) {
        const array& x = a;
        Shape sh = shape.value_or(x.shape());
        Strides st = strides ? *strides : row_major_strides(sh);
        return as_strided(x, sh, st, offset, s);
      },
      "a"_a, "shape"_a = nb::none(), "strides"_a = nb::none(), "offset"_a = 0, nb::kw_only(), "stream"_a = nb::none(),
      "A view with the given shape, strides (in elements) and offset.");
  m.def(
      "pad",
      [](const ArrayLike& a, nb::handle pad_width, std::string mode, nb::handle constant_values, StreamOrDevice s) {
        const array& x = a;
        array value = to_array_weak(constant_values, x.dtype());
        if (PyLong_Check(pad_width.ptr())) return pad(x, nb::cast<int>(pad_width), value, mode, s);
        auto seq = nb::cast<nb::sequence>(pad_width);
        if (nb::len(seq) > 0 && PyLong_Check(nb::handle(seq[0]).ptr())) {
          auto p = nb::cast<std::vector<int>>(seq);
          if (p.size() == 1) return pad(x, p[0], value, mode, s);
          if (p.size() != 2) throw std::invalid_argument("[pad] pad_width must be an int, a pair or one pair per axis");
          return pad(x, std::pair<int, int>{p[0], p[1]}, value, mode, s);
        }
        std::vector<std::pair<int, int>> widths;
        for (nb::handle h : seq) {
          auto p = nb::cast<std::vector<int>>(h);
          if (p.size() == 1) p.push_back(p[0]);
          if (p.size() != 2) throw std::invalid_argument("[pad] each pad width must be (before, after)");
          widths.push_back({p[0], p[1]});
        }
        return pad(x, widths, value, mode, s);
      },
      "a"_a, "pad_width"_a, "mode"_a = "constant", "constant_values"_a = 0, nb::kw_only(), "stream"_a = nb::none(),
      "a padded with constant_values ('constant') or its edge values ('edge').");
  m.def(
      "repeat",
      [](const ArrayLike& a, int repeats, std::optional<int> axis, StreamOrDevice s) {
        return axis ? repeat(a, repeats, *axis, s) : repeat(a, repeats, s);
      },
      "array"_a, "repeats"_a, "axis"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none(),
      "Each element repeated along axis (flattened when None).");
  m.def(
      "tile",
      [](const ArrayLike& a, std::variant<int, std::vector<int>> reps, StreamOrDevice s) {
        if (auto* n = std::get_if<int>(&reps)) return tile(a, {*n}, s);
        return tile(a, std::get<std::vector<int>>(reps), s);
      },
      "a"_a, "reps"_a, nb::kw_only(), "stream"_a = nb::none(), "a repeated reps times per axis.");
  m.def(
      "roll",
      [](const ArrayLike& a, std::variant<int, Shape> shift, std::optional<IntOrVec> axis, StreamOrDevice s) {
        if (!axis) {
          if (auto* n = std::get_if<int>(&shift)) return roll(a, *n, s);
          throw std::invalid_argument("[roll] a sequence of shifts needs axes");
        }
        auto ax = reduce_axes(axis, 0);
        Shape sh;
        if (auto* n = std::get_if<int>(&shift)) {
          sh.assign(ax.size(), *n);
        } else {
          sh = std::get<Shape>(shift);
        }
        return roll(a, sh, ax, s);
      },
      "a"_a, "shift"_a, "axis"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none(),
      "Elements shifted along axis, wrapping around (flattened when None).");
  m.def(
      "atleast_1d", [](const ArrayLike& a, StreamOrDevice s) { return atleast_1d(a, s); }, "a"_a, nb::kw_only(),
      "stream"_a = nb::none(), "a with at least 1 axis.");
  m.def(
      "atleast_2d", [](const ArrayLike& a, StreamOrDevice s) { return atleast_2d(a, s); }, "a"_a, nb::kw_only(),
      "stream"_a = nb::none(), "a with at least 2 axes.");
  m.def(
      "atleast_3d", [](const ArrayLike& a, StreamOrDevice s) { return atleast_3d(a, s); }, "a"_a, nb::kw_only(),
      "stream"_a = nb::none(), "a with at least 3 axes.");

  // ------------------------------------------------------------ indexing ops
  m.def(
      "take",
      [](const ArrayLike& a, nb::handle indices, std::optional<int> axis, StreamOrDevice s) {
        if (PyLong_Check(indices.ptr())) {
          int i = nb::cast<int>(indices);
          return axis ? take(a, i, *axis, s) : take(a, i, s);
        }
        array idx = to_array(indices);
        return axis ? take(a, idx, *axis, s) : take(a, idx, s);
      },
      "a"_a, "indices"_a, "axis"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none(),
      "Elements at indices along axis (of the flattened array when None).");
  m.def(
      "take_along_axis",
      [](const ArrayLike& a, const ArrayLike& indices, std::optional<int> axis, StreamOrDevice s) {
        if (axis) return take_along_axis(a, indices, *axis, s);
        return take_along_axis(reshape(a, {-1}, s), reshape(indices, {-1}, s), 0, s);
      },
      "a"_a, "indices"_a, "axis"_a.none(), nb::kw_only(), "stream"_a = nb::none(),
      "out[..., i, ...] = a[..., indices[..., i, ...], ...] along axis.");
  m.def(
      "put_along_axis",
      [](const ArrayLike& a, const ArrayLike& indices, nb::handle values, std::optional<int> axis, StreamOrDevice s) {
        const array& x = a;
        array v = to_array_weak(values, x.dtype());
        if (axis) return put_along_axis(x, indices, v, *axis, s);
        array flat = put_along_axis(reshape(x, {-1}, s), reshape(indices, {-1}, s), reshape(v, {-1}, s), 0, s);
        return reshape(flat, x.shape(), s);
      },
      "a"_a, "indices"_a, "values"_a, "axis"_a.none(), nb::kw_only(), "stream"_a = nb::none(),
      "a with values written at indices along axis.");
  m.def(
      "slice_update",
      [](const ArrayLike& a, const ArrayLike& update, const ArrayLike& start_indices, std::vector<int> axes,
         StreamOrDevice s) { return slice_update(a.get(), update.get(), start_indices.get(), axes, s); },
      "a"_a, "update"_a, "start_indices"_a, "axes"_a, nb::kw_only(), "stream"_a = nb::none(),
      "a with update written at start_indices (an array, one entry per axis of axes).");
  m.def(
      "slice",
      [](const ArrayLike& a, const ArrayLike& start_indices, std::vector<int> axes, Shape slice_size,
         StreamOrDevice s) { return slice(a.get(), start_indices.get(), axes, slice_size, s); },
      "a"_a, "start_indices"_a, "axes"_a, "slice_size"_a, nb::kw_only(), "stream"_a = nb::none(),
      "A slice of slice_size starting at start_indices (an array, read when evaluated).");
}

}  // namespace ember::py
