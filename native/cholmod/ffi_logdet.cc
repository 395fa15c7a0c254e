// FFI handler `nativax_cholmod_logdet`: log det A of a positive definite COO matrix with a cache-managed
// factorization (shared with solves), batched over value sets, and optionally its gradient wrt the COO
// values, (A^{-1})[cols[k], rows[k]], by selected inversion.
#include <cmath>
#include <complex>
#include <limits>
#include <type_traits>

#include "cholmod/engine.h"
#include "cholmod/selinv.h"
#include "common/engine.h"
#include "common/ffi.h"
#include "common/thread_pool.h"

namespace nativax::cholmod {
namespace {

ffi::Error LogdetImpl(ffi::Buffer<ffi::S32> rows, ffi::Buffer<ffi::S32> cols, ffi::AnyBuffer values,
                      ffi::Result<ffi::AnyBuffer> logdet, ffi::Result<ffi::AnyBuffer> grad,
                      ffi::Result<ffi::Buffer<ffi::S32>> status, int64_t n, bool want_grad) {
  auto nnz = coo_nnz(rows, cols);
  if (!nnz) return nnz.error();
  auto vd = values.dimensions();
  if (vd.size() < 1 || vd.back() != *nnz) return invalid("`values` must have shape (..., nnz)");
  const int64_t sets = prod(dims_of(vd, 1));
  if (static_cast<int64_t>(logdet->element_count()) != sets || static_cast<int64_t>(status->element_count()) != sets) {
    return invalid("logdet/status must have the batch shape of `values`");
  }
  if (want_grad && static_cast<int64_t>(grad->element_count()) != sets * *nnz) {
    return invalid("the gradient must have the shape of `values`");
  }
  std::string err;
  auto s = LruCache<Engine>::instance().symbolic(n, rows.typed_data(), cols.typed_data(), *nnz, &err);
  if (!s) return invalid(err);
  return dispatch_float(values.element_type(), [&]<typename T>() -> ffi::Error {
    constexpr bool kComplex = !std::is_floating_point_v<T>;
    using Real = decltype(std::real(T{}));
    if (values.element_type() != grad->element_type()) return invalid("the gradient must have the dtype of `values`");
    if (logdet->element_type() != (sizeof(Real) == 8 ? ffi::DataType::F64 : ffi::DataType::F32)) {
      return invalid("logdet must have the real dtype of `values`");
    }
    const T* vals = reinterpret_cast<const T*>(values.untyped_data());
    T* g = reinterpret_cast<T*>(grad->untyped_data());
    Real* ld = reinterpret_cast<Real*>(logdet->untyped_data());
    int32_t* st = status->typed_data();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    parallel_for(sets, [&](int64_t l) {
      ld[l] = static_cast<Real>(nan);
      if (want_grad) std::fill(g + l * *nnz, g + (l + 1) * *nnz, T(nan));
      std::shared_ptr<Numeric> num;
      st[l] = cached_numeric<Engine>(s, vals + l * *nnz, &num);
      if (st[l] != kOk) return;
      ld[l] = static_cast<Real>(num->logdet());
      if (!want_grad) return;
      std::vector<double> z;
      st[l] = selected_inverse(*num, Selection::kCooTransposed, &z);
      if (st[l] != kOk) return;
      const auto* zc = reinterpret_cast<const std::conditional_t<kComplex, std::complex<double>, double>*>(z.data());
      for (int64_t k = 0; k < *nnz; ++k) g[l * *nnz + k] = static_cast<T>(zc[k]);
    });
    return ffi::Error::Success();
  });
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(CholmodLogdet, LogdetImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Attr<int64_t>("n")
                                  .Attr<bool>("want_grad"));

}  // namespace nativax::cholmod
