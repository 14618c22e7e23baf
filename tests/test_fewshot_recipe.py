"""fewshot.recipe: few-shot adaptation runs its dataset's recipe (zeroi2v.settings.recipes.fewshot_recipe) for every
field the few-shot protocol does not change -- read back from the config, the records, the log and the
adaptation checkpoint of a run on a tiny list dataset with tiny OpenAI-format CLIP weights."""
import dataclasses
import json

import pytest
import torch

from fewshot import run as fsrun
from fewshot.config import parse_args
from fewshot.recipe import adaptation, run_recipe
from list_fixtures import make_list_dataset
from test_weights import openai_clip_state_dict
from tiny import TINY
from zeroi2v.training.checkpoint_state import load_state
from zeroi2v.settings.recipes import FEWSHOT_CHANGES, ORIGINAL_RECIPES, RECIPES, fewshot_recipe


# The toy demo's settings as they resolved before the settings object existed (recorded then, field by field):
# the demo's records stay bit-identical only while these do.
TOY_RUN = {'recipe': 'toy', 'backbone': 'vit_tiny_patch16_224', 'frames': 8, 'stdha': '-1:1,1:1', 'epochs': 30,
           'batch_size': 8, 'accum': 1, 'lr': 0.002, 'loader': 'float32', 'num_workers': 0}
TOY_MODEL = {'adapter_ratio': 0.25, 'adapter_scale': 1.0, 'adapter_dropout': 0.0, 'head_dropout': 0.0}
TOY_TRAIN = {'epochs': 30, 'batch_size': 8, 'lr': 0.002, 'weight_decay': 0.05, 'warmup_epochs': 1.0,
             'min_lr_ratio': 0.0, 'accum': 1, 'label_smoothing': 0.0, 'clip_grad': None, 'bias_decay': False,
             'backbone_lr_mult': 1.0, 'warmup_start': 0.0, 'schedule': 'cosine', 'amp': 'auto', 'seed': 0,
             'num_workers': 0, 'data_order': 'generator', 'keep': 'last', 'log_every': 0, 'progress': True,
             'betas': (0.9, 0.999), 'iters_per_step': 1}  # select='last' then; betas: AdamW's default then
TOY_ADAPT = {'val_episodes': 1000, 'ways': 5, 'shots': 5, 'keep_decoded': True, 'flip': 0.0, 'flip_map': None,
             'crop_area': (0.6, 1.0), 'crop_ratio': (0.75, 1.3333333333333333), 'short_side': None,
             'randaugment': None, 'randaugment_after_flip': False, 'erasing': 0.0, 'erasing_mode': None}


def test_toy_demo_settings_are_unchanged(tmp_path):
    from fewshot.adapt import AdaptConfig, fit_config
    from fewshot.recipe import view_settings

    cfg = parse_args(["--dataset", "toy", "--device", "cpu", "--out", str(tmp_path)])
    assert {k: getattr(cfg, k) for k in TOY_RUN} == TOY_RUN
    model_kw, adapt_kw = adaptation(cfg, ["a0", "a1", "b0", "b1", "c0", "c1"])
    assert {k: v for k, v in model_kw.items() if k != "init"} == TOY_MODEL and model_kw["init"] == "torch"
    acfg = AdaptConfig(ways=5, **adapt_kw)
    assert dataclasses.asdict(fit_config(acfg)) == TOY_TRAIN
    assert {k: v for k, v in dataclasses.asdict(acfg).items() if k != "train"} == TOY_ADAPT
    # the sampler of that time, now named "tsn" ("uniform" is mmaction2's UniformSample of the originals)
    assert view_settings(cfg) == {'sampling': 'tsn', 'interval': None, 'num_clips': 1, 'num_crops': 1}


def test_fewshot_changes_only_the_protocols_fields():
    for name in ORIGINAL_RECIPES:
        r, f = RECIPES[name], fewshot_recipe(RECIPES[name])
        changed = {k for k in dataclasses.asdict(r) if getattr(r, k) != getattr(f, k)}
        assert changed <= {"epochs", "test_clips", "test_crops", "keep"} and f.epochs == 10 and f.keep == "best"
        assert (f.test_clips, f.test_crops) == (1, 1)
    toy = fewshot_recipe(RECIPES["toy"])
    assert {k: getattr(toy, k) for k in FEWSHOT_CHANGES["toy"]} == FEWSHOT_CHANGES["toy"]


