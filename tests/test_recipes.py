"""The recipes against the original configs, transcribed by hand from the files themselves.

Columns are the nine original config files (FILES); each row is one Recipe field with the config
key it comes from. K400/SSv2 files: MCG-NJU/ZeroI2V; HMDB51/UCF101 split-1 files: leexinhao/ZeroI2V
(the authors' development repository, which MCG-NJU's README clones). All in
configs/recognition/vit_zero_clip/.
"""
import dataclasses
from pathlib import Path

import pytest

from zeroi2v.settings import recipes
from zeroi2v.utils.errors import UserError
from zeroi2v.settings.recipes import RECIPES, Recipe, default_recipe, get_recipe, recipe_table_markdown
from zeroi2v.model.stdha import parse_offsets

NAMES = ("clip_b16_k400_8x16x1", "clip_b16_ssv2_u16", "clip_b16_hmdb51_u8", "clip_b16_hmdb51_u32",
         "clip_b16_ucf101_u8", "clip_b16_ucf101_u32", "clip_l14_k400_8x16x1", "clip_l14_k400_32x4x1",
         "clip_l14_ssv2_u32")
FILES = ("CLIP-B_k400_8x16x1.py", "CLIP-B_sthv2_u16.py", "vit_zero_base_clip_hmdb51_u8_split1.py",
         "vit_zero_base_clip_hmdb51_u32_split1.py", "vit_zero_base_clip_ucf101_u8_split1.py",
         "vit_zero_base_clip_ucf101_u32_split1.py", "CLIP-L_k400_8x16x1.py", "CLIP-L_k400_32x4x1.py",
         "CLIP-L_sthv2_u32.py")
