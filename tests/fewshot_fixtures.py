"""What the fewshot.run tests share (tests/test_fewshot_run.py, tests/test_methods_programs.py): a tiny ViT's
--timm-kwargs and a 9-class few-shot toy (3 base / 3 val / 3 novel classes, 6 videos each)."""
import json

from tiny import TINY

TINY_VIT = json.dumps(TINY)


def make_fewshot_toy(tmp_path_factory):
    """The toy's root, generated in a fresh temp folder (call from a module-scoped fixture)."""
    from zeroi2v.data import ToyConfig, make_toy

    root = tmp_path_factory.mktemp("toy") / "data"
    make_toy(root, ToyConfig(num_classes=9, class_split=(3, 3, 3), videos_per_class=6, test_per_class=2,
                             frames=8, size=32, images_per_class=4))
    return root
