// Helpers shared by every FFI handler: the one error constructor, dtype dispatch, handle operands and shape
// plumbing. Fallible helpers return XLA FFI's ErrorOr<T>, so a handler forwards their error unchanged.
#pragma once
#include <complex>
#include <cstdint>
#include <string>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace nativax {

namespace ffi = xla::ffi;

inline std::vector<int64_t> dims_of(ffi::AnyBuffer::Dimensions d, size_t drop_last) {
  std::vector<int64_t> out(d.begin(), d.end());
  out.resize(out.size() >= drop_last ? out.size() - drop_last : 0);
  return out;
}

inline int64_t prod(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (auto x : v) p *= x;
  return p;
}

// The one way a handler reports bad arguments: an InvalidArgument error prefixed "nativax: ".
inline ffi::Error invalid(const std::string& msg) { return ffi::Error::InvalidArgument("nativax: " + msg); }

// A handle id travels as a runtime operand, two uint32 words (low, high), not as an attribute: then one
// compiled executable serves every handle of the same shapes, instead of XLA compiling (and JAX caching) a new
// executable for each handle, e.g. after every `refactor`. Shape (2,), or (1, ..., 1, 2) under vmap.
inline ffi::ErrorOr<int64_t> handle_id(ffi::Buffer<ffi::U32>& h) {
  auto d = h.dimensions();
  bool ok = d.size() >= 1 && d.back() == 2;
  for (size_t i = 0; ok && i + 1 < d.size(); ++i) ok = d[i] == 1;
  if (!ok) {
    return ffi::Unexpected(
        invalid("a handle id must be one (2,) uint32 operand; batching (vmap) over handles is not supported"));
  }
  const uint32_t* w = h.typed_data();
  return static_cast<int64_t>((static_cast<uint64_t>(w[1]) << 32) | static_cast<uint64_t>(w[0]));
}

// Checks that an index buffer is (1, ..., 1, nnz) and returns nnz.
inline ffi::ErrorOr<int64_t> index_vector(ffi::Buffer<ffi::S32>& idx, const char* name) {
  auto d = idx.dimensions();
  if (d.size() == 0) return ffi::Unexpected(invalid(std::string("`") + name + "` must be a 1-D index array"));
  for (size_t i = 0; i + 1 < d.size(); ++i) {
    if (d[i] != 1) {
      return ffi::Unexpected(
          invalid(std::string("batching (vmap) over `") + name + "` is not supported; the pattern must be shared"));
    }
  }
  return static_cast<int64_t>(d.back());
}

// The nnz of a (rows, cols) pair of COO index operands.
inline ffi::ErrorOr<int64_t> coo_nnz(ffi::Buffer<ffi::S32>& rows, ffi::Buffer<ffi::S32>& cols) {
  auto nr = index_vector(rows, "rows");
  if (!nr) return nr;
  auto nc = index_vector(cols, "cols");
  if (!nc) return nc;
  if (*nr != *nc) return ffi::Unexpected(invalid("`rows` and `cols` must have the same length"));
  return *nr;
}

// Calls f.template operator()<T>() with T the C++ type of a floating/complex dtype.
template <typename F>
ffi::Error dispatch_float(ffi::DataType dt, F&& f) {
  switch (dt) {
    case ffi::DataType::F32:
      return f.template operator()<float>();
    case ffi::DataType::F64:
      return f.template operator()<double>();
    case ffi::DataType::C64:
      return f.template operator()<std::complex<float>>();
    case ffi::DataType::C128:
      return f.template operator()<std::complex<double>>();
    default:
      return invalid("unsupported dtype; expected float32, float64, complex64 or complex128");
  }
}

}  // namespace nativax
