"""Elastic resume of DynamicWeightedSampler with real gloo processes (issue 15).

2 ranks consume part of an epoch without replacement, with a collective
``update_weights`` in between, and save; rank 0's state resumes the epoch on 1 and on 3
ranks (which update once more mid-way). Over the old and the new world every positive
item comes exactly once.
"""

import itertools

import pytest
import torch

from tests._distributed import run_distributed
from torch_mlsd.sampling import DynamicWeightedSampler

N = 503
WEIGHTS = (torch.arange(N) % 4 != 0).double()  # 377 positive items


def _world(rank, world_size, state):
    sampler = DynamicWeightedSampler(WEIGHTS, replacement=False, seed=5, shard="uneven")
    sampler.set_epoch(1)
    if state is not None:
        sampler.load_state_dict(state)
    it = iter(sampler)
    share = list(itertools.islice(it, 30))
    mine = torch.tensor(share[:10])  # each rank halves the weights of items it drew
    sampler.update_weights(mine, torch.full((len(mine),), 0.5))
    if state is None:
        share += list(itertools.islice(it, 30))
        return share, sampler.state_dict(), sampler.weights
    return share + list(it), None, sampler.weights


@pytest.mark.slow
def test_two_ranks_update_and_save_then_one_or_three_finish_the_epoch():
    first = run_distributed(_world, world_size=2, args=(None,))
    assert torch.equal(first[0][2], first[1][2]) and int((first[0][2] == 0.5).sum()) == 20
    consumed = [i for r in first for i in r[0]]
    for world in (1, 3):
        rest = run_distributed(_world, world_size=world, args=(first[0][1],))
        yielded = [i for r in rest for i in r[0]]
        assert sorted(consumed + yielded) == (WEIGHTS > 0).nonzero().squeeze(1).tolist(), world
        assert all(torch.equal(r[2], rest[0][2]) for r in rest)
        assert int((rest[0][2] == 0.5).sum()) == 20 + 10 * world  # the saved updates and the new ones
