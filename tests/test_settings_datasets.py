"""Datasets as records: every spelling resolves through zeroi2v.settings.datasets, and a dataset added as
one reader module + one record (+ split files) runs through fewshot.run and zeroi2v.train."""
from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from zeroi2v.settings import datasets as records
from zeroi2v.utils.errors import UserError

REPO = Path(__file__).resolve().parents[1]


def test_every_spelling_finds_one_record():
    assert records.find("kinetics").name == records.find("kinetics100").name == records.find("k400").name == "k400"
    assert records.find("ssv2_small").name == "ssv2" and records.fewshot_name("ssv2") == "ssv2_full"
    assert records.fewshot_name("k400") == "kinetics100" and records.fewshot_name("ssv2_small") == "ssv2_small"
    with pytest.raises(UserError, match="unknown dataset 'imagenet'; use one of toy, ssv2"):
        records.find("imagenet")
    names = [n for r in records.RECORDS.values() for n in r.names]
    assert len(names) == len(set(names)), "a spelling means one dataset"


def test_records_hold_what_the_commands_read():
    from zeroi2v import data
    from zeroi2v.settings.recipes import RECIPES, default_recipe

    for r in records.RECORDS.values():
        assert data.get_reader(r.name).name == r.reader and data.get_reader(r.name).env == r.env
        for size in (None, "vit_large_patch14_clip_224"):
            name = r.recipe_for(size)
            assert name is None or (RECIPES[name].dataset == r.name and default_recipe(r.name, size) == name)
    assert records.find("ssv2").flip_label_map and not records.find("k400").flip_label_map
    assert records.defaults_for("kinetics100").sampling == "dense" and records.defaults_for("ssv2_full").stdha == "ssv2"
    assert records.fixture_recipes() == {"ssv2": "clip_b16_ssv2_u16", "kinetics": "clip_b16_k400_8x16x1",
                                         "hmdb": "clip_b16_hmdb51_u8"}


def test_a_dataset_name_lives_in_at_most_three_product_files():
    r = subprocess.run(["grep", "-rl", "hmdb51", "--include=*.py", "zeroi2v", "fewshot", "episodes", "results"],
                       cwd=REPO, capture_output=True, text=True)
    files = sorted(r.stdout.split())
    assert files == ["zeroi2v/data/hmdb51.py", "zeroi2v/settings/datasets.py", "zeroi2v/settings/recipes.py"], files


def test_register_refuses_a_spelling_that_is_taken():
    with pytest.raises(ValueError, match="already means 'k400'"):
        records.register(records.DatasetRecord(name="mine", reader="mine", reader_module="x", env="X",
                                               aliases=("kinetics",)))
    assert "mine" not in records.RECORDS


READER = '''
"""A made-up dataset: <root>/videos/<class>/<file>.mp4; train = all but the last two videos of a class, test = those."""
from pathlib import Path

from zeroi2v.data.common import VideoItem
from zeroi2v.data.registry import Reader


def list_split(root: Path, split: str, *, fold: int, bad) -> list:
    items = []
    for label, folder in enumerate(sorted(p for p in (root / "videos").iterdir() if p.is_dir())):
        files = sorted(folder.glob("*.mp4"))
        for f in files[:-2] if split == "train" else files[-2:]:
            items.append(VideoItem(video_id=f"{folder.name}/{f.name}", path=f, label=label, class_name=folder.name))
    return items


READER = Reader(name="folders", env="ZEROI2V_FOLDERS_ROOT", splits=("train", "test"), folds=(1,),
                list_split=list_split, layout="videos/<class>/<file>.mp4")
'''


