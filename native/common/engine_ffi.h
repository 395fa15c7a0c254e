// FFI handler bodies every direct engine instantiates (one XLA_FFI_DEFINE_HANDLER_SYMBOL per file in
// native/<engine>/): solve with a cache-managed factorization (pattern as COO operands, or from a symbolic
// handle), and solve with a held numeric handle.
#pragma once
#include <complex>
#include <string>
#include <type_traits>

#include "common/batch_solve.h"
#include "common/engine.h"
#include "common/ffi.h"
#include "common/solve_held.h"

namespace nativax {

template <typename E>
ffi::Error solve_on_symbolic(const std::shared_ptr<typename E::Symbolic>& s, ffi::AnyBuffer values,
                             ffi::AnyBuffer b, ffi::Result<ffi::AnyBuffer> x,
                             ffi::Result<ffi::Buffer<ffi::S32>> status, ffi::Result<ffi::AnyBuffer> info,
                             int64_t mode, int64_t condest) {
  const Pattern& p = *s->pattern;
  auto vd = values.dimensions();
  auto bd = b.dimensions();
  if (vd.size() < 1 || vd.back() != p.coo_nnz()) {
    return invalid("`values` last dimension must equal nnz = " + std::to_string(p.coo_nnz()));
  }
  if (bd.size() < 2 || bd[bd.size() - 2] != p.n) {
    return invalid("`b` must have shape (..., n, k) with n = " + std::to_string(p.n));
  }
  if (values.element_type() != b.element_type() || b.element_type() != x->element_type()) {
    return invalid("`values`, `b` and the result must share one dtype");
  }
  if (mode < kModeA || mode > kModeH) return invalid("mode must be 0 (A), 1 (A^T) or 2 (A^H)");
  std::vector<int64_t> vb = dims_of(vd, 1), ob = dims_of(x->dimensions(), 2);
  auto bc = broadcast(vb, dims_of(bd, 2), ob);
  if (!bc) return bc.error();
  if (prod(ob) != static_cast<int64_t>(status->element_count())) return invalid("status has the wrong size");
  if (prod(ob) * kInfoFields != static_cast<int64_t>(info->element_count())) return invalid("info has the wrong size");
  std::vector<double> info_d(info->element_count());
  const int64_t nnz = p.coo_nnz();
  return dispatch_float(values.element_type(), [&]<typename T>() -> ffi::Error {
    const T* vals = reinterpret_cast<const T*>(values.untyped_data());
    FactorizationProvider provider = [&](int64_t vi, std::shared_ptr<Factorization>* out, bool* hit) -> int32_t {
      std::shared_ptr<typename E::Numeric> num;
      int32_t st = cached_numeric<E>(s, vals + vi * nnz, &num, hit);
      *out = num;
      return st;
    };
    solve_batched<T>(provider, prod(vb), *bc, reinterpret_cast<const T*>(b.untyped_data()),
                     reinterpret_cast<T*>(x->untyped_data()), status->typed_data(), info_d.data(),
                     condest != 0, p.n, bd.back(), static_cast<int>(mode));
    return store_info(info_d, info);
  });
}

// The ordering/pivoting options from the solve's attributes (`perm` is [-1] when no permutation is given).
inline ffi::ErrorOr<Options> options_of(int64_t n, int64_t ordering, double pivot_tol, int64_t scale,
                                        ffi::Span<const int64_t> perm) {
  Options o;
  o.ordering = static_cast<int32_t>(ordering);
  o.pivot_tol = pivot_tol;
  o.scale = static_cast<int32_t>(scale);
  if (ordering < kOrderDefault || ordering > kOrderGiven) return ffi::Unexpected(invalid("`ordering` code out of range"));
  if (ordering == kOrderGiven) {
    o.perm.assign(perm.begin(), perm.end());
    if (!valid_perm(o.perm, n)) {
      return ffi::Unexpected(invalid("`ordering` must be a permutation of 0..n-1 with n = " + std::to_string(n)));
    }
  }
  return o;
}

template <typename E>
ffi::Error solve_coo(ffi::Buffer<ffi::S32> rows, ffi::Buffer<ffi::S32> cols, ffi::AnyBuffer values,
                     ffi::AnyBuffer b, ffi::Result<ffi::AnyBuffer> x, ffi::Result<ffi::Buffer<ffi::S32>> status,
                     ffi::Result<ffi::AnyBuffer> info, int64_t mode, int64_t condest, int64_t ordering,
                     double pivot_tol, int64_t scale, ffi::Span<const int64_t> perm) {
  auto nnz = coo_nnz(rows, cols);
  if (!nnz) return nnz.error();
  auto bd = b.dimensions();
  if (bd.size() < 2) return invalid("`b` must have shape (..., n, k)");
  auto opts = options_of(bd[bd.size() - 2], ordering, pivot_tol, scale, perm);
  if (!opts.has_value()) return opts.error();
  std::string err;
  auto s = LruCache<E>::instance().symbolic(bd[bd.size() - 2], rows.typed_data(), cols.typed_data(), *nnz, &err,
                                            *opts);
  if (!s) return invalid(err);
  return solve_on_symbolic<E>(s, values, b, x, status, info, mode, condest);
}

template <typename E>
ffi::Error solve_symbolic(ffi::Buffer<ffi::U32> handle_words, ffi::AnyBuffer values, ffi::AnyBuffer b,
                          ffi::Result<ffi::AnyBuffer> x, ffi::Result<ffi::Buffer<ffi::S32>> status,
                          ffi::Result<ffi::AnyBuffer> info, int64_t mode, int64_t condest) {
  auto id = handle_id(handle_words);
  if (!id) return id.error();
  std::string err;
  auto s = get_symbolic<E>(*id, &err);
  if (!s) return invalid(err);
  return solve_on_symbolic<E>(s, values, b, x, status, info, mode, condest);
}

template <typename E>
ffi::Error solve_numeric(ffi::Buffer<ffi::U32> handle_words, ffi::AnyBuffer b, ffi::Result<ffi::AnyBuffer> x,
                         ffi::Result<ffi::Buffer<ffi::S32>> status, ffi::Result<ffi::AnyBuffer> info,
                         int64_t mode, int64_t condest) {
  auto id = handle_id(handle_words);
  if (!id) return id.error();
  std::string err;
  auto num = get_numeric<E>(*id, &err);
  if (!num) return invalid(err);
  return solve_held(num, num->pattern().n, b, x, status, info, mode, condest);
}

}  // namespace nativax
