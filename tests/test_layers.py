"""The layering is enforced, not described: every import of every product module, walked with ast.

    library   zeroi2v (model, data, training, ...)   imports only itself (and third-party packages)
    middle    episodes, results                      import the library and themselves
    programs  fewshot, zeroi2v.train, zeroi2v.bench  import the library, the middle and themselves

Inside the library the sub-packages are layered too (`LIBRARY_RANK`, lower never imports higher,
equal ranks never import each other):

    utils                 nothing else of ours
    settings              utils
    data                  settings, utils
    model                 data, settings, utils (the toy ViT pre-trains on toy frames)
    methods               model and below
    training              methods and below
    zeroi2v (the facade)  everything in the library (its lazy exports)
"""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OURS = ("zeroi2v", "episodes", "results", "fewshot")
PROGRAMS = ("fewshot", "zeroi2v.train", "zeroi2v.bench")
LIBRARY_RANK = {"zeroi2v.utils": 0, "zeroi2v.settings": 1, "zeroi2v.data": 2, "zeroi2v.model": 3,
                "zeroi2v.methods": 4, "zeroi2v.training": 5, "zeroi2v": 6}


# Known violations, each named with the reason it is not fixed yet; a new one fails, and an entry
# whose import is gone fails too (so the list only shrinks).
KNOWN: dict[tuple[str, str], str] = {}


def unit(module: str) -> str:
    """The layer unit of a dotted module name: a program, a middle package, a library sub-package
    (`zeroi2v.model`, ...) or `zeroi2v` itself (the facade `zeroi2v/__init__.py`)."""
    for prog in PROGRAMS:
        if module == prog or module.startswith(prog + "."):
            return prog
    parts = module.split(".")
    if parts[0] == "zeroi2v" and len(parts) > 1 and f"zeroi2v.{parts[1]}" in LIBRARY_RANK:
        return f"zeroi2v.{parts[1]}"
    return parts[0]


