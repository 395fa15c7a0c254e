// FFI handler solving with a user's numeric factorization handle (factor-once / solve-many); the body is the
// one every engine shares (common/solve_held.h).
#include "common/solve_held.h"
#include "klu/handles.h"

namespace nativax::klu {
namespace {

ffi::Error SolveNumericImpl(ffi::Buffer<ffi::U32> handle_words, ffi::AnyBuffer b, ffi::Result<ffi::AnyBuffer> x,
                            ffi::Result<ffi::Buffer<ffi::S32>> status, int64_t mode) {
  auto handle = handle_id(handle_words);
  if (!handle) return handle.error();
  std::string err;
  auto num = get_numeric(*handle, &err);
  if (!num) return invalid(err);
  return solve_held(num, num->symbolic->pattern->n, b, x, status, mode);
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