B, L = "vit_base_patch16_clip_quickgelu_224", "vit_large_patch14_clip_quickgelu_224"
R = 3 / 4, 4 / 3
TABLE = {  # field: (B-K400, B-SSv2, HMDB-u8, HMDB-u32, UCF-u8, UCF-u32, L-K400-8x16, L-K400-32x4, L-SSv2)
    # ann_file_train: kinetics400 / sthv2 / hmdb51 / ucf101
    "dataset": ("k400", "ssv2", "hmdb51", "hmdb51", "ucf101", "ucf101", "k400", "k400", "ssv2"),
    # model.cls_head.num_classes
    "num_classes": (400, 174, 51, 51, 101, 101, 400, 400, 174),
    # model.backbone: width/layers/heads/patch_size 768/12/12/16 (B) or 1024/24/16/14 (L), mlp QuickGELU
    "backbone": (B, B, B, B, B, B, L, L, L),
    # model.backbone.num_frames (= clip_len of SampleFrames / UniformSample)
    "frames": (8, 16, 8, 32, 8, 32, 8, 32, 32),
    # train_pipeline: SampleFrames (dense) / UniformSample (uniform)
    "sampling": ("dense", "uniform", "uniform", "uniform", "uniform", "uniform", "dense", "dense", "uniform"),
    # SampleFrames.frame_interval
    "interval": (16, None, None, None, None, None, 16, 4, None),
    # train SampleFrames/UniformSample num_clips (default 1)
    "num_clips_train": (1,) * 9,
    # backbone.stdha_cfg: shift_div 12 -> 1 head (64 ch) at -1 and 1 at +1; 8 on ViT-L -> 2 each;
    # long_shift_div 12 (+long_shift_right) -> 1 head at -2 (and 1 at +2); L-K400-32: long_shift_div 8 -> 2 at -2;
    # L-SSv2 (stdha_long): shift1_div 8, shift2_div 16 (-2 and +2), shift3_div 16 without shift3_right (-3)
    "stdha": ("-1:1,1:1", "-1:1,1:1,-2:1,2:1", "-1:1,1:1", "-1:1,1:1,-2:1,2:1", "-1:1,1:1", "-1:1,1:1,-2:1,2:1",
              "-1:2,1:2", "-1:2,1:2,-2:2", "-1:2,1:2,-2:1,2:1,-3:1"),
    # backbone mlp_ratio (class default 0.25)
    "adapter_ratio": (0.25,) * 9,
    # backbone.adapter_scale
    "adapter_scale": (0.5, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1.0),
    # backbone.dropout_rate (class default 0.1; B-SSv2 0, L-K400 0.1 explicit)
    "adapter_dropout": (0.1, 0.0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1),
    # cls_head.dropout_ratio
    "head_dropout": (0.5,) * 9,
    # cls_head.label_smooth_eps
    "label_smoothing": (0.0, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1),
    # train_pipeline Resize(scale=(-1, 256))
    "short_side": (256,) * 9,
    # train_pipeline Resize(scale=(224, 224), keep_ratio=False)
    "size": (224,) * 9,
    # PytorchVideoWrapper(op='RandAugment', magnitude=7, num_layers=4)
    "randaugment": ((7, 4),) * 9,
    # position of PytorchVideoWrapper: after Flip in the sthv2 files, before RandomResizedCrop elsewhere
    "randaugment_after_flip": (False, True, False, False, False, False, False, False, True),
    # RandomResizedCrop() defaults: area_range=(0.08, 1.0), aspect_ratio_range=(3/4, 4/3)
    "crop_area": ((0.08, 1.0),) * 9,
    "crop_ratio": (R,) * 9,
    # Flip(flip_ratio=0.5)
    "flip": (0.5,) * 9,
    # Flip(flip_label_map=sthv2_flip_label_map)
    "flip_label_map": (False, True, False, False, False, False, False, False, True),
    # RandomErasing(erase_prob=0.25[, mode='rand']) (commented out in the HMDB/UCF files)
    "erasing": (0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.25),
    "erasing_mode": (None, "const", None, None, None, None, None, "rand", "const"),
    # optim_wrapper.optimizer: AdamW, lr 3e-4, betas (0.9, 0.999), weight_decay 0.05
    "optimizer": ("adamw",) * 9,
    "lr": (3e-4,) * 9,
    "weight_decay": (0.05,) * 9,
    "betas": ((0.9, 0.999),) * 9,
    # paramwise_cfg: decay_mult 0 only for embeddings and ln_* (GradMonitorSwinOptimWrapperConstructor)
    "bias_decay": (True,) * 9,
    # param_scheduler LinearLR(start_factor=0.1, end=2.5), CosineAnnealingLR(T_max=epochs, eta_min=0)
    "warmup_epochs": (2.5,) * 9,
    "warmup_start": (0.1,) * 9,
    "schedule": ("cosine",) * 9,
    "min_lr": (0.0,) * 9,
    # train_cfg.max_epochs
    "epochs": (40, 50, 40, 40, 40, 40, 40, 40, 50),
    # train_dataloader.batch_size (per GPU)
    "batch_per_gpu": (8, 4, 16, 16, 16, 16, 8, 2, 2),
    # accumulative_counts
    "accumulation": (1, 1, 1, 1, 1, 1, 1, 2, 2),
    # train_dataloader.batch_size x 8 GPUs (the authors' README) x accumulative_counts
    "global_batch": (64, 32, 128, 128, 128, 128, 64, 32, 32),
    # auto_scale_lr.enable / base_batch_size
    "lr_scaling": ("linear", None, None, None, None, None, "linear", "linear", "linear"),
    "base_batch": (64, 64, 64, 64, 128, 64, 64, 32, 32),
    # paramwise_cfg backbone=dict(lr_mult=0.1) (ViT-L files)
    "backbone_lr_mult": (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 0.1, 0.1),
    # optim_wrapper type GradMonitorAmpOptimWrapper (AmpOptimWrapper: fp16)
    "amp": ("fp16",) * 9,
    # default_hooks.checkpoint save_best='auto' (in the K400/SSv2 files and the HMDB/UCF files' runtime)
    "keep": ("best",) * 9,
    # ViT_Zero_CLIP.init_weights: trunc_normal_(std=.02) on every Linear, D_fc2 zeroed; I3DHead init_std 0.01
    "init": ("original",) * 9,
    # test_pipeline Resize(scale=(-1, 224))
    "test_short_side": (224,) * 9,
    # test_pipeline num_clips (SampleFrames 3; UniformSample default 1, HMDB-u32 num_clips=2)
    "test_clips": (3, 1, 1, 2, 1, 1, 3, 3, 1),
    # test_pipeline CenterCrop (1) / ThreeCrop (3)
    "test_crops": (1, 3, 3, 3, 3, 3, 1, 1, 3),
    # cls_head.average_clips='prob'
    "test_average": ("prob",) * 9,
}


