"""loss_sampling_weights: floor, unbiasedness of the importance weights, scale, errors."""

import pytest
import torch

from torch_mlsd.sampling import DynamicWeightedSampler, LossSampling, importance_weights, loss_sampling_weights


def _losses(n=1000, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, generator=g, dtype=torch.float64) ** 4 * 5  # skewed: a few hard examples


@pytest.mark.parametrize("floor", [0.01, 0.1, 0.5, 1.0])
def test_floor_is_respected_and_weights_average_one(floor):
    s = _losses()
    w, iw = loss_sampling_weights(s, floor=floor)
    q = w / w.sum()
    assert float(w.mean()) == pytest.approx(1.0, rel=1e-12)
    assert float(q.min()) >= floor / len(s) * (1 - 1e-12)
    assert float(iw.max()) <= 1 / floor * (1 + 1e-12)  # importance weights are bounded by 1 / floor
    if floor == 1.0:
        assert torch.allclose(w, torch.ones_like(w)) and torch.allclose(iw, torch.ones_like(iw))
    # more loss, more weight
    order = s.argsort()
    assert bool((w[order].diff() >= 0).all())


def test_importance_weights_are_exactly_unbiased():
    s = _losses()
    f = torch.randn(len(s), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    w, iw = loss_sampling_weights(s, floor=0.1)
    q = w / w.sum()
    assert float((q * iw * f).sum()) == pytest.approx(float(f.mean()), rel=1e-12, abs=1e-14)
    target = torch.rand(len(s), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    _, iw_t = loss_sampling_weights(s, floor=0.1, target=target)
    assert float((q * iw_t * f).sum()) == pytest.approx(float((target / target.sum() * f).sum()), rel=1e-12, abs=1e-14)
    assert torch.allclose(iw, importance_weights(torch.full_like(q, 1 / len(q)), q))


def test_monte_carlo_estimate_through_the_sampler_is_unbiased():
    # Draw 400k indices from q with DynamicWeightedSampler; the weighted mean of f must
    # match the plain mean within 4 standard errors (f correlated with the scores).
    s = _losses()
    f = s + torch.randn(len(s), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    w, iw = loss_sampling_weights(s, floor=0.1)
    idx = torch.tensor(list(DynamicWeightedSampler(w, 400_000, seed=4)))
    values = iw[idx] * f[idx]
    se = float(values.std()) / len(values) ** 0.5
    assert abs(float(values.mean()) - float(f.mean())) < 4 * se
    # the uncorrected estimate is biased well beyond that
    assert abs(float(f[idx].mean()) - float(f.mean())) > 20 * se


def test_loss_proportional_sampling_lowers_the_variance_of_the_gradient_estimate():
    # f = scores: the ideal case of Katharopoulos & Fleuret (scores = gradient norms).
    s = _losses()
    w, iw = loss_sampling_weights(s, floor=0.1)
    q = w / w.sum()
    mean = float(s.mean())
    var_q = float((q * (iw * s - mean) ** 2).sum())
    var_uniform = float(((s - mean) ** 2).mean())
    assert var_q < 0.2 * var_uniform


def test_fixed_scale_gives_elementwise_weights_for_a_batch():
    s = _losses()
    full = loss_sampling_weights(s, floor=0.2, scale=2.0).weights
    batch = loss_sampling_weights(s[:32], floor=0.2, scale=torch.tensor(2.0)).weights
    assert torch.equal(full[:32], batch)
    assert isinstance(loss_sampling_weights(s), LossSampling)


def test_all_zero_scores_give_uniform_sampling_and_dtypes_are_kept():
    w, iw = loss_sampling_weights(torch.zeros(4, dtype=torch.float32))
    assert w.dtype == torch.float32 and w.tolist() == [1.0] * 4 and iw.tolist() == [1.0] * 4
    w, _ = loss_sampling_weights(torch.tensor([0, 2, 4]))
    assert w.dtype == torch.float64


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(scores=torch.tensor([1.0, -1.0])), ValueError, ">= 0"),
        (dict(scores=torch.tensor([1.0, float("nan")])), ValueError, "finite"),
        (dict(scores=torch.ones(2, 2)), ValueError, "dimensions"),
        (dict(scores="abc"), TypeError, "scores"),
        (dict(scores=torch.ones(3), floor=0.0), ValueError, "floor"),
        (dict(scores=torch.ones(3), floor=1.5), ValueError, "floor"),
        (dict(scores=torch.ones(3), scale=0.0), ValueError, "scale"),
        (dict(scores=torch.ones(3), scale="x"), TypeError, "scale"),
        (dict(scores=torch.ones(3), target=torch.ones(4)), ValueError, "target"),
        (dict(scores=torch.ones(3), target=torch.tensor([1.0, -1.0, 1.0])), ValueError, "target"),
    ],
)
def test_bad_input_raises_naming_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        loss_sampling_weights(**kwargs)
