"""zeroi2v.data.feature_cache: the one reader/writer of feature-cache files (fewshot.embed, episodes.interop)."""
import pytest
import torch

from zeroi2v.data import feature_cache

KEY = {"model": "m1", "dataset": "toy", "view": "v1"}


def test_round_trip_sorts_rows_and_keeps_identities(tmp_path):
    rows = {"b.mp4": ("b.mp4|2|20", torch.tensor([3.0, 4.0])), "a.mp4": ("a.mp4|1|10", torch.tensor([1.0, 2.0]))}
    feature_cache.save(tmp_path / "c.pt", rows, key=KEY)
    for key in (None, KEY):
        ids, idents, feats = feature_cache.load(tmp_path / "c.pt", key=key)
        assert ids == ["a.mp4", "b.mp4"] and idents == ["a.mp4|1|10", "b.mp4|2|20"]
        assert torch.equal(feats, torch.tensor([[1.0, 2.0], [3.0, 4.0]]))


def test_a_file_computed_for_another_key_is_refused(tmp_path):
    feature_cache.save(tmp_path / "c.pt", {"a": ("a|1|1", torch.ones(2))}, key=KEY)
    with pytest.raises(feature_cache.ForeignCache, match="computed for another model \\(model='m1'\\)"):
        feature_cache.load(tmp_path / "c.pt", key={**KEY, "model": "m2"})
    with pytest.raises(feature_cache.ForeignCache, match="another dataset, view"):
        feature_cache.load(tmp_path / "c.pt", key={**KEY, "dataset": "list", "view": "v2"})


@pytest.mark.parametrize("blob", [
    {"format": 1, "ids": ["a"], "identities": ["a|1|1"], "features": torch.zeros(1, 2)},  # another format
    {"format": 2, "ids": ["a"], "identities": ["a|1|1"], "features": torch.zeros(1, 2)},  # no key (before keys)
    {"format": 3, "key": KEY, "ids": ["a", "b"], "identities": ["a|1|1"], "features": torch.zeros(2, 2)},  # lengths
    {"format": 3, "key": KEY, "ids": ["a"], "identities": ["a|1|1"], "features": torch.zeros(2)},  # not (N, D)
    {"format": 3, "key": "m1", "ids": ["a"], "identities": ["a|1|1"], "features": torch.zeros(1, 2)},  # key not a dict
    [1, 2, 3],  # not a dict
])
def test_foreign_files_are_refused(blob, tmp_path):
    torch.save(blob, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a feature cache"):
        feature_cache.load(tmp_path / "x.pt")
    (tmp_path / "t.pt").write_bytes((tmp_path / "x.pt").read_bytes()[:20])  # truncated
    with pytest.raises(Exception):
        feature_cache.load(tmp_path / "t.pt")
