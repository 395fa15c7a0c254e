// The AmgX C API, resolved at run time: libamgxsh.so is dlopen'ed on first use, so the extension builds
// against the header alone and imports on machines without AmgX (it then reports why it cannot run).
//
// STATUS: UNVERIFIED. Compiled against the public amgx_c.h; never run on a GPU by this project.
#pragma once
#include <mutex>
#include <string>

#include <amgx_c.h>

namespace nativax::amgx {

// Function table of the AmgX entry points nativax uses (types taken from amgx_c.h).
struct Api {
  decltype(&AMGX_get_error_string) get_error_string;
  decltype(&AMGX_initialize) initialize;
  decltype(&AMGX_finalize) finalize;
  decltype(&AMGX_config_create) config_create;
  decltype(&AMGX_config_destroy) config_destroy;
  decltype(&AMGX_resources_create) resources_create;
  decltype(&AMGX_resources_destroy) resources_destroy;
  decltype(&AMGX_matrix_create) matrix_create;
  decltype(&AMGX_matrix_destroy) matrix_destroy;
  decltype(&AMGX_matrix_upload_all) matrix_upload_all;
  decltype(&AMGX_matrix_replace_coefficients) matrix_replace_coefficients;
  decltype(&AMGX_vector_create) vector_create;
  decltype(&AMGX_vector_destroy) vector_destroy;
  decltype(&AMGX_vector_upload) vector_upload;
  decltype(&AMGX_vector_set_zero) vector_set_zero;
  decltype(&AMGX_vector_download) vector_download;
  decltype(&AMGX_solver_create) solver_create;
  decltype(&AMGX_solver_destroy) solver_destroy;
  decltype(&AMGX_solver_setup) solver_setup;
  decltype(&AMGX_solver_resetup) solver_resetup;
  decltype(&AMGX_solver_solve) solver_solve;
  decltype(&AMGX_solver_get_status) solver_get_status;
  decltype(&AMGX_solver_get_iterations_number) solver_get_iterations_number;
};

// The loaded table, or nullptr with the reason in *err. Search order: $NATIVAX_AMGX_LIBRARY, the library
// found at build time (if any), then "libamgxsh.so" on the loader path. Loaded once; never unloaded.
const Api* api(std::string* err);

// The path that was (or would first be) tried, for messages.
std::string library_hint();

// "<what> failed: <AmgX's error string> (AMGX_RC n)".
std::string rc_message(const Api* a, AMGX_RC rc, const char* what);

// Every AmgX call of this process runs under this mutex (the library is not documented thread-safe).
std::mutex& library_mutex();

// AMGX_initialize once (caller holds library_mutex). Empty string on success.
std::string ensure_initialized_locked(const Api* a);

// AMGX_finalize if initialized (caller holds library_mutex and has destroyed every AmgX object).
void finalize_locked();

}  // namespace nativax::amgx
