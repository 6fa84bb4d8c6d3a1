"""recipes/mlm.py: the corpus reader, the tokenizer, the model, and a smoke run that beats the unigram baselines."""

import pytest
import torch

from tests._recipes import load_recipe

recipe = load_recipe("mlm")

SMOKE = ["--max-files", "200", "--steps", "150", "--batch-size", "64", "--dim", "64", "--heads", "2",
         "--vocab-size", "1000", "--eval-every", "50", "--eval-sequences", "512", "--lr", "3e-3", "--seed", "0",
         "--device", "cpu"]


def test_file_words_reads_docstrings_only(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        '"""Module doc."""\nX = "not a docstring"\n\n'
        'class A:\n    """Class doc, with (punctuation)."""\n\n    def f(self):\n        """Method 2."""\n'
        '        return "nope"\n\nasync def g():\n    """Async doc."""\n'
    )
    assert recipe.file_words(source) == [  # breadth first: module, its class and function, the method
        "module", "doc", ".", "class", "doc", ",", "with", "(", "punctuation", ")", ".", "async", "doc", ".",
        "method", "2", ".",
    ]
    (tmp_path / "bad.py").write_text("def (:\n")
    assert recipe.file_words(tmp_path / "bad.py") == []


def test_source_files_are_sorted_and_evenly_spaced():
    every = recipe.source_files()
    assert every == sorted(every) and len(every) > 100
    assert not any(part in recipe.SKIP_DIRS for f in every for part in f.parts[-3:-1])
    some = recipe.source_files(10)
    assert len(some) == 10 and some[0] == every[0] and set(some) <= set(every)


def test_vocabulary_and_windows():
    vocab = recipe.Vocabulary.build([["a", "b", "a"], ["c", "a", "b"]], 2)
    assert vocab.words == [*recipe.SPECIALS, "a", "b"] and vocab.counts.tolist() == [0, 0, 0, 0, 0, 3, 2]
    assert vocab.encode(["b", "zzz", "a"]) == [6, recipe.UNK, 5]
    ids = list(range(10, 40))  # 30 ids, windows of 14 words: 14 + 14 + 2 (too short, dropped)
    windows = recipe.windows(ids, 16)
    assert [len(w) for w in windows] == [16, 16]
    assert all(w[0] == recipe.CLS and w[-1] == recipe.SEP for w in windows)
    assert windows[0][1:-1] + windows[1][1:-1] == ids[:28]


def test_model_ignores_padding_and_scores_selected_positions():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = recipe.TinyBert(50, dim=16, layers=2, heads=2, max_len=8).eval()
    ids = torch.tensor([[1, 7, 8, 3, 9, 2, 0, 0], [1, 7, 8, 3, 9, 2, 11, 2]])
    attention = torch.tensor([[1] * 6 + [0] * 2, [1] * 8])
    where = torch.zeros(2, 8, dtype=torch.bool)
    where[:, 3] = True
    with torch.no_grad():
        logits = model(ids, attention, where)
        alone = model(ids[:1, :6], attention[:1, :6], where[:1, :6])
    assert logits.shape == (2, 50)
    assert torch.allclose(logits[0], alone[0], atol=1e-5)  # padding changes nothing
    assert not torch.allclose(logits[0], logits[1], atol=1e-3)  # real tokens do


@pytest.mark.slow
def test_smoke_accuracy_rises_above_the_unigram_baselines(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "mlm.png"
    result = recipe.run([*SMOKE, "--out", str(out)])
    steps = [row[0] for row in result.rows]
    assert steps == [0, 50, 100, 150]
    _, _, untrained, top, draw = result.rows[0]
    assert all(row[3:] == (top, draw) for row in result.rows)  # the baselines score the same positions
    assert top > draw > 0 and untrained < top
    # Held-out masked-word accuracy after 150 steps is 0.106 against 0.085 for always
    # predicting the most frequent word, on 832 masked words (a standard error ~0.01).
    final_loss, final = result.rows[-1][1], result.rows[-1][2]
    assert final > top + 0.01 and final > 5 * draw
    assert final_loss < result.rows[1][1]
    assert result.num_heldout_masked > 500 and result.most_frequent_word in {".", "the", ","}
    printed = capsys.readouterr().out
    assert "| step | train loss | held-out masked accuracy |" in printed
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
