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
