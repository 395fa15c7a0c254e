// XLA FFI handler `nativax_petsc_gather` (CPU): the halo gather of a row-partitioned mat-vec. Given this rank's
// block of a row-partitioned vector x (float64 [..., m]) and this rank's global column indices (int32 [nnz]),
// returns x_global[cols] (float64 [..., nnz]) with a cached PETSc VecScatter: each rank receives only the
// entries its columns touch (memory O(local nnz)). Attribute `n_global`. Collective; the same agreement step
// as the solve handler (ffi_solve.cc) comes first.
#include <memory>

#include "petsc/ffi_common.h"
#include "petsc/runtime.h"
#include "petsc/system.h"

namespace nativax::petsc {

namespace {

ffi::Error GatherImpl(ffi::Buffer<ffi::S32> cols, ffi::Buffer<ffi::F64> x, ffi::ResultBuffer<ffi::F64> out,
                      int64_t n_global) {
  const int64_t nnz = static_cast<int64_t>(cols.element_count());
  const int64_t m = last(x);
  const int64_t L = leading(*out), Lx = leading(x);
  if (leading(cols) != 1) return invalid("`cols` must not be batched (the pattern is static)");
  if ((Lx != 1 && Lx != L) || last(*out) != nnz) return invalid("gather: batch sizes of x and out do not match");

  std::lock_guard<std::mutex> lock(library_mutex());
  if (std::string err = ensure_initialized_locked(); !err.empty()) return ffi::Error::Internal("nativax.PETSc: " + err);

  ScatterKey key;
  key.m = m;
  key.n_global = n_global;
  key.cols.assign(cols.typed_data(), cols.typed_data() + nnz);
  key.hash = hash_bytes(key.cols.data(), key.cols.size() * sizeof(PetscInt), static_cast<uint64_t>(m));
  bool bad = false;
  for (PetscInt cidx : key.cols) bad = bad || cidx < 0 || cidx >= n_global;
  Cache& c = cache();
  std::shared_ptr<Scatter> sc = bad ? nullptr : c.find_scatter(key);
  uint64_t call = hash_bytes(&L, sizeof(L), static_cast<uint64_t>(n_global) * 977 + 5);
  int64_t agree[4] = {signature(call), -signature(call), sc ? 0 : 1, bad ? 1 : 0};
  int64_t rows = m;
  PetscErrorCode ierr = allreduce_max(agree, 4);
  if (!ierr) ierr = allreduce_sum(&rows);
  if (ierr) return ffi::Error::Internal("nativax.PETSc: " + error_text(ierr));
  if (agree[3]) return invalid("a column index is out of range [0, n_global) (on this or another rank)");
  if (agree[0] != -agree[1]) return invalid("the ranks made different halo-gather calls at the same time");
  if (rows != n_global) return invalid("the ranks' local sizes do not sum to n_global");
  if (agree[2]) {
    sc = std::make_shared<Scatter>();
    ierr = sc->create(std::move(key));
    if (ierr) return ffi::Error::Internal("nativax.PETSc: VecScatterCreate: " + error_text(ierr));
    c.put_scatter(sc);
  }
  for (int64_t i = 0; i < L; ++i) {
    ierr = VecPlaceArray(sc->from, x.typed_data() + (Lx == 1 ? 0 : i) * m);
    if (!ierr) ierr = VecPlaceArray(sc->to, out->typed_data() + i * nnz);
    if (!ierr) ierr = VecScatterBegin(sc->sc, sc->from, sc->to, INSERT_VALUES, SCATTER_FORWARD);
    if (!ierr) ierr = VecScatterEnd(sc->sc, sc->from, sc->to, INSERT_VALUES, SCATTER_FORWARD);
    VecResetArray(sc->from);
    VecResetArray(sc->to);
    ++c.stats().gathers;
    if (ierr) return ffi::Error::Internal("nativax.PETSc: halo gather: " + error_text(ierr));
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(PetscGather, GatherImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::S32>>()
                                  .Arg<ffi::Buffer<ffi::F64>>()
                                  .Ret<ffi::Buffer<ffi::F64>>()
                                  .Attr<int64_t>("n_global"));

}  // namespace nativax::petsc
