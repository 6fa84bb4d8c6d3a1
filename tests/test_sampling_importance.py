"""Importance weights: values, stability, unbiased loss estimates, the (index, weight) sampler."""

import math
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from torch_mlsd.sampling.importance import ImportanceSampler, ImportanceWeighted, importance_weights


def _normal_log_pdf(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    return -0.5 * ((x - mean) / std) ** 2 - math.log(std * math.sqrt(2 * math.pi))


def test_plain_and_log_space_weights_agree(device, dtype):
    g = torch.Generator().manual_seed(0)
    p = torch.rand(100, generator=g, dtype=dtype).to(device)
    q = torch.rand(100, generator=g, dtype=dtype).to(device) + 0.1
    p[::10] = 0
    w = importance_weights(p, q)
    assert w.device.type == device.type and w.dtype == dtype
    torch.testing.assert_close(w, p / q)
    torch.testing.assert_close(importance_weights(p.log(), q.log(), log_space=True), w)
    sn = importance_weights(p, q, self_normalize=True)
    torch.testing.assert_close(sn.sum(), torch.tensor(100.0, dtype=dtype, device=device))
    torch.testing.assert_close(importance_weights(p.log(), q.log(), log_space=True, self_normalize=True), sn)
    clipped = importance_weights(p, q, max_weight=2.0)
    assert float(clipped.max()) <= 2.0 and torch.equal(clipped, w.clamp(max=2.0))


def test_zero_target_density_gives_zero_weight_even_where_q_is_zero():
    w = importance_weights(torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.0, 1.0, 2.0]))
    assert w.tolist() == [0.0, 0.0, 0.5]
    lw = importance_weights(torch.tensor([-torch.inf, 0.0]), torch.tensor([-torch.inf, 0.0]), log_space=True)
    assert lw.tolist() == [0.0, 1.0]


def test_self_normalised_log_weights_do_not_overflow():
    log_p = torch.tensor([1000.0, 999.0, -torch.inf], dtype=torch.float64)
    w = importance_weights(log_p, torch.zeros(3, dtype=torch.float64), log_space=True, self_normalize=True)
    expected = torch.tensor([math.e, 1.0, 0.0], dtype=torch.float64) * 3 / (math.e + 1)
    torch.testing.assert_close(w, expected)


def test_weighted_loss_is_an_unbiased_estimate_of_the_target_risk(device):
    # Samples from q = N(0, 2); target p = N(1, 1). The risk of a fixed predictor c = 0.5
    # under p is E_p[(x - c)^2] = 1 + (1 - 0.5)^2 = 1.25. The weighted mean of per-sample
    # losses must match within 5 standard errors (estimated from the weighted losses).
    g = torch.Generator(device=device).manual_seed(0)
    x = 2 * torch.randn(50_000, generator=g, device=device, dtype=torch.float64)
    w = importance_weights(_normal_log_pdf(x, 1, 1), _normal_log_pdf(x, 0, 2), log_space=True)
    loss = F.mse_loss(x, torch.full_like(x, 0.5), reduction="none")
    terms = loss * w
    estimate, se = float(terms.mean()), float(terms.std() / math.sqrt(len(x)))
    assert abs(estimate - 1.25) < 5 * se
    naive = float(loss.mean())  # without weights: E_q[(x - 0.5)^2] = 4.25, far off
    assert abs(naive - 1.25) > 100 * se
    w_sn = importance_weights(_normal_log_pdf(x, 1, 1), _normal_log_pdf(x, 0, 2), log_space=True, self_normalize=True)
    sn = float((loss * w_sn).mean())
    assert abs(sn - 1.25) < 5 * se  # self-normalised: consistent, bias O(1/n)


def test_gradients_flow_through_the_target():
    log_p = torch.tensor([0.1, -0.3, 0.2], requires_grad=True)
    w = importance_weights(log_p, torch.zeros(3), log_space=True)
    w.sum().backward()
    torch.testing.assert_close(log_p.grad, log_p.detach().exp())


