"""Spectrogram masking vs torchaudio and MLM collation vs transformers, in one process.

    python benchmarks/bench_augment_seq.py [--device cpu|cuda] [--quick] [--repeats N]

Cases (same data for both sides, medians over repeats, warm-up call excluded):
* iid SpecAugment masking (one time mask T=100, one frequency mask F=27, per example) on
  64x1x128x1000 float32: torchaudio ``TimeMasking`` then ``FrequencyMasking`` with
  ``iid_masks=True`` vs ``torch_mlsd.augment.spec_augment`` (out of place, and in place).
* MLM collation of 256 token-id sequences of length 512 (BERT-base vocabulary size):
  transformers' ``DataCollatorForLanguageModeling`` (with a ``PreTrainedTokenizerFast``
  built offline from an in-memory WordLevel vocabulary) vs ``MaskedLMCollator``, on lists
  of ints and on dicts carrying ``special_tokens_mask``; and the masking step alone on a
  padded tensor (transformers' ``torch_mask_tokens`` vs ``mask_tokens``).

``copy/ours`` is the time of a plain copy of the case's main tensor (the spectrogram
batch, or the padded ``(256, 512)`` int64 ids) into a fresh tensor, measured in the same
run, divided by our time: 1.0 would mean running at this machine's copy bandwidth.
MLM collation is CPU work (it runs in DataLoader workers), so those rows use the CPU.
Torch runs with one thread by default here, as DataLoader workers do (``--threads``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

try:
    import resource  # Unix: minor page faults per call
except ImportError:  # pragma: no cover
    resource = None  # type: ignore[assignment]

from torch_mlsd.augment.audio import spec_augment
from torch_mlsd.augment.text import MaskedLMCollator, mask_tokens

SPECIAL = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}
VOCAB = 30522


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt if resource is not None else 0


def timeit(fns: list[Callable[[], Any]], repeats: int, device: torch.device) -> list[tuple[float, float]]:
    """Median seconds and median minor page faults of each ``fn()`` over ``repeats`` rounds,
    after one warm-up call each.

    The functions take turns within every round, so a burst of load from other processes
    on a shared machine hits peer, ours and the copy alike. Page faults show when a fresh
    output's first touch (the allocator's state, not the kernel) dominates a time.
    """
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times: list[list[float]] = [[] for _ in fns]
    faults: list[list[int]] = [[] for _ in fns]
    for fn in fns:
        fn()
    sync()
    for _ in range(repeats):
        for fn, t, f in zip(fns, times, faults):
            before, start = _minor_faults(), time.perf_counter()
            fn()
            sync()
            t.append(time.perf_counter() - start)
            f.append(_minor_faults() - before)
    return [(statistics.median(t), statistics.median(f)) for t, f in zip(times, faults)]


Row = tuple[str, str, tuple[float, float], tuple[float, float], tuple[float, float]]


def spec_cases(device: torch.device, quick: bool, repeats: int) -> list[Row]:
    import torchaudio

    shape = (8, 1, 128, 200) if quick else (64, 1, 128, 1000)
    x = torch.randn(shape, device=device)
    time_masking = torchaudio.transforms.TimeMasking(100, iid_masks=True)
    freq_masking = torchaudio.transforms.FrequencyMasking(27, iid_masks=True)
    g = torch.Generator().manual_seed(0)
    work = x.clone()
    peer, ours, ours_inplace, copy = timeit(
        [
            lambda: freq_masking(time_masking(x)),
            lambda: spec_augment(x, generator=g),
            lambda: spec_augment(work, generator=g, inplace=True),
            lambda: x.clone(),
        ],
        repeats,
        device,
    )
    name = "x".join(map(str, shape))
    peer_name = "torchaudio Time+FrequencyMasking(iid)"
    return [
        (f"SpecAugment iid {name}", peer_name, peer, ours, copy),
        (f"SpecAugment iid {name}, inplace=True", peer_name, peer, ours_inplace, copy),
    ]


def _tokenizer() -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {f"tok{i}": i for i in range(VOCAB) if i not in SPECIAL.values()}
    vocab.update(SPECIAL)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]",
    )


def mlm_cases(quick: bool, repeats: int) -> list[Row]:
    from transformers import DataCollatorForLanguageModeling

    n, length = (16, 128) if quick else (256, 512)
    g = torch.Generator().manual_seed(0)
    seqs = [[101, *torch.randint(104, VOCAB, (length - 2,), generator=g).tolist(), 102] for _ in range(n)]
    dicts = [{"input_ids": s, "special_tokens_mask": [1] + [0] * (length - 2) + [1]} for s in seqs]
    peer = DataCollatorForLanguageModeling(_tokenizer(), seed=0)
    ours = MaskedLMCollator(vocab_size=VOCAB, mask_token_id=103, pad_token_id=0, special_token_ids=[100, 101, 102],
                            seed=0)
    ids = torch.tensor(seqs)
    special_mask = torch.isin(ids, torch.tensor(list(SPECIAL.values())))
    g = torch.Generator().manual_seed(0)
    peer_lists, ours_lists, peer_dicts, ours_dicts, peer_mask, ours_mask, copy = timeit(
        [
            lambda: peer(seqs),
            lambda: ours(seqs),
            lambda: peer(dicts),
            lambda: ours(dicts),
            lambda: peer.torch_mask_tokens(ids.clone(), special_tokens_mask=special_mask),
            lambda: mask_tokens(ids, vocab_size=VOCAB, mask_token_id=103, special_token_ids=SPECIAL.values(),
                                generator=g),
            lambda: ids.clone(),
        ],
        repeats,
        torch.device("cpu"),
    )
    size = f"{n}x{length}"
    peer_name = "transformers DataCollatorForLanguageModeling"
    return [
        (f"MLM collate {size}, lists", peer_name, peer_lists, ours_lists, copy),
        (f"MLM collate {size}, dicts + special_tokens_mask", peer_name, peer_dicts, ours_dicts, copy),
        (f"MLM masking only {size} tensor", "transformers torch_mask_tokens", peer_mask, ours_mask, copy),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (spectrogram rows)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per case (default 20, quick 3)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch.set_num_threads; default 1 as in DataLoader workers, 0 keeps torch's default")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    repeats = args.repeats or (3 if args.quick else 20)
    rows = spec_cases(device, args.quick, repeats) + mlm_cases(args.quick, repeats)
    print("| case | peer | peer median | ours median | speed-up | copy/ours | page faults/call peer, ours |")
    print("|---|---|---|---|---|---|---|")
    for case, peer_name, (peer, peer_faults), (ours, our_faults), (copy, _) in rows:
        print(f"| {case} | {peer_name} | {peer * 1e3:.2f} ms | {ours * 1e3:.2f} ms | {peer / ours:.1f}x "
              f"| {copy / ours:.3g} | {peer_faults:.0f}, {our_faults:.0f} |")
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(
        f"\nmachine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, device {device}{gpu} (MLM rows on cpu), repeats {repeats}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
