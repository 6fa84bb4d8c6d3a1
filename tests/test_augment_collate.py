"""Batch transforms in collate_fn and on the device: field selection, workers, seeds, pickling."""

import collections
import pickle

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from torch_mlsd.augment.audio import SpecAugment
from torch_mlsd.augment.collate import BatchTransform, BatchTransformCollate, apply_batch_transforms, to_device
from torch_mlsd.augment.text import MaskedLMCollator


def swap_mix(images, labels):
    """A deterministic (images, labels) -> (images, soft labels) transform: mix with the reversed batch."""
    soft = torch.nn.functional.one_hot(labels, 4).float()
    return 0.5 * (images + images.flip(0)), 0.5 * (soft + soft.flip(0))


class Specs(Dataset):
    """Tiny spectrogram set: ones of shape (1, 8, 30), a length and a label per item."""

    def __len__(self):
        return 16

    def __getitem__(self, i):
        return torch.ones(1, 8, 30), 10 + i, i % 3


Pair = collections.namedtuple("Pair", ["x", "y"])

# Python >= 3.12 warns when a multi-threaded process forks (DataLoader workers on Linux)
forks = pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")


def test_tuple_batch_default_fields_are_images_and_labels():
    samples = [(torch.full((3, 2, 2), float(i)), i) for i in range(4)]
    images, soft = BatchTransformCollate(swap_mix)(samples)
    assert images[:, 0, 0, 0].tolist() == [1.5] * 4
    assert soft.shape == (4, 4) and torch.allclose(soft.sum(1), torch.ones(4))


def test_dict_batch_default_and_custom_keys():
    samples = [{"image": torch.ones(3, 2, 2) * i, "label": i, "id": f"s{i}"} for i in range(4)]
    batch = BatchTransformCollate([swap_mix])(samples)
    assert batch["id"] == ["s0", "s1", "s2", "s3"] and batch["label"].shape == (4, 4)
    renamed = [{"pixels": s["image"], "y": s["label"]} for s in samples]
    out = BatchTransformCollate([swap_mix], keys=("pixels", "y"))(renamed)
    assert out["y"].shape == (4, 4)


def test_tensor_and_named_tuple_batches():
    assert torch.equal(BatchTransform(lambda x: x + 1)(torch.zeros(2)), torch.ones(2))
    out = BatchTransform([swap_mix])(Pair(torch.ones(4, 1, 2, 2), torch.arange(4)))
    assert isinstance(out, Pair) and out.y.shape == (4, 4)


def test_keyword_keys_and_fewer_outputs_keep_other_fields():
    spec = SpecAugment(time_mask_param=20, freq_mask_param=4, seed=0)
    collate = BatchTransformCollate([(spec, {"specgrams": 0, "lengths": 1})])
    specs, lengths, labels = collate([Specs()[i] for i in range(6)])
    assert specs.shape == (6, 1, 8, 30) and lengths.tolist() == list(range(10, 16))
    padding = torch.arange(30) >= lengths[:, None]
    assert bool((specs.masked_select(padding[:, None, None, :]) == 1).all())  # lengths reached the transform
    assert bool((specs == 0).any())


def test_transforms_chain_with_their_own_keys():
    spec = SpecAugment(time_mask_param=20, freq_mask_param=4, seed=0)
    to_soft = lambda x, y: (x, torch.nn.functional.one_hot(y, 3).float())  # noqa: E731
    specs, lengths, soft = BatchTransformCollate([(spec, (0,)), (to_soft, (0, 2))])([Specs()[i] for i in range(4)])
    assert soft.shape == (4, 3) and lengths.shape == (4,)


def test_input_batch_is_not_modified():
    batch = (torch.ones(4, 1, 2, 2), torch.arange(4))
    before = batch[0].clone()
    out = apply_batch_transforms(batch, [swap_mix])
    assert out is not batch and torch.equal(batch[0], before) and batch[1].shape == (4,)
    d = {"image": torch.ones(4, 1, 2, 2), "label": torch.arange(4)}
    apply_batch_transforms(d, [swap_mix])
    assert d["label"].shape == (4,)


def test_to_device_nested(device):
    batch = {"a": (torch.ones(2), [torch.zeros(1), "text"]), "b": Pair(torch.ones(1), 3)}
    moved = to_device(batch, device)
    assert moved["a"][0].device.type == device.type and moved["a"][1][1] == "text"
    assert isinstance(moved["b"], Pair) and moved["b"].x.device.type == device.type and moved["b"].y == 3