def test_adaptation_settings_are_the_recipes(tmp_path):
    cfg = parse_args(["--dataset", "ssv2", "--out", str(tmp_path)])
    names = ["Pushing something from left to right", "Pushing something from right to left", "Holding something"]
    model, acfg = adaptation(cfg, names)
    r = run_recipe(cfg.recipe)
    assert model == dict(adapter_ratio=0.25, adapter_scale=1.0, adapter_dropout=0.0, head_dropout=0.5, init="original")
    t = acfg["train"]
    assert (t.label_smoothing, acfg["randaugment"], acfg["erasing"], acfg["erasing_mode"]) == (0.1, (7, 4), 0.25,
                                                                                              "const")
    assert acfg["randaugment_after_flip"] and t.bias_decay and t.schedule == "cosine_epoch"
    assert (t.warmup_start, t.warmup_epochs, acfg["crop_area"], acfg["short_side"]) == (0.1, 2.5, (0.08, 1.0), 256)
    assert acfg["flip"] == r.flip == 0.5 and acfg["flip_map"] == (1, 0, 2)  # left/right swapped on flip
    assert t.keep == "best" and t.amp == "auto" and t.data_order == "generator"
    assert (t.batch_size, t.accum, t.lr) == (cfg.batch_size, cfg.accum, cfg.lr) == (4, 8, 3e-4)  # global batch 32
    assert model["init"] == "original"
    short = parse_args(["--dataset", "ssv2", "--epochs", "4", "--out", str(tmp_path)])
    assert adaptation(short, names)[1]["train"].warmup_epochs == 1.0  # at most a quarter of the run
    toy_model, toy = adaptation(parse_args(["--dataset", "toy", "--out", str(tmp_path)]), ["a", "b"])
    # the demo's settings, unchanged: no dropout, scale 1, no flip, crop 0.6-1, warm-up 1 from 0, per-step cosine
    assert toy_model == dict(adapter_ratio=0.25, adapter_scale=1.0, adapter_dropout=0.0, head_dropout=0.0, init="torch")
    tt = toy["train"]
    assert (toy["flip"], toy["crop_area"], tt.warmup_epochs, tt.warmup_start, tt.schedule) == (
        0.0, (0.6, 1.0), 1.0, 0.0, "cosine")
    assert (toy["randaugment"], toy["erasing"], tt.bias_decay, tt.keep) == (None, 0.0, False, "last")


@pytest.mark.parametrize("recipe", ["clip_b16_ssv2_u16"])
def test_fewshot_run_adapts_with_the_recipe(recipe, tmp_path, capsys):
    torch.set_num_threads(1)
    root = make_list_dataset(tmp_path / "mine", videos_per_class=6, frames=8)
    torch.save(openai_clip_state_dict(), tmp_path / "ViT-tiny.pt")
    out = tmp_path / "run"
    assert fsrun.main(["--dataset", "list", "--data-root", str(root), "--recipe", recipe,
                       "--pretrained", str(tmp_path / "ViT-tiny.pt"),
                       "--timm-kwargs", json.dumps(TINY), "--epochs", "1", "--batch-size", "4", "--accum", "2",
                       "--methods", "zeroi2v", "--protocols", "prototype", "--shots", "1", "--episodes", "20",
                       "--num-workers", "0", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]) == 0
    log = (out / "run.log").read_text()
    assert f"adaptation (recipe {recipe}):" in log and "label_smoothing=0.1" in log and "accum=2" in log
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["recipe"], cfg["frames"], cfg["stdha"], cfg["accum"], cfg["lr"]) == (recipe, 16, "-1:1,1:1,-2:1,2:1",
                                                                                    2, 3e-4)
    assert cfg["backbone"] == "vit_base_patch16_clip_quickgelu_224"
    rec = json.loads(next((out / "records").glob("*.json")).read_text())
    a = rec["adaptation"]
    t = a["train"]
    assert (t["label_smoothing"], a["randaugment"], a["erasing"], a["short_side"], t["accum"]) == (0.1, [7, 4], 0.25,
                                                                                                  256, 2)
    assert t["bias_decay"] and t["schedule"] == "cosine_epoch" and t["warmup_start"] == 0.1
    assert rec["keep"] == "best" and rec["precision"] == "fp32" and 1 <= rec["tested_epoch"] <= 1
    assert "learning_warning" in rec  # the binomial check ran (a 1-epoch tiny run: may well warn)
    assert (a["head_dropout"], a["adapter_scale"], a["sampling"], a["loader"]) == (0.5, 1.0, "uniform", "uint8+fast")
    assert rec["adapters"]["scale"] == 1.0 and rec["stdha"] == [-1, 1, -2, 2] and rec["config"]["recipe"] == recipe
    ck = load_state(out / "zeroi2v" / "checkpoint.pt")  # what the one trainer and the training data actually ran
    assert (ck["config"]["label_smoothing"], ck["config"]["accum"], ck["config"]["bias_decay"]) == (0.1, 2, True)
    assert ck["config"]["schedule"] == "cosine_epoch" and ck["config"]["warmup_start"] == 0.1
    key = ck["identity"]["adapt"]
    assert list(key["randaugment"]) == [7, 4] and key["erasing"] == 0.25 and key["randaugment_after_flip"] is True


def test_readme_table_of_fewshot_changes_matches_the_code():
    """The few-shot docs page's 'what differs' rows state FEWSHOT_CHANGES' values (claims match code)."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "docs" / "fewshot.md").read_text(encoding="utf-8")
    table = readme[readme.index("| field | original config | `fewshot.run` | why |"):].split("\n\n")[0]
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()}
    orig, toy = FEWSHOT_CHANGES["original"], FEWSHOT_CHANGES["toy"]
    assert f"| {orig['epochs']} (`--epochs`) |" in rows["epochs"]
    assert "1 clip × centre crop" in rows["test views"] and (orig["test_clips"], orig["test_crops"]) == (1, 1)
    assert (f"recipe `toy` with {toy['epochs']} epochs, batch {toy['batch_per_gpu']}, warm-up "
            f"{toy['warmup_epochs']:g}") in rows["toy demo"]
