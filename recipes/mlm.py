"""Masked-language-model pre-training, BERT-style, on the docstrings of the standard library.

Nothing is downloaded: the corpus is every docstring in the Python standard library's
source files on this machine (read with ``ast``, files in sorted order), split by file
into training and held-out text with ``torch_mlsd.evaluation.group_split`` (no module in
both). A word-level tokenizer built here keeps the most frequent training words plus
``[PAD] [CLS] [SEP] [MASK] [UNK]``; ``torch_mlsd.augment.MaskedLMCollator`` masks 15%
of the words (80% ``[MASK]``, 10% random word, 10% kept; ``[UNK]`` is never masked, so
every target is a real word) and a two-layer ``nn.TransformerEncoder`` learns to fill
them in. The held-out set is masked once (every chosen word becomes ``[MASK]``), and the
model's accuracy on its masked words is compared with two unigram baselines on the very
same positions: always the most frequent training word, and a word drawn from the
training word frequencies (its expected accuracy, ``sum_i p(label_i) / M``)::

    python recipes/mlm.py                                  # 400 steps, under a minute on one CPU thread
    python recipes/mlm.py --steps 100 --max-files 100 --out /tmp/mlm.png

Needs the ``recipes`` extra (matplotlib; tqdm for the progress bar, optional).
"""

from __future__ import annotations

import argparse
import ast
import math
import re
import sys
import sysconfig
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from _common import FIGURES, Progress, cpu_threads, markdown_table, pyplot, save_figure
from torch_mlsd._device import resolve_device
from torch_mlsd.augment.text import MaskedLMCollator
from torch_mlsd.sampling import OrderSampler
from torch_mlsd.evaluation import group_split

SPECIALS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]")
PAD, CLS, SEP, MASK, UNK = range(len(SPECIALS))
WORD = re.compile(r"[a-z]+|[0-9]+|[^\sa-z0-9]")  # lower-case words, numbers, single punctuation marks
SKIP_DIRS = {"test", "tests", "idlelib", "lib2to3", "turtledemo", "site-packages"}
DEFAULT_OUT = FIGURES / "mlm.png"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=400, help="optimiser steps (default 400)")
    parser.add_argument("--batch-size", type=int, default=128, help="sequences per step (default 128)")
    parser.add_argument("--seq-len", type=int, default=16, help="tokens per sequence with [CLS]/[SEP] (default 16)")
    parser.add_argument("--vocab-size", type=int, default=4000, help="most frequent words kept (default 4000)")
    parser.add_argument("--dim", type=int, default=128, help="model width (default 128)")
    parser.add_argument("--layers", type=int, default=2, help="encoder layers (default 2)")
    parser.add_argument("--heads", type=int, default=4, help="attention heads (default 4)")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak AdamW learning rate (default 2e-3)")
    parser.add_argument("--eval-every", type=int, default=50, help="steps between evaluations (default 50)")
    parser.add_argument("--eval-sequences", type=int, default=2048, help="held-out sequences scored (default 2048)")
    parser.add_argument("--heldout", type=float, default=0.1, help="fraction of the text held out, by file (0.1)")
    parser.add_argument("--max-files", type=int, default=None, help="read only N source files, evenly spaced")
    parser.add_argument("--seed", type=int, default=0, help="seed of split, init, order and masks (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads, 0 for torch's default (default 1)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default auto")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"PNG path (default {DEFAULT_OUT})")
    return parser.parse_args(argv)


# ---------------------------------------------------------------- corpus and tokenizer


def source_files(max_files: int | None = None) -> list[Path]:
    """The standard library's ``.py`` files in sorted order, tests and tools left out.

    With ``max_files``, that many files evenly spaced over the sorted list.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if not SKIP_DIRS & set(p.relative_to(root).parts))
    if max_files is None or max_files >= len(files):
        return files
    return [files[i * len(files) // max_files] for i in range(max_files)]


def file_words(path: Path) -> list[str]:
    """The words of every docstring (module, classes, functions) of one source file, breadth first."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError):
        return []
    words: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc:
                words += WORD.findall(doc.lower())
    return words


@dataclass
class Vocabulary:
    """Word <-> id for the specials and the most frequent training words."""

    words: list[str]
    counts: Tensor  # (V,) float64 training counts of each id (0 for the specials)
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, documents: Sequence[list[str]], size: int) -> Vocabulary:
        top = Counter(w for doc in documents for w in doc).most_common(size)
        counts = torch.tensor([0.0] * len(SPECIALS) + [c for _, c in top], dtype=torch.float64)
        return cls(list(SPECIALS) + [w for w, _ in top], counts)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, words: list[str]) -> list[int]:
        return [self.index.get(w, UNK) for w in words]


