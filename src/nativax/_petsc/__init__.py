"""The PETSc engine (`nativax.PETSc`, `nativax.petsc`): see `solver.py` and `src/nativax/README.md`."""
