"""The fast forward-backward of :mod:`emref.hmm`: many sequences, cut into blocks, at once.

This module is private. The readable reference is :func:`emref.hmm.forward` and
:func:`emref.hmm.backward` (Bishop §13.2.4, one sequence, one step at a time); what is here
computes the same numbers (the tests hold it to 1e-10 of the reference) and is what
:func:`emref.hmm.forward_backward`, :func:`emref.hmm.e_step`, :func:`emref.hmm.score` and
:func:`emref.hmm.fit` use.

How. Sequences of different lengths are processed together, never one by one: every
sequence is cut into blocks of at most L steps and all blocks of all sequences form one
padded time-major (L, n_blocks, K) array, so the recursions are Python loops of length L over
whole stacks of blocks. A long sequence becomes many blocks: the product of each block's
scaled transfer matrices A·diag(p(x_n|z_n)) is computed for all blocks at once, the block
boundaries are then fixed by a short sweep over blocks, and the exact scaled recursion runs
inside every block at once. The block length comes from a small cost model
(:func:`block_length`): a batch of similar lengths stays whole, and a single sequence of T
steps is cut into blocks of about √T, so that it costs about 5·√T Python steps in all.
Per-step offsets max_k ln p(x_n|k) keep the emission probabilities in range, so a sequence
no emission density underflows on stays exact at any length.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Batch", "Layout", "block_length", "forward_backward", "loglik"]


def block_length(lengths: np.ndarray, K: int = 4) -> int:
    """Steps per block: the L that minimises a rough cost model of one E-step.

    Each Python step costs a fixed overhead (about 2500 element operations' worth) plus the
    work on every block in the stack; blocks of sequences cut into several also need the
    K x K transfer-matrix products (about K times the work of a vector step) and two sweeps
    over their blocks (each step about twice a vector step's overhead). Whole short
    sequences are padded to L, long ones are cut: a single sequence of T steps gets
    L ≈ √T, a batch of similar lengths stays unsplit.
    """
    lengths = np.asarray(lengths)
    tmax = int(lengths.max())
    cands = {tmax, max(1, math.ceil(math.sqrt(tmax)))}
    cands.update(max(1, -(-tmax // 2 ** i)) for i in range(1, 24) if 2 ** i <= tmax)
    cands.update(int(np.ceil(np.quantile(lengths, q))) for q in (0.5, 0.75, 0.9, 0.95, 0.99))
    best, best_cost = tmax, np.inf
    for L in sorted(c for c in cands if c >= min(tmax, 16)):
        nbs = -(-lengths // L)
        nb = float(nbs.sum())
        n_multi = float(nbs[nbs > 1].sum())
        cost = 3 * L * (2500 + 10 * nb * K)
        if n_multi:  # the matrix products, and the two sweeps over each sequence's blocks
            cost += L * (2500 + 4 * n_multi * K * K) + 4 * float(nbs.max()) * 2500
        if cost < best_cost:
            best, best_cost = L, cost
    return best


class Layout:
    """Every sequence cut into blocks of at most L steps; blocks stacked into (nb, Lp)."""

    def __init__(self, lengths: np.ndarray):
        L = block_length(lengths)
        n_seq = len(lengths)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        nbs = -(-lengths // L)
        nb = int(nbs.sum())
        seq = np.repeat(np.arange(n_seq), nbs)
        first_block = np.concatenate([[0], np.cumsum(nbs)[:-1]])
        rank = np.arange(nb) - first_block[seq]
        start = offsets[seq] + rank * L
        blen = np.minimum(L, lengths[seq] - rank * L)
        Lp = int(blen.max())
        j = np.arange(Lp)
        self.n_sequences = n_seq
        self.valid = j[None, :] < blen[:, None]
        self.idx = np.where(self.valid, start[:, None] + j[None, :], 0)
        self.validT = np.ascontiguousarray(self.valid.T)
        self.full_col = self.valid.all(axis=0)
        self.all_full = bool(self.full_col.all())
        self.n_blocks, self.width = nb, Lp
        self.seq, self.blen = seq, blen
        self.is_first = rank == 0
        is_last = rank == nbs[seq] - 1
        self.first_idx = np.flatnonzero(self.is_first)
        self.last_idx = np.flatnonzero(is_last)
        self.multi = np.flatnonzero(nbs[seq] > 1)
        self.max_rank = int(nbs.max())
        self.by_rank = [np.flatnonzero(rank == r) for r in range(1, self.max_rank)]
        self.by_rank_not_last = [np.flatnonzero((rank == r) & ~is_last)
                                 for r in range(self.max_rank - 1)]
        self.not_first_idx = np.flatnonzero(rank > 0)
        # row of every observation (in the order of the concatenation) in the time-major
        # (Lp * nb) flattening of the padded layout
        b, j = np.nonzero(self.valid)
        self.gather = j * nb + b


class Batch:
    """Checked sequences, concatenated (X), with their block layout (built once per fit)."""

    def __init__(self, seqs: list, X: np.ndarray):
        self.seqs = seqs
        self.lengths = np.array([len(s) for s in seqs], dtype=np.intp)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)])
        self.X = X
        self.layout = Layout(self.lengths)
        self._Xp = None
        self._prepared = {}
        self._work = {}

    @property
    def n_points(self) -> int:
        return int(self.offsets[-1])

    def work(self, name: str, shape: tuple) -> np.ndarray:
        """A buffer reused from one E-step to the next (its contents are not kept)."""
        buf = self._work.get(name)
        if buf is None or buf.shape != shape:
            buf = self._work[name] = np.empty(shape)
        return buf

    def prepared(self, emission):
        """``emission.prepare(X)``, cached per emission type (data-only work, once per fit)."""
        key = type(emission)
        if key not in self._prepared:
            self._prepared[key] = emission.prepare(self.X)
        return self._prepared[key]

    @property
    def Xp(self) -> np.ndarray:
        """The observations in the padded time-major layout, flattened: (Lp * nb, ...)."""
        if self._Xp is None:
            self._Xp = np.take(self.X, self.layout.idx.T.ravel(), axis=0)
        return self._Xp

    def log_emissions(self, emission) -> np.ndarray:
        """ln p(x | k) in the padded time-major layout, (Lp * nb, K), in a reused buffer."""
        lay = self.layout
        out = self.work("logB", (lay.width * lay.n_blocks, emission.n_states))
        return emission.log_likelihood(self.Xp, out=out)

    def unpad(self, gam: np.ndarray) -> np.ndarray:
        """(Lp, nb, K) time-major padded array -> (N, K) in the order of the concatenation."""
        return np.take(gam.reshape(-1, gam.shape[-1]), self.layout.gather, axis=0)


def _scaled_emissions(logB: np.ndarray):
    """exp(ln p(x_n|k) - max_k) and the per-step offsets max_k ln p(x_n|k).

    Works in place: ``logB`` is overwritten by the scaled probabilities (fresh arrays of
    this size cost more in page faults than the arithmetic).
    """
    offset = logB[:, 0].copy()
    for k in range(1, logB.shape[1]):  # K passes over N: much faster than max(axis=1)
        np.maximum(offset, logB[:, k], out=offset)
    impossible = ~np.isfinite(offset)
    if np.any(impossible):
        offset = np.where(impossible, 0.0, offset)
    np.subtract(logB, offset[:, None], out=logB)
    np.exp(logB, out=logB)
    return logB, offset


def _block_products(lay: Layout, Bp: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Normalised products of the transfer matrices A·diag(b_n) over each block (nb, K, K).

    ``Bp`` is time-major, (Lp, nb, K). Only blocks of sequences that span several blocks need
    the products. The first block of a sequence starts with diag(b_1) (no transition into
    the first step). Padded steps are the identity.
    """
    _, nb, K = Bp.shape
    P = np.zeros((nb, K, K))
    sub = lay.multi
    if sub.size == 0:
        return P
    Bs = Bp[:, sub]
    valid = lay.validT[:, sub]
    first = lay.is_first[sub]
    n = sub.size
    ones = np.ones(K * K)
    S = A[None, :, :] * Bs[0, :, None, :]
    if np.any(first):
        S[first] = np.eye(K)[None] * Bs[0, first, None, :]
    tot = S.reshape(n, K * K) @ ones
    any_pad = ~valid.all(axis=1)
    buf = np.empty_like(S)
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in range(1, Bs.shape[0]):
            # the previous step's normalisation 1/tot is folded into this step's emissions
            scale = Bs[j] / np.where(tot > 0, tot, 1.0)[:, None]
            np.matmul(S.reshape(n * K, K), A, out=buf.reshape(n * K, K))
            buf *= scale[:, None, :]
            if any_pad[j]:
                pad = ~valid[j]
                buf[pad] = S[pad] / np.where(tot[pad] > 0, tot[pad], 1.0)[:, None, None]
            S, buf = buf, S
            tot = S.reshape(n, K * K) @ ones
    S /= np.where(tot > 0, tot, 1.0)[:, None, None]
    P[sub] = S
    return P


def _forward(lay: Layout, Bp, offset, params, work):
    """Scaled forward recursion on all blocks at once: α̂ (Lp, nb, K), ln p(X_s), P."""
    K = params.n_states
    A, pi, end = params.transmat, params.startprob, params.endprob
    nb, Lp = lay.n_blocks, lay.width
    ones = np.ones(K)
    P = _block_products(lay, Bp, A) if lay.max_rank > 1 else None

    # forward sweep over blocks: α̂ just before each block (π for first blocks)
    a_in = np.empty((nb, K))
    a_in[lay.first_idx] = pi
    for cur in lay.by_rank:
        v = np.einsum("bi,bij->bj", a_in[cur - 1], P[cur - 1])
        a_in[cur] = v / np.where((s := v @ ones) > 0, s, 1.0)[:, None]

    # the exact scaled forward recursion inside every block at once
    alpha = work("alpha", (Lp, nb, K))
    logc = work("logc", (Lp, nb))
    a = a_in
    first = lay.first_idx
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in range(Lp):
            u = alpha[j]
            np.matmul(a, A, out=u)
            if j == 0:
                u[first] = a[first]
            u *= Bp[j]
            c = u @ ones
            if not lay.full_col[j]:
                v = lay.validT[j]
                c[~v] = 1.0
                u[~v] = a[~v]
            u /= c[:, None]
            np.log(c, out=logc[j])
            a = u
    validT = lay.validT
    lc = logc[validT] if not lay.all_full else logc
    if not np.all(np.isfinite(lc)):
        return None, None, None
    a_last = alpha[lay.blen[lay.last_idx] - 1, lay.last_idx]   # α̂ at each sequence's end
    per_block = logc.sum(axis=0) if lay.all_full else np.where(validT, logc, 0.0).sum(axis=0)
    if not lay.all_full:
        offset = np.where(validT, offset, 0.0)
    per_block += offset.sum(axis=0)
    ll = np.bincount(lay.seq, weights=per_block, minlength=lay.n_sequences)
    if end is not None:
        stop = a_last @ end
        if np.any(stop <= 0):
            return None, None, None
        ll += np.log(stop)
    return alpha, ll, P


def loglik(batch: Batch, params) -> np.ndarray | None:
    """ln p(X_s | θ) of every sequence, or None if one of them is impossible."""
    lay = batch.layout
    B, offset = _scaled_emissions(params.emission.log_likelihood(batch.Xp))
    Bp = B.reshape(lay.width, lay.n_blocks, params.n_states)
    _, ll, _ = _forward(lay, Bp, offset.reshape(lay.width, lay.n_blocks), params,
                        lambda name, shape: np.empty(shape))
    return ll


def forward_backward(batch: Batch, params):
    """Scaled forward-backward on all blocks of all sequences at once.

    Returns (ln p(X_s) per sequence, γ (N, K) in the order of the concatenation, Σ ξ (K, K)),
    or None if some sequence has probability zero under ``params``.
    """
    lay = batch.layout
    K = params.n_states
    A, end = params.transmat, params.endprob
    nb, Lp = lay.n_blocks, lay.width
    work = batch.work
    B, offset = _scaled_emissions(batch.log_emissions(params.emission))
    Bp = B.reshape(Lp, nb, K)
    alpha, ll, P = _forward(lay, Bp, offset.reshape(Lp, nb), params, work)
    if ll is None:
        return None
    ones = np.ones(K)
    validT = lay.validT

    # backward: directions β̃ (normalised to sum 1) at the end of every block, then inside
    e_vec = ones if end is None else end
    e_vec = e_vec / e_vec.sum()
    b_out = np.empty((nb, K))
    b_out[lay.last_idx] = e_vec
    for cur in lay.by_rank_not_last[::-1]:
        v = np.einsum("bij,bj->bi", P[cur + 1], b_out[cur + 1])
        b_out[cur] = v / np.where((s := v @ ones) > 0, s, 1.0)[:, None]
    beta = work("beta", (Lp, nb, K))
    W = work("W", (Lp, nb, K))        # W[j] = b_j ⊙ β̃_j, reused by ξ
    snorm = work("snorm", (Lp, nb))   # Σ_i (A W[j])_i, the normaliser of β̃_{j-1}
    snorm[0] = 1.0
    beta[Lp - 1] = b_out
    AT = np.ascontiguousarray(A.T)
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in range(Lp - 1, 0, -1):
            w = W[j]
            np.multiply(Bp[j], beta[j], out=w)
            nxt = beta[j - 1]
            np.matmul(w, AT, out=nxt)
            s = snorm[j]
            np.matmul(nxt, ones, out=s)
            if not lay.full_col[j]:
                keep = j >= lay.blen
                s[keep] = 1.0
                nxt[keep] = b_out[keep]
            s[s <= 0] = 1.0
            nxt /= s[:, None]

    # ξ across block boundaries (the first step of every non-first block)
    xi_sum = np.zeros((K, K))
    if lay.max_rank > 1:
        cur = lay.not_first_idx
        w = Bp[0, cur] * beta[0, cur]
        prev = alpha[Lp - 1, cur - 1]
        norm = np.einsum("bi,bi->b", prev, w @ AT)
        norm[norm <= 0] = np.inf
        xi_sum += (prev / norm[:, None]).T @ w

    gam = np.multiply(alpha, beta, out=beta)   # β̃ is not needed any more
    gs = gam @ ones
    if not lay.all_full:
        gs[~validT] = np.inf       # padded steps get γ = 0
    gs[gs <= 0] = 1.0
    gam /= gs[..., None]
    # Σ_n ξ(z_{n-1,i}, z_{n,j}) ∝ α̂_{n-1}(i) A_ij b_n(j) β̃_n(j). Its normaliser
    # Σ_ij α̂_{n-1}(i) A_ij W_n(j) = snorm_n · (α̂_{n-1}·β̃_{n-1}) = snorm_n · gs_{n-1}.
    if Lp > 1:
        norm = snorm[1:] * gs[:-1]
        if not lay.all_full:
            norm[~validT[1:]] = np.inf
        prev_s = np.divide(alpha[:-1], norm[..., None], out=alpha[:-1])  # last use of α̂
        xi_sum += prev_s.reshape(-1, K).T @ W[1:].reshape(-1, K)
    xi_sum *= A
    return ll, batch.unpad(gam), xi_sum
