"""Why sample orders matter: SGD convergence slopes under different orders of the examples.

Bottou (2009, "Curiously fast convergence of some stochastic gradient descent
algorithms") ran SGD with decreasing steps on a strongly convex problem and found the
optimality gap after ``k`` epochs falling like ``k^-1`` when examples are drawn with
replacement, but like ``k^-1.84`` when one random shuffle is cycled and ``k^-2.01``
when the data are reshuffled every epoch (fitted slopes -1.0003, -1.8393, -2.0103). The
theory came later (Gurbuzbalaban, Ozdaglar & Parrilo 2015; HaoChen & Sra 2019;
Mishchenko, Khaled & Richtarik 2020; Safran & Shamir 2020).

This module reproduces the measurement in seconds. The default problem is
L2-regularised logistic regression (``lambda = 0.01``) on a built-in two-class Gaussian
data set (``n = 100``, ``d = 10``, float64); ``w*`` comes from Newton's method to a
gradient norm of 1e-15. SGD takes steps ``eta_t = a / (t + b)`` over the global
iteration ``t`` with ``a = 1 / mu`` and ``b = a * L_max`` (so ``eta_0 = 1 / L_max``), and
the gap ``F(w) - F(w*)`` after every epoch is averaged over independent runs. The
examples' order comes from :class:`~torch_mlsd.sampling.OrderSampler`, one sampler per
order and run, and all runs of all orders step together as the rows of one
``(runs, d)`` weight matrix, so the Python loop is over SGD steps only, not over runs.

Any other problem plugs in by subclassing :class:`FiniteSumProblem` (per-example
gradients for a batch of weight vectors, the objective and its minimum).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .._device import resolve_device
from .._random import make_generator, mix_seed
from .._validate import check_choice, check_float, check_int, check_tensor
from ..sampling.orders import ORDERS, Order, OrderSampler

__all__ = [
    "BOTTOU_2009_SLOPES",
    "FiniteSumProblem",
    "LogisticRegressionProblem",
    "OrderingResult",
    "fit_loglog_slope",
    "run_ordering_experiment",
]

BOTTOU_2009_SLOPES: dict[str, float] = {"with_replacement": -1.0003, "shuffle_once": -1.8393, "reshuffle": -2.0103}
"""Slopes of log(gap) against log(epoch) reported by Bottou (2009), by order."""


class FiniteSumProblem:
    """A strongly convex finite sum ``F(w) = (1/n) sum_i f_i(w)`` to run SGD on.

    Subclasses set ``n`` (number of examples), ``dim``, ``strong_convexity`` (``mu``),
    ``smoothness`` (``L_max``, the largest per-example gradient Lipschitz constant),
    ``dtype`` and ``device``, and implement :meth:`gradient`, :meth:`objective` and
    :meth:`minimum`. Weights come as a batch of independent runs, shape ``(R, dim)``,
    so one call serves every run. :meth:`sgd_epoch` has a generic implementation a
    subclass may replace with a faster one.

    For a model written as an ``nn.Module``, :meth:`gradient` can be built with
    ``torch.func``: ``vmap(grad(loss_of_params_and_example))`` over the runs, with the
    parameters flattened into the ``dim`` coordinates.

    Example:
        >>> class Quadratic(FiniteSumProblem):  # f_i(w) = |w - c_i|^2 / 2
        ...     def __init__(self, centers):
        ...         self.c, (self.n, self.dim) = centers, centers.shape
        ...         self.strong_convexity, self.smoothness = 0.5, 1.0  # mu: any lower bound
        ...         self.dtype, self.device = centers.dtype, centers.device
        ...     def gradient(self, w, index):
        ...         return w - self.c[index]
        ...     def objective(self, w):
        ...         return 0.5 * ((w[:, None, :] - self.c) ** 2).sum(2).mean(1)
        ...     def minimum(self):
        ...         return float(self.objective(self.c.mean(0, keepdim=True)))
        >>> problem = Quadratic(torch.arange(8.0, dtype=torch.float64).view(4, 2))
        >>> result = run_ordering_experiment(problem, epochs=20, seeds=2)
        >>> result.mean_gap["reshuffle"].shape, bool((result.mean_gap["reshuffle"] >= 0).all())
        (torch.Size([20]), True)
    """

    n: int
    dim: int
    strong_convexity: float
    smoothness: float
    dtype: torch.dtype
    device: torch.device

    def gradient(self, w: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Per-example gradients: row ``r`` is ``grad f_{index[r]}(w[r])``.

        Args:
            w: ``(R, dim)`` weights, one row per run.
            index: ``(R,)`` int64 example indices.

        Returns:
            ``(R, dim)`` tensor.
        """
        raise NotImplementedError

    def objective(self, w: torch.Tensor) -> torch.Tensor:
        """``F(w[r])`` for every row: ``(R, dim)`` -> ``(R,)``."""
        raise NotImplementedError

    def minimum(self) -> float:
        """``F(w*)``, accurate well below the smallest gap to be measured."""
        raise NotImplementedError

    def sgd_epoch(self, w: torch.Tensor, indices: torch.Tensor, steps: Sequence[float]) -> None:
        """Run ``len(steps)`` SGD steps in place: ``w[r] -= steps[k] * grad f_{indices[r, k]}(w[r])``.

        Args:
            w: ``(R, dim)`` weights, updated in place.
            indices: ``(R, len(steps))`` int64, the example of each run at each step.
            steps: step sizes, one per step.
        """
        for k, eta in enumerate(steps):
            w.sub_(self.gradient(w, indices[:, k]), alpha=eta)


