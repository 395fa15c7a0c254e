// Matrix values in an engine's CSC order: COO values of any float/complex dtype scattered (duplicates summed)
// into double precision, interleaved re/im when complex; plus the content hash the caches key on.
#pragma once
#include <cmath>
#include <complex>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "common/hash.h"
#include "common/pattern.h"

namespace nativax {

template <typename T>
inline bool is_finite_value(const T& v) {
  return std::isfinite(v);
}
template <typename T>
inline bool is_finite_value(const std::complex<T>& v) {
  return std::isfinite(v.real()) && std::isfinite(v.imag());
}

// Returns false when any value is NaN or Inf.
template <typename T>
bool coo_to_csc(const Pattern& p, const T* coo, std::vector<double>* csc) {
  constexpr bool kComplex = !std::is_floating_point_v<T>;
  const int64_t m = p.csc_nnz();
  csc->assign(kComplex ? 2 * m : m, 0.0);
  double* out = csc->data();
  bool finite = true;
  const int64_t nnz = p.coo_nnz();
  const int32_t* slot = p.slot.data();
  for (int64_t k = 0; k < nnz; ++k) {
    const T v = coo[k];
    finite &= is_finite_value(v);
    if constexpr (kComplex) {
      out[2 * slot[k]] += static_cast<double>(v.real());
      out[2 * slot[k] + 1] += static_cast<double>(v.imag());
    } else {
      out[slot[k]] += static_cast<double>(v);
    }
  }
  return finite;
}

inline uint64_t values_hash(const std::vector<double>& v) { return hash_bytes(v.data(), v.size() * sizeof(double)); }

}  // namespace nativax
