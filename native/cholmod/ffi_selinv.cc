// FFI handlers `nativax_cholmod_selinv` (cache-managed factorization of COO values, batched over value sets) and
// `nativax_cholmod_selinv_numeric` (a held factorization): the entries of A^{-1} on A's pattern, or its
// diagonal, by supernodal selected inversion (cholmod/selinv.h).
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

ffi::ErrorOr<Selection> selection_of(int64_t what) {
  if (what < 0 || what > 2) return ffi::Unexpected(invalid("`what` must be 0 (coo), 1 (coo transposed) or 2 (diag)"));
  return static_cast<Selection>(what);
}

// Copy the double result of selected_inverse into the output of type T (entries `count`).
template <typename T>
void store(const std::vector<double>& z, T* o, int64_t count, bool diag) {
  if constexpr (std::is_floating_point_v<T>) {
    for (int64_t k = 0; k < count; ++k) o[k] = static_cast<T>(z[k]);
  } else {
    using R = typename T::value_type;
    for (int64_t k = 0; k < count; ++k) {
      o[k] = diag ? T(static_cast<R>(z[k]), 0) : T(static_cast<R>(z[2 * k]), static_cast<R>(z[2 * k + 1]));
    }
  }
}

ffi::Error SelinvImpl(ffi::Buffer<ffi::S32> rows, ffi::Buffer<ffi::S32> cols, ffi::AnyBuffer values,
                      ffi::Result<ffi::AnyBuffer> out, ffi::Result<ffi::Buffer<ffi::S32>> status, int64_t n,
                      int64_t what) {
  auto nnz = coo_nnz(rows, cols);
  if (!nnz) return nnz.error();
  auto sel = selection_of(what);
  if (!sel) return sel.error();
  auto vd = values.dimensions();
  if (vd.size() < 1 || vd.back() != *nnz) return invalid("`values` must have shape (..., nnz)");
  const int64_t sets = prod(dims_of(vd, 1));
  const bool diag = *sel == Selection::kDiag;
  const int64_t per = diag ? n : *nnz;
  if (static_cast<int64_t>(out->element_count()) != sets * per) return invalid("the result has the wrong size");
  if (static_cast<int64_t>(status->element_count()) != sets) return invalid("status must have the batch shape");
  if (out->element_type() != values.element_type()) return invalid("the result must have the dtype of `values`");
  std::string err;
  auto s = LruCache<Engine>::instance().symbolic(n, rows.typed_data(), cols.typed_data(), *nnz, &err);
  if (!s) return invalid(err);
  return dispatch_float(values.element_type(), [&]<typename T>() -> ffi::Error {
    const T* vals = reinterpret_cast<const T*>(values.untyped_data());
    T* o = reinterpret_cast<T*>(out->untyped_data());
    int32_t* st = status->typed_data();
    parallel_for(sets, [&](int64_t l) {
      std::fill(o + l * per, o + (l + 1) * per, T(std::numeric_limits<double>::quiet_NaN()));
      std::shared_ptr<Numeric> num;
      st[l] = cached_numeric<Engine>(s, vals + l * *nnz, &num);
      if (st[l] != kOk) return;
      std::vector<double> z;
      st[l] = selected_inverse(*num, *sel, &z);
      if (st[l] == kOk) store<T>(z, o + l * per, per, diag);
    });
    return ffi::Error::Success();
  });
}

ffi::Error SelinvNumericImpl(ffi::Buffer<ffi::U32> handle_words, ffi::Result<ffi::AnyBuffer> out,
                             ffi::Result<ffi::Buffer<ffi::S32>> status, int64_t what) {
  auto id = handle_id(handle_words);
  if (!id) return id.error();
  auto sel = selection_of(what);
  if (!sel) return sel.error();
  std::string err;
  auto num = get_numeric<Engine>(*id, &err);
  if (!num) return invalid(err);
  const bool diag = *sel == Selection::kDiag;
  const int64_t per = diag ? num->pattern().n : num->pattern().coo_nnz();
  if (static_cast<int64_t>(out->element_count()) != per) return invalid("the result has the wrong size");
  if (status->element_count() != 1) return invalid("status must be a scalar");
  return dispatch_float(out->element_type(), [&]<typename T>() -> ffi::Error {
    constexpr bool kComplex = !std::is_floating_point_v<T>;
    if (kComplex != num->is_complex) return invalid("the result dtype kind (real/complex) must match the factorization");
    std::vector<double> z;
    T* o = reinterpret_cast<T*>(out->untyped_data());
    std::fill(o, o + per, T(std::numeric_limits<double>::quiet_NaN()));
    status->typed_data()[0] = selected_inverse(*num, *sel, &z);
    if (status->typed_data()[0] == kOk) store<T>(z, o, per, diag);
    return ffi::Error::Success();
  });
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(CholmodSelinv, SelinvImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Attr<int64_t>("n")
                                  .Attr<int64_t>("what"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(CholmodSelinvNumeric, SelinvNumericImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::U32>>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Attr<int64_t>("what"));

}  // namespace nativax::cholmod
