// FFI handlers of the UMFPACK engine: solves with cache-managed factorizations (pattern as COO operands, or
// from a symbolic handle) and with a held numeric handle. The bodies are the shared ones (common/engine_ffi.h).
#include "common/engine_ffi.h"
#include "umfpack/engine.h"

namespace nativax::umfpack {
namespace {

constexpr auto solve_coo_impl = solve_coo<Engine>;
constexpr auto solve_symbolic_impl = solve_symbolic<Engine>;
constexpr auto solve_numeric_impl = solve_numeric<Engine>;

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(UmfpackSolve, solve_coo_impl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<int64_t>("mode")
                                  .Attr<int64_t>("condest")
                                  .Attr<int64_t>("ordering")
                                  .Attr<double>("pivot_tol")
                                  .Attr<int64_t>("scale")
                                  .Attr<ffi::Span<const int64_t>>("perm"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(UmfpackSolveSymbolic, solve_symbolic_impl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::U32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<int64_t>("mode")
                                  .Attr<int64_t>("condest"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(UmfpackSolveNumeric, solve_numeric_impl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::U32>>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Attr<int64_t>("mode")
                                  .Attr<int64_t>("condest"));

}  // namespace nativax::umfpack
