// XLA FFI handler `nativax_amgx_solve` (CUDA platform): x = A^{-1} b with NVIDIA AmgX, A given in CSR
// (row_ptr int32 [n+1], col_ind int32 [nnz], values float64 [nnz]), b float64 [n].
// Outputs: x float64 [n] and info int32 [2] = (AMGX_SOLVE_STATUS, iterations).
// Attributes: `config` (AmgX JSON config string) and `transposed` (0/1: the operands already hold A^T's
// CSR for the adjoint solve; the flag keeps that system apart from A's in the cache, so forward and adjoint
// solves of a structurally symmetric A do not evict each other's setup).
//
// One call finds or builds its AmgX system in the cache (cache.h), so nothing allocated under jit outlives
// the cache's bounds. The operands are copied to the host (the structure must be hashed and compared there
// anyway) and handed to AmgX as host arrays; the solution comes back the same way.
//
// STATUS: UNVERIFIED. Compiled against the public amgx_c.h; never run on a GPU by this project.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <cuda_runtime.h>

#include "amgx/api.h"
#include "amgx/cache.h"
#include "xla/ffi/api/ffi.h"

namespace nativax::amgx {

namespace ffi = xla::ffi;

namespace {

ffi::Error cuda_error(const char* what, cudaError_t e) {
  return ffi::Error(ffi::ErrorCode::kInternal,
                    std::string("nativax AmgX: ") + what + ": " + cudaGetErrorString(e));
}

ffi::Error invalid(std::string msg) {
  return ffi::Error(ffi::ErrorCode::kInvalidArgument, "nativax AmgX: " + std::move(msg));
}

template <typename T>
cudaError_t to_host(std::vector<T>* dst, const void* src, size_t count, cudaStream_t stream) {
  dst->resize(count);
  if (count == 0) return cudaSuccess;
  return cudaMemcpyAsync(dst->data(), src, count * sizeof(T), cudaMemcpyDeviceToHost, stream);
}

std::string check_csr(const std::vector<int32_t>& row_ptr, const std::vector<int32_t>& col_ind, int32_t n) {
  if (row_ptr[0] != 0) return "row_ptr[0] must be 0";
  for (int32_t i = 0; i < n; ++i) {
    if (row_ptr[i + 1] < row_ptr[i]) return "row_ptr must be nondecreasing";
  }
  if (static_cast<size_t>(row_ptr[n]) != col_ind.size()) return "row_ptr[n] must equal nnz";
  for (int32_t c : col_ind) {
    if (c < 0 || c >= n) return "col_ind out of range";
  }
  return {};
}

ffi::Error SolveImpl(cudaStream_t stream, int32_t device, ffi::Buffer<ffi::S32> row_ptr,
                     ffi::Buffer<ffi::S32> col_ind, ffi::Buffer<ffi::F64> values, ffi::Buffer<ffi::F64> b,
                     ffi::ResultBuffer<ffi::F64> x, ffi::ResultBuffer<ffi::S32> info, std::string_view config,
                     int64_t transposed) {
  const size_t np1 = row_ptr.element_count();
  const size_t nnz = col_ind.element_count();
  if (np1 < 2 || np1 - 1 > static_cast<size_t>(INT32_MAX) || nnz > static_cast<size_t>(INT32_MAX)) {
    return invalid("row_ptr must have n + 1 >= 2 entries and n, nnz must fit in int32");
  }
  const int32_t n = static_cast<int32_t>(np1 - 1);
  if (values.element_count() != nnz) return invalid("values and col_ind differ in length");
  if (b.element_count() != static_cast<size_t>(n) || x->element_count() != static_cast<size_t>(n)) {
    return invalid("b and x must have n entries");
  }
  if (info->element_count() != 2) return invalid("info must have 2 entries");

  std::string err;
  const Api* a = api(&err);
  if (a == nullptr) return ffi::Error(ffi::ErrorCode::kFailedPrecondition, "nativax AmgX: " + err);

  Key key;
  key.device = device;
  key.transposed = transposed != 0;
  key.n = n;
  key.nnz = static_cast<int32_t>(nnz);
  key.config.assign(config.data(), config.size());
  std::vector<double> h_values, h_b, h_x(static_cast<size_t>(n), 0.0);
  cudaError_t ce;
  if ((ce = to_host(&key.row_ptr, row_ptr.untyped_data(), np1, stream)) != cudaSuccess ||
      (ce = to_host(&key.col_ind, col_ind.untyped_data(), nnz, stream)) != cudaSuccess ||
      (ce = to_host(&h_values, values.untyped_data(), nnz, stream)) != cudaSuccess ||
      (ce = to_host(&h_b, b.untyped_data(), static_cast<size_t>(n), stream)) != cudaSuccess) {
    return cuda_error("copy of the operands to the host", ce);
  }
  if ((ce = cudaStreamSynchronize(stream)) != cudaSuccess) return cuda_error("cudaStreamSynchronize", ce);
  if (std::string bad = check_csr(key.row_ptr, key.col_ind, n); !bad.empty()) return invalid(bad);

  SolveResult res;
  {
    std::lock_guard<std::mutex> lock(library_mutex());
    if ((ce = cudaSetDevice(device)) != cudaSuccess) return cuda_error("cudaSetDevice", ce);
    if (err = ensure_initialized_locked(a); !err.empty()) return ffi::Error(ffi::ErrorCode::kInternal, err);
    std::shared_ptr<System> sys = cache().acquire(a, std::move(key), &err);
    if (!sys) return ffi::Error(ffi::ErrorCode::kInternal, err);
    bool setup = false, resetup = false;
    err = sys->load(a, h_values.data(), &resetup, &setup);
    cache().count_load(setup, resetup);
    if (err.empty()) err = sys->solve(a, h_b.data(), h_x.data(), &res);
    if (!err.empty()) return ffi::Error(ffi::ErrorCode::kInternal, err);
    // In isolated mode (capacity 0) `sys` is the only owner: it is destroyed here, under the mutex.
  }

  const int32_t h_info[2] = {res.status, res.iterations};
  if ((ce = cudaMemcpyAsync(x->untyped_data(), h_x.data(), h_x.size() * sizeof(double),
                            cudaMemcpyHostToDevice, stream)) != cudaSuccess ||
      (ce = cudaMemcpyAsync(info->untyped_data(), h_info, sizeof(h_info), cudaMemcpyHostToDevice, stream)) !=
          cudaSuccess) {
    return cuda_error("copy of the solution to the device", ce);
  }
  // The host buffers die with this frame: wait for the copies.
  if ((ce = cudaStreamSynchronize(stream)) != cudaSuccess) return cuda_error("cudaStreamSynchronize", ce);
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(AmgxSolve, SolveImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::PlatformStream<cudaStream_t>>()
                                  .Ctx<ffi::DeviceOrdinal>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::F64>>()
                                  .Arg<ffi::Buffer<ffi::F64>>()
                                  .Ret<ffi::Buffer<ffi::F64>>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Attr<std::string_view>("config")
                                  .Attr<int64_t>("transposed"));

}  // namespace nativax::amgx
