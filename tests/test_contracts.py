"""One contract over every public sampler and batch transform (STYLE.md, convention 15).

Samplers: pickle, same seed -> same epoch, a new epoch -> a new order (where the order is
random), ``len`` equals what an epoch yields, and a state_dict taken mid-epoch resumes to
the uninterrupted run. Transforms: pickle, same seed -> same output, the input is never
modified, dtype/shape/device are kept; ``forward`` equals ``transform(sample_params(...))``,
``transform`` reads no value back to the host and refuses parameters drawn for another shape.
"""

import pickle

import pytest
import torch

from torch_mlsd import augment, sampling

LABELS = torch.tensor([0] * 60 + [1] * 30 + [2] * 10)
SAMPLERS = {
    "WeightedSampler": lambda: sampling.WeightedSampler(torch.rand(100, generator=torch.Generator().manual_seed(0)), 50, seed=3),
    "WeightedSampler(no replacement)": lambda: sampling.WeightedSampler(torch.arange(1.0, 101.0), 40, replacement=False, seed=3),
    "StratifiedBatchSampler": lambda: sampling.StratifiedBatchSampler(LABELS, 16, seed=3),
    "ClassBalancedBatchSampler": lambda: sampling.ClassBalancedBatchSampler(LABELS, classes_per_batch=2, samples_per_class=4, seed=3),
    "OrderSampler(reshuffle)": lambda: sampling.OrderSampler(100, seed=3),
    "OrderSampler(with_replacement)": lambda: sampling.OrderSampler(100, order="with_replacement", seed=3),
    "BootstrapSampler": lambda: sampling.BootstrapSampler(100, seed=3),
    "ImportanceSampler": lambda: sampling.ImportanceSampler(torch.arange(1.0, 101.0), seed=3),
    "DynamicWeightedSampler": lambda: sampling.DynamicWeightedSampler(torch.arange(1.0, 101.0), 50, seed=3),
    "DynamicWeightedSampler(no replacement)": lambda: sampling.DynamicWeightedSampler(torch.arange(1.0, 101.0), 40, replacement=False, seed=3),
}


def _epoch(sampler, epoch):
    sampler.set_epoch(epoch)
    return list(sampler)


@pytest.mark.parametrize("name", SAMPLERS)
def test_sampler_contract(name):
    make = SAMPLERS[name]
    a, b = make(), make()
    first = _epoch(a, 0)
    assert first == _epoch(b, 0), "same seed must give the same epoch"
    assert len(first) == len(a), "__len__ must equal what an epoch yields"
    assert _epoch(a, 1) != first, "a new epoch must give a new order"
    clone = pickle.loads(pickle.dumps(a))
    assert _epoch(clone, 2) == _epoch(make(), 2), "a pickled copy must draw the same epochs"

    # resume mid-epoch
    run = make()
    run.set_epoch(5)
    it = iter(run)
    head = [next(it) for _ in range(len(first) // 3)]
    resumed = make()
    resumed.load_state_dict(pickle.loads(pickle.dumps(run.state_dict())))
    assert head + list(resumed) == _epoch(make(), 5), "resume must continue the uninterrupted run"


def _images():
    return torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 1, 2, 0, 1, 2])


def _specs():
    return (torch.rand(4, 1, 32, 120, generator=torch.Generator().manual_seed(1)),)


TRANSFORMS = {
    "MixUp": (lambda: augment.MixUp(num_classes=3, seed=7), _images),
    "CutMix": (lambda: augment.CutMix(num_classes=3, seed=7), _images),
    "MixUpOrCutMix": (lambda: augment.MixUpOrCutMix(num_classes=3, seed=7), _images),
    "Cutout": (lambda: augment.Cutout(length=6, seed=7), _images),
    "RandomErasing": (lambda: augment.RandomErasing(p=1.0, seed=7), _images),
    "TimeMasking": (lambda: augment.TimeMasking(30, seed=7), _specs),
    "FrequencyMasking": (lambda: augment.FrequencyMasking(10, seed=7), _specs),
    "SpecAugment": (lambda: augment.SpecAugment(time_mask_param=30, freq_mask_param=10, seed=7), _specs),
}