@pytest.fixture
def added(tmp_path, monkeypatch):
    """A dataset added by one reader module, one record and its few-shot split files (3 base / 3 val / 3 novel)."""
    from list_fixtures import make_list_dataset

    root = make_list_dataset(tmp_path / "folders", split=(3, 3, 3), videos_per_class=6, frames=8, size=32)
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "folders_reader.py").write_text(textwrap.dedent(READER))
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    splits = tmp_path / "folders_splits"
    splits.mkdir()
    for part in ("train", "val", "test"):  # the list files' classes -> CLIP-FSAR style split lines
        lines = [line.split() for line in (root / f"{part}.txt").read_text().splitlines()]
        local = {c: k for k, c in enumerate(dict.fromkeys(c for _, c in lines))}
        (splits / f"{part}.txt").write_text("".join(f"{part}{local[c]}//{p}\n" for p, c in lines))
    rec = records.register(records.DatasetRecord(
        name="folders", reader="folders", reader_module="folders_reader", env="ZEROI2V_FOLDERS_ROOT",
        aliases=("my_folders",), fewshot=(records.FewShotSplits("folders_fs", str(splits)),), num_classes=9))
    yield rec, root
    records.unregister("folders")


def _weights(tmp_path):
    import timm
    import torch

    torch.manual_seed(0)
    vit = timm.create_model("vit_tiny_patch16_224", num_classes=0, img_size=32, patch_size=8, embed_dim=32, depth=2,
                            num_heads=4)
    path = tmp_path / "tiny.pth"
    torch.save(vit.state_dict(), path)
    return str(path)


TINY = json.dumps(dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=4))


@pytest.mark.slow
def test_an_added_dataset_runs_through_fewshot_run_and_zeroi2v_train(added, tmp_path):
    import torch

    from fewshot import run as fsrun
    from zeroi2v.train import cli as train

    torch.set_num_threads(1)
    _, root = added
    weights = _weights(tmp_path)
    common = ["--data-root", str(root), "--pretrained", weights, "--backbone", "vit_tiny_patch16_224",
              "--timm-kwargs", TINY, "--frames", "4", "--epochs", "1", "--batch-size", "3", "--num-workers", "0"]
    fs_out = tmp_path / "fs"
    assert fsrun.main(["--dataset", "my_folders", *common, "--ways", "3", "--shots", "1", "--episodes", "10",
                       "--methods", "frozen,zeroi2v", "--protocols", "prototype", "--out", str(fs_out),
                       "--cache-dir", str(tmp_path / "cache")]) == 0
    recs = [json.loads(p.read_text()) for p in (fs_out / "records").glob("*.json")]
    assert {r["method"] for r in recs} == {"frozen", "zeroi2v"} and all(r["n_episodes"] == 10 for r in recs)
    assert json.loads((fs_out / "config.json").read_text())["dataset"] == "folders_fs"
    tr_out = tmp_path / "train"
    assert train.main(["--dataset", "folders", *common, "--size", "32", "--no-throughput", "--no-progress",
                       "--out", str(tr_out)]) == 0
    (rec,) = [json.loads(p.read_text()) for p in (tr_out / "records").glob("*.json")]
    assert rec["dataset"] == "folders" and 0 <= rec["top1"] <= 100
    cfg = json.loads((tr_out / "config.json").read_text())
    assert cfg["num_classes"] == 9 and cfg["train_videos"] == 36 and cfg["test_videos"] == 18


def test_an_added_dataset_is_found_by_every_command_layer(added):
    from episodes import splits
    from fewshot.splitdata import load_fewshot_data
    from zeroi2v import data

    _, root = added
    assert data.get_reader("my_folders").name == "folders" and records.fewshot_name("folders") == "folders_fs"
    assert len(data.list_videos("folders", root, "train")) == 36
    assert not splits.rooted("folders") and len(splits.load_split("folders", "test")) == 18
    fs = load_fewshot_data("my_folders", str(root), ways=3, shots=1, queries=1)
    assert fs.dataset == "folders_fs" and {k: len(v) for k, v in fs.splits.items()} == {"train": 18, "val": 18,
                                                                                         "test": 18}