@pytest.mark.parametrize("i,name", list(enumerate(NAMES)))
def test_recipe_matches_the_original_config(i, name):
    r = get_recipe(name)
    assert r.source.endswith("configs/recognition/vit_zero_clip/" + FILES[i])
    assert r.source.startswith("leexinhao/ZeroI2V:" if "_split1" in FILES[i] else "MCG-NJU/ZeroI2V:")
    for field, values in TABLE.items():
        assert getattr(r, field) == pytest.approx(values[i]) if isinstance(values[i], float) else \
            getattr(r, field) == values[i], (name, field)
    assert r.weights.startswith("OpenAI CLIP ViT-" + ("L/14" if "l14" in name else "B/16"))


def test_table_covers_every_field_and_the_nine_recipes():
    covered = set(TABLE) | {"name", "source", "weights"}
    assert {f.name for f in dataclasses.fields(Recipe)} == covered
    assert set(RECIPES) == set(NAMES) | {"toy"} and recipes.ORIGINAL_RECIPES == NAMES


def original_channel_offsets(width, *, shift_div, long_shift_div=-1, long_shift_right=False,
                             shift2_div=-1, shift3_div=-1):
    """Per-channel K/V frame offset of the original TemporalShift (stdha.py, stdha_ablation.py,
    stdha_long.py): channels [0, fold) take frame t-1, [fold, 2 fold) frame t+1, then -2 (and +2), -3."""
    off = [0] * width
    fold = width // shift_div
    off[:fold], off[fold:2 * fold] = [-1] * fold, [1] * fold
    now = 2 * fold
    for div, deltas in ((long_shift_div, (-2, 2) if long_shift_right else (-2,)), (shift2_div, (-2, 2)),
                        (shift3_div, (-3,))):
        if div > 0:
            for d in deltas:
                off[now:now + width // div] = [d] * (width // div)
                now += width // div
    return off


STDHA_CFGS = {  # backbone.stdha_cfg of each file
    "clip_b16_k400_8x16x1": dict(shift_div=12), "clip_b16_ssv2_u16": dict(shift_div=12, long_shift_div=12,
                                                                          long_shift_right=True),
    "clip_b16_hmdb51_u8": dict(shift_div=12), "clip_b16_hmdb51_u32": dict(shift_div=12, long_shift_div=12,
                                                                          long_shift_right=True),
    "clip_b16_ucf101_u8": dict(shift_div=12), "clip_b16_ucf101_u32": dict(shift_div=12, long_shift_div=12,
                                                                          long_shift_right=True),
    "clip_l14_k400_8x16x1": dict(shift_div=8), "clip_l14_k400_32x4x1": dict(shift_div=8, long_shift_div=8),
    "clip_l14_ssv2_u32": dict(shift_div=8, shift2_div=16, shift3_div=16),
}


@pytest.mark.parametrize("name", NAMES)
def test_stdha_spec_shifts_the_same_heads_as_the_original_channels(name):
    r = RECIPES[name]
    width, heads = (1024, 16) if "l14" in name else (768, 12)
    channels = original_channel_offsets(width, **STDHA_CFGS[name])
    per_head = [channels[h * 64:(h + 1) * 64] for h in range(heads)]
    assert all(len(set(c)) == 1 for c in per_head)  # whole heads shift
    assert parse_offsets(r.stdha, num_heads=heads) == [c[0] for c in per_head]


def test_stdha_head_counts_of_the_vit_l_presets():
    count = lambda n: sum(o != 0 for o in parse_offsets(RECIPES[n].stdha, num_heads=16))  # noqa: E731
    assert count("clip_l14_ssv2_u32") == 7 and count("clip_l14_k400_32x4x1") == 6
    assert count("clip_l14_k400_8x16x1") == 4


def test_global_batch_is_batch_per_gpu_x_8_x_accumulation():
    for name in NAMES:
        r = RECIPES[name]
        assert r.global_batch == r.batch_per_gpu * 8 * r.accumulation


def test_lr_at_the_global_batch_is_mmengines_auto_scale_lr():
    """mmengine Runner.scale_lr: lr x (world size x train_dataloader.batch_size) / base_batch_size when enabled."""
    for name in NAMES:
        r = RECIPES[name]
        real_bs = 8 * r.batch_per_gpu  # 8 GPUs; accumulative_counts is not counted
        want = r.lr * real_bs / r.base_batch if r.lr_scaling == "linear" else r.lr
        assert r.lr_for() == pytest.approx(want)
    assert RECIPES["clip_l14_k400_32x4x1"].lr_for() == pytest.approx(1.5e-4)  # 3e-4 x 16 / 32
    assert RECIPES["clip_l14_ssv2_u32"].lr_for() == pytest.approx(1.5e-4)
    assert RECIPES["clip_b16_k400_8x16x1"].lr_for() == pytest.approx(3e-4)
    k400 = RECIPES["clip_b16_k400_8x16x1"]
    assert k400.lr_for(32) == pytest.approx(1.5e-4)  # linear scaling from base 64
    assert RECIPES["clip_b16_hmdb51_u8"].lr_for(32) == pytest.approx(3e-4)  # auto_scale_lr disabled
    assert RECIPES["clip_l14_k400_32x4x1"].lr_for(128) == pytest.approx(6e-4)


def test_default_recipe_per_dataset_and_backbone():
    assert default_recipe("k400", "vit_base_patch16_clip_quickgelu_224") == "clip_b16_k400_8x16x1"
    assert default_recipe("kinetics100", "vit_large_patch14_clip_224") == "clip_l14_k400_8x16x1"
    assert default_recipe("ssv2_small", None) == "clip_b16_ssv2_u16"
    assert default_recipe("ssv2", "vit_large_patch14_clip_quickgelu_224") == "clip_l14_ssv2_u32"
    assert default_recipe("hmdb51", "vit_base_patch16_clip_224") == "clip_b16_hmdb51_u8"
    assert default_recipe("ucf101") == "clip_b16_ucf101_u8"
    assert default_recipe("toy", "vit_tiny_patch16_224") == "toy"
    assert default_recipe("list", "vit_base_patch16_clip_224") is None
    assert default_recipe("hmdb51", "vit_large_patch14_clip_224") is None


def test_unknown_recipe_is_a_one_line_error():
    with pytest.raises(UserError, match="unknown recipe 'nope'; use one of clip_b16_k400_8x16x1"):
        get_recipe("nope")


def test_recipes_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RECIPES["toy"].lr = 1.0


def test_markdown_table_has_one_column_per_recipe_and_one_row_per_field():
    lines = recipe_table_markdown().splitlines()
    assert all(line.count(" | ") == len(RECIPES) for line in lines if not line.startswith("| ---"))
    assert any(line.startswith("| stdha | -1:1,1:1 | -1:1,1:1,-2:1,2:1 |") for line in lines)
    assert "CLIP-L_sthv2_u32.py" in lines[2]


def test_docs_recipe_table_is_generated_from_the_module():
    """The docs page names the generated block; the mkdocs hook renders it from recipe_table_markdown."""
    import importlib.util

    docs = Path(__file__).resolve().parents[1] / "docs"
    assert "<!-- generate: recipes -->" in (docs / "supervised.md").read_text(encoding="utf-8")
    spec = importlib.util.spec_from_file_location("docs_hooks", docs / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    page = type("Page", (), {"file": type("F", (), {"src_path": "x.md"})()})()
    assert hooks.on_page_markdown("a\n<!-- generate: recipes -->\nb", page, None, None) == (
        "a\n" + recipe_table_markdown() + "\nb")


def test_fidelity_page_names_the_generated_recipe_tables():
    """docs/fidelity.md renders both tables from the code (the mkdocs hook's recipe-summary and recipes blocks)."""
    import importlib.util

    from zeroi2v.settings.recipes import recipe_summary_markdown

    docs = Path(__file__).resolve().parents[1] / "docs"
    text = (docs / "fidelity.md").read_text(encoding="utf-8")
    assert "<!-- generate: recipe-summary -->" in text and "<!-- generate: recipes -->" in text
    spec = importlib.util.spec_from_file_location("docs_hooks", docs / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    page = type("Page", (), {"file": type("F", (), {"src_path": "x.md"})()})()
    assert hooks.on_page_markdown("<!-- generate: recipe-summary -->", page, None, None) == recipe_summary_markdown()


def test_toy_recipe_is_the_toy_defaults_row():
    from zeroi2v.settings.defaults import DATASET_DEFAULTS, TOY_BACKBONE

    toy, row = RECIPES["toy"], DATASET_DEFAULTS["toy"]
    assert toy.backbone == TOY_BACKBONE and toy.frames == row.frames and toy.size == row.size
    assert toy.test_views == row.test_views and toy.sampling == row.sampling and toy.stdha == "-1:1,1:1"
    assert (toy.epochs, toy.global_batch, toy.lr, toy.weight_decay, toy.warmup_epochs) == \
        (row.epochs, row.batch_size, row.lr, row.weight_decay, row.warmup_epochs)
    assert (toy.head_dropout, toy.adapter_dropout, toy.adapter_scale) == \
        (row.head_dropout, row.adapter_dropout, row.adapter_scale)
    assert toy.flip == (0.5 if row.flip else 0.0) and toy.crop_area == row.crop_area
    assert parse_offsets(toy.stdha, num_heads=6) == parse_offsets(row.stdha, num_heads=6)


def test_recipe_kwargs_build_the_model_and_match_the_dataset_signature():
    import inspect

    import zeroi2v
    from zeroi2v.data.dataset import VideoClipDataset

    r = RECIPES["clip_b16_ssv2_u16"]
    model = zeroi2v.create_model(r.backbone, num_classes=3, img_size=32, patch_size=8, embed_dim=48, depth=1,
                                 num_heads=12, **r.model_kwargs())
    assert model.num_frames == 16 and model.adapter_config["scale"] == 1.0 and model.adapter_config["dropout"] == 0.0
    assert model.stdha_offsets == [-1, 1, -2, 2] + [0] * 8 and model.head_drop.p == 0.5
    params = inspect.signature(VideoClipDataset.__init__).parameters
    assert set(r.train_data_kwargs()) <= set(params) and set(r.test_data_kwargs()) <= set(params)
    assert r.train_data_kwargs()["erasing_mode"] == "const" and r.train_data_kwargs()["randaugment_after_flip"]
    assert r.test_data_kwargs()["short_side"] == 224 and (r.test_data_kwargs()["num_clips"], r.test_data_kwargs()["num_crops"]) == (1, 3)
    assert r.train_data_kwargs()["randaugment"] == (7, 4) and r.train_data_kwargs()["erasing"] == 0.25
