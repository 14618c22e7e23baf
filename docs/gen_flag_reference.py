"""Write the complete flag reference (every command, every flag, its help and default) as Markdown.

    python docs/gen_flag_reference.py > docs/flag-reference.md     (or from a mkdocs hook: `reference()`)

The text comes from the parsers themselves (`zeroi2v.settings.flags.reference_markdown`), so it cannot drift.
"""
from __future__ import annotations

import sys


def parsers() -> dict:
    """Every command's parser, by program name (programs are imported here, outside the packages)."""
    from episodes.__main__ import build_parser as episodes_parser
    from fewshot.config import build_parser as run_parser
    from fewshot.data.__main__ import build_parser as data_parser
    from results.__main__ import build_parser as results_parser
    from zeroi2v.bench.config import build_parser as bench_parser
    from zeroi2v.train.cli import build_parser as train_parser

    return {"python -m fewshot.run": run_parser(), "python -m fewshot.data": data_parser(),
            "python -m episodes": episodes_parser(), "python -m zeroi2v.train": train_parser(),
            "python -m zeroi2v.bench": bench_parser(), "python -m results": results_parser()}


def reference() -> str:
    from zeroi2v.settings.flags import reference_markdown

    return reference_markdown(parsers())


if __name__ == "__main__":
    sys.stdout.write(reference())
