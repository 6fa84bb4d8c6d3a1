"""Model evaluation: splits that cannot leak, leakage checks, baselines and metrics.

=================  ==============================================================
module             what it holds
=================  ==============================================================
``splits``         stratified and group splits and k-folds
``temporal``       time-ordered splits and expanding-window folds
``duplicates``     exact (hashed) and near (cosine k-NN) duplicate rows
``feature_power``  single-feature predictive power (one-vs-rest ROC-AUC)
``pairs``          labels carried by two features together: :func:`pair_scan`
``scorers``        held-out scorers (logistic, binned) for the ablation checks
``ablation``       feature-subset ablation: singles, flagged pairs, leave-one-out
``addition``       feature-addition curve: sudden gains as features are added
``interpolation``  test rows interpolated between training rows (SMOTE before the split)
``premature``      was a fitted transformer fit on the training rows alone? (refit and compare)
``leakage``        :func:`check_leakage`, which runs every check
``report``         its report: :class:`LeakageReport`, :class:`CheckResult`, :class:`Finding`
``baselines``      uniform / prior / majority / constant / heuristic baselines
``logistic``       the L2 logistic regression used as the classical baseline
``metrics``        accuracy, confusion matrix, precision / recall / F-scores
``ranking``        ROC-AUC and average precision
=================  ==============================================================

Every name is importable from here: ``from torch_mlsd.evaluation import f1_score``.
"""

from .ablation import AblationRow, AblationTable, feature_ablation
from .addition import AdditionCurve, addition_curve
from .baselines import (
    BaselineReport,
    Predictions,
    compare_baselines,
    constant_baseline,
    heuristic_baseline,
    label_distribution_baseline,
    logistic_regression_baseline,
    most_frequent_baseline,
    uniform_random_baseline,
)
from .duplicates import exact_duplicates, near_duplicates
from .feature_power import feature_auc
from .interpolation import Interpolations, interpolated_rows
from .leakage import CheckResult, Finding, LeakageReport, check_leakage
from .logistic import LogisticRegression
from .metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    fbeta_score,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
)
from .pairs import PairScan, pair_scan
from .premature import refit_difference
from .ranking import average_precision_score, roc_auc_score
from .scorers import Scorer, binned_score, logistic_score
from .splits import group_kfold, group_split, stratified_kfold, stratified_split
from .temporal import temporal_split, time_series_folds

__all__ = [
    # splits
    "stratified_split",
    "group_split",
    "stratified_kfold",
    "group_kfold",
    "temporal_split",
    "time_series_folds",
    # leakage
    "check_leakage",
    "LeakageReport",
    "Finding",
    "CheckResult",
    "exact_duplicates",
    "near_duplicates",
    "feature_auc",
    "pair_scan",
    "PairScan",
    "feature_ablation",
    "AblationTable",
    "AblationRow",
    "addition_curve",
    "AdditionCurve",
    "Scorer",
    "logistic_score",
    "binned_score",
    "interpolated_rows",
    "Interpolations",
    "refit_difference",
    # baselines
    "Predictions",
    "uniform_random_baseline",
    "label_distribution_baseline",
    "most_frequent_baseline",
    "constant_baseline",
    "heuristic_baseline",
    "LogisticRegression",
    "logistic_regression_baseline",
    "BaselineReport",
    "compare_baselines",
    # metrics
    "accuracy_score",
    "balanced_accuracy_score",
    "confusion_matrix",
    "precision_recall_fscore_support",
    "precision_score",
    "recall_score",
    "f1_score",
    "fbeta_score",
    "roc_auc_score",
    "average_precision_score",
]
