"""SMOTE: every new row on a segment to one of its k nearest same-class neighbours."""

from __future__ import annotations

import pytest
import torch

from torch_mlsd.imbalance import smote


def dataset(device, counts=(80, 30, 12), d=4, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    y = y[torch.randperm(len(y), generator=g)]
    x = torch.randn(len(y), d, generator=g, dtype=torch.float64) + 3 * y[:, None]
    return x.to(dtype).to(device), y.to(device)


def distance_to_valid_segments(new: torch.Tensor, points: torch.Tensor, k: int) -> torch.Tensor:
    """For each new row, the distance to the nearest segment (x_i, x_j), j among the k
    nearest neighbours of i in ``points`` (brute force, float64, independent of the library)."""
    p = points.double().cpu()
    d = torch.cdist(p, p, compute_mode="donot_use_mm_for_euclid_dist").fill_diagonal_(float("inf"))
    nn = d.topk(k, largest=False).indices  # (n, k)
    a = p[:, None, :].expand(-1, k, -1).reshape(-1, p.shape[1])
    b = p[nn].reshape(-1, p.shape[1])
    q = new.double().cpu()[:, None, :]  # (M, 1, D) against (n*k, D) segments
    ab = b - a
    t = (((q - a) * ab).sum(2) / (ab * ab).sum(1).clamp_min(1e-300)).clamp(0, 1)
    return (q - a - t[..., None] * ab).norm(dim=2).min(1).values


@pytest.mark.parametrize("strategy", ["auto", "all", {1: 50, 2: 31}])
@pytest.mark.parametrize("k", [1, 5])
def test_new_rows_lie_on_segments_to_same_class_neighbours(device, dtype, strategy, k):
    x, y = dataset(device, dtype=dtype)
    xr, yr = smote(x, y, k_neighbors=k, sampling_strategy=strategy, generator=torch.Generator(x.device).manual_seed(1))
    assert xr.dtype == dtype and xr.device == x.device and yr.dtype == y.dtype
    assert torch.equal(xr[: len(x)], x) and torch.equal(yr[: len(y)], y)
    new_y = yr[len(y) :]
    assert bool((new_y.diff() >= 0).all())  # class by class, ascending
    tol = 1e-9 if dtype == torch.float64 else 1e-5
    for c in new_y.unique().tolist():
        gap = distance_to_valid_segments(xr[len(y) :][new_y == c], x[y == c], k)
        assert float(gap.max()) < tol


def test_counts_match_imblearn_and_points_are_new():
    imblearn = pytest.importorskip("imblearn.over_sampling")
    x, y = dataset("cpu")
    _, ref = imblearn.SMOTE(random_state=0).fit_resample(x.numpy(), y.numpy())
    xr, yr = smote(x, y, generator=torch.Generator(x.device).manual_seed(0))
    assert torch.bincount(yr).tolist() == torch.bincount(torch.from_numpy(ref)).tolist() == [80, 80, 80]
    # u ~ U[0, 1) on distinct rows: new points coincide with no original row
    assert float(torch.cdist(xr[len(x) :], x).min()) > 0


def test_image_shaped_rows_keep_their_shape(device):
    g = torch.Generator().manual_seed(2)
    x = torch.rand(40, 2, 3, 3, generator=g).to(device)
    y = torch.tensor([0] * 30 + [1] * 10).to(device)
    xr, yr = smote(x, y, k_neighbors=3, generator=torch.Generator(x.device).manual_seed(0))
    assert xr.shape == (60, 2, 3, 3) and yr.tolist() == [0] * 30 + [1] * 10 + [1] * 20
    gap = distance_to_valid_segments(xr[40:].flatten(1), x[30:].flatten(1), 3)
    assert float(gap.max()) < 1e-5


def test_steps_are_uniform_and_base_rows_drawn_uniformly():
    scipy_stats = pytest.importorskip("scipy.stats")
    # minority at 0, 1 and 3 on a line, k=1: 0 <-> 1 are each other's neighbour, 3 -> 1.
    x = torch.cat([torch.tensor([[0.0], [1.0], [3.0]]), torch.full((3003, 1), 50.0)], 0).double()
    y = torch.tensor([1, 1, 1] + [0] * 3003)
    new = smote(x, y, k_neighbors=1, generator=torch.Generator(x.device).manual_seed(7))[0][3006:, 0]
    assert len(new) == 3000
    on_right = new > 1  # segment (3, 1): drawn from base row 2 only, P = 1/3
    # binomial(3000, 1/3): mean 1000, sd 25.8; allow 5 sd
    assert abs(int(on_right.sum()) - 1000) < 5 * 25.8
    # positions on [0, 1] are uniform (u or 1 - u): Kolmogorov-Smirnov at alpha = 0.001
    assert scipy_stats.kstest(new[~on_right].numpy(), "uniform").pvalue > 1e-3
    # positions on [1, 3] are 3 - 2u: uniform on (1, 3]
    assert scipy_stats.kstest(((new[on_right] - 1) / 2).numpy(), "uniform").pvalue > 1e-3


def test_deterministic_untouched_and_memory_bounded(device):
    x, y = dataset(device, dtype=torch.float32)
    x0, y0 = x.clone(), y.clone()
    a = smote(x, y, generator=torch.Generator(x.device).manual_seed(3))[0]
    b = smote(x, y, generator=torch.Generator(x.device).manual_seed(3), max_bytes=512)[0]  # tiny tiles: same exact neighbours, same draws
    c = smote(x, y, generator=torch.Generator(x.device).manual_seed(4))[0]
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(x, x0) and torch.equal(y, y0)


def test_half_precision_rows(device):
    x, y = dataset(device, dtype=torch.float16)
    xr, yr = smote(x, y, generator=torch.Generator(x.device).manual_seed(0))
    assert xr.dtype == torch.float16 and bool(torch.isfinite(xr).all())


def test_a_class_to_grow_needs_k_plus_one_rows():
    x, y = dataset("cpu", counts=(40, 20, 5))
    with pytest.raises(ValueError, match="at least 6 rows.*got 5 in class 2"):
        smote(x, y)
    smote(x, y, k_neighbors=4)  # 5 rows suffice for k=4
    smote(x, y, sampling_strategy={1: 40})  # class 2 is not grown: no constraint


def test_bad_inputs_name_the_argument():
    x, y = dataset("cpu")
    with pytest.raises(TypeError, match="`x` must have a floating-point dtype"):
        smote(x.long(), y)
    bad = x.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="`x` must be finite"):
        smote(bad, y)
    bad[3, 1] = float("inf")
    with pytest.raises(ValueError, match="`x` must be finite"):
        smote(bad, y)
    with pytest.raises(ValueError, match="`k_neighbors`"):
        smote(x, y, k_neighbors=0)
    with pytest.raises(TypeError, match="`k_neighbors`"):
        smote(x, y, k_neighbors=True)
    with pytest.raises(TypeError, match="`generator`"):
        smote(x, y, generator=-3)
    with pytest.raises(ValueError, match="`max_bytes`"):
        smote(x, y, max_bytes=0)
