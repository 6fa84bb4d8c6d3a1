"""recipes/ddp_train.py: disjoint shares per rank and an exact mid-epoch resume, in 1 and 2 processes."""

import pytest
import torch

from tests._distributed import run_distributed
from tests._recipes import load_recipe

recipe = load_recipe("ddp_train")

# 800 examples, 600 for training. Stratified: 38 batches of 16 (the last of 8), 19 per rank
# with 2 ranks. Weighted: 150 examples per epoch, 75 per rank in batches of 16, 16, 16, 16, 11.
TINY = ["--samples", "800", "--classes", "3", "--imbalance", "10", "--features", "4", "--hidden", "16",
        "--epochs", "3", "--batch-size", "16", "--device", "cpu"]
STOPS = {"stratified": 25, "weighted": 7}  # mid-epoch: with 2 ranks, epoch 1 after 6 of 19 / 2 of 5 batches
PER_EPOCH = {"stratified": 600, "weighted": 150}  # examples per epoch over all ranks


def _plain(result) -> dict:
    return {"indices": result.indices, "state": result.final_state, "rows": result.rows,
            "losses": result.step_losses, "steps": result.steps, "stopped": result.stopped}


def _interrupt_and_resume(rank: int, world_size: int, tmp: str, sampler: str) -> dict:
    """The same training three times: uninterrupted, stopped mid-epoch, resumed from the checkpoint."""
    args = [*TINY, "--sampler", sampler, "--out", f"{tmp}/{sampler}-{world_size}.png"]
    checkpoint = f"{tmp}/{sampler}-{world_size}.pt"
    return {
        "full": _plain(recipe.run(args + ["--checkpoint", f"{tmp}/unused.pt"])),
        "first": _plain(recipe.run(args + ["--checkpoint", checkpoint, "--stop-after-steps", str(STOPS[sampler])])),
        "resumed": _plain(recipe.run(args + ["--checkpoint", checkpoint, "--resume"])),
    }


def _both_samplers(rank: int, world_size: int, tmp: str) -> dict:
    return {sampler: _interrupt_and_resume(rank, world_size, tmp, sampler) for sampler in STOPS}


def _check_resume(runs: dict, sampler: str) -> None:
    full, first, resumed = runs["full"], runs["first"], runs["resumed"]
    assert first["stopped"] and first["steps"] == STOPS[sampler] and not resumed["stopped"]
    # The interrupted epoch is finished by the resumed run, and together they consumed, in
    # order, what the full run consumed.
    assert first["indices"][-1][0] == resumed["indices"][0][0] and resumed["indices"][-1][0] == 2
    assert len(first["indices"][-1][1]) > 0 and len(resumed["indices"][0][1]) > 0
    done = torch.cat([i for _, i in first["indices"]] + [i for _, i in resumed["indices"]])
    assert torch.equal(done, torch.cat([i for _, i in full["indices"]]))
    # Same final weights (bit for bit), same per-step losses and the same table.
    assert full["state"].keys() == resumed["state"].keys()
    assert all(torch.equal(full["state"][k], resumed["state"][k]) for k in full["state"])
    assert resumed["losses"] == full["losses"] and resumed["rows"] == full["rows"]
    assert resumed["steps"] == full["steps"] == len(full["losses"])


@pytest.mark.slow
def test_two_ranks_disjoint_and_resume_exactly(tmp_path):
    pytest.importorskip("matplotlib")
    results = run_distributed(_both_samplers, world_size=2, args=(str(tmp_path),))
    for sampler, per_epoch in PER_EPOCH.items():
        for rank_result in results:
            _check_resume(rank_result[sampler], sampler)
        assert results[0][sampler]["first"]["indices"][-1][0] == 1  # stopped in the middle of epoch 1
        full = [r[sampler]["full"] for r in results]
        for epoch in range(3):
            shares = [f["indices"][epoch][1].tolist() for f in full]
            assert not set(shares[0]) & set(shares[1]) and len(shares[0]) + len(shares[1]) == per_epoch
            assert all(len(set(share)) == len(share) for share in shares)
        if sampler == "stratified":  # every training example once per epoch, over the two ranks
            assert sorted(shares[0] + shares[1]) == list(range(600))
        # The table, computed on every rank from gathered numbers, says the same on both.
        assert full[0]["rows"] == full[1]["rows"]
        assert [row[5:] for row in full[0]["rows"]] == [(per_epoch, True)] * 3
    # Rank 0 wrote the loss curve.
    assert (tmp_path / "stratified-2.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_one_process_resumes_exactly(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    runs = _both_samplers(0, 1, str(tmp_path))
    for sampler in STOPS:
        _check_resume(runs[sampler], sampler)
    stratified = runs["stratified"]["full"]
    assert [len(i) for _, i in stratified["indices"]] == [600] * 3  # every training example once per epoch
    printed = capsys.readouterr().out
    assert "| epoch | train loss | val balanced accuracy | val macro F1 |" in printed
    assert f"stopped after step {STOPS['weighted']}; checkpoint saved to" in printed
    # Training learns: the loss falls and balanced accuracy beats chance (1/3) by the last epoch.
    rows = stratified["rows"]
    assert rows[-1][1] < rows[0][1] and rows[-1][2] > 0.5


@pytest.mark.slow
def test_elastic_two_three_one_ranks_see_each_epoch_once(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    # Stratified, 38 batches per epoch: 2 ranks run steps 1-10 (epoch 0), 3 ranks steps
    # 11-20 (the 18 batches left of epoch 0, then epoch 1), 1 rank the rest.
    args = [*TINY, "--elastic", "2,3,1", "--elastic-steps", "10", "--checkpoint", str(tmp_path / "ck.pt"),
            "--out", str(tmp_path / "elastic.png")]
    result = recipe.run(args)
    printed = capsys.readouterr().out
    assert "| 1 | 2 | 10 | 10 | 0-0 | 320 |" in printed
    assert "| 2 | 3 | 10 | 20 |" in printed
    # Each epoch: 600 examples, seen once over all worlds; "drop" leaves out at most a
    # world's last few batches (here none: 38 batches split evenly at every change).
    for epoch in range(3):
        assert f"| {epoch} | 600 | 600 | 0 | 0 |" in printed
    assert not result.stopped and result.steps > 20
