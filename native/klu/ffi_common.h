// Small helpers shared by the KLU FFI handlers: dtype dispatch and shape plumbing.
#pragma once
#include <complex>
#include <cstdint>
#include <string>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace nativax::klu {

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

inline ffi::Error invalid(const std::string& msg) {
  return ffi::Error(ffi::ErrorCode::kInvalidArgument, "nativax: " + msg);
}

// A handle id travels as a runtime operand, two uint32 words (low, high), not as an attribute: then one
// compiled executable serves every handle of the same shapes, instead of XLA compiling (and JAX caching) a new
// executable for each handle, e.g. after every `refactor`. Shape (2,), or (1, ..., 1, 2) under vmap.
inline bool handle_id(ffi::Buffer<ffi::U32>& h, int64_t* id, std::string* err) {
  auto d = h.dimensions();
  bool ok = d.size() >= 1 && d.back() == 2;
  for (size_t i = 0; ok && i + 1 < d.size(); ++i) ok = d[i] == 1;
  if (!ok) {
    *err = "a handle id must be one (2,) uint32 operand; batching (vmap) over handles is not supported";
    return false;
  }
  const uint32_t* w = h.typed_data();
  *id = static_cast<int64_t>((static_cast<uint64_t>(w[1]) << 32) | static_cast<uint64_t>(w[0]));
  return true;
}

// Checks that an index buffer is (1, ..., 1, nnz) and returns nnz.
inline bool index_vector(ffi::Buffer<ffi::S32>& idx, const char* name, int64_t* nnz, std::string* err) {
  auto d = idx.dimensions();
  if (d.size() == 0) {
    *err = std::string("`") + name + "` must be a 1-D index array";
    return false;
  }
  for (size_t i = 0; i + 1 < d.size(); ++i) {
    if (d[i] != 1) {
      *err = std::string("batching (vmap) over `") + name + "` is not supported; the pattern must be shared";
      return false;
    }
  }
  *nnz = d.back();
  return true;
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

}  // namespace nativax::klu
