from fewshot.splitdata import canonical_dataset, locate_unlisted_hmdb51

import pytest

from zeroi2v.errors import UserError


def test_aliases_and_unknown_datasets():
    assert canonical_dataset("ssv2") == "ssv2_full"
    assert canonical_dataset("hmdb51") == "hmdb51"
    with pytest.raises(UserError, match="unknown few-shot dataset"):
        canonical_dataset("hmdb52")


def test_hmdb51_clips_unused_by_every_fold_are_found_in_the_video_folder(tmp_path):
    (tmp_path / "videos" / "fencing").mkdir(parents=True)
    (tmp_path / "videos" / "fencing" / "a.avi").write_bytes(b"x")
    found = locate_unlisted_hmdb51(tmp_path, {"fencing/a.avi", "fencing/missing.avi"})
    assert set(found) == {"fencing/a.avi"}
    item = found["fencing/a.avi"]
    assert item.path == tmp_path / "videos" / "fencing" / "a.avi" and item.class_name == "fencing"
