// Solve with one held factorization (factor once, solve many), any engine.
#pragma once
#include <algorithm>
#include <string>
#include <vector>
#include <type_traits>

#include "common/batch_solve.h"
#include "common/ffi.h"
#include "common/status.h"

namespace nativax {

// Diagnostics into the `info` result: float64, or float32 when JAX runs without x64.
inline ffi::Error store_info(const std::vector<double>& d, ffi::Result<ffi::AnyBuffer>& info) {
  if (info->element_type() == ffi::F64) {
    std::copy(d.begin(), d.end(), reinterpret_cast<double*>(info->untyped_data()));
  } else if (info->element_type() == ffi::F32) {
    std::transform(d.begin(), d.end(), reinterpret_cast<float*>(info->untyped_data()),
                   [](double v) { return static_cast<float>(v); });
  } else {
    return invalid("info must be float32 or float64");
  }
  return ffi::Error::Success();
}

inline ffi::Error solve_held(const std::shared_ptr<Factorization>& num, int64_t n, ffi::AnyBuffer b,
                             ffi::Result<ffi::AnyBuffer> x, ffi::Result<ffi::Buffer<ffi::S32>> status,
                             ffi::Result<ffi::AnyBuffer> info, int64_t mode, int64_t condest) {
  auto bd = b.dimensions();
  if (bd.size() < 2 || bd[bd.size() - 2] != n) {
    return invalid("`b` must have shape (..., n, k) with n = " + std::to_string(n));
  }
  if (b.element_type() != x->element_type()) return invalid("`b` and the result must share one dtype");
  if (mode < kModeA || mode > kModeH) return invalid("mode must be 0 (A), 1 (A^T) or 2 (A^H)");
  auto bc = broadcast({}, dims_of(bd, 2), dims_of(x->dimensions(), 2));
  if (!bc) return bc.error();
  if (static_cast<int64_t>(bc->v_index.size()) * kInfoFields != static_cast<int64_t>(info->element_count())) {
    return invalid("info has the wrong size");
  }
  std::vector<double> info_d(info->element_count());
  return dispatch_float(b.element_type(), [&]<typename T>() -> ffi::Error {
    constexpr bool kComplex = !std::is_floating_point_v<T>;
    if (kComplex != num->complex_values()) {
      return invalid("`b` dtype kind (real/complex) does not match the factorization");
    }
    FactorizationProvider provider = [&](int64_t, std::shared_ptr<Factorization>* out, bool* hit) -> int32_t {
      *out = num;
      *hit = true;
      return kOk;
    };
    solve_batched<T>(provider, 1, *bc, reinterpret_cast<const T*>(b.untyped_data()),
                     reinterpret_cast<T*>(x->untyped_data()), status->typed_data(), info_d.data(),
                     condest != 0, n, bd.back(), static_cast<int>(mode));
    return store_info(info_d, info);
  });
}

}  // namespace nativax