@pytest.mark.parametrize(
    ("p", "q", "kwargs", "error", "match"),
    [
        ([1.0, 2.0], [1.0], {}, ValueError, "`q` must have the shape of `p`"),
        ([1.0, float("nan")], [1.0, 1.0], {}, ValueError, "`p` must not contain NaN"),
        ([1.0, 1.0], [float("nan"), 1.0], {}, ValueError, "`q` must not contain NaN"),
        ([1.0, 1.0], [0.0, 1.0], {}, ValueError, "`q` must be > 0 wherever `p` > 0"),
        ([1.0, 1.0], [-1.0, 1.0], {}, ValueError, "`q` must hold finite densities >= 0"),
        ([-1.0, 1.0], [1.0, 1.0], {}, ValueError, "`p` must hold finite densities >= 0"),
        ([float("inf"), 1.0], [1.0, 1.0], {}, ValueError, "`p` must hold finite densities"),
        ([0.0, 0.0], [float("-inf"), 0.0], {"log_space": True}, ValueError, "`q` must be > 0 wherever `p` > 0"),
        ([float("inf"), 0.0], [0.0, 0.0], {"log_space": True}, ValueError, "`p` must hold log-densities below"),
        ([0.0, 0.0], [1.0, 1.0], {"self_normalize": True}, ValueError, "`p` must be positive for some sample"),
        ([float("-inf")], [0.0], {"self_normalize": True, "log_space": True}, ValueError, "`p` must be positive"),
        ([1.0], [1.0], {"max_weight": 0.0}, ValueError, "`max_weight` must be > 0"),
        ([1.0], [1.0], {"self_normalize": 1}, TypeError, "`self_normalize` must be a bool"),
    ],
)
def test_bad_inputs_raise_naming_the_argument(p, q, kwargs, error, match):
    with pytest.raises(error, match=match):
        importance_weights(torch.tensor(p), torch.tensor(q), **kwargs)


def test_non_float_inputs_raise():
    with pytest.raises(TypeError, match="`p` must have a floating-point dtype"):
        importance_weights(torch.tensor([1, 2]), torch.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="`q` must be a torch.Tensor"):
        importance_weights(torch.tensor([1.0]), [1.0])


# -- ImportanceSampler ----------------------------------------------------------------
def test_importance_sampler_pairs_estimate_the_plain_average():
    # Oversample the large values 10x; weighting by w recovers the plain mean of f
    # within 5 standard errors of the weighted terms.
    n = 1000
    f = torch.linspace(0, 10, n, dtype=torch.float64)
    proposal = torch.where(f > 8, 10.0, 1.0).double()
    sampler = ImportanceSampler(proposal, num_samples=40_000, seed=1)
    pairs = list(sampler)
    idx = torch.tensor([i for i, _ in pairs])
    w = torch.tensor([wi for _, wi in pairs], dtype=torch.float64)
    terms = w * f[idx]
    assert abs(float(terms.mean()) - float(f.mean())) < 5 * float(terms.std()) / math.sqrt(len(pairs))
    assert float((f[idx] > 8).double().mean()) > 0.6  # the proposal really oversamples
    expected_w = (1 / n) / (proposal / proposal.sum())
    torch.testing.assert_close(w, expected_w[idx])


def test_importance_sampler_with_target_dataloader_resume_and_pickle():
    proposal, target = [1.0, 1.0, 2.0, 4.0], [0.0, 1.0, 1.0, 2.0]
    sampler = ImportanceSampler(proposal, target, num_samples=12, seed=3)
    loader = DataLoader(ImportanceWeighted(["a", "b", "c", "d"]), batch_size=4, sampler=sampler)
    letters, weights = zip(*[(x, float(w)) for xs, ws in loader for x, w in zip(xs, ws)])
    assert len(letters) == 12
    table = {"a": 0.0, "b": 2.0, "c": 1.0, "d": 1.0}  # (target / 4) / (proposal / 8)
    assert all(table[x] == w for x, w in zip(letters, weights))
    copy = pickle.loads(pickle.dumps(ImportanceSampler(proposal, target, num_samples=12, seed=3)))
    full = list(copy)
    run = ImportanceSampler(proposal, target, num_samples=12, seed=3)
    it = iter(run)
    head = [next(it) for _ in range(5)]
    resumed = ImportanceSampler(proposal, target, num_samples=12, seed=3)
    resumed.load_state_dict(run.state_dict())
    assert head + list(resumed) == full


def test_importance_sampler_bad_inputs():
    with pytest.raises(ValueError, match="`proposal` must be > 0 wherever the target is > 0"):
        ImportanceSampler([0.0, 1.0])
    with pytest.raises(ValueError, match="`target` must have the shape of `proposal`"):
        ImportanceSampler([1.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="`proposal` must be >= 0"):
        ImportanceSampler([-1.0, 1.0])
    with pytest.raises(ValueError, match="`target` must have at least one positive"):
        ImportanceSampler([1.0, 1.0], [0.0, 0.0])
