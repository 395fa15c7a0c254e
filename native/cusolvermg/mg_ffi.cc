// cuSOLVERMg potrf / potri / potrs as XLA FFI handlers (CUDA platform).
//
// STATUS: UNVERIFIED. Compiled against the cusolverMg headers of the nvidia-cusolver wheels; never
// executed on a GPU by this project.
//
// cuSOLVERMg is a single-process multi-GPU library: ONE host call drives all GPUs. Under
// `shard_map` XLA invokes the custom call once per device, each on that device's thread and stream.
// The handlers therefore rendezvous: every participant synchronises its own stream (so its input is
// ready), publishes its buffer pointers under the key (XLA run id, call-site id) and waits; the last
// one to arrive runs the cuSOLVERMg routine on everybody's buffers and wakes the others, which then
// write the status into their own output buffer on their own stream.
//
// Layout: the (m, Np) row-major local block of device p is the (Np, m) column-major local part of
// a matrix distributed 1-D block-cyclically over columns with block `tile` on a 1 x ndev grid
// (the Python side orders the tiles so that this is the case). Lower triangle, in place.
//
// Resources: one cusolverMg handle + device grid per device set, one matrix descriptor per
// (n, cols, block, dtype), and one workspace per device (grown on demand) are cached for the process
// lifetime behind a mutex (RAII owners; never recreated per call).
#include <condition_variable>
#include <chrono>
#include <complex>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <cuda_runtime.h>
#include <cusolverMg.h>

#include "xla/ffi/api/ffi.h"

namespace nativax::mg {

namespace ffi = xla::ffi;

namespace {

std::string cuda_msg(const char* what, cudaError_t e) {
  return std::string("nativax cuSOLVERMg: ") + what + ": " + cudaGetErrorString(e);
}

std::string solver_msg(const char* what, cusolverStatus_t s) {
  return std::string("nativax cuSOLVERMg: ") + what + " failed with cusolverStatus " +
         std::to_string(static_cast<int>(s));
}

bool dtype_of(ffi::DataType t, cudaDataType* out, size_t* size) {
  switch (t) {
    case ffi::DataType::F32: *out = CUDA_R_32F; *size = 4; return true;
    case ffi::DataType::F64: *out = CUDA_R_64F; *size = 8; return true;
    case ffi::DataType::C64: *out = CUDA_C_32F; *size = 8; return true;
    case ffi::DataType::C128: *out = CUDA_C_64F; *size = 16; return true;
    default: return false;
  }
}

// ---------------------------------------------------------------------------------------------
// cached resources
// ---------------------------------------------------------------------------------------------

class Workspace {
 public:
  Workspace(int device) : device_(device) {}
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  ~Workspace() {
    if (ptr_ != nullptr) {
      cudaSetDevice(device_);
      cudaFree(ptr_);
    }
  }
  // Grows (never shrinks) to at least `bytes`.
  cudaError_t reserve(size_t bytes) {
    if (bytes <= bytes_) return cudaSuccess;
    cudaError_t e = cudaSetDevice(device_);
    if (e != cudaSuccess) return e;
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
    e = cudaMalloc(&ptr_, bytes);
    if (e == cudaSuccess) bytes_ = bytes;
    return e;
  }
  void* get() const { return ptr_; }

 private:
  int device_;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

class Engine {
 public:
  explicit Engine(std::vector<int32_t> ids) : ids_(std::move(ids)) {}
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  ~Engine() {
    for (auto& [key, desc] : descs_) cusolverMgDestroyMatrixDesc(desc);
    if (grid_ != nullptr) cusolverMgDestroyGrid(grid_);
    if (handle_ != nullptr) cusolverMgDestroy(handle_);
  }

  std::string init() {
    cusolverStatus_t s = cusolverMgCreate(&handle_);
    if (s != CUSOLVER_STATUS_SUCCESS) return solver_msg("cusolverMgCreate", s);
    std::vector<int> ids(ids_.begin(), ids_.end());
    s = cusolverMgDeviceSelect(handle_, static_cast<int>(ids.size()), ids.data());
    if (s != CUSOLVER_STATUS_SUCCESS) return solver_msg("cusolverMgDeviceSelect", s);
    s = cusolverMgCreateDeviceGrid(&grid_, 1, static_cast<int32_t>(ids_.size()), ids_.data(),
                                   CUDALIBMG_GRID_MAPPING_COL_MAJOR);
    if (s != CUSOLVER_STATUS_SUCCESS) return solver_msg("cusolverMgCreateDeviceGrid", s);
    for (int32_t d : ids_) work_.push_back(std::make_unique<Workspace>(d));
    return {};
  }

