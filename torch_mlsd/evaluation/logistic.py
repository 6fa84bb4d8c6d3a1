"""L2-regularised logistic regression in plain torch (the classical baseline model)."""

from __future__ import annotations

from typing import Any

import torch

from .._validate import check_bool, check_finite, check_float, check_int, check_tensor
from ._inputs import as_labels, encode, unique_counts

__all__ = ["LogisticRegression"]


class LogisticRegression:
    """L2-regularised logistic regression fit by L-BFGS, in plain torch.

    Minimises ``sum_i loss_i + ||W||^2 / (2 C)`` (intercept not penalised) like
    scikit-learn's ``LogisticRegression(C=C)``: a sigmoid for two classes, a softmax
    for more. Deterministic: it starts from zeros and draws nothing.

    Args:
        C: inverse regularisation strength (``> 0``).
        standardize: scale features by the training mean and standard deviation first
            (the statistics come from the rows passed to ``fit`` only).
        max_iter: L-BFGS iterations.
        tol: stop when the largest gradient entry of the mean loss falls below this.

    Attributes:
        classes_: ``(C,)`` sorted labels; coef_: ``(K, D)``; intercept_: ``(K,)`` with
        ``K = 1`` for two classes, else ``K = C``.

    Example:
        >>> x = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
        >>> LogisticRegression(C=10.0).fit(x, torch.tensor([0, 0, 1, 1])).predict(x).tolist()
        [0, 0, 1, 1]
    """

    def __init__(self, *, C: float = 1.0, standardize: bool = True, max_iter: int = 200, tol: float = 1e-8) -> None:
        self.C = check_float("C", C, min=0.0, min_open=True)
        self.standardize = check_bool("standardize", standardize)
        self.max_iter = check_int("max_iter", max_iter, min=1)
        self.tol = check_float("tol", tol, min=0.0, min_open=True)

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> LogisticRegression:
        """Fit on ``x`` ``(N, D)`` (any real dtype) and labels ``y`` ``(N,)``; returns self."""
        x = self._features(x, fitted=False)
        y = as_labels("y", y)
        if len(y) != len(x):
            raise ValueError(f"`y` must have {len(x)} labels like `x`, got {len(y)}")
        self.classes_ = unique_counts(y)[0]
        target = encode(y, self.classes_)
        if len(self.classes_) < 2:
            raise ValueError(f"`y` must hold at least 2 classes, got only {self.classes_.tolist()}")
        if self.standardize:
            self.mean_, self.scale_ = x.mean(0), x.std(0, unbiased=False)
            self.scale_ = torch.where(self.scale_ > 0, self.scale_, torch.ones_like(self.scale_))
            x = (x - self.mean_) / self.scale_
        k = 1 if len(self.classes_) == 2 else len(self.classes_)
        w = torch.zeros(k, x.shape[1], dtype=torch.float64, device=x.device, requires_grad=True)
        b = torch.zeros(k, dtype=torch.float64, device=x.device, requires_grad=True)
        opt = torch.optim.LBFGS(
            [w, b], lr=1.0, max_iter=self.max_iter, tolerance_grad=self.tol, tolerance_change=1e-15,
            history_size=20, line_search_fn="strong_wolfe",
        )
        penalty = 1.0 / (2.0 * self.C * len(x))  # the objective divided by N: same minimiser

        def closure() -> torch.Tensor:
            opt.zero_grad()
            logits = x @ w.T + b
            if k == 1:
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], target.double())
            else:
                loss = torch.nn.functional.cross_entropy(logits, target)
            loss = loss + penalty * w.pow(2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        self.coef_, self.intercept_ = w.detach(), b.detach()
        return self

    def _features(self, x: Any, *, fitted: bool) -> torch.Tensor:
        check_tensor("x", x, ndim=2, dtypes="numeric")
        if fitted and not hasattr(self, "coef_"):
            raise RuntimeError("this LogisticRegression is not fitted yet: call fit(x, y) first")
        x = x.double()
        check_finite("x", x)
        if fitted:
            if x.shape[1] != self.coef_.shape[1]:
                raise ValueError(f"`x` must have {self.coef_.shape[1]} features as in fit, got shape {tuple(x.shape)}")
            if self.standardize:
                x = (x - self.mean_) / self.scale_
        return x

    def decision_function(self, x: torch.Tensor) -> torch.Tensor:
        """Logits: ``(N,)`` for two classes (of the larger label), else ``(N, C)``."""
        logits = self._features(x, fitted=True) @ self.coef_.T + self.intercept_
        return logits[:, 0] if logits.shape[1] == 1 else logits

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C)`` ``float64`` class probabilities, columns in ``classes_`` order."""
        z = self.decision_function(x)
        if z.ndim == 1:
            p = torch.sigmoid(z)
            return torch.stack([1 - p, p], dim=1)
        return torch.softmax(z, dim=1)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """``(N,)`` most probable labels."""
        proba = self.predict_proba(x)
        return self.classes_[proba.argmax(1)]


