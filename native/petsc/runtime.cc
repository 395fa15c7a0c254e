#include "petsc/runtime.h"

#include <mpi.h>

namespace nativax::petsc {

namespace {
bool g_initialized_by_us = false;
bool g_finalized = false;
char g_arg0[] = "nativax";
char g_arg1[] = "-no_signal_handler";
char* g_argv_store[] = {g_arg0, g_arg1, nullptr};
}  // namespace

std::mutex& library_mutex() {
  static std::mutex mu;
  return mu;
}

std::string ensure_initialized_locked() {
  if (g_finalized) return "PETSc was finalized in this process (nativax.finalize()); it cannot be started again";
  PetscBool done = PETSC_FALSE;
  PetscInitialized(&done);
  if (done) return {};
  int argc = 2;
  char** argv = g_argv_store;
  PetscErrorCode ierr = PetscInitialize(&argc, &argv, nullptr, nullptr);
  if (ierr) return "PetscInitialize failed (error " + std::to_string(static_cast<int>(ierr)) + ")";
  g_initialized_by_us = true;
  // Errors come back as codes: no printing, no abort.
  PetscPushErrorHandler(PetscReturnErrorHandler, nullptr);
  return {};
}

bool initialized() {
  PetscBool done = PETSC_FALSE;
  PetscInitialized(&done);
  return done == PETSC_TRUE && !g_finalized;
}

void finalize_locked() {
  if (!g_initialized_by_us || g_finalized) return;
  PetscBool done = PETSC_FALSE;
  PetscFinalized(&done);
  if (!done) {
    PetscPopErrorHandler();
    PetscFinalize();
  }
  g_finalized = true;
}

int comm_size() {
  if (!initialized()) return 1;
  int size = 1;
  MPI_Comm_size(PETSC_COMM_WORLD, &size);
  return size;
}

int comm_rank() {
  if (!initialized()) return 0;
  int rank = 0;
  MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
  return rank;
}

PetscErrorCode allreduce_max(int64_t* values, int n) {
  if (comm_size() == 1) return 0;
  return MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_INT64_T, MPI_MAX, PETSC_COMM_WORLD) == MPI_SUCCESS ? 0
                                                                                                      : PETSC_ERR_MPI;
}

PetscErrorCode allreduce_sum(int64_t* value) {
  if (comm_size() == 1) return 0;
  return MPI_Allreduce(MPI_IN_PLACE, value, 1, MPI_INT64_T, MPI_SUM, PETSC_COMM_WORLD) == MPI_SUCCESS ? 0
                                                                                                     : PETSC_ERR_MPI;
}

std::string error_text(PetscErrorCode code) {
  const char* text = nullptr;
  PetscErrorMessage(code, &text, nullptr);
  return std::string("PETSc error ") + std::to_string(static_cast<int>(code)) + (text ? std::string(": ") + text : "");
}

}  // namespace nativax::petsc
