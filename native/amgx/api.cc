#include "amgx/api.h"

#include <dlfcn.h>

#include <cstdlib>
#include <vector>

namespace nativax::amgx {
namespace {

#ifdef NATIVAX_AMGX_BUILD_LIBRARY
constexpr const char* kBuildLibrary = NATIVAX_AMGX_BUILD_LIBRARY;
#else
constexpr const char* kBuildLibrary = "";
#endif

std::vector<std::string> candidates() {
  std::vector<std::string> c;
  if (const char* env = std::getenv("NATIVAX_AMGX_LIBRARY"); env && *env) c.emplace_back(env);
  if (*kBuildLibrary) c.emplace_back(kBuildLibrary);
  c.emplace_back("libamgxsh.so");
  return c;
}

template <typename F>
bool resolve(void* lib, const char* name, F* out, std::string* missing) {
  *out = reinterpret_cast<F>(dlsym(lib, name));
  if (*out == nullptr) {
    if (!missing->empty()) *missing += ", ";
    *missing += name;
    return false;
  }
  return true;
}

struct Loaded {
  Api api{};
  std::string error;  // empty when `api` is complete
};

Loaded load() {
  Loaded r;
  void* lib = nullptr;
  std::string tried;
  for (const auto& path : candidates()) {
    lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib != nullptr) break;
    const char* e = dlerror();
    tried += "\n  " + path + ": " + (e ? e : "not found");
  }
  if (lib == nullptr) {
    r.error = "could not load the AmgX shared library (libamgxsh.so); tried:" + tried +
              "\nSet NATIVAX_AMGX_LIBRARY=/path/to/libamgxsh.so or add its folder to LD_LIBRARY_PATH.";
    return r;
  }
  std::string missing;
  Api& a = r.api;
  bool ok = true;
  ok &= resolve(lib, "AMGX_get_error_string", &a.get_error_string, &missing);
  ok &= resolve(lib, "AMGX_initialize", &a.initialize, &missing);
  ok &= resolve(lib, "AMGX_finalize", &a.finalize, &missing);
  ok &= resolve(lib, "AMGX_config_create", &a.config_create, &missing);
  ok &= resolve(lib, "AMGX_config_destroy", &a.config_destroy, &missing);
  ok &= resolve(lib, "AMGX_resources_create", &a.resources_create, &missing);
  ok &= resolve(lib, "AMGX_resources_destroy", &a.resources_destroy, &missing);
  ok &= resolve(lib, "AMGX_matrix_create", &a.matrix_create, &missing);
  ok &= resolve(lib, "AMGX_matrix_destroy", &a.matrix_destroy, &missing);
  ok &= resolve(lib, "AMGX_matrix_upload_all", &a.matrix_upload_all, &missing);
  ok &= resolve(lib, "AMGX_matrix_replace_coefficients", &a.matrix_replace_coefficients, &missing);
  ok &= resolve(lib, "AMGX_vector_create", &a.vector_create, &missing);
  ok &= resolve(lib, "AMGX_vector_destroy", &a.vector_destroy, &missing);
  ok &= resolve(lib, "AMGX_vector_upload", &a.vector_upload, &missing);
  ok &= resolve(lib, "AMGX_vector_set_zero", &a.vector_set_zero, &missing);
  ok &= resolve(lib, "AMGX_vector_download", &a.vector_download, &missing);
  ok &= resolve(lib, "AMGX_solver_create", &a.solver_create, &missing);
  ok &= resolve(lib, "AMGX_solver_destroy", &a.solver_destroy, &missing);
  ok &= resolve(lib, "AMGX_solver_setup", &a.solver_setup, &missing);
  ok &= resolve(lib, "AMGX_solver_resetup", &a.solver_resetup, &missing);
  ok &= resolve(lib, "AMGX_solver_solve", &a.solver_solve, &missing);
  ok &= resolve(lib, "AMGX_solver_get_status", &a.solver_get_status, &missing);
  ok &= resolve(lib, "AMGX_solver_get_iterations_number", &a.solver_get_iterations_number, &missing);
  if (!ok) r.error = "the loaded AmgX library lacks the symbols: " + missing;
  return r;  // the handle is kept open for the process lifetime
}

bool g_initialized = false;

}  // namespace

const Api* api(std::string* err) {
  static const Loaded* loaded = new Loaded(load());  // thread-safe static init; never freed
  if (!loaded->error.empty()) {
    if (err) *err = loaded->error;
    return nullptr;
  }
  return &loaded->api;
}

std::string library_hint() { return candidates().front(); }

std::string rc_message(const Api* a, AMGX_RC rc, const char* what) {
  char buf[512] = {0};
  if (a != nullptr && a->get_error_string != nullptr) a->get_error_string(rc, buf, sizeof(buf) - 1);
  return std::string("nativax AmgX: ") + what + " failed: " + (buf[0] ? buf : "unknown error") +
         " (AMGX_RC " + std::to_string(static_cast<int>(rc)) + ")";
}

std::mutex& library_mutex() {
  static auto* mu = new std::mutex();
  return *mu;
}

std::string ensure_initialized_locked(const Api* a) {
  if (g_initialized) return {};
  AMGX_RC rc = a->initialize();
  if (rc != AMGX_RC_OK) return rc_message(a, rc, "AMGX_initialize");
  g_initialized = true;
  return {};
}

void finalize_locked() {
  if (!g_initialized) return;
  const Api* a = api(nullptr);
  if (a != nullptr) a->finalize();
  g_initialized = false;
}

}  // namespace nativax::amgx
