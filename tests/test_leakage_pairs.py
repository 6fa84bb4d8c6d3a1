"""Pairwise leakage scan: the planted XOR pair is found among 64 noise features, scores
equal a plain per-cell count, clean data raises no alarm over 20 seeds."""

from __future__ import annotations

import math

import pytest
import torch

from torch_mlsd.evaluation import check_leakage, feature_auc, pair_scan


def _xor_among_noise(seed: int, n: int = 6000, d: int = 64, pair: tuple[int, int] = (10, 40)):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = ((x[:, pair[0]] > 0) ^ (x[:, pair[1]] > 0)).long()
    return x, y


def test_xor_pair_among_64_noise_features_is_the_only_flag(device):
    x, y = _xor_among_noise(0)
    x, y = x.to(device), y.to(device)
    auc = feature_auc(x, y)
    assert float(auc[10]) < 0.55 and float(auc[40]) < 0.55  # each alone at chance
    scan = pair_scan(x, y, generator=torch.Generator().manual_seed(1))
    assert scan.flagged_pairs.tolist() == [[10, 40]]
    assert len(scan.pairs) == 64 * 63 // 2 and scan.scores.device.type == device.type
    row = int(((scan.pairs[:, 0] == 10) & (scan.pairs[:, 1] == 40)).nonzero())
    # 8 x 8 quantile bins put an edge at each median: the cells give the label, up to smoothing.
    assert float(scan.scores[row]) > 0.9 and float(scan.single[[10, 40]].abs().max()) < 0.01
    assert abs(float(scan.additive[row])) < 0.01
    assert "| x10 + x40 |" in scan.to_markdown(3) and "LEAK?" in scan.to_markdown(3)


def test_label_plus_noise_is_not_a_pair_finding():
    x = torch.randn(3000, 16, generator=torch.Generator().manual_seed(1))
    y = (torch.rand(3000, generator=torch.Generator().manual_seed(5)) < 0.5).long()
    x[:, 3] = y + 0.3 * torch.randn(3000, generator=torch.Generator().manual_seed(6))
    scan = pair_scan(x, y, generator=torch.Generator().manual_seed(0))
    assert float(scan.single[3]) > 0.5  # feature 3 alone carries it ...
    assert not bool(scan.flagged.any())  # ... so no pair is far above its features alone


def _brute_score(x: torch.Tensor, y: torch.Tensor, half: torch.Tensor, i: int, j: int, bins: int) -> float:
    """The estimator written out cell by cell with Python dictionaries."""
    n = len(x)
    positions = [round(k * (n - 1) / bins) for k in range(1, bins)]

    def codes(col: torch.Tensor) -> list[int]:
        edges = sorted(col.tolist())
        cut = [edges[p] for p in positions]
        return [sum(e < v for e in cut) for v in col.tolist()]

    ci, cj = codes(x[:, i]), codes(x[:, j])
    classes = sorted(set(y.tolist()))
    count: dict[tuple[int, int, int, int], int] = {}
    per_half = {(h, c): 0 for h in (0, 1) for c in classes}
    for r in range(n):
        key = (int(half[r]), ci[r], cj[r], int(y[r]))
        count[key] = count.get(key, 0) + 1
        per_half[(int(half[r]), int(y[r]))] += 1
    loglik = baseline = 0.0
    for h in (0, 1):
        total = sum(per_half[(h, c)] for c in classes)
        prior = {c: (per_half[(h, c)] + 1) / (total + len(classes)) for c in classes}
        for r in range(n):
            if int(half[r]) == h:
                continue  # fitted on half h, scored on the other
            cell = [count.get((h, ci[r], cj[r], c), 0) for c in classes]
            c = classes.index(int(y[r]))
            loglik += math.log((cell[c] + prior[int(y[r])]) / (sum(cell) + 1.0))
            baseline += math.log(prior[int(y[r])])
    return 1.0 - loglik / baseline


@pytest.mark.parametrize("max_bytes", [2**10, 2**28])
def test_scores_equal_a_cell_by_cell_count(max_bytes):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(300, 4, generator=g)
    x[:, 2] = torch.randint(0, 3, (300,), generator=g).float()  # ties: bins merge
    y = torch.randint(0, 3, (300,), generator=g)
    scan = pair_scan(x, y, bins=5, max_bytes=max_bytes, generator=torch.Generator().manual_seed(7))
    half = torch.randperm(300, generator=torch.Generator().manual_seed(7)) % 2  # the scan's first draw
    for row, (i, j) in enumerate(scan.pairs.tolist()):
        assert float(scan.scores[row]) == pytest.approx(_brute_score(x, y, half, i, j, 5), abs=1e-10)


def test_same_generator_same_scan_and_top_candidates():
    x, y = _xor_among_noise(2, n=2000, d=20, pair=(3, 12))
    a = pair_scan(x, y, generator=torch.Generator().manual_seed(0))
    b = pair_scan(x, y, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.scores, b.scores) and a.threshold == b.threshold
    x[:, 5] += 0.5 * y  # informative alone: among the candidates
    few = pair_scan(x, y, max_pairs=10, generator=torch.Generator().manual_seed(0))
    assert len(few.pairs) == 10 and 5 in few.pairs.flatten().tolist()  # K = 5 features, 10 pairs


@pytest.mark.parametrize("seed", range(20))
def test_clean_data_raises_no_alarm(seed):
    """Noise features, a label with modest single and additive signals: no pair flagged."""
    g = torch.Generator().manual_seed(100 + seed)
    x = torch.randn(2000, 24, generator=g)
    y = (torch.rand(2000, generator=g) < torch.sigmoid(x[:, 0] + x[:, 1] - 0.5 * x[:, 2])).long()
    scan = pair_scan(x, y, generator=g)
    assert not bool(scan.flagged.any()), scan.to_markdown(5)


def test_check_leakage_reports_the_pair():
    x, y = _xor_among_noise(4, n=3000, d=12, pair=(2, 9))
    g = torch.Generator().manual_seed(0)
    report = check_leakage(x[:2400], x[2400:], y[:2400], y[2400:], generator=g)
    assert [f.kind for f in report.findings] == ["feature_pair"]
    assert report.findings[0].features == [2, 9] and "2 + 9 (score" in report.findings[0].message
    skipped = check_leakage(x[:2400], x[2400:], y[:2400], y[2400:], scan_pairs=False)
    assert skipped.ok and "| feature pairs (held-out binned score) |  |  | skipped |" in str(skipped)


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        (dict(x=torch.randn(50, 1)), ValueError, "x"),
        (dict(y=torch.zeros(50, dtype=torch.long)), ValueError, "y"),
        (dict(y=torch.zeros(49, dtype=torch.long)), ValueError, "y"),
        (dict(bins=1), ValueError, "bins"),
        (dict(alpha=0.0), ValueError, "alpha"),
        (dict(min_share=1.0), ValueError, "min_share"),
        (dict(max_pairs=0), ValueError, "max_pairs"),
        (dict(generator=0), TypeError, "generator"),
        (dict(x=torch.full((50, 3), float("nan"))), ValueError, "x"),
    ],
)
def test_pair_scan_bad_inputs(kwargs, exc, name):
    args = dict(x=torch.randn(50, 3), y=torch.arange(50) % 2)
    args.update(kwargs)
    with pytest.raises(exc, match=f"`{name}`"):
        pair_scan(**args)
