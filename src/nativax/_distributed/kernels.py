"""Shard-local kernels of the any-backend ("shard_map") engine of `nativax.distributed`.

Every function here runs *inside* a `shard_map` (or the user's own one): it sees the local row
block of a row-sharded matrix and talks to the other devices only through `lax` collectives
(`psum`, `ppermute`, `all_to_all`) over the row axis. Nothing here gathers a whole matrix on a
device: the largest buffers besides the local shard are one tile-row ``(tile, Np)`` and one
tile-column strip ``(m, tile)``.

Data layout
-----------
The global matrix (after padding) has ``Np = ndev * m`` rows; device ``d`` holds the physical rows
``[d*m, (d+1)*m)``, i.e. the ``ntl = m // tile`` physical row tiles ``d*ntl + l``.

The kernels always eliminate in a *logical* tile order in which the local tile ``l`` of device
``d`` is the logical tile ``l*ndev + d``: every device owns every ``ndev``-th logical tile (1-D
block-cyclic), so each device has the same amount of trailing work at every step.

* ``Layout.permuted=True``: the logical order is a tile permutation of the physical order
  (logical tile ``k`` is physical tile ``(k % ndev)*ntl + k // ndev``). No data moves at all;
  the kernels factor ``P A P^T``. Inverses and solves do not care (they are undone by index
  arithmetic); this is what `potri`, `potrs` and the lineax solver use.
* ``Layout.permuted=False``: the physical order *is* the logical order; used by `potrf`, which
  must return the triangular factor of ``A`` itself, after `to_cyclic` has exchanged row tiles.

Columns are never moved: a logical column tile is found at its physical position through
`Layout.colmap`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import lax

# --------------------------------------------------------------------------------------------
# layout
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Layout:
    """Static description of a row-sharded, tile-padded matrix (hashable: used as a jit key)."""

    ndev: int  # devices along the row axis
    axis: Any  # the row axis name (str) or a tuple of names
    tile: int  # T: tile width (the block size of the 1-D block-cyclic distribution)
    m0: int  # rows per shard as given (global N = ndev * m0)
    m: int  # rows per shard after padding (a multiple of tile)
    permuted: bool = True
    nphase: int = 8  # static row-window phases (bounds the masked work; see module docs)
    device_ids: tuple = ()  # CUDA ordinals in shard order (cuSOLVERMg engine only)

    @property
    def n(self) -> int:
        return self.ndev * self.m0

    @property
    def ntl(self) -> int:
        return self.m // self.tile

    @property
    def nt(self) -> int:
        return self.ndev * self.ntl

    @property
    def npad(self) -> int:
        return self.ndev * self.m

    @property
    def padded(self) -> bool:
        return self.m != self.m0

    def replace(self, **kw) -> Layout:
        return dataclasses.replace(self, **kw)

    def colmap(self, c):
        """Physical column-tile index of logical tile ``c`` (python int or traced int)."""
        if not self.permuted:
            return c
        return (c % self.ndev) * self.ntl + c // self.ndev

    def phases(self) -> list[tuple[int, int]]:
        # at most one phase per 4 tiles: each phase is a separate copy of the loop body (compile
        # time), and the masked-work saving of a phase boundary is small for short phases
        nph = max(1, min(self.nphase, -(-self.nt // 4)))
        bounds = np.linspace(0, self.nt, nph + 1).round().astype(int)
        return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def make_layout(
    n: int, ndev: int, axis, tile: int, *, pad: bool = True, permuted=True, device_ids=()
) -> Layout:
    """Layout of an ``n x n`` matrix split over ``ndev`` row shards with tiles of ``tile``.

    ``n`` must be divisible by ``ndev`` (the caller pads globally first otherwise). A tile wider
    than a shard is clamped to the shard (one tile per device, no padding).
    """
    if n % ndev:
        raise ValueError(f"internal: n={n} is not divisible by ndev={ndev}")
    m0 = n // ndev
    t = min(int(tile), m0)
    m = -(-m0 // t) * t
    if m != m0 and not pad:
        raise ValueError(
            f"pad=False, but each of the {ndev} row shards has {m0} rows, which is not a multiple "
            f"of tile={t}; pass pad=True (costs one copy of the shard), choose a tile that divides "
            f"{m0}, or pre-pad the matrix to {ndev * m} rows with an identity block."
        )
    return Layout(
        ndev=ndev, axis=axis, tile=t, m0=m0, m=m, permuted=permuted, device_ids=tuple(device_ids)
    )


def _i32(v):
    return lax.convert_element_type(v, jnp.int32)


def _ds(x, starts, sizes):
    return lax.dynamic_slice(x, tuple(_i32(s) for s in starts), sizes)


def _dus(x, upd, starts):
    return lax.dynamic_update_slice(x, upd, tuple(_i32(s) for s in starts))


def _ct(x):
    """Conjugate transpose (a no-op conj for real dtypes)."""
    return jnp.conj(x).T if jnp.iscomplexobj(x) else x.T


def _bcast(x, owner, d, axis):
    """Value of ``x`` on device ``owner``, replicated on every device (one all-reduce)."""
    return lax.psum(jnp.where(d == owner, x, jnp.zeros_like(x)), axis)


def _tri_inv(l):
    """Inverse of a small lower-triangular tile.

    Large strips are then solved with a matrix product by this inverse rather than with a
    BLAS ``trsm`` custom call: the product runs at GEMM speed and, unlike the column-major
    LAPACK/BLAS custom calls, does not make XLA switch the layout of the whole shard (which
    would cost shard-sized copies).
    """
    return lax.linalg.triangular_solve(l, jnp.eye(l.shape[0], dtype=l.dtype), left_side=True,
                                       lower=True)


def _trsm_left_l(l, b):
    """Solve ``L @ X = B`` for lower-triangular ``L``."""
    return lax.linalg.triangular_solve(l, b, left_side=True, lower=True)


def _trsm_left_lh(l, b):
    """Solve ``L^H @ X = B`` for lower-triangular ``L``."""
    return lax.linalg.triangular_solve(
        l, b, left_side=True, lower=True, transpose_a=True, conjugate_a=True
    )


def _row_logical(lay: Layout, d, l0: int, nrows: int):
    """Logical tile index of each of the local rows ``[l0*T, l0*T + nrows)`` (shape (nrows,))."""
    return (l0 + jnp.arange(nrows, dtype=jnp.int32) // lay.tile) * lay.ndev + d


# --------------------------------------------------------------------------------------------
# padding
# --------------------------------------------------------------------------------------------


def pad_local(a, lay: Layout):
    """(m0, n) local shard -> (m, Np) with identity rows/cols appended to every shard.

    The padded matrix is ``A`` with decoupled unit rows/columns inserted after each shard, so it
    stays Hermitian positive definite, its Cholesky factor / inverse / solutions are those of
    ``A`` with the same unit rows/columns inserted. Costs one copy of the local shard (only when
    ``m != m0``).
    """
    if not lay.padded:
        return a
    d = lax.axis_index(lay.axis)
    D, m0, m = lay.ndev, lay.m0, lay.m
    x = a.reshape(m0, D, m0)
    x = jnp.pad(x, ((0, m - m0), (0, 0), (0, m - m0))).reshape(m, D * m)
    r = jnp.arange(m, dtype=jnp.int32)[:, None]
    c = jnp.arange(D * m, dtype=jnp.int32)[None, :]
    eye = (r >= m0) & (c == d * m + r)
    return jnp.where(eye, jnp.ones((), a.dtype), x)


def unpad_local(x, lay: Layout):
    """(m, Np) -> (m0, n): drop the padding rows/columns (a copy when padded)."""
    if not lay.padded:
        return x
    D, m0, m = lay.ndev, lay.m0, lay.m
    return x.reshape(m, D, m)[:m0, :, :m0].reshape(m0, D * m0)


def pad_rhs(b, lay: Layout):
    """Replicated (n, r) right-hand side -> (Np, r) in physical padded row order (zeros)."""
    if not lay.padded:
        return b
    D, m0, m = lay.ndev, lay.m0, lay.m
    r = b.shape[1]
    return jnp.pad(b.reshape(D, m0, r), ((0, 0), (0, m - m0), (0, 0))).reshape(D * m, r)


def unpad_rhs(x, lay: Layout):
    if not lay.padded:
        return x
    D, m0, m = lay.ndev, lay.m0, lay.m
    r = x.shape[1]
    return x.reshape(D, m, r)[:, :m0].reshape(D * m0, r)


# --------------------------------------------------------------------------------------------
# Cholesky (left-looking, in place, lower)
# --------------------------------------------------------------------------------------------


def cholesky_local(x, lay: Layout):
    """In-place blocked Cholesky ``A = L L^H`` of the local shard (m, Np), logical tile order.

    Left-looking over logical column tiles ``j``: the column strip of ``j`` on the local rows is
    updated with the already-final columns ``k < j`` (one ``(rows, T) @ (T, T)`` product per
    ``k``), its diagonal block is factored (replicated), and the strip is solved against it.
    The only communication per step is the broadcast of logical row tile ``j`` and of its
    diagonal block. Only the lower triangle (in logical order) is meaningful on return; tiles
    above the diagonal hold stale values except where noted by `zero_upper_local`.

    Returns ``(L, info)``: ``info`` (int32, replicated) is 0 on success, else 1 + the logical
    tile whose diagonal block was not positive definite (the factor is then NaN-poisoned).
    """
    T, D, m, npad = lay.tile, lay.ndev, lay.m, lay.npad
    d = lax.axis_index(lay.axis)
    info = jnp.zeros((), jnp.int32)

    for j0, j1 in lay.phases():
        l0 = j0 // D  # every row with logical tile >= j0 has local tile >= l0
        r0 = l0 * T
        rw = m - r0
        rlog = _row_logical(lay, d, l0, rw)[:, None]

        def step(j, carry, l0=l0, r0=r0, rw=rw, rlog=rlog):
            x, info = carry
            owner, lj, pj = j % D, j // D, lay.colmap(j)
            rowj = _bcast(_ds(x, (lj * T, 0), (T, npad)), owner, d, lay.axis)
            c = _ds(x, (r0, pj * T), (rw, T))

            def upd(k, c):
                pk = lay.colmap(k)
                xk = _ds(x, (r0, pk * T), (rw, T))
                rk = _ds(rowj, (0, pk * T), (T, T))
                return c - xk @ _ct(rk)

            c = lax.fori_loop(0, j, upd, c)
            djj = _bcast(_ds(c, ((lj - l0) * T, 0), (T, T)), owner, d, lay.axis)
            ljj = jnp.linalg.cholesky(djj)
            ok = jnp.all(jnp.isfinite(ljj))
            info = jnp.where((info == 0) & ~ok, j + 1, info).astype(jnp.int32)
            c = jnp.where(rlog > j, c @ _ct(_tri_inv(ljj)), jnp.zeros_like(c))  # C L_jj^{-H}
            x = _dus(x, c, (r0, pj * T))
            cur = _ds(x, (lj * T, pj * T), (T, T))
            x = _dus(x, jnp.where(d == owner, ljj, cur), (lj * T, pj * T))
            return x, info

        x, info = lax.fori_loop(j0, j1, step, (x, info))
    return x, info


def zero_upper_local(x, lay: Layout):
    """Zero every tile strictly above the logical diagonal (one elementwise pass, in place)."""
    T, D = lay.tile, lay.ndev
    d = lax.axis_index(lay.axis)
    rlog = _row_logical(lay, d, 0, lay.m)[:, None]
    pcol = jnp.arange(lay.npad, dtype=jnp.int32) // T
    if lay.permuted:
        clog = (pcol % lay.ntl) * D + pcol // lay.ntl
    else:
        clog = pcol
    return jnp.where(clog[None, :] > rlog, jnp.zeros((), x.dtype), x)


def nan_if(x, info):
    """Poison ``x`` with NaN when ``info != 0`` (documented failure contract)."""
    return jnp.where(info != 0, jnp.full((), jnp.nan, x.dtype), x)


# --------------------------------------------------------------------------------------------
# inverse from the factor: W = L^{-1} (in place), then A^{-1} = W^H W (in place)
# --------------------------------------------------------------------------------------------


def _local_cols(lay: Layout, row, d):
    """Columns of a (T, Np) row that correspond to the local row tiles' logical indices -> (T, m)."""
    T = lay.tile
    if lay.permuted:
        return _ds(row, (0, d * lay.m), (T, lay.m))
    r = row.reshape(T, lay.ntl, lay.ndev, T)
    return lax.dynamic_index_in_dim(r, d, axis=2, keepdims=False).reshape(T, lay.m)


