"""What the zeroi2v.train tests share (tests/test_train.py, tests/test_train_checks.py): the repository
root, a tiny ViT's --timm-kwargs, a 4-class toy dataset (module fixture) and the tiny run's flags."""
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY_MODEL = json.dumps(dict(patch_size=8, embed_dim=32, depth=2, num_heads=4))


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    from zeroi2v.data import ToyConfig, make_toy

    root = tmp_path_factory.mktemp("toy") / "toy"
    cfg = ToyConfig(num_classes=4, videos_per_class=6, test_per_class=2, frames=8, size=32, images_per_class=1)
    return make_toy(root, cfg, workers=1)  # 4 classes: 16 train, 8 test videos


def tiny_args(root, out, *extra, throughput: bool = True) -> list[str]:
    """zeroi2v.train flags of a tiny toy run into `out`; throughput=False adds --no-throughput."""
    return ["--dataset", "toy", "--data-root", str(root), "--frames", "4", "--batch-size", "4",
            "--timm-kwargs", TINY_MODEL, "--no-progress", "--out", str(out), "--pretrained", "none",
            *([] if throughput else ["--no-throughput"]), *map(str, extra)]
