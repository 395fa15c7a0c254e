// FFI handlers that solve with cache-managed factorizations: `nativax_klu_solve` (pattern passed as COO
// arrays) and `nativax_klu_solve_symbolic` (pattern from a user's symbolic handle).
#include <complex>

#include "klu/batch_solve.h"
#include "klu/cache.h"
#include "klu/ffi_common.h"
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
  std::vector<int64_t> vb = dims_of(vd, 1), bb = dims_of(bd, 2), ob = dims_of(x->dimensions(), 2);
  std::vector<int64_t> v_index, b_index;
  std::string err;
  if (!broadcast_indices(vb, bb, ob, &v_index, &b_index, &err)) return invalid(err);
  if (prod(ob) != static_cast<int64_t>(status->element_count())) return invalid("status has the wrong size");
  const int64_t nnz = p.coo_nnz();
  const int64_t n_sets = prod(vb);
  return dispatch_float(values.element_type(), [&]<typename T>() -> ffi::Error {
    constexpr bool kComplex = !std::is_floating_point_v<T>;
    const T* vals = reinterpret_cast<const T*>(values.untyped_data());
    NumericProvider provider = [&](int64_t vi, std::shared_ptr<Numeric>* out) -> int32_t {
      std::vector<double> csc;
      if (!coo_to_csc(p, vals + vi * nnz, &csc)) return kNonFiniteMatrix;
      const uint64_t h = values_hash(csc);
      return cache().numeric(s, kComplex, std::move(csc), h, out);
    };
    solve_batched<T>(provider, n_sets, v_index, b_index, reinterpret_cast<const T*>(b.untyped_data()),
                     reinterpret_cast<T*>(x->untyped_data()), status->typed_data(), p.n, k,
                     static_cast<int>(mode));
    return ffi::Error::Success();
  });
}

ffi::Error SolveImpl(ffi::Buffer<ffi::S32> rows, ffi::Buffer<ffi::S32> cols, ffi::AnyBuffer values,
                     ffi::AnyBuffer b, ffi::Result<ffi::AnyBuffer> x, ffi::Result<ffi::Buffer<ffi::S32>> status,
                     int64_t mode) {
  std::string err;
  int64_t nr, nc;
  if (!index_vector(rows, "rows", &nr, &err) || !index_vector(cols, "cols", &nc, &err)) return invalid(err);
  if (nr != nc) return invalid("`rows` and `cols` must have the same length");
  auto bd = b.dimensions();
  if (bd.size() < 2) return invalid("`b` must have shape (..., n, k)");
  const int64_t n = bd[bd.size() - 2];
  auto s = cache().symbolic(n, rows.typed_data(), cols.typed_data(), nr, &err);
  if (!s) return invalid(err);
  return solve_on_symbolic(s, values, b, x, status, mode);
}

ffi::Error SolveSymbolicImpl(ffi::Buffer<ffi::U32> handle_words, ffi::AnyBuffer values, ffi::AnyBuffer b,
                             ffi::Result<ffi::AnyBuffer> x, ffi::Result<ffi::Buffer<ffi::S32>> status,
                             int64_t mode) {
  std::string err;
  int64_t handle;
  if (!handle_id(handle_words, &handle, &err)) return invalid(err);
  auto s = get_symbolic(handle, &err);
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
