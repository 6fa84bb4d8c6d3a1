"""torch_mlsd._neighbors.knn: exact k-NN in tiles == brute force (cdist + topk)."""

from __future__ import annotations

import math

import pytest
import torch

from torch_mlsd import _neighbors
from torch_mlsd._neighbors import knn


def brute(query: torch.Tensor, reference: torch.Tensor, k: int, metric: str, exclude_self: bool):
    q, r = query.double(), reference.double()
    if metric == "cosine":
        score = -torch.nn.functional.normalize(q, dim=1) @ torch.nn.functional.normalize(r, dim=1).T
    else:
        score = torch.cdist(q, r, compute_mode="donot_use_mm_for_euclid_dist")
    if exclude_self:
        score.fill_diagonal_(math.inf)
    v, i = score.topk(k, dim=1, largest=False)
    return (-v if metric == "cosine" else v), i


def check_against_brute(query, reference, k, metric="euclidean", exclude_self=False, **kw):
    v, i = knn(query, reference, k, metric=metric, exclude_self=exclude_self, **kw)
    rv, ri = brute(query, reference, k, metric, exclude_self)
    assert v.shape == i.shape == (len(query), k)
    assert v.dtype == query.dtype and i.dtype == torch.long and v.device == i.device == query.device
    tol = 1e-10 if query.dtype == torch.float64 else 1e-4
    torch.testing.assert_close(v.double().cpu(), rv.cpu(), atol=tol, rtol=tol)
    if query.dtype == torch.float64:  # continuous random data: no ties at float64 precision
        assert torch.equal(i.cpu(), ri.cpu())
    else:  # near-ties may swap in float32: the returned rows must be at the reported values
        exact = brute(query, reference, len(reference), metric, exclude_self)
        truth = torch.empty_like(exact[0]).scatter_(1, exact[1], exact[0])  # value per (query, row)
        torch.testing.assert_close(truth.gather(1, i.cpu()), rv.cpu(), atol=tol, rtol=tol)
    return v, i


@pytest.mark.parametrize("max_bytes", [1, 200, 4096, 256 * 2**20])
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("exclude_self", [True, False])
def test_self_join_matches_brute_force(device, max_bytes, k, exclude_self):
    g = torch.Generator().manual_seed(k * 10 + int(exclude_self))
    n = 30 if max_bytes < 1000 else 200
    x = torch.randn(n, 5, generator=g, dtype=torch.float64).to(device)
    check_against_brute(x, x, k, exclude_self=exclude_self, max_bytes=max_bytes)


@pytest.mark.parametrize("max_bytes", [8, 3000, 256 * 2**20])
@pytest.mark.parametrize("k", [1, 7])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_query_reference_matches_brute_force(device, dtype, max_bytes, k, metric):
    g = torch.Generator().manual_seed(k)
    q = torch.randn(33, 6, generator=g, dtype=dtype).to(device)
    r = torch.randn(210, 6, generator=g, dtype=dtype).to(device)
    check_against_brute(q, r, k, metric=metric, max_bytes=max_bytes)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_cosine_and_euclidean_self_join(device, metric):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(250, 8, generator=g, dtype=torch.float64).to(device)
    check_against_brute(x, x, 5, metric=metric, exclude_self=True, max_bytes=3000)


def test_grouped_topk_path_with_ragged_tail(device):
    # > 4*k*64 reference columns per tile and a width that is not a multiple of 64
    g = torch.Generator().manual_seed(5)
    q = torch.randn(70, 4, generator=g, dtype=torch.float64).to(device)
    r = torch.randn(1500, 4, generator=g, dtype=torch.float64).to(device)
    check_against_brute(q, r, 3, max_bytes=2**20)
    check_against_brute(r, r, 5, exclude_self=True, max_bytes=2**20)


def test_far_from_origin_is_still_exact(device):
    # centring keeps the |x|^2 + |y|^2 - 2xy expansion accurate for data far from 0
    g = torch.Generator().manual_seed(6)
    x = (torch.randn(200, 3, generator=g, dtype=torch.float64) + 1e4).to(device)
    check_against_brute(x, x, 2, exclude_self=True)


def test_float32_indices_are_true_neighbours(device):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(400, 16, generator=g).to(device)
    v, i = knn(x, x, 3, exclude_self=True, max_bytes=5000)
    rv, _ = brute(x, x, 3, "euclidean", True)
    torch.testing.assert_close(v.double(), rv, atol=1e-5, rtol=1e-5)
    exact = (x[:, None, :].double() - x[i].double()).norm(dim=2)
    torch.testing.assert_close(v.double(), exact, atol=1e-5, rtol=1e-5)


def test_exclude_self_keeps_identical_copies(device):
    x = torch.tensor([[0.0, 0.0], [5.0, 5.0], [0.0, 0.0], [9.0, 9.0]], device=device)
    v, i = knn(x, x, 1, exclude_self=True)
    assert i[:, 0].tolist() == [2, 3, 0, 1]
    assert v[0, 0].item() == 0.0 and v[2, 0].item() == 0.0


def test_query_is_reference_without_exclude_self_returns_self(device):
    g = torch.Generator().manual_seed(8)
    x = torch.randn(100, 3, generator=g).to(device)
    v, i = knn(x, x, 1, max_bytes=500)
    assert torch.equal(i[:, 0], torch.arange(100, device=device))
    assert float(v.abs().max()) < 1e-3