def windows(ids: list[int], seq_len: int) -> list[list[int]]:
    """``[CLS] w... [SEP]`` windows of at most ``seq_len`` tokens over one file's ids."""
    width = seq_len - 2
    return [[CLS, *ids[i : i + width], SEP] for i in range(0, len(ids), width) if len(ids[i : i + width]) >= 8]


# ---------------------------------------------------------------- model


class TinyBert(nn.Module):
    """Token + position embeddings, a pre-norm ``nn.TransformerEncoder``, a linear decoder."""

    def __init__(self, vocab_size: int, *, dim: int, layers: int, heads: int, max_len: int) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, dim, padding_idx=PAD)
        self.positions = nn.Embedding(max_len, dim)
        layer = nn.TransformerEncoderLayer(
            dim, heads, 4 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.decoder = nn.Linear(dim, vocab_size)
        self.scale = math.sqrt(dim)
        for embedding in (self.tokens, self.positions):  # BERT's initialisation, scaled up by sqrt(dim) in forward
            nn.init.normal_(embedding.weight, std=0.02)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, where: Tensor) -> Tensor:
        """Logits ``(M, V)`` at the ``M`` positions where ``where`` ``(B, L)`` is True."""
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        h = (self.tokens(input_ids) + self.positions(positions)) * self.scale  # sqrt(dim), as in Vaswani et al.
        h = self.encoder(h, src_key_padding_mask=attention_mask == 0)
        return self.decoder(self.norm(h[where]))


# ---------------------------------------------------------------- training and evaluation


@dataclass
class Corpus:
    """Training sequences, the held-out text masked once, and the baselines on its masked words."""

    vocab: Vocabulary
    num_files: tuple[int, int]  # training files, held-out files
    train: list[list[int]]
    heldout: list[dict[str, Tensor]]  # collated batches
    collate_args: dict
    most_frequent: int  # id of the most frequent training word
    baseline_top: float  # accuracy of always predicting it
    baseline_draw: float  # expected accuracy of a word drawn from the training frequencies
    num_masked: int


def load_corpus(args: argparse.Namespace) -> Corpus:
    """Read the docstrings, split by file, build the vocabulary and mask the held-out text."""
    files = source_files(args.max_files)
    documents = [file_words(f) for f in files]
    train_files, heldout_files = group_split(
        torch.arange(len(files)), test_size=args.heldout, generator=torch.Generator().manual_seed(args.seed)
    )
    vocab = Vocabulary.build([documents[i] for i in train_files.tolist()], args.vocab_size)

    def sequences(which: Tensor) -> list[list[int]]:
        return [w for i in which.tolist() for w in windows(vocab.encode(documents[i]), args.seq_len)]

    collate_args = {"vocab_size": len(vocab), "mask_token_id": MASK, "pad_token_id": PAD,
                    "special_token_ids": (CLS, SEP, UNK)}
    # The held-out text is masked once, so every evaluation scores the same positions, and
    # every chosen word becomes [MASK] (a kept word would be copied, not predicted).
    masker = MaskedLMCollator(**collate_args, mask_replace_prob=1.0, random_replace_prob=0.0, seed=args.seed + 1)
    heldout = sequences(heldout_files)[: args.eval_sequences]
    batches = [masker(heldout[i : i + 256]) for i in range(0, len(heldout), 256)]
    targets = torch.cat([b["labels"][b["labels"] != -100] for b in batches])
    most_frequent = int(vocab.counts.argmax())
    return Corpus(
        vocab, (len(train_files), len(heldout_files)), sequences(train_files), batches, collate_args, most_frequent,
        baseline_top=float((targets == most_frequent).double().mean()),
        baseline_draw=float((vocab.counts / vocab.counts.sum())[targets].mean()),
        num_masked=len(targets),
    )


Row = tuple[int, float, float, float, float]  # step, train loss, held-out accuracy, most frequent, unigram draw


@dataclass
class Result:
    """What the run measured; ``rows`` are the table (one per evaluation)."""

    rows: list[Row]
    most_frequent_word: str
    num_train_tokens: int
    num_heldout_masked: int
    seconds: float


def batches(loader: DataLoader, sampler: OrderSampler, collate: MaskedLMCollator) -> Iterator[dict[str, Tensor]]:
    """Endless batches, a new order and new masks every epoch."""
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        collate.set_epoch(epoch)
        yield from loader
        epoch += 1


