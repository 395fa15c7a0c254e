// The optional nanobind extension `nativax._amgx_cuda`: the AmgX solve FFI capsule plus cache
// introspection/control for `nativax.cache_info()` / `clear_caches()` / `finalize()`.
// UNVERIFIED: compiled, never run on a GPU by this project (see docs/amg.md).
#include <mutex>
#include <string>

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include "amgx/api.h"
#include "amgx/cache.h"
#include "xla/ffi/api/c_api.h"

namespace nb = nanobind;

namespace nativax::amgx {
extern "C" XLA_FFI_Error* AmgxSolve(XLA_FFI_CallFrame* call_frame);
}  // namespace nativax::amgx

namespace {

using namespace nativax::amgx;

// Destroy every cached system; optionally AMGX_finalize as well (a later solve initializes again).
void drop_all(bool finalize) {
  nb::gil_scoped_release release;  // a solve in flight may hold the library mutex
  std::lock_guard<std::mutex> lock(library_mutex());
  cache().clear();
  if (finalize) finalize_locked();
}

}  // namespace

NB_MODULE(_amgx_cuda, m) {
  m.doc() = "NVIDIA AmgX solve XLA FFI handler and its resource cache (CUDA; unverified)";
  m.def("ffi_targets", []() {
    nb::dict d;
    d["nativax_amgx_solve"] = nb::capsule(reinterpret_cast<void*>(AmgxSolve));
    return d;
  });
  m.def("load_error", []() {
    std::string err;
    return api(&err) == nullptr ? err : std::string();
  }, "Empty when libamgxsh.so is loaded (dlopen), else why it could not be.");
  m.def("library_hint", &library_hint);
  m.def("cache_info", []() {
    Stats s = cache().stats();
    nb::dict d;
    d["entries"] = s.entries;
    d["bytes"] = s.bytes;
    d["hits"] = s.hits;
    d["misses"] = s.misses;
    d["evictions"] = s.evictions;
    d["setups"] = s.setups;
    d["resetups"] = s.resetups;
    d["capacity"] = s.capacity;
    return d;
  });
  m.def("set_cache_size", [](int64_t entries) {
    nb::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(library_mutex());
    cache().set_capacity(entries);
  });
  m.def("reset_cache_counters", []() { cache().reset_counters(); });
  m.def("clear_caches", []() { drop_all(false); });
  m.def("finalize", []() { drop_all(true); });
}