  // Descriptor of a (rows x cols) matrix in column blocks of `block` over the 1 x ndev grid.
  std::string desc(int64_t rows, int64_t cols, int64_t block, cudaDataType t,
                   cudaLibMgMatrixDesc_t* out) {
    auto key = std::make_tuple(rows, cols, block, static_cast<int>(t));
    auto it = descs_.find(key);
    if (it != descs_.end()) {
      *out = it->second;
      return {};
    }
    cudaLibMgMatrixDesc_t d = nullptr;
    cusolverStatus_t s = cusolverMgCreateMatrixDesc(&d, rows, cols, rows, block, t, grid_);
    if (s != CUSOLVER_STATUS_SUCCESS) return solver_msg("cusolverMgCreateMatrixDesc", s);
    descs_.emplace(key, d);
    *out = d;
    return {};
  }

  // Workspace pointers (one per device) of at least `elems` elements of `size` bytes.
  std::string workspace(int64_t elems, size_t size, std::vector<void*>* ptrs) {
    ptrs->clear();
    for (auto& w : work_) {
      cudaError_t e = w->reserve(static_cast<size_t>(elems) * size);
      if (e != cudaSuccess) return cuda_msg("workspace cudaMalloc", e);
      ptrs->push_back(w->get());
    }
    return {};
  }

  cusolverMgHandle_t handle() const { return handle_; }
  std::mutex& mutex() { return mu_; }

