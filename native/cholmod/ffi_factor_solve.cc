// FFI handlers `nativax_cholmod_factor_solve` (cache-managed factorization of COO values) and
// `nativax_cholmod_factor_solve_numeric` (a held factorization): apply one piece of P A P^T = L D L^H
// (CHOLMOD's solve systems L, L^H, D, P, P^T, ...) or the sampling transform P^T L^{-H} D^{-1/2}, batched
// over value sets and right-hand sides by the shared driver (common/batch_solve.h).
#include <complex>
#include <type_traits>
#include <vector>

#include "cholmod/engine.h"
#include "cholmod/selinv.h"
#include "common/batch_solve.h"
#include "common/engine.h"
#include "common/ffi.h"

namespace nativax::cholmod {
namespace {

ffi::Error FactorSolveImpl(ffi::Buffer<ffi::S32> rows, ffi::Buffer<ffi::S32> cols, ffi::AnyBuffer values,
                           ffi::AnyBuffer b, ffi::Result<ffi::AnyBuffer> x, ffi::Result<ffi::Buffer<ffi::S32>> status,
                           int64_t system) {
  auto nnz = coo_nnz(rows, cols);
  if (!nnz) return nnz.error();
  if (system < 0 || system > kSysMax) return invalid("unknown factor system");
  auto bd = b.dimensions();
  auto vd = values.dimensions();
  if (bd.size() < 2) return invalid("`b` must have shape (..., n, k)");
  if (vd.size() < 1 || vd.back() != *nnz) return invalid("`values` must have shape (..., nnz)");
  if (values.element_type() != b.element_type() || b.element_type() != x->element_type()) {
    return invalid("`values`, `b` and the result must share one dtype");
  }
  const int64_t n = bd[bd.size() - 2];
  std::string err;
  auto s = LruCache<Engine>::instance().symbolic(n, rows.typed_data(), cols.typed_data(), *nnz, &err);
  if (!s) return invalid(err);
  std::vector<int64_t> vb = dims_of(vd, 1), ob = dims_of(x->dimensions(), 2);
  auto bc = broadcast(vb, dims_of(bd, 2), ob);
  if (!bc) return bc.error();
  if (prod(ob) != static_cast<int64_t>(status->element_count())) return invalid("status has the wrong size");
  const Pattern& p = *s->pattern;
  return dispatch_float(values.element_type(), [&]<typename T>() -> ffi::Error {
    const T* vals = reinterpret_cast<const T*>(values.untyped_data());
    FactorizationProvider provider = [&](int64_t vi, std::shared_ptr<Factorization>* out, bool* hit) -> int32_t {
      std::shared_ptr<Numeric> num;
      int32_t st = cached_numeric<Engine>(s, vals + vi * *nnz, &num, hit);
      if (st == kOk) *out = piece_view(num, static_cast<int32_t>(system));
      return st;
    };
    std::vector<double> info(static_cast<size_t>(prod(ob)) * kInfoFields);  // diagnostics: not returned
    solve_batched<T>(provider, prod(vb), *bc, reinterpret_cast<const T*>(b.untyped_data()),
                     reinterpret_cast<T*>(x->untyped_data()), status->typed_data(), info.data(), false, n,
                     bd.back(), kModeA);
    return ffi::Error::Success();
  });
}

ffi::Error FactorSolveNumericImpl(ffi::Buffer<ffi::U32> handle_words, ffi::AnyBuffer b, ffi::Result<ffi::AnyBuffer> x,
                                  ffi::Result<ffi::Buffer<ffi::S32>> status, int64_t system) {
  auto id = handle_id(handle_words);
  if (!id) return id.error();
  if (system < 0 || system > kSysMax) return invalid("unknown factor system");
  std::string err;
  auto num = get_numeric<Engine>(*id, &err);
  if (!num) return invalid(err);
  const int64_t n = num->pattern().n;
  auto bd = b.dimensions();
  if (bd.size() < 2 || bd[bd.size() - 2] != n) {
    return invalid("`b` must have shape (..., n, k) with n = " + std::to_string(n));
  }
  if (b.element_type() != x->element_type()) return invalid("`b` and the result must share one dtype");
  auto bc = broadcast({}, dims_of(bd, 2), dims_of(x->dimensions(), 2));
  if (!bc) return bc.error();
  return dispatch_float(b.element_type(), [&]<typename T>() -> ffi::Error {
    constexpr bool kComplex = !std::is_floating_point_v<T>;
    if (kComplex != num->is_complex) return invalid("`b` dtype kind (real/complex) does not match the factorization");
    auto view = piece_view(num, static_cast<int32_t>(system));
    FactorizationProvider provider = [&](int64_t, std::shared_ptr<Factorization>* out, bool* hit) -> int32_t {
      *out = view;
      *hit = true;
      return kOk;
    };
    std::vector<double> info(status->element_count() * kInfoFields);  // diagnostics: not returned
    solve_batched<T>(provider, 1, *bc, reinterpret_cast<const T*>(b.untyped_data()),
                     reinterpret_cast<T*>(x->untyped_data()), status->typed_data(), info.data(), false, n,
                     bd.back(), kModeA);
    return ffi::Error::Success();
  });
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(CholmodFactorSolve, FactorSolveImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Attr<int64_t>("system"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(CholmodFactorSolveNumeric, FactorSolveNumericImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::U32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Attr<int64_t>("system"));

}  // namespace nativax::cholmod