def _as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_transform_contract(name, device):
    make, data = TRANSFORMS[name]
    inputs = tuple(t.to(device) for t in data())
    originals = [t.clone() for t in inputs]
    versions = [t._version for t in inputs]
    out = _as_tuple(make()(*inputs))
    assert all(torch.equal(t, o) for t, o in zip(inputs, originals)), "inputs must not change"
    assert [t._version for t in inputs] == versions, "inputs must not be written in place"
    again = _as_tuple(make()(*inputs))
    assert all(torch.equal(x, y) for x, y in zip(out, again)), "same seed must give the same output"
    assert out[0].shape == inputs[0].shape and out[0].dtype == inputs[0].dtype
    assert out[0].device == inputs[0].device
    assert not torch.equal(out[0], inputs[0]), "the transform must change something with these settings"
    copy = pickle.loads(pickle.dumps(make()))
    assert all(torch.equal(x, y) for x, y in zip(out, _as_tuple(copy(*inputs)))), "a pickled copy draws the same"


def _shrunk(t):
    """The same kind of batch with one element fewer along the last axis."""
    return t[..., :-1].contiguous() if t.is_floating_point() else t


@pytest.mark.parametrize("name", TRANSFORMS)
def test_transform_split_contract(name, device):
    """``forward`` is ``transform(sample_params(...))``; ``transform`` reads nothing back and refuses
    parameters drawn for a batch of another shape."""
    from tests._host_reads import host_reads

    make, data = TRANSFORMS[name]
    inputs = tuple(t.to(device) for t in data())
    t = make()
    params = t.sample_params(inputs[0])
    labels = inputs[1:] if "Mix" in name else ()  # the mixing transforms take the labels too
    args = (inputs[0], *labels, params)
    out = _as_tuple(t.transform(*args))
    drawn = _as_tuple(make()(*inputs))
    assert all(torch.equal(x, y) for x, y in zip(out, drawn)), "forward == transform(sample_params)"
    assert host_reads(lambda: t.transform(*args)) == [], "transform must not read values back to the host"
    other = (_shrunk(inputs[0]), *labels, params)
    with pytest.raises(ValueError, match="`params` must be drawn for"):
        t.transform(*other)


def test_contract_covers_every_transform():
    from torch_mlsd.augment._transform import BatchTransformBase

    exported = [getattr(augment, n) for n in augment.__all__]
    public = {c.__name__ for c in exported if isinstance(c, type) and issubclass(c, BatchTransformBase)}
    assert public == set(TRANSFORMS)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_transform_keeps_module_apply(name):
    """A transform inside a model leaves ``nn.Module.apply(fn)`` (the weight-init idiom) intact:
    ``fn`` visits every module once, the transform included, and nothing raises."""
    make, data = TRANSFORMS[name]
    t = make()
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Sequential(t))
    visited = []

    def init_fn(module):
        visited.append(module)
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.zeros_(module.weight)

    assert model.apply(init_fn) is model
    assert [id(m) for m in visited] == [id(m) for m in (model[0], t, model[1], model)], "children first, each once"
    assert torch.equal(model[0].weight, torch.zeros(4, 4)), "fn must reach the Linear layer"
    assert t.apply(init_fn) is t and visited[-1] is t
    assert type(t).apply is torch.nn.Module.apply, "no method may shadow nn.Module.apply"
    inputs = data()
    out = _as_tuple(t(*inputs))
    drawn = _as_tuple(make()(*inputs))
    assert all(torch.equal(x, y) for x, y in zip(out, drawn, strict=True)), "the transform still draws as before"


def test_no_module_overrides_an_nn_module_method():
    """Every ``nn.Module`` in the package keeps torch's methods (``apply``, ``to``, ``train``,
    ``state_dict``, ...); only the hooks torch means to be overridden are."""
    import importlib
    import inspect
    import pkgutil

    import torch_mlsd

    hooks = {"__init__", "forward", "extra_repr", "__setattr__", "_load_from_state_dict"}
    classes = {
        cls
        for info in pkgutil.walk_packages(torch_mlsd.__path__, "torch_mlsd.")
        for cls in vars(importlib.import_module(info.name)).values()
        if inspect.isclass(cls) and issubclass(cls, torch.nn.Module) and cls.__module__.startswith("torch_mlsd")
    }
    assert len(classes) >= 14, "the walk must find the transforms and the losses"
    shadowed = {
        f"{cls.__qualname__}.{name}"
        for cls in classes
        for name in dir(torch.nn.Module)
        if name not in hooks and callable(getattr(torch.nn.Module, name))
        and inspect.getattr_static(cls, name) is not inspect.getattr_static(torch.nn.Module, name)
    }
    assert not shadowed, f"these shadow nn.Module methods: {sorted(shadowed)}"
