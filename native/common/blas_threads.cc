#include "common/blas_threads.h"

#include <dlfcn.h>

#include <mutex>

namespace nativax {
namespace {

using SetFn = void (*)(int);
using SetLocalFn = int (*)(int);  // returns the previous thread-local count
using GetFn = int (*)();

struct Controls {
  SetLocalFn set_local = nullptr;  // thread-local (OpenBLAS >= 0.3.27, MKL): no shared state to manage
  SetFn set_global = nullptr;      // process-wide (older OpenBLAS): counted scopes, restored at the end
  GetFn get = nullptr;
  const char* name = "none";
};

void* find(const char* sym) {
  // The BLAS is a dependency of this extension, loaded with RTLD_LOCAL: look in the libraries themselves
  // (RTLD_NOLOAD: only ones already in the process), then in the global scope.
  static const char* const kLibs[] = {"libopenblas.so.0", "libopenblas.so", "libblas.so.3", "libmkl_rt.so.2",
                                      "libmkl_rt.so"};
  for (const char* lib : kLibs) {
    if (void* h = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD)) {
      void* f = dlsym(h, sym);
      dlclose(h);  // drops only the reference RTLD_NOLOAD added
      if (f) return f;
    }
  }
  return dlsym(RTLD_DEFAULT, sym);
}

const Controls& controls() {
  static const Controls c = [] {
    Controls c;
    c.get = reinterpret_cast<GetFn>(find("openblas_get_num_threads"));
    if (auto f = reinterpret_cast<SetLocalFn>(find("openblas_set_num_threads_local"))) {
      c.set_local = f;
      c.name = "openblas_set_num_threads_local";
    } else if (auto g = reinterpret_cast<SetFn>(find("openblas_set_num_threads")); g && c.get) {
      c.set_global = g;
      c.name = "openblas_set_num_threads";
    } else if (auto m = reinterpret_cast<SetLocalFn>(find("MKL_Set_Num_Threads_Local"))) {
      c.set_local = m;
      c.name = "MKL_Set_Num_Threads_Local";
    }
    return c;
  }();
  return c;
}

std::mutex g_mu;
int g_depth = 0;     // live active scopes (process-wide control only)
int g_saved = 0;     // the library's count before the first of them
thread_local int tl_depth = 0;   // live active scopes on this thread (thread-local control)
thread_local int tl_saved = 0;

}  // namespace

SerialBlasScope::SerialBlasScope(bool active) : active_(active) {
  if (!active_) return;
  const Controls& c = controls();
  if (c.set_local) {
    if (tl_depth++ == 0) tl_saved = c.set_local(1);
  } else if (c.set_global) {
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_depth++ == 0) {
      g_saved = c.get();
      if (g_saved != 1) c.set_global(1);
    }
  }
}

SerialBlasScope::~SerialBlasScope() {
  if (!active_) return;
  const Controls& c = controls();
  if (c.set_local) {
    if (--tl_depth == 0) c.set_local(tl_saved);
  } else if (c.set_global) {
    std::lock_guard<std::mutex> lock(g_mu);
    if (--g_depth == 0 && g_saved != 1 && g_saved > 0) c.set_global(g_saved);
  }
}

std::string blas_thread_control() { return controls().name; }

int blas_num_threads() {
  const Controls& c = controls();
  return c.get ? c.get() : -1;
}

}  // namespace nativax
