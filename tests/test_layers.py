"""The layering is enforced, not described: every import of every product module, walked with ast.

    library   zeroi2v (model, data, engine, ...)   imports only itself (and third-party packages)
    middle    episodes, results                    import the library and themselves
    programs  fewshot, zeroi2v.train, zeroi2v.bench  import the library, the middle and themselves
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OURS = ("zeroi2v", "episodes", "results", "fewshot")
PROGRAMS = ("fewshot", "zeroi2v.train", "zeroi2v.bench")


def unit(module: str) -> str:
    """The layer unit a dotted module name belongs to: a program, 'zeroi2v' (the library), or a middle package."""
    for prog in PROGRAMS:
        if module == prog or module.startswith(prog + "."):
            return prog
    return module.split(".")[0]


def layer(u: str) -> int:
    return 2 if u in PROGRAMS else (0 if u == "zeroi2v" else 1)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path) -> list[tuple[int, str, bool]]:
    """(line, absolute module imported, inside a try/except ImportError) for every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = module_name(path)
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
            out.append((node.lineno, mod, id(node) in guarded))
            # `from zeroi2v import train` names a submodule
            out += [(node.lineno, f"{mod}.{a.name}", id(node) in guarded) for a in node.names]
    return out


def product_files() -> list[Path]:
    return sorted(p for pkg in OURS for p in (REPO / pkg).rglob("*.py"))


def violations() -> list[str]:
    bad = []
    for path in product_files():
        src = unit(module_name(path))
        for line, mod, guarded in imports(path):
            if mod.split(".")[0] not in OURS:
                continue
            if mod.count(".") and mod.rpartition(".")[0] and mod.rpartition(".")[2][:1].isupper():
                continue  # `from pkg import Name` also yields pkg.Name: a class, not a module
            dst = unit(mod)
            where = f"{path.relative_to(REPO)}:{line} imports {mod}"
            if guarded:
                bad.append(f"{where} inside try/except ImportError")
            if dst == src:
                continue
            if layer(dst) > layer(src):
                bad.append(f"{where}: upward ({src} -> {dst})")
            elif layer(dst) == layer(src):
                bad.append(f"{where}: sideways ({src} -> {dst})")
    return bad


def test_product_imports_point_down_only():
    assert violations() == []


@pytest.mark.parametrize("mod,expected", [("zeroi2v.model.video", "zeroi2v"), ("zeroi2v.train.cli", "zeroi2v.train"),
                                          ("zeroi2v.bench", "zeroi2v.bench"), ("fewshot.run", "fewshot"),
                                          ("results.records", "results")])
def test_units(mod, expected):
    assert unit(mod) == expected


def test_walker_catches_an_upward_import(tmp_path, monkeypatch):
    """The walker itself: a library module importing a program is reported."""
    fake = REPO / "zeroi2v" / "_layer_probe_tmp.py"
    fake.write_text("from fewshot import run\nimport results.records\n")
    try:
        found = [v for v in violations() if "_layer_probe_tmp" in v]
    finally:
        fake.unlink()
    assert len(found) == 3 and all("upward" in f for f in found)


def test_no_product_file_over_400_lines():
    long = [f"{p.relative_to(REPO)}: {n}" for p in product_files()
            if (n := len(p.read_text().splitlines())) > 400]
    assert long == []
