"""RebalancedStream's shuffle buffer: only the order changes, copies spread out, exact resume."""

import copy
import pickle
from collections import Counter
from itertools import islice

import pytest
from torch.utils.data import DataLoader

from torch_mlsd.sampling import RebalancedStream

PAIRS = [(i, int(i % 20 == 0)) for i in range(20_000)]  # 5% positives
REPEATS = 5  # positives repeated about 5 times each, negatives dropped to about 26%


def make(**kwargs):
    return RebalancedStream(PAIRS, seed=0, max_repeats=REPEATS, return_weights=True, **kwargs)


def adjacent_duplicates(outputs):
    """Fraction of neighbouring outputs that are copies of the same item."""
    return sum(a[0] == b[0] for a, b in zip(outputs[:-1], outputs[1:], strict=True)) / (len(outputs) - 1)


@pytest.fixture(scope="module")
def unbuffered():
    return list(make())


def test_the_buffer_only_reorders_the_outputs(unbuffered):
    ds = make(shuffle_buffer=500)
    shuffled = list(ds)
    assert shuffled != unbuffered
    # Same decisions, same weights, same counts: the multiset of (item, label, weight) is unchanged.
    assert Counter(shuffled) == Counter(unbuffered)
    assert ds.stats == _stats_of(make())
    # A buffer of one slot yields each output when the next one arrives: the order decided.
    assert list(make(shuffle_buffer=1)) == unbuffered
    # A buffer larger than the whole output: one uniformly random permutation, flushed at the end.
    assert Counter(list(make(shuffle_buffer=50_000))) == Counter(unbuffered)


def _stats_of(ds):
    list(ds)
    return ds.stats


def test_copies_no_longer_come_out_in_a_row(unbuffered):
    buffer = 500
    shuffled = list(make(shuffle_buffer=buffer))
    copies = Counter(x for x, _, _ in unbuffered)
    total = len(unbuffered)
    # A uniformly random order puts two copies of an item side by side with probability
    # sum_i k_i (k_i - 1) / (T (T - 1)) per neighbouring pair.
    random_order = sum(k * (k - 1) for k in copies.values()) / (total * (total - 1))
    assert adjacent_duplicates(unbuffered) > 0.3  # without a buffer, copies are adjacent
    # With a buffer of N slots the next output is a uniformly random slot, so it is a copy of
    # the one just yielded with probability (its other copies in the buffer) / N <= (REPEATS - 1) / N.
    assert adjacent_duplicates(shuffled) <= random_order + (REPEATS - 1) / buffer
    # And far below what the order decided gives (measured about 0.002 against 0.40).
    assert adjacent_duplicates(shuffled) < adjacent_duplicates(unbuffered) / 50


def test_same_seed_same_order_new_epoch_new_order():
    ds = make(shuffle_buffer=300)
    first = list(ds)
    assert list(ds) == first and list(pickle.loads(pickle.dumps(ds))) == first
    ds.set_epoch(1)
    assert list(ds) != first


@pytest.mark.parametrize("stop", [0, 1, 299, 300, 301, 2_000, -300, -1, None])
def test_resume_with_a_buffer_continues_exactly(stop):
    buffer = 300
    whole = list(make(shuffle_buffer=buffer))
    stop = len(whole) if stop is None else stop % len(whole)
    ds = make(shuffle_buffer=buffer)
    head = list(islice(iter(ds), stop))
    state = copy.deepcopy(ds.state_dict())
    if 0 < stop < len(whole):
        assert len(state["buffer"]) == buffer  # the buffer's outputs travel with the state
    resumed = make(shuffle_buffer=buffer)
    resumed.load_state_dict(pickle.loads(pickle.dumps(state)))
    assert head + list(resumed) == whole
    assert resumed.state_dict()["buffer"] == []  # a finished pass holds nothing
    finished = make(shuffle_buffer=buffer)
    finished.load_state_dict(resumed.state_dict())
    assert list(finished) == []