def evaluate(model: TinyBert, heldout: list[dict[str, Tensor]], device: torch.device) -> float:
    """Accuracy of the arg-max word at the held-out masked positions."""
    correct = total = 0
    model.eval()
    with torch.no_grad():
        for batch in heldout:
            where = batch["labels"] != -100
            logits = model(batch["input_ids"].to(device), batch["attention_mask"].to(device), where.to(device))
            correct += int((logits.argmax(1).cpu() == batch["labels"][where]).sum())
            total += int(where.sum())
    model.train()
    return correct / total


def run(argv: Sequence[str] | None = None) -> Result:
    """Build the corpus, train, print the table, save the plot; returns the measurements."""
    args = parse_args(argv)
    with cpu_threads(args.threads):
        start = time.perf_counter()
        corpus = load_corpus(args)
        rows = train(args, corpus, resolve_device(args.device))
    result = Result(rows, corpus.vocab.words[corpus.most_frequent], sum(map(len, corpus.train)), corpus.num_masked,
                    time.perf_counter() - start)
    report(result, corpus, args)
    plot(result, args.out)
    return result


def train(args: argparse.Namespace, corpus: Corpus, device: torch.device) -> list[Row]:
    """Train for ``args.steps`` steps; a table row at step 0 and every ``args.eval_every`` steps."""
    collate = MaskedLMCollator(**corpus.collate_args, seed=args.seed)
    sampler = OrderSampler(len(corpus.train), order="reshuffle", seed=args.seed)
    loader = DataLoader(corpus.train, batch_size=args.batch_size, sampler=sampler, collate_fn=collate, drop_last=True)
    with torch.random.fork_rng(devices=[]):  # the initial weights follow --seed, the caller's RNG is untouched
        torch.manual_seed(args.seed)
        model = TinyBert(len(corpus.vocab), dim=args.dim, layers=args.layers, heads=args.heads, max_len=args.seq_len)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = max(1, args.steps // 10)  # linear warm-up, then linear decay to 0
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (args.steps - s) / (args.steps - warmup + 1)))
    )
    baselines = (corpus.baseline_top, corpus.baseline_draw)
    rows = [(0, math.nan, evaluate(model, corpus.heldout, device), *baselines)]
    stream, losses = batches(loader, sampler, collate), []
    with Progress(args.steps, desc="MLM", unit="step") as bar:
        for step in range(1, args.steps + 1):
            batch = next(stream)
            where = batch["labels"] != -100
            logits = model(batch["input_ids"].to(device), batch["attention_mask"].to(device), where.to(device))
            loss = nn.functional.cross_entropy(logits, batch["labels"][where].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
            bar.update(1, loss=f"{losses[-1]:.3f}")
            if step % args.eval_every == 0 or step == args.steps:
                rows.append((step, sum(losses) / len(losses), evaluate(model, corpus.heldout, device), *baselines))
                losses = []
    return rows


def report(result: Result, corpus: Corpus, args: argparse.Namespace) -> None:
    print(markdown_table(
        ("step", "train loss", "held-out masked accuracy", f"most frequent word ({result.most_frequent_word!r})",
         "unigram draw (expected)"),
        [(s, "-" if math.isnan(loss) else loss, acc, top, draw) for s, loss, acc, top, draw in result.rows],
    ))
    train_files, heldout_files = corpus.num_files
    print(f"{train_files + heldout_files} stdlib files ({train_files} train / {heldout_files} held out), "
          f"{len(corpus.train)} training sequences of <= {args.seq_len} tokens ({result.num_train_tokens} tokens), "
          f"vocabulary {len(corpus.vocab)}, {result.num_heldout_masked} held-out masked words; {args.steps} steps "
          f"of {args.batch_size} on {resolve_device(args.device)} in {result.seconds:.1f} s; plot saved to {args.out}")


def plot(result: Result, out: Path) -> None:
    plt = pyplot()
    steps = [r[0] for r in result.rows]
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    ax.plot(steps, [r[2] for r in result.rows], marker="o", label="model, held-out masked words")
    ax.axhline(result.rows[0][3], color="gray", linestyle="--",
               label=f"always \"{result.most_frequent_word}\" (the most frequent word)")
    ax.axhline(result.rows[0][4], color="gray", linestyle=":", label="word drawn from unigram frequencies")
    ax.set_xlabel("training step")
    ax.set_ylabel("masked-word accuracy")
    ax.set_title("Masked-language model on standard-library docstrings")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    save_figure(fig, out)


def main(argv: Sequence[str] | None = None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
