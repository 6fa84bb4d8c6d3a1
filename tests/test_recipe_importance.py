"""recipes/importance_training.py: the unbiased batch loss, the summary logic, and a smoke run."""

import pytest
import torch
from torch import nn

from tests._recipes import load_recipe
from torch_mlsd.sampling import DynamicWeightedSampler

pytest.importorskip("sklearn")
recipe = load_recipe("importance_training")


def test_importance_weighted_batch_loss_is_unbiased_for_the_full_mean():
    # E over one draw from the sampler's q of batch_loss("loss_is") == mean loss over all
    # examples, exactly (summed over every index with its probability); "hard" is biased.
    n = 50
    losses = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) ** 3
    sampler = DynamicWeightedSampler(torch.ones(n), 10, seed=0)
    sampler.update_weights(torch.arange(n), recipe.loss_sampling_weights(losses, floor=0.1).weights)
    every = torch.arange(n)
    q = sampler.probabilities(every)
    per_index = torch.stack([recipe.batch_loss("loss_is", losses[i : i + 1], every[i : i + 1], sampler) for i in range(n)])
    assert float((q * per_index).sum()) == pytest.approx(float(losses.mean()), rel=1e-12)
    hard = torch.stack([recipe.batch_loss("hard", losses[i : i + 1], every[i : i + 1], sampler) for i in range(n)])
    assert float((q * hard).sum()) > 1.5 * float(losses.mean())
    assert float(recipe.batch_loss("uniform", losses, every, sampler)) == pytest.approx(float(losses.mean()))


def test_reached_and_summary():
    run = recipe.Run(steps=[0, 10, 20], train_loss=[1.0, 0.5, 0.1], seconds=[0.0, 1.0, 2.0], test_accuracy=0.9)
    assert run.reached(0.5) == (10, 1.0) and run.reached(0.05) is None
    result = recipe.Result({"a": [run, run], "b": [recipe.Run(steps=[0], train_loss=[1.0], seconds=[0.0], test_accuracy=0.5)]}, 0.5)
    s = result.summary()
    assert s["a"]["steps"] == (10.0, 0.0) and s["a"]["reached"] == (2.0, 2.0) and s["b"]["reached"] == (0.0, 1.0)
    assert "fewest steps to the target on every seed: a" in result.verdict()
    assert "not reached" in result.table()


def test_smoke_run(tmp_path, capsys):
    out = tmp_path / "is.png"
    result = recipe.run(["--seeds", "2", "--steps", "40", "--eval-every", "10", "--target-loss", "1.0",
                         "--device", "cpu", "--out", str(out)])
    printed = capsys.readouterr().out
    assert out.exists() and out.stat().st_size > 0
    for method in recipe.METHODS:
        assert f"| {method} |" in printed
        runs = result.runs[method]
        assert len(runs) == 2 and runs[0].steps == [0, 10, 20, 30, 40]
        assert all(0.0 <= r.test_accuracy <= 1.0 for r in runs)
        assert runs[0].train_loss[-1] < runs[0].train_loss[0]  # 40 steps of SGD lower the loss
    # the same seed gives the same run
    again = recipe.run(["--seeds", "1", "--steps", "40", "--eval-every", "10", "--methods", "loss_is",
                        "--device", "cpu", "--out", str(out)])
    assert again.runs["loss_is"][0].train_loss == result.runs["loss_is"][0].train_loss


def test_model_is_seeded_and_global_rng_untouched():
    state = torch.get_rng_state()
    a, b = recipe.make_model(3, torch.device("cpu")), recipe.make_model(3, torch.device("cpu"))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert torch.equal(state, torch.get_rng_state())
    assert isinstance(a, nn.Module)
