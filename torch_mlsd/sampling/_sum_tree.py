"""A binary sum tree over float64 weights, held in torch tensors, updated and searched vectorised.

Level 0 holds the leaves (the weights), level ``l + 1`` the sums of pairs of level ``l``,
the top level the total; every level is twice as long as the one above (zeros pad it),
so node ``j``'s two children are row ``j`` of the level below viewed as ``[-1, 2]``.

A parent is always recomputed as ``left + right`` from its children, never changed by a
difference, so the tree after any sequence of updates is bit-identical to a tree built
from the same leaves: a checkpoint needs only the leaves.
"""

from __future__ import annotations

import torch

__all__ = ["SumTree"]


def _pad_even(t: torch.Tensor) -> torch.Tensor:
    return torch.cat([t, t.new_zeros(1)]) if t.numel() % 2 else t


class SumTree:
    """Sums of non-negative float64 weights: O(k log n) updates, O(log n) inverse-CDF draws.

    Args:
        weights: float64 tensor of shape ``(n,)``, ``n >= 1``, finite and >= 0 (checked by
            the caller). Copied.
    """

    def __init__(self, weights: torch.Tensor) -> None:
        self.n = weights.numel()
        levels = [_pad_even(weights.clone())]
        while levels[-1].numel() > 1:
            pairs = levels[-1].view(-1, 2)
            parent = pairs[:, 0] + pairs[:, 1]
            levels.append(_pad_even(parent) if parent.numel() > 1 else parent)
        # Zeros below the pads, so every node of every level has two children in range.
        for below in range(len(levels) - 2, -1, -1):
            missing = 2 * levels[below + 1].numel() - levels[below].numel()
            if missing:
                levels[below] = torch.cat([levels[below], levels[below].new_zeros(missing)])
        self.levels = levels

    @property
    def leaves(self) -> torch.Tensor:
        """The ``n`` weights (a view)."""
        return self.levels[0][: self.n]

    def total(self) -> float:
        """Sum of all weights."""
        return float(self.levels[-1][0])

    def set(self, index: torch.Tensor, values: torch.Tensor) -> None:
        """Set ``leaves[index] = values`` (int64 ``(k,)`` without duplicates, float64 ``(k,)``)
        and recompute the ``O(k log n)`` ancestors."""
        self.levels[0].index_copy_(0, index, values)
        node = index
        for below, level in zip(self.levels[:-1], self.levels[1:], strict=False):
            # Siblings share a parent; writing the same sum twice is harmless.
            node = node >> 1
            pairs = below.view(-1, 2).index_select(0, node)
            level.index_copy_(0, node, pairs[:, 0] + pairs[:, 1])

    def find(self, uniforms: torch.Tensor) -> torch.Tensor:
        """Leaves at the inverse CDF of float64 ``uniforms`` in ``[0, 1)``, int64, same shape.

        Leaf ``i`` is returned with probability ``leaves[i] / total`` (up to float64
        rounding) and a zero-weight leaf never is. The descent reads one value per level
        (the left child's sum); where rounding carried a target past the last positive
        leaf of a subtree (about 1 draw in 2^50), those draws are redone by a descent that
        also reads the right child and never enters a subtree of sum 0.
        """
        target = uniforms * self.levels[-1][0]
        node = torch.zeros(uniforms.shape, dtype=torch.int64)
        for level in reversed(self.levels[:-1]):
            node = node.mul_(2)
            left = level.index_select(0, node)
            right = target >= left
            target = target.sub_(left.mul_(right))
            node = node.add_(right)
        stray = (self.levels[0].index_select(0, node) == 0).nonzero().squeeze(1)
        if stray.numel():
            node.index_copy_(0, stray, self._find_guarded(uniforms.index_select(0, stray)))
        return node

    def _find_guarded(self, uniforms: torch.Tensor) -> torch.Tensor:
        target = uniforms * self.levels[-1][0]
        node = torch.zeros(uniforms.shape, dtype=torch.int64)
        for level in reversed(self.levels[:-1]):
            pairs = level.view(-1, 2).index_select(0, node)
            right = (target >= pairs[:, 0]) & (pairs[:, 1] > 0)
            target = torch.where(right, target - pairs[:, 0], target)
            node = node.mul_(2).add_(right)
        return node
