"""Walker's alias method: an O(n) table for weights, then O(1) per i.i.d. draw.

The table is a vectorised form of the "sweeping" construction of Hübschle-Schneider &
Sanders (2019): prefix sums, and a count over an integer grid instead of a search to match
lights with heavies. Every draw costs two uniforms and one 16-byte table row.

On the CPU both the build and the draws go in pieces of fewer than 32768 elements, which
ATen runs serially (no parallel region per op, temporaries that stay in cache). The
build's passes carry running sums from piece to piece; the draws' pieces are independent
and run on ``torch.get_num_threads()`` threads (:func:`torch_mlsd._parallel.map_pieces`),
with results that do not depend on the number of threads. Off the CPU each pass is one
piece.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._parallel import map_pieces

__all__ = ["alias_table", "draw_alias"]

# Elements per CPU piece: under ATen's serial grain of 32768.
_CPU_PIECE = (1 << 15) - 1


def _piece(device: torch.device, size: int) -> int:
    """Elements per step of a piecewise pass on ``device`` (one step off the CPU)."""
    return _CPU_PIECE if device.type == "cpu" else max(size, 1)


def alias_table(w: torch.Tensor) -> torch.Tensor:
    """Alias table for probabilities proportional to ``w`` (float64, >= 0, sum > 0).

    Returns ``[n, 2]`` int64 rows: the probability of keeping the bucket (float64 bits)
    and the alias. ``w`` is not modified.

    Scaled so the mean is 1, items are lights (p < 1) or heavies (p >= 1). A light keeps
    its bucket with probability p and sends its deficit 1 - p to a heavy; heavies pay the
    lights' deficits in index order and, once what is left of one drops below 1, the next
    heavy tops its bucket up. With ``done[i]`` the deficits summed up to position i (every
    deficit at most 1) and ``E_j`` heavy j's cumulative excess, heavy j pays the lights up
    to any position k with ``done[k]`` in ``[E_j, E_j + 1]`` and keeps ``1 + E_j - done[k]``.
    For the integer ``m = floor(E_j + 1)``, the first position with ``done >= m``, or the one
    before it, always qualifies; those first positions, for every m, come from one
    ``bincount`` of ``floor(done)`` per piece: no search, no sort, O(n), and ``done`` never
    leaves the piece it is computed in. (The passes carry running sums from piece to piece,
    so they run serially; torch ops on Python threads do not run in parallel here.)

    Example:
        >>> table = alias_table(torch.tensor([1.0, 3.0], dtype=torch.float64))
        >>> table[:, 0].view(torch.float64).tolist(), table[:, 1].tolist()
        ([0.5, 1.0], [1, 1])
    """
    n, device = w.numel(), w.device
    total = float(w.sum())
    if not (math.isfinite(total) and math.isfinite(n / total)):  # the sum overflows, or n / sum does
        w = w / w.max()
        total = float(w.sum())
    scale, step = n / total, _piece(device, n)
    table = torch.empty(n, 2, dtype=torch.int64, device=device)
    prob, alias = table[:, 0].view(torch.float64), table[:, 1]
    # Per-piece results go into buffers sized for the worst case; pages never written are never mapped.
    heavy, excess = w.new_empty(n, dtype=torch.int64), w.new_empty(n)
    first, at_m, before_m = w.new_empty(n + 2, dtype=torch.int64), w.new_empty(n + 2), w.new_empty(n + 2)
    first[0], hs, gs = 0, 0, 1  # grid point m = 0 is never used (E_j + 1 >= 1)
    size = min(step, n)
    p, done = w.new_empty(size), w.new_zeros(size + 1)  # done[0]: the deficits before the piece
    floors, one = w.new_empty(size + 1, dtype=torch.int64), w.new_ones(())
    for a in range(0, n, step):
        length = min(step, n - a)
        part, sums = p[:length], done[: length + 1]
        torch.mul(w[a : a + length], scale, out=part)
        h = _heavy_positions(part)
        torch.add(h, a, out=heavy[hs : hs + h.numel()])
        torch.index_select(part, 0, h, out=excess[hs : hs + h.numel()]).sub_(1)
        hs += h.numel()
        prob[a : a + length] = part.clamp_(max=1)  # lights keep their own p: exact
        torch.cumsum(torch.sub(one, part, out=part), 0, out=sums[1:]).add_(sums[:1])
        fl = floors[: length + 1].copy_(sums)
        # The first position of each new integer part of done: positions with floor(done) < m.
        below = torch.bincount(fl[1:].sub_(fl[:1])).cumsum_(0)[:-1]
        g = below.numel()
        torch.add(below, a, out=first[gs : gs + g])
        torch.index_select(sums[1:], 0, below, out=at_m[gs : gs + g])
        torch.index_select(sums, 0, below, out=before_m[gs : gs + g])
        gs += g
        done[0] = sums[-1]
    h_idx, heavies = heavy[:hs], hs
    if heavies in (0, n):  # every p equals 1 up to rounding
        prob.fill_(1.0)
        torch.arange(n, out=alias)
        return table
    # Past the last grid point: position n - 1, which never backs off.
    first[gs], at_m[gs], before_m[gs] = n - 1, done[0], done[0]
    first, at_m, before_m = first[: gs + 1], at_m[: gs + 1], before_m[: gs + 1]
    keep, k = excess[:hs], torch.empty_like(h_idx)
    top_carry, gates = w.new_ones(1), first.numel() - 1
    for a in range(0, heavies, step):
        top = keep[a : a + step].cumsum_(0).add_(top_carry)  # E_j + 1
        top_carry = top[-1:].clone()
        m = top.to(torch.int64).clamp_(max=gates)
        d = at_m.index_select(0, m)
        back = d > top
        torch.sub(first.index_select(0, m), back.to(torch.int64), out=k[a : a + step])
        top.sub_(torch.where(back, before_m.index_select(0, m), d)).clamp_(0, 1)  # what heavy j keeps
    keep[-1] = 1.0  # the last heavy pays no one and is topped up by no one
    # A light at position i is paid by the first heavy j with k_j >= i; heavy j's alias is heavy j + 1.
    starts = torch.arange(0, n + step, step, device=device).clamp_(max=n)
    k_at, h_at = torch.searchsorted(k, starts).tolist(), torch.searchsorted(h_idx, starts).tolist()
    for c, a in enumerate(range(0, n, step)):
        b = min(a + step, n)
        payer = torch.bincount(k[k_at[c] : k_at[c + 1]] - (a - 1), minlength=b - a + 1)[: b - a]
        payer.cumsum_(0).add_(k_at[c])
        here = h_idx[h_at[c] : h_at[c + 1]] - a
        payer.index_copy_(0, here, torch.arange(h_at[c] + 1, h_at[c + 1] + 1, device=device))
        alias[a:b] = h_idx.index_select(0, payer.clamp_(max=heavies - 1))
        prob[a:b].index_copy_(0, here, keep[h_at[c] : h_at[c + 1]])
    return table


def _heavy_positions(p: torch.Tensor) -> torch.Tensor:
    """Positions where ``p >= 1``, int64 (on the CPU numpy's comparison and nonzero are each
    several times faster than torch's)."""
    if p.device.type == "cpu":
        return torch.from_numpy(np.flatnonzero(p.numpy() >= 1).astype(np.int64, copy=False))
    return (p >= 1).nonzero().squeeze(1)


def draw_alias(table: torch.Tensor, num_samples: int, generator: torch.Generator) -> torch.Tensor:
    """``num_samples`` i.i.d. draws from an :func:`alias_table`: a uniform bucket, then a
    53-bit coin against its keep probability (one 16-byte row read per draw).

    On the CPU the uniforms come from numpy's PCG64, one stream per piece keyed by a seed
    drawn from ``generator`` and the piece's index (so pieces run in parallel and the draws
    do not depend on the number of threads): an unbiased bounded integer for the bucket,
    about three times cheaper per number than torch's CPU generator. On another device they
    come from ``generator`` there, the bucket being ``floor(u * n)`` of a 53-bit uniform.

    Example:
        >>> table = alias_table(torch.tensor([0.0, 1.0, 3.0], dtype=torch.float64))
        >>> draws = draw_alias(table, 1000, torch.Generator().manual_seed(0))
        >>> bool((draws != 0).all()), draws.shape
        (True, torch.Size([1000]))
    """
    if table.device.type != "cpu":
        return _draw_alias_torch(table, num_samples, generator)
    seed = int(torch.randint(2**63 - 1, (1,), generator=generator))
    rows, out = table.numpy(), np.empty(num_samples, dtype=np.int64)

    def draw_piece(a: int) -> None:
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(a,))))
        slot = out[a : a + _CPU_PIECE]
        slot[:] = rng.integers(len(rows), size=len(slot))
        drawn = rows.take(slot, axis=0)  # (keep probability bits, alias) per draw
        np.copyto(slot, drawn[:, 1], where=rng.random(len(slot)) >= drawn[:, 0].view(np.float64))

    map_pieces(draw_piece, range(0, num_samples, _CPU_PIECE))
    return torch.from_numpy(out)


def _draw_alias_torch(table: torch.Tensor, num_samples: int, generator: torch.Generator) -> torch.Tensor:
    """The draws of :func:`draw_alias` with torch ops only, in one piece (off the CPU)."""
    n = len(table)
    u = torch.rand(num_samples, dtype=torch.float64, device=table.device, generator=generator)
    slot = u.mul_(n).to(torch.int64).clamp_(max=n - 1)
    # Rows viewed as complex128 gather about 1.5x faster than [n, 2] rows.
    row = table.view(torch.complex128).view(-1).index_select(0, slot).view(torch.float64)
    coin = u.uniform_(generator=generator)  # a second 53-bit uniform, in the first one's memory
    return torch.where(coin < row[0::2], slot, row[1::2].view(torch.int64))
