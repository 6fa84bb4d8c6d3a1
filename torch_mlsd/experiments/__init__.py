"""Experiments that show why data-side choices matter, reusable from code and recipes."""

from .convergence import (
    BOTTOU_2009_SLOPES,
    FiniteSumProblem,
    LogisticRegressionProblem,
    OrderingResult,
    fit_loglog_slope,
    run_ordering_experiment,
)

__all__ = [
    "BOTTOU_2009_SLOPES",
    "FiniteSumProblem",
    "LogisticRegressionProblem",
    "OrderingResult",
    "fit_loglog_slope",
    "run_ordering_experiment",
]
