"""recipes/leakage_audit.py: every planted leak of the lecture's two examples is caught, and
the checks are quiet once the leak is removed."""

import pytest

from tests._recipes import load_recipe

recipe = load_recipe("leakage_audit")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("leakage_audit") / "plot.png"
    return recipe.run(["--rows", "2000", "--seed", "0", "--device", "cpu", "--out", str(out)]), out


def test_scanner_pair_is_caught_only_together(smoke):
    result, _ = smoke
    kinds = {f.kind: f for f in result.scanner_report.findings}
    assert set(kinds) == {"feature_pair"} and kinds["feature_pair"].features == [3, 4]  # room + brand
    assert result.scanner_clean.ok  # without the two columns: nothing
    labels = [result.scanner_table.label(r) for r in result.scanner_table.very_high]
    assert labels == ["scan_room + scanner_brand"]
    singles = [r for r in result.scanner_table.rows if r.kind == "single" and r.features[0] in (3, 4)]
    assert all(r.best < 0.6 for r in singles)


def test_translations_make_the_curve_jump(smoke):
    result, _ = smoke
    assert result.curve.jump_features == ["translations"]


def test_training_data_leaks_are_caught(smoke):
    result, _ = smoke
    on_train, on_all = result.vocabulary_difference
    assert on_train < 1e-6 and on_all > 1e-3
    found, synthetic, originals = result.smote_found
    assert originals == 0 and found >= 0.3 * synthetic > 0


def test_figure_and_printed_tables(smoke, tmp_path, capsys):
    _, out = smoke
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert recipe.main(["--rows", "1200", "--seed", "1", "--device", "cpu", "--out", str(tmp_path / "p.png")]) == 0
    printed = capsys.readouterr().out
    for text in ("| feature pairs (held-out binned score) |", "| subset | kind | logistic | binned | note |",
                 "| step | feature added |", "| leak | check | measure | verdict |"):
        assert text in printed