def test_half_precision_is_computed_in_float32(device):
    g = torch.Generator().manual_seed(9)
    x = torch.randn(120, 4, generator=g).to(device)
    v16, i16 = knn(x.half(), x.half(), 2, exclude_self=True)
    v32, i32 = knn(x.half().float(), x.half().float(), 2, exclude_self=True)
    assert v16.dtype == torch.float16 and torch.equal(i16, i32)
    torch.testing.assert_close(v16.float(), v32, atol=1e-2, rtol=1e-2)


def test_inputs_untouched_and_empty_query(device):
    x = torch.randn(50, 3, device=device)
    before, version = x.clone(), x._version
    knn(x, x, 2, exclude_self=True)
    assert torch.equal(x, before) and x._version == version
    v, i = knn(x[:0], x, 2)
    assert v.shape == i.shape == (0, 2)


@pytest.mark.parametrize("elems", [1, 7, 100, 4096, 10**6])
@pytest.mark.parametrize("shape", [(10, 10), (3, 5000), (5000, 3), (1000, 1000)])
def test_tile_shape_respects_the_bound(elems, shape):
    rows, cols = _neighbors._tile_shape(*shape, elems, square=False)
    assert 1 <= rows <= shape[0] and 1 <= cols <= shape[1] and rows * cols <= max(elems, 1)
    side, side2 = _neighbors._tile_shape(*shape, elems, square=True)
    assert side == side2 and side * side <= elems


def test_bad_inputs_name_the_argument():
    x = torch.randn(5, 2)
    with pytest.raises(TypeError, match="`query`"):
        knn(x.long(), x, 1)
    with pytest.raises(ValueError, match="`reference`"):
        knn(x, x[None], 1)
    with pytest.raises(ValueError, match="columns"):
        knn(x, torch.randn(5, 3), 1)
    with pytest.raises(ValueError, match="dtype"):
        knn(x, x.double(), 1)
    with pytest.raises(ValueError, match="`k`"):
        knn(x, x, 5, exclude_self=True)
    with pytest.raises(ValueError, match="`k`"):
        knn(x, x, 0)
    with pytest.raises(TypeError, match="`k`"):
        knn(x, x, True)
    with pytest.raises(ValueError, match="`metric`"):
        knn(x, x, 1, metric="manhattan")
    with pytest.raises(ValueError, match="`exclude_self`"):
        knn(x[:3], x, 1, exclude_self=True)
    with pytest.raises(TypeError, match="`exclude_self`"):
        knn(x, x, 1, exclude_self=1)
    with pytest.raises(ValueError, match="`max_bytes`"):
        knn(x, x, 1, max_bytes=0)
    with pytest.raises(ValueError, match="`reference`"):
        knn(x[:1], x[:1], 1, exclude_self=True)
    bad = x.clone()
    bad[2, 1] = float("nan")
    with pytest.raises(ValueError, match="`query` must be finite"):
        knn(bad, x, 1)
    with pytest.raises(ValueError, match="`reference` must be finite"):
        knn(x, bad.clone().fill_(float("inf")), 1)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("max_bytes", [300, 256 * 2**20])
def test_exclude_self_with_a_separate_copy_uses_the_full_search(device, k, max_bytes):
    g = torch.Generator().manual_seed(10)
    x = torch.randn(90, 4, generator=g, dtype=torch.float64).to(device)
    same = knn(x, x, k, exclude_self=True, max_bytes=max_bytes)
    copy = knn(x, x.clone(), k, exclude_self=True, max_bytes=max_bytes)
    assert torch.equal(same[1], copy[1])
    torch.testing.assert_close(same[0], copy[0])
    check_against_brute(x, x.clone(), k, exclude_self=True, max_bytes=max_bytes)


def test_results_do_not_depend_on_the_thread_count_which_is_left_alone():
    g = torch.Generator().manual_seed(11)
    x = torch.randn(300, 5, generator=g, dtype=torch.float64)
    before = torch.get_num_threads()
    try:
        results = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results[threads] = [knn(x, x, k, exclude_self=True, max_bytes=3000) for k in (1, 4)]
            assert torch.get_num_threads() == threads  # the library never changes it
    finally:
        torch.set_num_threads(before)
    for (v1, i1), (v2, i2) in zip(results[1], results[2]):
        assert torch.equal(i1, i2) and torch.allclose(v1, v2, rtol=1e-12)


@pytest.mark.parametrize("magnitude", [1e19, 1e-19])
@pytest.mark.parametrize("k", [1, 3])
def test_scaling_the_data_never_changes_the_neighbours(magnitude, k):
    # float32 squared norms of 1e19-sized rows overflow (1e38 * D > 3.4e38), of 1e-19-sized
    # rows underflow to 0: the neighbours must be those of the unscaled data all the same
    g = torch.Generator().manual_seed(3)
    x = torch.randn(200, 8, generator=g)
    ref_values, ref_indices = knn(x, x, k, exclude_self=True)
    values, indices = knn(x * magnitude, x * magnitude, k, exclude_self=True)
    assert torch.equal(indices, ref_indices)
    assert torch.isfinite(values).all()
    assert torch.allclose(values.double() / magnitude, ref_values.double(), rtol=1e-5)
    cosine = knn(x * magnitude, x * magnitude, k, metric="cosine", exclude_self=True)
    assert torch.equal(cosine[1], knn(x, x, k, metric="cosine", exclude_self=True)[1])
