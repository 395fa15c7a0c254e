// FFI handler solving with a user's numeric factorization handle (factor-once / solve-many).
#include <complex>

#include "klu/batch_solve.h"
#include "klu/ffi_common.h"
#include "klu/handles.h"

namespace nativax::klu {
namespace {

ffi::Error SolveNumericImpl(ffi::Buffer<ffi::U32> handle_words, ffi::AnyBuffer b, ffi::Result<ffi::AnyBuffer> x,
                            ffi::Result<ffi::Buffer<ffi::S32>> status, int64_t mode) {
  std::string err;
  int64_t handle;
  if (!handle_id(handle_words, &handle, &err)) return invalid(err);
  auto num = get_numeric(handle, &err);
  if (!num) return invalid(err);
  const int64_t n = num->symbolic->pattern->n;
  auto bd = b.dimensions();
  if (bd.size() < 2 || bd[bd.size() - 2] != n) {
    return invalid("`b` must have shape (..., n, k) with n = " + std::to_string(n));
  }
  if (b.element_type() != x->element_type()) return invalid("`b` and the result must share one dtype");
  if (mode < 0 || mode > 2) return invalid("mode must be 0 (A), 1 (A^T) or 2 (A^H)");
  std::vector<int64_t> bb = dims_of(bd, 2), ob = dims_of(x->dimensions(), 2);
  std::vector<int64_t> v_index, b_index;
  if (!broadcast_indices({}, bb, ob, &v_index, &b_index, &err)) return invalid(err);
  return dispatch_float(b.element_type(), [&]<typename T>() -> ffi::Error {
    constexpr bool kComplex = !std::is_floating_point_v<T>;
    if (kComplex != num->is_complex) {
      return invalid("`b` dtype kind (real/complex) does not match the factorization");
    }
    NumericProvider provider = [&](int64_t, std::shared_ptr<Numeric>* out) -> int32_t {
      *out = num;
      return kOk;
    };
    solve_batched<T>(provider, 1, v_index, b_index, reinterpret_cast<const T*>(b.untyped_data()),
                     reinterpret_cast<T*>(x->untyped_data()), status->typed_data(), n, bd.back(),
                     static_cast<int>(mode));
    return ffi::Error::Success();
  });
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(KluSolveNumeric, SolveNumericImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::U32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Attr<int64_t>("mode"));

}  // namespace nativax::klu
