"""EpochSampler, the base of every sampler: shards, epochs, resume, seed checks."""

import pickle

import pytest
import torch

from tests._distributed import run_distributed
from torch_mlsd.sampling._base import EpochSampler, shard_length


class Permutation(EpochSampler[int]):
    """A minimal subclass: one random permutation of range(n) per epoch."""

    def __init__(self, n: int, **kwargs):
        super().__init__(**kwargs)
        self.n = n

    def _num_global_items(self) -> int:
        return self.n

    def _global_items(self, generator):
        return torch.randperm(self.n, generator=generator)


@pytest.mark.parametrize("shard", ["pad", "drop", "uneven"])
@pytest.mark.parametrize(("n", "reps"), [(10, 3), (9, 3), (2, 4), (0, 2)])
def test_shards_are_disjoint_complete_and_sized(shard, n, reps):
    shares = [list(Permutation(n, num_replicas=reps, rank=r, shard=shard, seed=1)) for r in range(reps)]
    lengths = [len(Permutation(n, num_replicas=reps, rank=r, shard=shard)) for r in range(reps)]
    assert [len(s) for s in shares] == lengths == [shard_length(n, reps, r, shard) for r in range(reps)]
    flat = [i for s in shares for i in s]
    if shard == "uneven":
        assert sorted(flat) == list(range(n))
    elif shard == "drop":
        assert len(set(flat)) == len(flat) == n - n % reps
    else:  # pad: every index at least once, equal shares
        assert set(flat) == set(range(n)) and len(set(lengths)) == 1


def test_same_seed_same_order_and_new_epoch_new_order():
    a, b = Permutation(50, seed=3), Permutation(50, seed=3)
    assert list(a) == list(b)
    a.set_epoch(1)
    b.set_epoch(1)
    first, second = list(a), list(b)
    assert first == second
    a.set_epoch(0)
    assert list(a) != first


def test_forgotten_set_epoch_advances_the_epoch():
    s = Permutation(50, seed=0)
    e0, e1 = list(s), list(s)
    assert e0 != e1 and s.epoch == 1
    ref = Permutation(50, seed=0)
    ref.set_epoch(1)
    assert list(ref) == e1


def test_resume_mid_epoch_equals_uninterrupted_run():
    full = Permutation(1000, seed=9, num_replicas=2, rank=1)
    full.set_epoch(4)
    expected = list(full)
    run = Permutation(1000, seed=9, num_replicas=2, rank=1)
    run.set_epoch(4)
    it = iter(run)
    head = [next(it) for _ in range(123)]
    state = pickle.loads(pickle.dumps(run.state_dict()))
    assert state["epoch"] == 4 and state["position"] == 123
    resumed = Permutation(1000, seed=9, num_replicas=2, rank=1)
    resumed.load_state_dict(state)
    resumed.set_epoch(4)  # a training loop calls this again on restart: must keep the position
    assert head + list(resumed) == expected
    assert list(resumed) != expected  # the next iteration is a fresh epoch again


def test_position_counts_across_chunks():
    s = Permutation(200_000)
    it = iter(s)
    for _ in range(70_000):
        next(it)
    assert s.state_dict()["position"] == 70_000


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"seed": 1}, r"state_dict\['seed'\]"),
        ({"num_replicas": 0}, r"state_dict\['num_replicas'\]"),
        ({"position": 11}, r"state_dict\['position'\]"),
        ({"epoch": -1}, r"state_dict\['epoch'\]"),
    ],
)
def test_load_state_dict_rejects_mismatches(change, match):
    s = Permutation(10, seed=0)
    with pytest.raises(ValueError, match=match):
        s.load_state_dict({**s.state_dict(), **change})
    with pytest.raises(ValueError, match="must have the key 'position'"):
        s.load_state_dict({"epoch": 0, "seed": 0, "num_replicas": 1})


def test_bad_arguments():
    with pytest.raises(ValueError, match="`shard` must be one of"):
        Permutation(5, shard="even")
    with pytest.raises(ValueError, match="`seed`"):
        Permutation(5, seed=-3)
    with pytest.raises(TypeError, match="`epoch` must be an int"):
        Permutation(5).set_epoch(1.0)
    with pytest.raises(ValueError, match="`rank` must be in"):
        Permutation(5, num_replicas=2, rank=5)


def _order_with_group_defaults(rank, world_size, seed):
    s = Permutation(11, seed=seed)  # replicas and rank from the process group
    return s.num_replicas, s.rank, list(s)


def _different_seeds(rank, world_size):
    Permutation(11, seed=rank)


def _none_seed(rank, world_size):
    return Permutation(11, seed=None).seed


def test_ddp_reads_group_and_shares_are_disjoint():
    results = run_distributed(_order_with_group_defaults, world_size=2, args=(5,))
    assert [r[:2] for r in results] == [(2, 0), (2, 1)]
    flat = results[0][2] + results[1][2]
    assert set(flat) == set(range(11)) and len(results[0][2]) == len(results[1][2]) == 6


def test_ddp_different_seeds_raise_and_none_is_shared():
    with pytest.raises(RuntimeError, match="must be the same on every rank"):
        run_distributed(_different_seeds, world_size=2)
    a, b = run_distributed(_none_seed, world_size=2)
    assert a == b