def _col_logical(lay: Layout):
    pcol = jnp.arange(lay.npad, dtype=jnp.int32) // lay.tile
    if lay.permuted:
        return (pcol % lay.ntl) * lay.ndev + pcol // lay.ntl
    return pcol


def trtri_local(x, lay: Layout):
    """In-place inverse of the lower factor: ``L -> W = L^{-1}`` (right-looking by row tiles).

    Step ``k`` finalises logical row tile ``k`` of ``W`` (``W[k,:k+1] = L_kk^{-1} B[k,:k+1]``,
    computed redundantly from one broadcast row) and applies it to the rows below:
    ``B[i,c] -= L[i,k] W[k,c]`` for ``c <= k`` — each entry of ``L`` is read once, just before
    its slot is overwritten by the matching entry of ``W``.
    """
    T, D, m, npad = lay.tile, lay.ndev, lay.m, lay.npad
    d = lax.axis_index(lay.axis)
    clog = _col_logical(lay)[None, :]
    eye = jnp.eye(T, dtype=x.dtype)

    for k0, k1 in lay.phases():
        l0 = (k0 + 1) // D  # rows with logical tile > k0
        r0 = l0 * T
        rw = m - r0
        rlog = _row_logical(lay, d, l0, rw)[:, None] if rw > 0 else None

        def step(k, x, r0=r0, rw=rw, rlog=rlog):
            owner, lk, pk = k % D, k // D, lay.colmap(k)
            rowk = _bcast(_ds(x, (lk * T, 0), (T, npad)), owner, d, lay.axis)
            lkk = _ds(rowk, (0, pk * T), (T, T))
            rhs = jnp.where(clog < k, rowk, jnp.zeros_like(rowk))
            rhs = _dus(rhs, eye, (0, pk * T))
            wk = _tri_inv(lkk) @ rhs  # row tile k of W, zero right of the diagonal
            if rw > 0:
                s = _ds(x, (r0, pk * T), (rw, T))
                s = jnp.where(rlog > k, s, jnp.zeros_like(s))
                wkk = _ds(wk, (0, pk * T), (T, T))
                x = _dus(x, -(s @ wkk), (r0, pk * T))

                def upd(c, x):
                    pc = lay.colmap(c)
                    blk = _ds(x, (r0, pc * T), (rw, T))
                    wkc = _ds(wk, (0, pc * T), (T, T))
                    return _dus(x, blk - s @ wkc, (r0, pc * T))

                x = lax.fori_loop(0, k, upd, x)
            cur = _ds(x, (lk * T, 0), (T, npad))
            return _dus(x, jnp.where(d == owner, wk, cur), (lk * T, 0))

        x = lax.fori_loop(k0, k1, step, x)
    return x


