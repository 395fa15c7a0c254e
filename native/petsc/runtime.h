// The PETSc runtime of nativax's PETSc engine: one lock for everything PETSc (it is not thread-safe),
// PetscInitialize on first use (MPI from mpiexec, or a singleton), errors returned as codes (never abort),
// and the few collectives every FFI call makes so that all ranks take the same path.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>

#include <petscsys.h>

namespace nativax::petsc {

// Held for every PETSc call (solves, gathers, cache clearing, finalize).
std::mutex& library_mutex();

// PetscInitialize once (with -no_signal_handler, PETSc's error handler replaced by a returning one). Returns
// an empty string on success, else why it failed. Caller holds library_mutex().
std::string ensure_initialized_locked();

// Whether PETSc is initialized and not yet finalized by us.
bool initialized();

// Destroy nothing (the caches do that first), then PetscFinalize if nativax initialized PETSc (which also
// MPI_Finalizes when PETSc started MPI). Later solves fail with a clear error. Caller holds library_mutex().
void finalize_locked();

// Size and rank of PETSC_COMM_WORLD (1 and 0 before initialization).
int comm_size();
int comm_rank();

// Elementwise max over all ranks of `n` int64 values (in place). Returns a PETSc error code.
PetscErrorCode allreduce_max(int64_t* values, int n);
// Sum over all ranks of one int64.
PetscErrorCode allreduce_sum(int64_t* value);

// The text of a PETSc error code.
std::string error_text(PetscErrorCode code);

}  // namespace nativax::petsc
