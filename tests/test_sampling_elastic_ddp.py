"""Elastic resume with real gloo processes: 2 ranks save mid-epoch, 3 ranks and 1 rank finish.

Each rank reads its world from the process group and drives a ``StatefulDataLoader``;
rank 0's loader state is what the new world loads on every rank. The union of what the
2 ranks consumed and what the new world yields is the single-process epoch exactly once.
"""

import pytest
import torch

from tests._distributed import run_distributed
from torch_mlsd.sampling import OrderSampler, StratifiedBatchSampler, WeightedSampler

LABELS = torch.repeat_interleave(torch.arange(3), torch.tensor([60, 25, 16]))  # 101 examples
MAKERS = {
    "order": lambda: OrderSampler(101, seed=5, shard="uneven"),
    "weighted": lambda: WeightedSampler(torch.arange(1.0, 102.0), replacement=False, seed=5, shard="uneven"),
    "stratified": lambda: StratifiedBatchSampler(LABELS, 4, seed=5, shard="uneven"),
}
TAKE = 4  # batches each of the 2 ranks consumes before the save
pytestmark = pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")


def _loader(sampler):
    from torchdata.stateful_dataloader import StatefulDataLoader

    data = list(range(101))
    if isinstance(sampler, StratifiedBatchSampler):
        return StatefulDataLoader(data, batch_sampler=sampler, collate_fn=list)
    return StatefulDataLoader(data, sampler=sampler, batch_size=4, collate_fn=list)


def _world(rank, world_size, states):
    import warnings

    warnings.filterwarnings("ignore", "'set_vital' is deprecated")
    out = {}
    for name, make in MAKERS.items():
        sampler = make()
        sampler.set_epoch(2)
        loader = _loader(sampler)
        if states is None:  # the first world: consume TAKE batches and save
            it = iter(loader)
            out[name] = ([i for _ in range(TAKE) for i in next(it)], loader.state_dict())
        else:
            loader.load_state_dict(states[name])
            out[name] = ([i for batch in loader for i in batch], None)
    return out


@pytest.mark.slow
def test_two_ranks_save_then_three_or_one_finish_the_epoch():
    pytest.importorskip("torchdata.stateful_dataloader")
    first = run_distributed(_world, world_size=2, args=(None,))
    saved = {name: first[0][name][1] for name in MAKERS}  # rank 0's states only
    for world in (3, 1):
        rest = run_distributed(_world, world_size=world, args=(saved,))
        for name, make in MAKERS.items():
            single = make()
            single.set_epoch(2)
            epoch = [i for item in single for i in (item if isinstance(item, list) else [item])]
            consumed = [i for r in first for i in r[name][0]]
            yielded = [i for r in rest for i in r[name][0]]
            assert sorted(consumed + yielded) == sorted(epoch), (name, world)
            assert not set(consumed) & set(yielded)
            assert len({len(r[name][0]) for r in rest}) <= 2  # "uneven": shares differ by at most a batch
