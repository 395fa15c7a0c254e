// FFI handler for the COO sparse mat-vec y = A x (batched over values and x, parallel across the batch).
#include <complex>

#include "common/thread_pool.h"
#include "common/batch_solve.h"
#include "common/ffi.h"

namespace nativax::klu {
namespace {

ffi::Error DotImpl(ffi::Buffer<ffi::S32> rows, ffi::Buffer<ffi::S32> cols, ffi::AnyBuffer values,
                   ffi::AnyBuffer xin, ffi::Result<ffi::AnyBuffer> y, int64_t n_rows) {
  auto nr = coo_nnz(rows, cols);
  if (!nr) return nr.error();
  auto vd = values.dimensions();
  auto xd = xin.dimensions();
  auto yd = y->dimensions();
  if (vd.size() < 1 || vd.back() != *nr) return invalid("`values` last dimension must equal nnz");
  if (xd.size() < 2 || yd.size() < 2 || yd[yd.size() - 2] != n_rows || yd.back() != xd.back()) {
    return invalid("`x` must have shape (..., n_cols, k)");
  }
  if (values.element_type() != xin.element_type() || xin.element_type() != y->element_type()) {
    return invalid("`values`, `x` and the result must share one dtype");
  }
  const int64_t n_cols = xd[xd.size() - 2], k = xd.back(), nnz = *nr;
  const int32_t* r = rows.typed_data();
  const int32_t* c = cols.typed_data();
  for (int64_t i = 0; i < nnz; ++i) {
    if (r[i] < 0 || r[i] >= n_rows) return invalid("`rows` index out of range at position " + std::to_string(i));
    if (c[i] < 0 || c[i] >= n_cols) return invalid("`cols` index out of range at position " + std::to_string(i));
  }
  auto bc = broadcast(dims_of(vd, 1), dims_of(xd, 2), dims_of(yd, 2));
  if (!bc) return bc.error();
  const std::vector<int64_t>& v_index = bc->v_index;
  const std::vector<int64_t>& x_index = bc->b_index;
  return dispatch_float(values.element_type(), [&]<typename T>() -> ffi::Error {
    const T* v = reinterpret_cast<const T*>(values.untyped_data());
    const T* xx = reinterpret_cast<const T*>(xin.untyped_data());
    T* out = reinterpret_cast<T*>(y->untyped_data());
    parallel_for(static_cast<int64_t>(v_index.size()), [&](int64_t o) {
      const T* vo = v + v_index[o] * nnz;
      const T* xo = xx + x_index[o] * n_cols * k;
      T* yo = out + o * n_rows * k;
      std::fill(yo, yo + n_rows * k, T(0));
      if (k == 1) {
        for (int64_t i = 0; i < nnz; ++i) yo[r[i]] += vo[i] * xo[c[i]];
      } else {
        for (int64_t i = 0; i < nnz; ++i) {
          const T a = vo[i];
          T* yr = yo + static_cast<int64_t>(r[i]) * k;
          const T* xc = xo + static_cast<int64_t>(c[i]) * k;
          for (int64_t j = 0; j < k; ++j) yr[j] += a * xc[j];
        }
      }
    });
    return ffi::Error::Success();
  });
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(KluDot, DotImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<int64_t>("n_rows"));

}  // namespace nativax::klu