 private:
  std::vector<int32_t> ids_;
  cusolverMgHandle_t handle_ = nullptr;
  cudaLibMgGrid_t grid_ = nullptr;
  std::map<std::tuple<int64_t, int64_t, int64_t, int>, cudaLibMgMatrixDesc_t> descs_;
  std::vector<std::unique_ptr<Workspace>> work_;
  std::mutex mu_;  // one cuSOLVERMg call at a time per engine
};

std::mutex g_engines_mu;

// Engines live for the whole process. The map is intentionally never destroyed: tearing down
// CUDA resources from a static destructor after the CUDA runtime has shut down is undefined.
std::map<std::vector<int32_t>, std::unique_ptr<Engine>>& engines() {
  static auto* m = new std::map<std::vector<int32_t>, std::unique_ptr<Engine>>();
  return *m;
}

std::string get_engine(const std::vector<int32_t>& ids, Engine** out) {
  std::lock_guard<std::mutex> lock(g_engines_mu);
  auto& m = engines();
  auto it = m.find(ids);
  if (it == m.end()) {
    auto e = std::make_unique<Engine>(ids);
    std::string err = e->init();
    if (!err.empty()) return err;
    it = m.emplace(ids, std::move(e)).first;
  }
  *out = it->second.get();
  return {};
}

// ---------------------------------------------------------------------------------------------
// rendezvous of the per-device calls
// ---------------------------------------------------------------------------------------------

struct Participant {
  void* a = nullptr;  // local block of A (in/out for potrf/potri, input for potrs)
  void* b = nullptr;  // potrs: this device's (replicated) right-hand side, in/out
};

struct Slot {
  std::vector<Participant> parts;
  std::vector<bool> present;
  int arrived = 0;
  int left = 0;
  bool done = false;
  int info = 0;
  std::string error;
};

std::mutex g_slots_mu;
std::condition_variable g_slots_cv;
std::map<std::pair<int64_t, int64_t>, std::shared_ptr<Slot>> g_slots;

enum class Op { kPotrf, kPotri, kPotrs };

struct Call {
  Op op;
  int64_t n, tile, nrhs;
  cudaDataType type;
  size_t size;
  std::vector<int32_t> ids;
};

// Runs on the last participant to arrive; all buffers are ready (their streams synchronised).
std::string run_leader(const Call& c, Slot& slot) {
  Engine* eng = nullptr;
  std::string err = get_engine(c.ids, &eng);
  if (!err.empty()) return err;
  std::lock_guard<std::mutex> lock(eng->mutex());
  const int ndev = static_cast<int>(c.ids.size());
  cudaLibMgMatrixDesc_t da = nullptr;
  if (!(err = eng->desc(c.n, c.n, c.tile, c.type, &da)).empty()) return err;
  std::vector<void*> a(ndev), work;
  for (int p = 0; p < ndev; ++p) a[p] = slot.parts[p].a;
  int64_t lwork = 0;
  int info = 0;
  cusolverStatus_t s;
  const int n = static_cast<int>(c.n);
  if (c.op == Op::kPotrs) {
    // B (n x nrhs) lives entirely on the first device (one column block of width nrhs); the
    // others' pointers are passed but hold no part of it. The result is copied back below.
    cudaLibMgMatrixDesc_t db = nullptr;
    if (!(err = eng->desc(c.n, c.nrhs, c.nrhs, c.type, &db)).empty()) return err;
    std::vector<void*> b(ndev);
    for (int p = 0; p < ndev; ++p) b[p] = slot.parts[p].b;
    s = cusolverMgPotrs_bufferSize(eng->handle(), CUBLAS_FILL_MODE_LOWER, n,
                                   static_cast<int>(c.nrhs), a.data(), 1, 1, da, b.data(), 1, 1,
                                   db, c.type, &lwork);
    if (s != CUSOLVER_STATUS_SUCCESS) return solver_msg("cusolverMgPotrs_bufferSize", s);
    if (!(err = eng->workspace(lwork, c.size, &work)).empty()) return err;
    s = cusolverMgPotrs(eng->handle(), CUBLAS_FILL_MODE_LOWER, n, static_cast<int>(c.nrhs),
                        a.data(), 1, 1, da, b.data(), 1, 1, db, c.type, work.data(), lwork, &info);
    if (s != CUSOLVER_STATUS_SUCCESS) return solver_msg("cusolverMgPotrs", s);
    for (int p = 0; p < ndev; ++p) {
      cudaSetDevice(c.ids[p]);
      cudaDeviceSynchronize();
    }
    const size_t bytes = static_cast<size_t>(c.n * c.nrhs) * c.size;
    for (int p = 1; p < ndev; ++p) {
      cudaError_t e = cudaMemcpyPeer(b[p], c.ids[p], b[0], c.ids[0], bytes);
      if (e != cudaSuccess) return cuda_msg("cudaMemcpyPeer of the solution", e);
    }
  } else {
    const bool inv = c.op == Op::kPotri;
    s = cusolverMgPotrf_bufferSize(eng->handle(), CUBLAS_FILL_MODE_LOWER, n, a.data(), 1, 1, da,
                                   c.type, &lwork);
    if (s != CUSOLVER_STATUS_SUCCESS) return solver_msg("cusolverMgPotrf_bufferSize", s);
    if (inv) {
      int64_t lwork_inv = 0;
      s = cusolverMgPotri_bufferSize(eng->handle(), CUBLAS_FILL_MODE_LOWER, n, a.data(), 1, 1, da,
                                     c.type, &lwork_inv);
      if (s != CUSOLVER_STATUS_SUCCESS) return solver_msg("cusolverMgPotri_bufferSize", s);
      lwork = std::max(lwork, lwork_inv);
    }
    if (!(err = eng->workspace(lwork, c.size, &work)).empty()) return err;
    s = cusolverMgPotrf(eng->handle(), CUBLAS_FILL_MODE_LOWER, n, a.data(), 1, 1, da, c.type,
                        work.data(), lwork, &info);
    if (s != CUSOLVER_STATUS_SUCCESS) return solver_msg("cusolverMgPotrf", s);
    if (inv && info == 0) {
      s = cusolverMgPotri(eng->handle(), CUBLAS_FILL_MODE_LOWER, n, a.data(), 1, 1, da, c.type,
                          work.data(), lwork, &info);
      if (s != CUSOLVER_STATUS_SUCCESS) return solver_msg("cusolverMgPotri", s);
    }
    for (int p = 0; p < ndev; ++p) {
      cudaSetDevice(c.ids[p]);
      cudaError_t e = cudaDeviceSynchronize();
      if (e != cudaSuccess) return cuda_msg("cudaDeviceSynchronize", e);
    }
  }
  slot.info = info;
  return {};
}

ffi::Error participate(const Call& c, cudaStream_t stream, int64_t run_id, int32_t ordinal,
                       int64_t call_id, Participant me, int32_t* info_out) {
  const int ndev = static_cast<int>(c.ids.size());
  int pos = -1;
  for (int p = 0; p < ndev; ++p)
    if (c.ids[p] == ordinal) pos = p;
  if (pos < 0)
    return ffi::Error(ffi::ErrorCode::kInvalidArgument,
                      "nativax cuSOLVERMg: this device is not in `device_ids`");
  cudaError_t e = cudaStreamSynchronize(stream);  // inputs (and the in-place copy) are ready
  if (e != cudaSuccess) return ffi::Error(ffi::ErrorCode::kInternal, cuda_msg("stream sync", e));

  std::shared_ptr<Slot> slot;
  const auto key = std::make_pair(run_id, call_id);
  {
    std::unique_lock<std::mutex> lock(g_slots_mu);
    auto& ref = g_slots[key];
    if (!ref) {
      ref = std::make_shared<Slot>();
      ref->parts.resize(ndev);
      ref->present.assign(ndev, false);
    }
    slot = ref;
    slot->parts[pos] = me;
    slot->present[pos] = true;
    const bool leader = ++slot->arrived == ndev;
    if (leader) {
      lock.unlock();
      std::string err = run_leader(c, *slot);
      lock.lock();
      slot->error = err;
      slot->done = true;
      g_slots_cv.notify_all();
    } else {
      const bool ok = g_slots_cv.wait_for(lock, std::chrono::minutes(10),
                                          [&] { return slot->done; });
      if (!ok) {
        slot->error = "timed out waiting for the other devices (are all of `device_ids` in the mesh?)";
        slot->done = true;
      }
    }
    if (++slot->left == ndev) g_slots.erase(key);
  }
  if (!slot->error.empty()) return ffi::Error(ffi::ErrorCode::kInternal, slot->error);
  e = cudaSetDevice(ordinal);
  if (e == cudaSuccess) e = cudaMemcpyAsync(info_out, &slot->info, sizeof(int32_t),
                                            cudaMemcpyHostToDevice, stream);
  if (e == cudaSuccess) e = cudaStreamSynchronize(stream);  // `slot` (the source) outlives this
  if (e != cudaSuccess) return ffi::Error(ffi::ErrorCode::kInternal, cuda_msg("status copy", e));
  return ffi::Error::Success();
}

ffi::Error copy_if_distinct(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  if (dst == src || bytes == 0) return ffi::Error::Success();
  cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream);
  if (e != cudaSuccess) return ffi::Error(ffi::ErrorCode::kInternal, cuda_msg("in-place copy", e));
  return ffi::Error::Success();
}

ffi::Error check_attrs(int64_t n, int64_t tile, ffi::Span<const int32_t> ids) {
  if (n <= 0 || tile <= 0 || ids.size() == 0 || n % tile != 0 ||
      (n / tile) % static_cast<int64_t>(ids.size()) != 0 || n > INT32_MAX)
    return ffi::Error(ffi::ErrorCode::kInvalidArgument,
                      "nativax cuSOLVERMg: n must be a multiple of tile * ndev (and < 2^31)");
  return ffi::Error::Success();
}

ffi::Error factor_impl(Op op, cudaStream_t stream, ffi::RunId run_id, int32_t ordinal,
                       ffi::AnyBuffer a, ffi::Result<ffi::AnyBuffer> out,
                       ffi::Result<ffi::Buffer<ffi::S32>> info, int64_t n, int64_t tile,
                       ffi::Span<const int32_t> device_ids, int64_t call_id) {
  Call c{op, n, tile, 0, CUDA_R_64F, 0, {device_ids.begin(), device_ids.end()}};
  if (!dtype_of(a.element_type(), &c.type, &c.size))
    return ffi::Error(ffi::ErrorCode::kInvalidArgument, "nativax cuSOLVERMg: unsupported dtype");
  if (auto err = check_attrs(n, tile, device_ids); err.failure()) return err;
  const size_t local = static_cast<size_t>(n / static_cast<int64_t>(c.ids.size())) * n;
  if (a.element_count() != local)
    return ffi::Error(ffi::ErrorCode::kInvalidArgument,
                      "nativax cuSOLVERMg: local block must have n/ndev * n elements");
  if (auto err = copy_if_distinct(out->untyped_data(), a.untyped_data(), local * c.size, stream);
      err.failure())
    return err;
  Participant me{out->untyped_data(), nullptr};
  return participate(c, stream, run_id.run_id, ordinal, call_id, me, info->typed_data());
}

ffi::Error PotrfImpl(cudaStream_t stream, ffi::RunId run_id, int32_t ordinal, ffi::AnyBuffer a,
                     ffi::Result<ffi::AnyBuffer> out, ffi::Result<ffi::Buffer<ffi::S32>> info,
                     int64_t n, int64_t tile, ffi::Span<const int32_t> device_ids, int64_t call_id) {
  return factor_impl(Op::kPotrf, stream, run_id, ordinal, a, out, info, n, tile, device_ids,
                     call_id);
}

ffi::Error PotriImpl(cudaStream_t stream, ffi::RunId run_id, int32_t ordinal, ffi::AnyBuffer a,
                     ffi::Result<ffi::AnyBuffer> out, ffi::Result<ffi::Buffer<ffi::S32>> info,
                     int64_t n, int64_t tile, ffi::Span<const int32_t> device_ids, int64_t call_id) {
  return factor_impl(Op::kPotri, stream, run_id, ordinal, a, out, info, n, tile, device_ids,
                     call_id);
}

ffi::Error PotrsImpl(cudaStream_t stream, ffi::RunId run_id, int32_t ordinal, ffi::AnyBuffer a,
                     ffi::AnyBuffer b, ffi::Result<ffi::AnyBuffer> out,
                     ffi::Result<ffi::Buffer<ffi::S32>> info, int64_t nrhs, int64_t n, int64_t tile,
                     ffi::Span<const int32_t> device_ids, int64_t call_id) {
  Call c{Op::kPotrs, n, tile, nrhs, CUDA_R_64F, 0, {device_ids.begin(), device_ids.end()}};
  if (!dtype_of(a.element_type(), &c.type, &c.size) || b.element_type() != a.element_type())
    return ffi::Error(ffi::ErrorCode::kInvalidArgument,
                      "nativax cuSOLVERMg: unsupported or mismatched dtypes");
  if (auto err = check_attrs(n, tile, device_ids); err.failure()) return err;
  if (nrhs <= 0 || b.element_count() != static_cast<size_t>(n * nrhs))
    return ffi::Error(ffi::ErrorCode::kInvalidArgument,
                      "nativax cuSOLVERMg: right-hand side must have n * nrhs elements");
  if (auto err = copy_if_distinct(out->untyped_data(), b.untyped_data(), n * nrhs * c.size,
                                  stream);
      err.failure())
    return err;
  Participant me{a.untyped_data(), out->untyped_data()};
  return participate(c, stream, run_id.run_id, ordinal, call_id, me, info->typed_data());
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(MgPotrf, PotrfImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::PlatformStream<cudaStream_t>>()
                                  .Ctx<ffi::RunId>()
                                  .Ctx<ffi::DeviceOrdinal>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Attr<int64_t>("n")
                                  .Attr<int64_t>("tile")
                                  .Attr<ffi::Span<const int32_t>>("device_ids")
                                  .Attr<int64_t>("call_id"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(MgPotri, PotriImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::PlatformStream<cudaStream_t>>()
                                  .Ctx<ffi::RunId>()
                                  .Ctx<ffi::DeviceOrdinal>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Attr<int64_t>("n")
                                  .Attr<int64_t>("tile")
                                  .Attr<ffi::Span<const int32_t>>("device_ids")
                                  .Attr<int64_t>("call_id"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(MgPotrs, PotrsImpl,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::PlatformStream<cudaStream_t>>()
                                  .Ctx<ffi::RunId>()
                                  .Ctx<ffi::DeviceOrdinal>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Arg<ffi::AnyBuffer>()
                                  .Ret<ffi::AnyBuffer>()
                                  .Ret<ffi::Buffer<ffi::S32>>()
                                  .Attr<int64_t>("nrhs")
                                  .Attr<int64_t>("n")
                                  .Attr<int64_t>("tile")
                                  .Attr<ffi::Span<const int32_t>>("device_ids")
                                  .Attr<int64_t>("call_id"));

}  // namespace nativax::mg
