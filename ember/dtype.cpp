#include "ember/dtype.h"

#include <stdexcept>

namespace ember {

Dtype::Kind kindof(Dtype t) {
  if (t == bool_) return Dtype::Kind::b;
  if (is_unsigned(t)) return Dtype::Kind::u;
  if (is_signed_integer(t)) return Dtype::Kind::i;
  if (t == bfloat16) return Dtype::Kind::V;  // NumPy has no bfloat16; MLX reports 'V'
  if (is_floating_point(t)) return Dtype::Kind::f;
  return Dtype::Kind::c;
}

bool is_unsigned(Dtype t) { return t == uint8 || t == uint16 || t == uint32 || t == uint64; }

bool is_signed_integer(Dtype t) { return t == int8 || t == int16 || t == int32 || t == int64; }

bool is_integral(Dtype t) { return is_unsigned(t) || is_signed_integer(t); }

bool is_floating_point(Dtype t) { return t == float16 || t == bfloat16 || t == float32 || t == float64; }

bool is_complex(Dtype t) { return t == complex64; }

bool is_inexact(Dtype t) { return is_floating_point(t) || is_complex(t); }

static DtypeCategory category_of(Dtype t) {
  if (is_complex(t)) return DtypeCategory::complexfloating;
  if (is_floating_point(t)) return DtypeCategory::floating;
  if (is_signed_integer(t)) return DtypeCategory::signedinteger;
  if (is_unsigned(t)) return DtypeCategory::unsignedinteger;
  return DtypeCategory::generic;  // bool
}

bool issubdtype(DtypeCategory a, DtypeCategory b) {
  if (a == b || b == DtypeCategory::generic) return true;
  switch (b) {
    case DtypeCategory::inexact:
      return a == DtypeCategory::floating || a == DtypeCategory::complexfloating;
    case DtypeCategory::integer:
      return a == DtypeCategory::signedinteger || a == DtypeCategory::unsignedinteger;
    case DtypeCategory::number:
      return a != DtypeCategory::generic;
    default:
      return false;
  }
}

bool issubdtype(Dtype a, DtypeCategory c) {
  if (a == bool_) return c == DtypeCategory::generic;
  return issubdtype(category_of(a), c);
}

bool issubdtype(Dtype a, Dtype b) { return a == b; }

static Dtype signed_of_size(size_t bytes) {
  switch (bytes) {
    case 1:
      return int8;
    case 2:
      return int16;
    case 4:
      return int32;
    default:
      return int64;
  }
}

Dtype promote_types(Dtype a, Dtype b) {
  if (a == b) return a;
  if (a == bool_) return b;
  if (b == bool_) return a;
  if (is_complex(a) || is_complex(b)) return complex64;
  bool fa = is_floating_point(a), fb = is_floating_point(b);
  if (fa && fb) {
    if ((a == float16 && b == bfloat16) || (a == bfloat16 && b == float16)) return float32;
    return a.size() >= b.size() ? a : b;
  }
  if (fa) return a;  // MLX keeps the float type when mixed with any integer
  if (fb) return b;
  bool ua = is_unsigned(a), ub = is_unsigned(b);
  if (ua == ub) return a.size() >= b.size() ? a : b;
  Dtype u = ua ? a : b;
  Dtype s = ua ? b : a;
  if (u.size() < s.size()) return s;
  if (u == uint64) return float32;  // no integer type holds both (MLX's rule)
  return signed_of_size(u.size() * 2);
}

Dtype weak_scalar_dtype(ScalarKind k, Dtype t) {
  switch (k) {
    case ScalarKind::boolean:
      return t;
    case ScalarKind::integer:
      return t == bool_ ? int32 : t;
    case ScalarKind::floating:
      return is_inexact(t) ? t : float32;
    case ScalarKind::complex:
      return complex64;
  }
  return t;
}

std::string dtype_name(Dtype t) {
  switch (t.val) {
    case Dtype::Val::bool_:
      return "bool";
    case Dtype::Val::uint8:
      return "uint8";
    case Dtype::Val::uint16:
      return "uint16";
    case Dtype::Val::uint32:
      return "uint32";
    case Dtype::Val::uint64:
      return "uint64";
    case Dtype::Val::int8:
      return "int8";
    case Dtype::Val::int16:
      return "int16";
    case Dtype::Val::int32:
      return "int32";
    case Dtype::Val::int64:
      return "int64";
    case Dtype::Val::float16:
      return "float16";
    case Dtype::Val::bfloat16:
      return "bfloat16";
    case Dtype::Val::float32:
      return "float32";
    case Dtype::Val::float64:
      return "float64";
    case Dtype::Val::complex64:
      return "complex64";
  }
  throw std::invalid_argument("[dtype_name] unknown dtype");
}

std::ostream& operator<<(std::ostream& os, Dtype t) { return os << dtype_name(t); }

}  // namespace ember
