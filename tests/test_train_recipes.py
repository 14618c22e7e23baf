"""zeroi2v.train --recipe on a tiny generated SSv2 tree with tiny OpenAI-format CLIP weights: the
recipe's label smoothing 0.1, adapter scale 1, 16 frames, RandAugment + RandomErasing, 1x3 test views,
a QuickGELU backbone -- read back from the saved config, the record and the log."""
import json
from types import SimpleNamespace

import torch

from test_weights import openai_clip_state_dict
from tiny import TINY
from video_fixtures import make_ssv2_tree
from zeroi2v.train import cli as train
from zeroi2v.train.recipe import init_of


def test_ssv2_recipe_end_to_end(tmp_path, capsys):
    root = make_ssv2_tree(tmp_path / "ssv2")
    torch.save(openai_clip_state_dict(), tmp_path / "ViT-tiny.pt")
    out = tmp_path / "run"
    timm_kwargs = {k: v for k, v in TINY.items() if k != "img_size"}
    assert train.main(["--dataset", "ssv2", "--recipe", "clip_b16_ssv2_u16", "--data-root", str(root),
                       "--pretrained", str(tmp_path / "ViT-tiny.pt"), "--epochs", "1", "--size", "32",
                       "--timm-kwargs", json.dumps(timm_kwargs), "--batch-size", "3", "--short-side", "40",
                       "--no-throughput", "--no-progress", "--out", str(out)]) == 0
    log = capsys.readouterr().out
    assert "recipe clip_b16_ssv2_u16 resolved:" in log and "global batch 32 = 3 x 1 process(es) x --accum 11 (= 33)" in log
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["recipe"] == "clip_b16_ssv2_u16" and cfg["backbone"] == "vit_base_patch16_clip_quickgelu_224"
    assert (cfg["label_smoothing"], cfg["adapter_scale"], cfg["adapter_dropout"], cfg["frames"]) == (0.1, 1.0, 0.0, 16)
    assert cfg["randaugment"] == [7, 4] and cfg["erasing"] == 0.25 and cfg["crop_area"] == [0.08, 1.0]
    assert cfg["erasing_mode"] == "const" and cfg["randaugment_after_flip"] is True  # the SSv2 order
    assert cfg["test_views"] == "1x3" and cfg["bias_decay"] is True and cfg["warmup_start"] == 0.1
    assert cfg["schedule"] == "cosine_epoch" and cfg["epochs"] == 1 and cfg["short_side"] == 40  # flags win
    rec = json.loads(next((out / "records").glob("*.json")).read_text())
    assert rec["recipe"] == "clip_b16_ssv2_u16" and rec["views"] == "1x3" and rec["stdha"] == [-1, 1, -2, 2]
    assert rec["adapters"]["scale"] == 1.0
    # the original's checkpoint rule (save_best): validated every epoch, the best one tested; precision stated
    assert (rec["keep"], rec["tested_epoch"], rec["precision"], cfg["keep"]) == ("best", 1, "fp32", "best")
    assert init_of(SimpleNamespace(recipe=cfg["recipe"])) == "original"  # the model was built with the original init
    assert "learning_warning" in rec and "learning_check" in rec