def lauum_local(x, lay: Layout):
    """In-place ``W -> Z = W^H W`` (the full Hermitian inverse), right-looking by row tiles.

    Step ``k`` broadcasts row tile ``k`` of ``W`` (nonzero only in logical columns ``<= k``)
    and adds ``W[k,i]^H W[k,:]`` to every local row tile ``i <= k``; row ``k`` itself starts
    from zero, rows ``> k`` still hold ``W`` and are read in later steps.
    """
    T, D, m, npad = lay.tile, lay.ndev, lay.m, lay.npad
    d = lax.axis_index(lay.axis)

    for k0, k1 in lay.phases():
        r1 = min(m, ((k1 - 1) // D + 1) * T)  # rows with logical tile <= k1 - 1
        rlog = _row_logical(lay, d, 0, r1)[:, None]

        def step(k, x, r1=r1, rlog=rlog):
            owner, lk = k % D, k // D
            wk = _bcast(_ds(x, (lk * T, 0), (T, npad)), owner, d, lay.axis)
            g = _ct(_local_cols(lay, wk, d))[:r1]  # (r1, T): W[k, i]^H for local rows i
            g = jnp.where(rlog <= k, g, jnp.zeros_like(g))

            # Row k of Z starts from zero. W[k, c] is already zero for c > k, so it suffices to
            # zero each block just before the first update below writes it. (Zeroing the whole
            # row with a separate in-place update before this loop, independent of the
            # broadcast, made XLA copy the whole shard every step.)
            def upd(c, x):
                pc = lay.colmap(c)
                blk = _ds(x, (0, pc * T), (r1, T))
                blk = jnp.where(rlog == k, jnp.zeros_like(blk), blk)
                wkc = _ds(wk, (0, pc * T), (T, T))
                return _dus(x, blk + g @ wkc, (0, pc * T))

            return lax.fori_loop(0, k + 1, upd, x)

        x = lax.fori_loop(k0, k1, step, x)
    return x


# --------------------------------------------------------------------------------------------
# solves with the factor (right-hand sides replicated, physical padded row order)
# --------------------------------------------------------------------------------------------


def _local_rhs_rows(lay: Layout, v, d):
    """Rows of a replicated (Np, r) vector that belong to the local row tiles -> (m, r)."""
    if lay.permuted:
        return _ds(v, (d * lay.m, 0), (lay.m, v.shape[1]))
    r = v.reshape(lay.ntl, lay.ndev, lay.tile, v.shape[1])
    return lax.dynamic_index_in_dim(r, d, axis=1, keepdims=False).reshape(lay.m, v.shape[1])


def diag_blocks_local(x, lay: Layout):
    """All logical diagonal tiles ``L_kk`` of the factor, replicated: (nt, T, T), one all-reduce."""
    T, D = lay.tile, lay.ndev
    d = lax.axis_index(lay.axis)
    r = jnp.arange(lay.m, dtype=jnp.int32)
    col0 = lay.colmap((r // T) * D + d) * T  # first column of each local row's diagonal tile
    idx = col0[:, None] + jnp.arange(T, dtype=jnp.int32)[None, :]
    blocks = jnp.take_along_axis(x, idx, axis=1).reshape(lay.ntl, T, T)
    where = jnp.arange(lay.ntl, dtype=jnp.int32) * D + d
    full = jnp.zeros((lay.nt, T, T), x.dtype).at[where].set(blocks)
    return lax.psum(full, lay.axis)


def solve_local(x, b, lay: Layout):
    """Solve ``(L L^H) z = b`` with the factor ``x`` (as left by `cholesky_local`).

    ``b`` is replicated with shape (Np, r) in physical padded row order; so is the result.
    Forward substitution: the owner of row tile ``k`` forms ``b_k - L[k,:] y`` from its row
    (unsolved entries of ``y`` are still zero) and one small all-reduce shares it. Backward
    substitution: every device contributes ``L[i,k]^H z_i`` of its rows, reduced per tile.
    The diagonal tiles are replicated once up front. Both sweeps have static trip counts and
    are linear in ``b`` (reverse-mode differentiable / transposable).
    """
    T, D, npad = lay.tile, lay.ndev, lay.npad
    d = lax.axis_index(lay.axis)
    r = b.shape[1]
    diag = diag_blocks_local(x, lay)

    def fwd(k, y):
        owner, lk, pk = k % D, k // D, lay.colmap(k)
        rowk = _ds(x, (lk * T, 0), (T, npad))
        s = _bcast(_ds(b, (pk * T, 0), (T, r)) - rowk @ y, owner, d, lay.axis)
        yk = _trsm_left_l(diag[k], s)
        return _dus(y, yk, (pk * T, 0))

    y = lax.fori_loop(0, lay.nt, fwd, jnp.zeros_like(b))

    def bwd(i, z):
        k = lay.nt - 1 - i
        pk = lay.colmap(k)
        colk = _ds(x, (0, pk * T), (lay.m, T))
        part = lax.psum(_ct(colk) @ _local_rhs_rows(lay, z, d), lay.axis)  # zeros for rows <= k
        zk = _trsm_left_lh(diag[k], _ds(y, (pk * T, 0), (T, r)) - part)
        return _dus(z, zk, (pk * T, 0))

    return lax.fori_loop(0, lay.nt, bwd, jnp.zeros_like(b))


def logdet_local(x, lay: Layout):
    """``log det A = 2 sum log diag(L)`` from the factor (replicated real scalar)."""
    T = lay.tile
    d = lax.axis_index(lay.axis)
    r = jnp.arange(lay.m, dtype=jnp.int32)
    col = lay.colmap((r // T) * lay.ndev + d) * T + r % T
    diag = jnp.take_along_axis(x, col[:, None], axis=1)[:, 0]
    loc = jnp.sum(jnp.log(jnp.abs(diag)))
    return 2 * lax.psum(loc, lay.axis)


# --------------------------------------------------------------------------------------------
# data movement: contiguous <-> block-cyclic row tiles, distributed transpose, ring matmul
# --------------------------------------------------------------------------------------------


def _exchange_plan(lay: Layout, to_cyclic: bool):
    """Static send/receive slot tables for moving row tiles between the two distributions."""
    D, ntl = lay.ndev, lay.ntl
    plan = []
    for s in range(D):
        sends, recvs = [], []
        for src in range(D):
            dst = (src + s) % D
            pairs = []  # (source slot, destination slot)
            for l in range(ntl):
                g = l * D + dst if to_cyclic else dst * ntl + l  # global tile wanted at (dst, l)
                sdev, sslot = (g // ntl, g % ntl) if to_cyclic else (g % D, g // D)
                if sdev == src:
                    pairs.append((sslot, l))
            sends.append([p[0] for p in pairs])
            recvs.append([p[1] for p in pairs])
        cmax = max(len(v) for v in sends)
        if cmax == 0:
            continue
        send_tab = np.zeros((D, cmax), np.int32)
        recv_tab = np.full((D, cmax), ntl, np.int32)  # ntl = out of range -> dropped
        for src in range(D):
            send_tab[src, : len(sends[src])] = sends[src]
            dst = (src + s) % D
            recv_tab[dst, : len(recvs[src])] = recvs[src]
        plan.append((s, send_tab, recv_tab))
    return plan


def exchange_row_tiles(x, lay: Layout, to_cyclic: bool):
    """Move whole row tiles between the contiguous and the block-cyclic distribution.

    ``ndev`` rounds of `ppermute` (a shift by ``s`` devices in round ``s``); each round moves
    about ``ntl/ndev`` tiles per device, so besides the output shard a device holds only two
    buffers of ``ceil(ntl/ndev)`` tiles. Identity (no work) when ``ntl == 1`` or ``ndev == 1``.
    """
    D, ntl, T = lay.ndev, lay.ntl, lay.tile
    if D == 1 or ntl == 1:
        return x
    d = lax.axis_index(lay.axis)
    xt = x.reshape(ntl, T, x.shape[1])
    out = jnp.zeros_like(xt)
    for s, send_tab, recv_tab in _exchange_plan(lay, to_cyclic):
        buf = jnp.take(xt, jnp.asarray(send_tab)[d], axis=0)
        if s:
            buf = lax.ppermute(buf, lay.axis, [(i, (i + s) % D) for i in range(D)])
        out = out.at[jnp.asarray(recv_tab)[d]].set(buf, mode="drop")
    return out.reshape(x.shape)


def conj_transpose_local(x, ndev: int, axis):
    """Local rows of ``A^H`` from the local rows of a square row-sharded ``A`` (one all_to_all)."""
    m, n = x.shape
    blocks = x.reshape(m, ndev, m)
    recv = lax.all_to_all(blocks, axis, split_axis=1, concat_axis=1, tiled=True)
    # recv[r, s, i] = A[s*m + r, e*m + i]  ->  A^H[e*m + i, s*m + r]
    out = jnp.transpose(recv, (2, 1, 0)).reshape(m, n)
    return jnp.conj(out) if jnp.iscomplexobj(out) else out


def ring_matmul_local(a, b, ndev: int, axis):
    """Local rows of ``A @ B`` for row-sharded square ``A``, ``B`` (B's shards travel a ring)."""
    d = lax.axis_index(axis)
    m = a.shape[0]
    acc = jnp.zeros((m, b.shape[1]), jnp.result_type(a, b))
    blk = b
    for s in range(ndev):
        src = (d - s) % ndev  # blk now holds B's rows of device src
        acc = acc + _ds(a, (0, src * m), (m, m)) @ blk
        if s + 1 < ndev:
            blk = lax.ppermute(blk, axis, [(i, (i + 1) % ndev) for i in range(ndev)])
    return acc
