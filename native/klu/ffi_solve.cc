// FFI handlers that solve with cache-managed factorizations: `nativax_klu_solve` (pattern passed as COO
// arrays) and `nativax_klu_solve_symbolic` (pattern from a user's symbolic handle).
#include <complex>

#include "common/batch_solve.h"
#include "common/ffi.h"
#include "common/values.h"
#include "klu/cache.h"
#include "klu/handles.h"

namespace nativax::klu {
namespace {

// Shared tail: shape checks, broadcasting, and the batched driver on symbolic `s`.
ffi::Error solve_on_symbolic(const std::shared_ptr<Symbolic>& s, ffi::AnyBuffer values, ffi::AnyBuffer b,
                             ffi::Result<ffi::AnyBuffer> x, ffi::Result<ffi::Buffer<ffi::S32>> status,
                             int64_t mode) {
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
  if (mode < 0 || mode > 2) return invalid("mode must be 0 (A), 1 (A^T) or 2 (A^H)");
  const int64_t k = bd.back();
  std::vector<int64_t> vb = dims_of(vd, 1), ob = dims_of(x->dimensions(), 2);
  auto bc = broadcast(vb, dims_of(bd, 2), ob);
  if (!bc) return bc.error();
  if (prod(ob) != static_cast<int64_t>(status->element_count())) return invalid("status has the wrong size");
  const int64_t nnz = p.coo_nnz();
  const int64_t n_sets = prod(vb);
  return dispatch_float(values.element_type(), [&]<typename T>() -> ffi::Error {
    constexpr bool kComplex = !std::is_floating_point_v<T>;
    const T* vals = reinterpret_cast<const T*>(values.untyped_data());
    FactorizationProvider provider = [&](int64_t vi, std::shared_ptr<Factorization>* out) -> int32_t {
      std::vector<double> csc;
      if (!coo_to_csc(p, vals + vi * nnz, &csc)) return kNonFiniteMatrix;
      const uint64_t h = values_hash(csc);
      std::shared_ptr<Numeric> num;
      int32_t st = cache().numeric(s, kComplex, std::move(csc), h, &num);
      *out = num;
      return st;
    };
    solve_batched<T>(provider, n_sets, *bc, reinterpret_cast<const T*>(b.untyped_data()),
                     reinterpret_cast<T*>(x->untyped_data()), status->typed_data(), p.n, k,
                     static_cast<int>(mode));
    return ffi::Error::Success();
  });
}

ffi::Error SolveImpl(ffi::Buffer<ffi::S32> rows, ffi::Buffer<ffi::S32> cols, ffi::AnyBuffer values,
                     ffi::AnyBuffer b, ffi::Result<ffi::AnyBuffer> x, ffi::Result<ffi::Buffer<ffi::S32>> status,
                     int64_t mode) {
  auto nr = coo_nnz(rows, cols);
  if (!nr) return nr.error();
  std::string err;
  auto bd = b.dimensions();
  if (bd.size() < 2) return invalid("`b` must have shape (..., n, k)");
  const int64_t n = bd[bd.size() - 2];
  auto s = cache().symbolic(n, rows.typed_data(), cols.typed_data(), *nr, &err);
  if (!s) return invalid(err);
  return solve_on_symbolic(s, values, b, x, status, mode);
}

ffi::Error SolveSymbolicImpl(ffi::Buffer<ffi::U32> handle_words, ffi::AnyBuffer values, ffi::AnyBuffer b,
                             ffi::Result<ffi::AnyBuffer> x, ffi::Result<ffi::Buffer<ffi::S32>> status,
                             int64_t mode) {
  auto handle = handle_id(handle_words);
  if (!handle) return handle.error();
  std::string err;
  auto s = get_symbolic(*handle, &err);
  if (!s) return invalid(err);
  return solve_on_symbolic(s, values, b, x, status, mode);
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(KluSolve, SolveImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Attr<int64_t>("mode"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(KluSolveSymbolic, SolveSymbolicImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::U32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Attr<int64_t>("mode"));

}  // namespace nativax::klu
