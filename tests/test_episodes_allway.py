"""All-way K-shot subsets: exactly K per class, nested, seeded folds, list files."""
import random
from collections import Counter

import pytest

from episodes import allway
from zeroi2v.utils.errors import UserError
from zeroi2v.utils.io import sha256_file


def _items(n_classes=5, per_class=20):
    return [(f"c{c}/v{j:02d}.avi", c) for c in range(n_classes) for j in range(per_class)]


def test_exactly_k_per_class_and_nested():
    subs = allway.allway_subsets(_items(), shots=(2, 4, 8, 16), folds=3, seed=0)
    assert sorted(subs) == [(k, f) for k in (2, 4, 8, 16) for f in (1, 2, 3)]
    items = set(_items())
    for (k, fold), rows in subs.items():
        assert Counter(label for _, label in rows) == {c: k for c in range(5)}
        assert len({v for v, _ in rows}) == 5 * k and set(rows) <= items
        assert [label for _, label in rows] == sorted(label for _, label in rows)
    for fold in (1, 2, 3):
        assert set(subs[(2, fold)]) < set(subs[(4, fold)]) < set(subs[(8, fold)]) < set(subs[(16, fold)])
    assert subs[(4, 1)] != subs[(4, 2)] != subs[(4, 3)]


def test_deterministic_and_input_order_independent():
    a = allway.allway_subsets(_items(), shots=[2, 4], folds=2, seed=7)
    shuffled = _items()
    random.Random(0).shuffle(shuffled)
    assert allway.allway_subsets(shuffled, shots=[2, 4], folds=2, seed=7) == a
    assert allway.allway_subsets(_items(), shots=[2, 4], folds=2, seed=8) != a


def test_pinned_first_rows():
    assert allway.allway_subsets(_items(), shots=[2], folds=1, seed=0)[(2, 1)][:4] == [
        ("c0/v07.avi", 0), ("c0/v10.avi", 0), ("c1/v18.avi", 1), ("c1/v17.avi", 1)]


def test_too_few_videos_names_class_and_count():
    items = _items(3, 20)[:-13]  # class 2 keeps 7 videos
    with pytest.raises(UserError, match=r"class 'Juggling' has only 7 training videos, fewer than K=8"):
        allway.allway_subsets(items, shots=[2, 8], folds=1, seed=0, class_names={2: "Juggling"})
    with pytest.raises(UserError, match="class 2 has only 7"):
        allway.allway_subsets(items, shots=[16], folds=1, seed=0)


@pytest.mark.parametrize("kwargs", [dict(shots=[0]), dict(shots=[]), dict(folds=0), dict(seed=-1)])
def test_bad_arguments(kwargs):
    args = dict(shots=[2], folds=1, seed=0) | kwargs
    with pytest.raises(UserError):
        allway.allway_subsets(_items(), **args)


def test_write_and_read_lists(tmp_path):
    items = _items() + [("with space/v 1.avi", 0)]
    subs = allway.allway_subsets(items, shots=[2, 16], folds=2, seed=0)
    written = allway.write_allway_lists(tmp_path, "ucf101", subs)
    assert [p.name for p, _, _ in written] == ["ucf101_k2_fold1.txt", "ucf101_k2_fold2.txt",
                                               "ucf101_k16_fold1.txt", "ucf101_k16_fold2.txt"]
    for path, lines, digest in written:
        assert digest == sha256_file(path)
        k, fold = int(path.stem.split("_k")[1].split("_")[0]), int(path.stem[-1])
        assert lines == 5 * k
        assert allway.read_allway_list(path) == subs[(k, fold)]
    assert (tmp_path / "ucf101_k2_fold1.txt").read_text().splitlines()[0].rsplit(" ", 1)[1] == "0"


def test_read_bad_list(tmp_path):
    (tmp_path / "x.txt").write_text("a/b.avi 3\nbroken\n")
    with pytest.raises(UserError, match=r"x.txt:2: expected '<video_id> <label>'"):
        allway.read_allway_list(tmp_path / "x.txt")
    with pytest.raises(UserError, match="not found"):
        allway.read_allway_list(tmp_path / "none.txt")