class LogisticRegressionProblem(FiniteSumProblem):
    """L2-regularised logistic regression on a built-in two-class Gaussian data set.

    ``f_i(w) = log(1 + exp(-y_i <x_i, w>)) + (lam / 2) |w|^2`` with ``y_i = +-1`` drawn
    with equal probability and ``x_i ~ N(0.5 y_i 1, I_d)`` (generated from
    ``data_seed``; nothing is downloaded). No intercept. ``mu = lam`` (a lower bound on
    the curvature) and ``L_max = max_i |x_i|^2 / 4 + lam``. The minimiser is found by
    Newton's method until the gradient norm is at most 1e-15.

    Args:
        n: number of examples (default 100).
        dim: dimension ``d`` (default 10).
        lam: L2 strength, > 0 (default 0.01).
        data_seed: seed of the data set (default 0).
        device: where the data and the runs live (default ``"cpu"``); float64 throughout.

    Example:
        >>> p = LogisticRegressionProblem(n=20, dim=3)
        >>> float(p.objective(p.solution[None]) - p.minimum()), p.smoothness > p.strong_convexity
        (0.0, True)
    """

    def __init__(
        self,
        *,
        n: int = 100,
        dim: int = 10,
        lam: float = 0.01,
        data_seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        self.n: int = check_int("n", n, min=1)
        self.dim: int = check_int("dim", dim, min=1)
        self.lam: float = check_float("lam", lam, min=0.0, min_open=True)
        data_seed = check_int("data_seed", data_seed, min=0)
        self.dtype, self.device = torch.float64, torch.device(device)
        g = make_generator(data_seed)
        y = torch.randint(0, 2, (self.n,), generator=g).to(self.dtype).mul_(2).sub_(1)
        x = torch.randn(self.n, self.dim, generator=g, dtype=self.dtype).add_(0.5 * y[:, None])
        self.signed = (y[:, None] * x).to(self.device)  # z_i = y_i x_i: f_i depends on <z_i, w> only
        self.strong_convexity = self.lam
        self.smoothness = float((x * x).sum(1).max()) / 4 + self.lam
        self.solution = self._newton()
        self._minimum = float(self.objective(self.solution[None])[0])

    def _newton(self, tol: float = 1e-15, max_iter: int = 100) -> torch.Tensor:
        z, eye = self.signed, torch.eye(self.dim, dtype=self.dtype, device=self.device)
        w = torch.zeros(self.dim, dtype=self.dtype, device=self.device)
        for _ in range(max_iter):
            s = torch.sigmoid(-(z @ w))
            grad = -(z * s[:, None]).mean(0) + self.lam * w
            if float(grad.norm()) <= tol:
                return w
            hessian = (z.T * (s * (1 - s))) @ z / self.n + self.lam * eye
            w = w - torch.linalg.solve(hessian, grad)
        raise RuntimeError(f"Newton's method did not reach a gradient norm of {tol} in {max_iter} iterations")

    def gradient(self, w: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        z = self.signed[index]
        return self.lam * w - torch.sigmoid(-(w * z).sum(1, keepdim=True)) * z

    def objective(self, w: torch.Tensor) -> torch.Tensor:
        margins = w @ self.signed.T
        return torch.nn.functional.softplus(-margins).mean(1) + 0.5 * self.lam * (w * w).sum(1)

    def minimum(self) -> float:
        return self._minimum

    def sgd_epoch(self, w: torch.Tensor, indices: torch.Tensor, steps: Sequence[float]) -> None:
        # The same update as the generic loop, with the examples gathered once per epoch
        # and five in-place kernels per step: w <- (1 - eta lam) w + eta sigmoid(-<w, z>) z.
        z_all = self.signed[indices.T]  # (steps, R, dim)
        for z, eta in zip(z_all, steps, strict=False):
            c = (w * z).sum(1, keepdim=True).neg_().sigmoid_()
            w.mul_(1.0 - eta * self.lam).addcmul_(z, c, value=eta)


def fit_loglog_slope(gaps: torch.Tensor | Sequence[float], skip: float = 0.1) -> float:
    """Slope of ``log(gap)`` against ``log(epoch)`` by least squares, epochs counted from 1.

    Args:
        gaps: ``(E,)`` positive values, ``gaps[k]`` measured after epoch ``k + 1``.
        skip: fraction of the first epochs left out of the fit, in ``[0, 1)`` (default
            0.1: the fit covers the last 90%).

    Returns:
        The fitted exponent ``s`` in ``gap ~ C * epoch^s``.

    Raises:
        ValueError: ``gaps`` not 1-D, not positive and finite, or fewer than 2 points
            left after ``skip``; ``skip`` outside ``[0, 1)``.

    Example:
        >>> epochs = torch.arange(1, 101, dtype=torch.float64)
        >>> round(fit_loglog_slope(3.0 * epochs**-2), 6)
        -2.0
    """
    gaps = torch.as_tensor(gaps, dtype=torch.float64).cpu()
    check_tensor("gaps", gaps, ndim=1)
    skip = check_float("skip", skip, min=0.0, max=1.0, max_open=True)
    if not bool(torch.isfinite(gaps).all() and (gaps > 0).all()):
        raise ValueError(f"`gaps` must be positive and finite, got min {float(gaps.min()) if len(gaps) else 'n/a'}")
    first = int(skip * len(gaps))
    if len(gaps) - first < 2:
        raise ValueError(f"`gaps` must leave at least 2 points after skip={skip}, got {len(gaps)} points")
    x = torch.arange(first + 1, len(gaps) + 1, dtype=torch.float64).log()
    y = gaps[first:].log()
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / (x * x).sum())


@dataclass(frozen=True)
class OrderingResult:
    """What :func:`run_ordering_experiment` measured.

    Attributes:
        orders: the orders compared, in the order given.
        gaps: float64 CPU tensor ``(epochs, len(orders), seeds)``: ``F(w) - F(w*)``
            after every epoch, for every order and run.
        mean_gap: order -> ``(epochs,)`` gap averaged over the runs.
        slopes: order -> slope of ``log(mean_gap)`` against ``log(epoch)``; NaN where the
            mean gap reached 0 (the optimum to rounding), so there is no slope to fit.
        skip: fraction of the first epochs left out of the slope fits.
        seconds: wall-clock time of the SGD runs.
    """

    orders: tuple[Order, ...]
    gaps: torch.Tensor
    mean_gap: dict[Order, torch.Tensor] = field(repr=False)
    slopes: dict[Order, float]
    skip: float
    seconds: float


def run_ordering_experiment(
    problem: FiniteSumProblem | None = None,
    *,
    orders: Sequence[Order] = ("with_replacement", "shuffle_once", "reshuffle"),
    epochs: int = 3000,
    seeds: int = 32,
    seed: int = 0,
    n: int | None = None,
    dim: int | None = None,
    lam: float | None = None,
    device: str | torch.device | None = "cpu",
    skip: float = 0.1,
    progress: Callable[[int, int], None] | None = None,
) -> OrderingResult:
    """Run SGD under each sample order and fit the convergence slopes.

    Every run starts at ``w = 0`` and takes ``n`` steps per epoch with
    ``eta_t = a / (t + b)``, ``a = 1 / mu``, ``b = a * L_max`` (``t`` the global step).
    Run ``r < seeds`` of every order draws its order from ``OrderSampler(n, order=...,
    seed=mix_seed(seed, r))``, so ``"shuffle_once"`` and ``"reshuffle"`` share their first
    epoch. All ``len(orders) * seeds`` runs step together as the rows of one weight matrix.

    Args:
        problem: the problem; default ``None`` builds
            ``LogisticRegressionProblem(n=n or 100, dim=dim or 10, lam=lam or 0.01,
            device=device)``.
        orders: orders to compare (default with replacement, shuffle once, reshuffle).
        epochs: epochs per run (default 3000).
        seeds: number of independent runs per order, averaged into ``mean_gap`` (default
            32: the with-replacement slope is the noisiest, about +-0.15 around -1 with 16
            runs and +-0.05 with 32 at the default size; runs are vectorised, so more
            cost little).
        seed: base seed of the runs' samplers (default 0).
        n, dim, lam: size, dimension and L2 strength of the default problem; must be
            ``None`` when ``problem`` is given.
        device: ``"cpu"`` (default), ``"cuda"``, ``"auto"`` or ``None`` (= auto) for the
            default problem; a given problem runs on its own device.
        skip: fraction of the first epochs left out of the slope fits (default 0.1).
        progress: called as ``progress(epochs_done, epochs)`` after every epoch.

    The per-step tensors are tiny: on a many-core CPU, ``torch.set_num_threads(1)`` in
    *your* program (this function never changes it) can make the loop faster.

    Returns:
        :class:`OrderingResult`.

    Raises:
        TypeError, ValueError: bad ``epochs``, ``seeds``, ``seed``, ``skip``, ``orders``
            (unknown, empty or repeated), or ``n``/``dim``/``lam`` given with ``problem``.

    Example:
        >>> result = run_ordering_experiment(n=10, dim=2, epochs=30, seeds=4)
        >>> sorted(result.slopes), result.gaps.shape
        (['reshuffle', 'shuffle_once', 'with_replacement'], torch.Size([30, 3, 4]))
    """
    checked = _check_orders(orders)
    epochs = check_int("epochs", epochs, min=2)
    runs: int = check_int("seeds", seeds, min=1)
    seed = check_int("seed", seed, min=0, max=2**63 - 1)
    skip = check_float("skip", skip, min=0.0, max=1.0, max_open=True)
    if problem is None:
        problem = LogisticRegressionProblem(
            n=100 if n is None else n,
            dim=10 if dim is None else dim,
            lam=0.01 if lam is None else lam,
            device=resolve_device(device),
        )
    elif not (n is None and dim is None and lam is None):
        raise ValueError("`n`, `dim` and `lam` must be None when `problem` is given (they build the default problem)")
    elif not isinstance(problem, FiniteSumProblem):
        raise TypeError(f"`problem` must be a FiniteSumProblem, got {type(problem).__name__}")

    samplers = [OrderSampler(problem.n, order=o, seed=mix_seed(seed, r)) for o in checked for r in range(runs)]
    a = 1.0 / problem.strong_convexity
    b = a * problem.smoothness
    w = torch.zeros(len(samplers), problem.dim, dtype=problem.dtype, device=problem.device)
    gaps = torch.empty(epochs, len(samplers), dtype=torch.float64)
    best = problem.minimum()
    start = time.perf_counter()
    for epoch in range(epochs):
        for sampler in samplers:
            sampler.set_epoch(epoch)
        indices = torch.stack([s.epoch_indices() for s in samplers]).to(problem.device)
        t0 = epoch * problem.n
        problem.sgd_epoch(w, indices, [a / (t + b) for t in range(t0, t0 + problem.n)])
        gaps[epoch] = (problem.objective(w) - best).to("cpu", torch.float64)
        if progress is not None:
            progress(epoch + 1, epochs)
    seconds = time.perf_counter() - start
    gaps = gaps.view(epochs, len(checked), runs)
    mean_gap = {o: gaps[:, i].mean(1) for i, o in enumerate(checked)}
    slopes = {o: fit_loglog_slope(c, skip) if bool((c > 0).all()) else math.nan for o, c in mean_gap.items()}
    return OrderingResult(checked, gaps, mean_gap, slopes, skip, seconds)


def _check_orders(orders: Sequence[str]) -> tuple[Order, ...]:
    if isinstance(orders, str) or not isinstance(orders, Sequence) or len(orders) == 0:
        raise ValueError(f"`orders` must be a non-empty sequence of orders from {ORDERS}, got {orders!r}")
    checked = tuple(check_choice("orders", o, ORDERS) for o in orders)
    if len(set(checked)) != len(checked):
        raise ValueError(f"`orders` must not repeat an order, got {list(orders)}")
    return checked
