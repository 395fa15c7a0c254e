"""Readable PETSc configurations: the presets and how a `PETSc` solver's fields become one options string."""

from __future__ import annotations

PRESETS: dict[str, str] = {
    "mumps_lu": "-ksp_type preonly -pc_type lu -pc_factor_mat_solver_type mumps",
    "mumps_cholesky": "-ksp_type preonly -pc_type cholesky -pc_factor_mat_solver_type mumps",
    "superlu_dist": "-ksp_type preonly -pc_type lu -pc_factor_mat_solver_type superlu_dist",
    "hypre": "-ksp_type cg -ksp_norm_type unpreconditioned -pc_type hypre -pc_hypre_type boomeramg",
    "gamg": "-ksp_type cg -ksp_norm_type unpreconditioned -pc_type gamg",
}
"""Preset name -> PETSc options. `mumps_lu`/`superlu_dist`: sparse direct LU (any nonsingular matrix);
`mumps_cholesky`: direct Cholesky/LDL^T (symmetric matrices; MUMPS reads the upper triangle); `hypre`: CG with
one hypre BoomerAMG V-cycle as preconditioner (symmetric positive definite); `gamg`: CG with PETSc's smoothed
aggregation AMG (symmetric positive definite)."""

DIRECT = frozenset({"mumps_lu", "mumps_cholesky", "superlu_dist"})
SYMMETRIC = frozenset({"mumps_cholesky", "hypre", "gamg"})


def check_options(options: str) -> str:
    """Validate a raw options string (tokens; every name starts with '-'); returns it normalised."""
    if not isinstance(options, str):
        raise TypeError(f"nativax.PETSc: `options` must be a str of PETSc options, got {type(options).__name__}")
    tokens = options.split()
    if tokens and not tokens[0].startswith("-"):
        raise ValueError(
            f"nativax.PETSc: `options` must be PETSc options such as '-ksp_type gmres -pc_type ilu', got {options!r}"
        )
    for t in tokens:
        if t.startswith("-") and t[1:2].isalpha() and "prefix" in t:
            raise ValueError(f"nativax.PETSc: `options` may not set prefixes ({t}); nativax gives each system its own")
    return " ".join(tokens)


def options_string(preset: str | None, options: str, rtol: float, atol: float, max_steps: int) -> str:
    """The full options of one solver: the preset's, the Krylov tolerances (ignored by direct presets' KSP
    'preonly'), then the user's `options` (which win: PETSc keeps the last value of an option)."""
    parts = [PRESETS[preset]] if preset is not None else []
    if preset not in DIRECT:
        parts.append(f"-ksp_rtol {rtol!r} -ksp_atol {atol!r} -ksp_max_it {max_steps}")
    if options:
        parts.append(options)
    return " ".join(parts)