def test_batch_transform_moves_then_transforms(device):
    aug = BatchTransform([(SpecAugment(seed=0), (0,))], device=device)
    specs, labels = aug((torch.ones(4, 1, 40, 200), torch.arange(4)))
    assert specs.device.type == device.type and labels.device.type == device.type
    # the same seed masks the same way on any device (draws on the CPU)
    cpu_specs, _ = BatchTransform([(SpecAugment(seed=0), (0,))])((torch.ones(4, 1, 40, 200), torch.arange(4)))
    assert torch.equal(specs.cpu(), cpu_specs)


def _epochs(collate, epochs=2, persistent=False):
    loader = DataLoader(Specs(), batch_size=4, num_workers=2, collate_fn=collate,
                        persistent_workers=persistent, multiprocessing_context="fork",
                        generator=torch.Generator().manual_seed(0))
    out = []
    for epoch in range(epochs):
        collate.set_epoch(epoch)
        out.append([batch[0] for batch in loader])
    return out


@forks
def test_dataloader_workers_deterministic_per_seed_and_epoch():
    def make(seed):
        return BatchTransformCollate([(SpecAugment(time_mask_param=15, freq_mask_param=4, seed=seed), (0,))])

    first, again, other = _epochs(make(0)), _epochs(make(0)), _epochs(make(1), epochs=1)
    for e in range(2):
        assert all(torch.equal(a, b) for a, b in zip(first[e], again[e]))
    # batches 0 and 1 come from workers 0 and 1 on the same data: different streams
    assert not torch.equal(first[0][0], first[0][1])
    assert not all(torch.equal(a, b) for a, b in zip(first[0], first[1]))  # set_epoch: new masks
    assert not all(torch.equal(a, b) for a, b in zip(first[0], other[0]))


@forks
def test_mlm_collator_in_workers_is_deterministic():
    class Tokens(Dataset):
        def __len__(self):
            return 12

        def __getitem__(self, i):
            return list(range(5, 20 + i))

    def run():
        collate = MaskedLMCollator(vocab_size=100, mask_token_id=4, pad_token_id=0, seed=0)
        loader = DataLoader(Tokens(), batch_size=3, num_workers=2, collate_fn=collate,
                            multiprocessing_context="fork", generator=torch.Generator().manual_seed(0))
        return [b["labels"] for b in loader]

    assert all(torch.equal(a, b) for a, b in zip(run(), run()))


@forks
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_forked_workers_never_touch_cuda_after_the_parent_used_it():
    torch.ones(1, device="cuda")  # CUDA initialised in the parent: a CUDA call in a forked child would fail
    collate = BatchTransformCollate([(SpecAugment(seed=0), (0,))])
    assert len(_epochs(collate, epochs=1)[0]) == 4


def test_collate_pickles_and_copies_restart_from_the_seed():
    collate = BatchTransformCollate([(SpecAugment(time_mask_param=15, freq_mask_param=4, seed=5), (0,))])
    samples = [Specs()[i] for i in range(4)]
    first = collate(samples)[0]
    copy = pickle.loads(pickle.dumps(collate))
    assert torch.equal(copy(samples)[0], first)
    assert "BatchTransformCollate" in repr(copy)


def test_bad_inputs_raise_naming_the_argument():
    with pytest.raises(TypeError, match="transforms"):
        BatchTransformCollate([42])
    with pytest.raises(TypeError, match="transforms"):
        BatchTransformCollate([(swap_mix, 0)])
    with pytest.raises(TypeError, match="transforms"):
        BatchTransform(7)
    with pytest.raises(TypeError, match="base"):
        BatchTransformCollate([swap_mix], base="stack")
    with pytest.raises(ValueError, match="keys"):
        BatchTransformCollate([swap_mix])([{"img": torch.ones(1), "label": 0}])
    with pytest.raises(ValueError, match="keys"):
        BatchTransformCollate([swap_mix], keys=(0, 5))([(torch.ones(1), 0)])
    with pytest.raises(ValueError, match="keys"):
        BatchTransform([swap_mix], keys=(0,))(torch.ones(2))
    with pytest.raises(TypeError, match="batch"):
        BatchTransform([swap_mix])("not a batch")
    with pytest.raises(ValueError, match="outputs"):
        BatchTransform([(lambda x: (x, x), (0,))])((torch.ones(1), 0))