def test_a_short_stream_comes_out_of_the_buffer_at_the_end():
    pairs = [(i, i % 2) for i in range(50)]
    plain = list(RebalancedStream(pairs, seed=3))
    ds = RebalancedStream(pairs, seed=3, shuffle_buffer=1000)
    it = iter(ds)
    head = list(islice(it, 20))
    state = ds.state_dict()
    assert len(state["buffer"]) == len(plain) and state["skip"] == 20  # resuming inside the final flush
    resumed = RebalancedStream(pairs, seed=3, shuffle_buffer=1000)
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert rest == list(it) and sorted(head + rest) == sorted(plain) and head + rest != plain


@pytest.mark.parametrize("num_workers", [0, 2])
def test_worker_shares_keep_their_outputs(num_workers):
    pairs = [(i, int(i % 25 == 0)) for i in range(20_000)]
    plain = DataLoader(RebalancedStream(pairs, seed=1), batch_size=None, num_workers=num_workers)
    shuffled = DataLoader(RebalancedStream(pairs, seed=1, shuffle_buffer=200), batch_size=None,
                          num_workers=num_workers)
    got = [(int(x), int(y)) for x, y in shuffled]
    assert sorted(got) == sorted((int(x), int(y)) for x, y in plain)
    assert len({x for x, _ in got}) == len(got)  # under-sampling only: no item twice, across shares too


def test_states_without_the_buffer_keys_and_bad_buffer_states():
    ds = make()
    next(iter(ds))
    legacy = {k: v for k, v in ds.state_dict().items() if k not in ("shuffle_buffer", "buffer", "shuffle_generator")}
    resumed = make()
    resumed.load_state_dict(legacy)  # saved before the buffer existed: as shuffle_buffer=0
    assert list(resumed) == list(make())[1:]
    with pytest.raises(ValueError, match=r"`state_dict\['shuffle_buffer'\]` must equal this stream's shuffle_buffer 8, "
                                         r"got 0"):
        make(shuffle_buffer=8).load_state_dict(legacy)
    buffered = make(shuffle_buffer=8)
    it = iter(buffered)
    next(it)
    state = buffered.state_dict()
    with pytest.raises(ValueError, match=r"`state_dict\['buffer'\]` must be a list of at most 8 outputs"):
        make(shuffle_buffer=8).load_state_dict(dict(state, buffer=[(0, 0, 1.0)] * 9))
    with pytest.raises(ValueError, match=r"`state_dict\['shuffle_generator'\]` must be a generator state"):
        make(shuffle_buffer=8).load_state_dict(dict(state, shuffle_generator=None))
    with pytest.raises(ValueError, match=r"`state_dict\['shuffle_buffer'\]` must be >= 0"):
        make(shuffle_buffer=8).load_state_dict(dict(state, shuffle_buffer=-1))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"shuffle_buffer": -1}, ValueError, "`shuffle_buffer` must be >= 0"),
        ({"shuffle_buffer": True}, TypeError, "`shuffle_buffer` must be an int"),
        ({"shuffle_buffer": 4, "chunked": True}, ValueError, "`shuffle_buffer` must be 0 when `chunked=True`"),
    ],
)
def test_bad_shuffle_buffer(kwargs, error, match):
    with pytest.raises(error, match=match):
        RebalancedStream([(0, 0)], **kwargs)


def test_a_drawn_seed_adopts_the_saved_one():
    ds = RebalancedStream(PAIRS, seed=None, max_repeats=REPEATS, shuffle_buffer=100)
    it = iter(ds)
    head = list(islice(it, 700))
    state = ds.state_dict()
    rest = list(it)
    resumed = RebalancedStream(PAIRS, seed=None, max_repeats=REPEATS, shuffle_buffer=100)
    assert resumed.seed != ds.seed  # 63 random bits
    resumed.load_state_dict(state)
    assert resumed.seed == ds.seed and list(resumed) == rest and head
    with pytest.raises(ValueError, match=rf"`state_dict\['seed'\]` must equal this stream's seed 5, got {ds.seed}"):
        RebalancedStream(PAIRS, seed=5, shuffle_buffer=100).load_state_dict(state)
