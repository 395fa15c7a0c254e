// One thread policy for the pool and the BLAS under SuiteSparse: a batch that runs several factorizations at
// once on the pool runs BLAS single-threaded in every worker (otherwise each of P workers starts P BLAS threads:
// P^2 threads on P cores); one factorization on its own keeps the BLAS library's own thread count. Applied
// inside nativax through the BLAS library's run-time controls (found with dlsym), never through the
// environment: the user's OPENBLAS_NUM_THREADS / MKL settings and other libraries' BLAS are left alone.
#pragma once
#include <string>

namespace nativax {

// While alive and `active`, BLAS calls made by nativax run single-threaded. Nested and concurrent scopes are
// counted; the BLAS library's previous setting is restored when the last one ends.
class SerialBlasScope {
 public:
  explicit SerialBlasScope(bool active);
  ~SerialBlasScope();
  SerialBlasScope(const SerialBlasScope&) = delete;
  SerialBlasScope& operator=(const SerialBlasScope&) = delete;

 private:
  bool active_;
};

// Which control was found: "openblas_set_num_threads_local", "openblas_set_num_threads",
// "MKL_Set_Num_Threads_Local" or "none" (no threaded BLAS control found: nothing to do).
std::string blas_thread_control();

// The BLAS library's current thread count as it reports it (-1 when unknown).
int blas_num_threads();

}  // namespace nativax