def layer(u: str) -> int:
    return 2 if u in PROGRAMS else (0 if u.split(".")[0] == "zeroi2v" else 1)


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def is_module(mod: str, root: Path) -> bool:
    base = root.joinpath(*mod.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports(path: Path, root: Path = REPO) -> list[tuple[int, str, bool]]:
    """(line, absolute module imported, inside a try/except ImportError) for every import in the file;
    `from pkg import name` counts as an import of `pkg.name` when that is a module, else of `pkg`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                or isinstance(h.type, ast.Tuple) and any(getattr(e, "id", "") in ("ImportError", "ModuleNotFoundError")
                                                         for e in h.type.elts)
                for h in node.handlers):
            guarded |= {id(n) for b in node.body for n in ast.walk(b)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, id(node) in guarded) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            subs = [f"{mod}.{a.name}" for a in node.names if is_module(f"{mod}.{a.name}", root)]
            if len(subs) < len(node.names):  # some names are attributes (classes, functions) of `mod`
                out.append((node.lineno, mod, id(node) in guarded))
            out += [(node.lineno, s, id(node) in guarded) for s in subs]
    return out


def product_files(root: Path = REPO) -> list[Path]:
    return sorted(p for pkg in OURS for p in (root / pkg).rglob("*.py"))


def violations(root: Path = REPO) -> list[str]:
    """Every import of the tree under `root` that breaks the layering (see the module docstring)."""
    bad = []
    for path in product_files(root):
        src = unit(module_name(path, root))
        for line, mod, guarded in imports(path, root):
            if mod.split(".")[0] not in OURS:
                continue
            dst = unit(mod)
            where = f"{path.relative_to(root)}:{line} imports {mod}"
            if guarded:
                bad.append(f"{where} inside try/except ImportError")
            if dst == src:
                continue
            if layer(dst) > layer(src):
                bad.append(f"{where}: upward ({src} -> {dst})")
            elif layer(dst) == layer(src) and not (src in LIBRARY_RANK and dst in LIBRARY_RANK):
                bad.append(f"{where}: sideways ({src} -> {dst})")
            elif src in LIBRARY_RANK and dst in LIBRARY_RANK:
                if LIBRARY_RANK[dst] > LIBRARY_RANK[src]:
                    bad.append(f"{where}: upward in the library ({src} -> {dst})")
                elif LIBRARY_RANK[dst] == LIBRARY_RANK[src]:
                    bad.append(f"{where}: sideways in the library ({src} -> {dst})")
    return bad


def _known(v: str) -> bool:
    return any(v.startswith(f"{path}:") and f" imports {mod}:" in v for path, mod in KNOWN)


def test_product_imports_point_down_only():
    assert [v for v in violations() if not _known(v)] == []


def test_known_violations_still_exist():
    found = violations()
    assert [k for k in KNOWN if not any(v.startswith(f"{k[0]}:") and f" imports {k[1]}:" in v for v in found)] == []


@pytest.mark.parametrize("mod,expected", [
    ("zeroi2v", "zeroi2v"), ("zeroi2v.model.video", "zeroi2v.model"), ("zeroi2v.model", "zeroi2v.model"),
    ("zeroi2v.utils.errors", "zeroi2v.utils"), ("zeroi2v.settings.recipes", "zeroi2v.settings"),
    ("zeroi2v.data.listfile", "zeroi2v.data"), ("zeroi2v.training.engine", "zeroi2v.training"),
    ("zeroi2v.methods.table", "zeroi2v.methods"), ("zeroi2v.train.cli", "zeroi2v.train"),
    ("zeroi2v.train", "zeroi2v.train"), ("zeroi2v.bench", "zeroi2v.bench"), ("fewshot.run", "fewshot"),
    ("fewshot.data.__main__", "fewshot"), ("episodes.episode_set", "episodes"), ("results.records", "results")])
def test_units(mod, expected):
    assert unit(mod) == expected


def test_every_library_subpackage_has_a_rank():
    subs = {f"zeroi2v.{p.name}" for p in (REPO / "zeroi2v").iterdir() if (p / "__init__.py").is_file()}
    assert subs - set(PROGRAMS) - set(LIBRARY_RANK) == set()


@pytest.fixture
def tree_copy(tmp_path) -> Path:
    """A copy of the product packages' Python files: probes are written there, never into the source tree."""
    for pkg in OURS:
        shutil.copytree(REPO / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                        dirs_exist_ok=True)
    return tmp_path


def test_copied_tree_is_clean_and_source_untouched(tree_copy):
    assert [v for v in violations(tree_copy) if not _known(v)] == []
    assert not list(REPO.rglob("_layer_probe*"))


def test_walker_catches_an_upward_import(tree_copy):
    """A library module importing a program and a middle package: three upward imports."""
    (tree_copy / "zeroi2v" / "_layer_probe.py").write_text("from fewshot import run\nimport results.records\n")
    found = [v for v in violations(tree_copy) if "_layer_probe" in v]
    assert len(found) == 2 and all("upward" in f for f in found), found
    (tree_copy / "zeroi2v" / "_layer_probe.py").write_text("from fewshot import run, config\n")
    found = [v for v in violations(tree_copy) if "_layer_probe" in v]
    assert sorted(f.split(" imports ")[1].split(":")[0] for f in found) == ["fewshot.config", "fewshot.run"]


@pytest.mark.parametrize("where,source,expected", [
    ("utils", "from zeroi2v.model import video\n", "upward in the library (zeroi2v.utils -> zeroi2v.model)"),
    ("utils", "from zeroi2v.settings.defaults import AMP\n", "upward in the library"),
    ("settings", "import zeroi2v.data.common\n", "upward in the library (zeroi2v.settings -> zeroi2v.data)"),
    ("data", "from ..training import engine\n", "upward in the library (zeroi2v.data -> zeroi2v.training)"),
    ("model", "from zeroi2v.training.engine import to_input\n", "upward in the library"),
    ("methods", "from zeroi2v.training import trainer\n", "upward in the library (zeroi2v.methods -> zeroi2v.training)"),
    ("data", "from zeroi2v.model import video\n", "upward in the library (zeroi2v.data -> zeroi2v.model)"),
    ("model", "import zeroi2v\n", "upward in the library (zeroi2v.model -> zeroi2v)"),
    ("model", "from episodes import sampler\n", "upward (zeroi2v.model -> episodes)"),
    ("data", "try:\n    from zeroi2v.utils import io\nexcept ImportError:\n    io = None\n", "inside try/except"),
])
def test_walker_catches_library_subpackage_violations(tree_copy, where, source, expected):
    (tree_copy / "zeroi2v" / where / "_layer_probe.py").write_text(source)
    found = [v for v in violations(tree_copy) if "_layer_probe" in v]
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize("where,source", [("methods", "from zeroi2v.model.video import create_model\n"),
                                          ("data", "from zeroi2v.settings import defaults\n"),
                                          ("model", "from ..data import transforms\n"),
                                          ("training", "from zeroi2v.methods.table import METHODS\n")])
def test_walker_allows_downward_library_imports(tree_copy, where, source):
    (tree_copy / "zeroi2v" / where / "_layer_probe.py").write_text(source)
    assert [v for v in violations(tree_copy) if "_layer_probe" in v] == []


def test_no_product_file_over_400_lines():
    long = [f"{p.relative_to(REPO)}: {n}" for p in product_files()
            if (n := len(p.read_text().splitlines())) > 400]
    assert long == []
