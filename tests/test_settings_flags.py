"""One flag per concept across every command: collect every parser and compare names, help texts and defaults."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from zeroi2v.settings import flags

REPO = Path(__file__).resolve().parents[1]

# dests whose help (and so default) legitimately differs between commands, each with the reason
ALLOWED = {
    "shots": "fewshot.run evaluates several shot counts (1,5); an episode set (episodes sample) and the bench time "
             "one K; all-way lists are written for several (2,4,8,16)",
    "out": "a run folder with a timestamped default (fewshot.run, zeroi2v.train); required where it is the only "
           "output (episodes allway, make-toy); optional where stdout is the output (results, zeroi2v.bench)",
    "num_workers": "the bench measures a list of DataLoader worker counts; make-toy's workers write videos",
    "frames": "the bench times a fixed model (no recipe: 8); make-toy generates videos of its own length",
    "size": "make-toy generates frames of its own size",
    "backbone": "the bench times random weights of a fixed default model (no recipe)",
    "batch_size": "the bench: one process, videos per timed forward, default 1 (no recipe)",
    "episodes_file": "read by fewshot.run, written by episodes sample: the same file format",
    "data_root": "episodes sample reads a root only where the split files live under it (toy, list)",
    "videos_per_class": "videos per class of generated data: make-toy's videos, the bench's synthetic feature cache",
}


def parsers() -> dict[str, argparse.ArgumentParser]:
    """Every command's parser (subcommands flattened), by program name."""
    from episodes.__main__ import build_parser as episodes_parser
    from fewshot.config import build_parser as run_parser
    from fewshot.data.__main__ import build_parser as data_parser
    from results.__main__ import build_parser as results_parser
    from zeroi2v.bench.config import build_parser as bench_parser
    from zeroi2v.train.cli import build_parser as train_parser

    top = {"python -m fewshot.run": run_parser(), "python -m fewshot.data": data_parser(),
           "python -m episodes": episodes_parser(), "python -m zeroi2v.train": train_parser(),
           "python -m zeroi2v.bench": bench_parser(), "python -m results": results_parser()}
    out = {}
    for prog, p in top.items():
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        out.update({f"{prog} {name}": sp for a in subs for name, sp in a.choices.items()} if subs else {prog: p})
    return out


def public(p: argparse.ArgumentParser):
    return [a for a in p._actions if a.option_strings and a.help != argparse.SUPPRESS
            and not isinstance(a, argparse._HelpAction)]


def _default(a: argparse.Action):
    return None if a.default is argparse.SUPPRESS or a.required else a.default


def test_every_command_is_collected():
    assert set(parsers()) == {"python -m fewshot.run", "python -m fewshot.data check", "python -m fewshot.data make-toy",
                              "python -m episodes sample", "python -m episodes allway", "python -m zeroi2v.train",
                              "python -m zeroi2v.bench", "python -m results"}


def test_one_name_one_help_one_default_per_concept():
    names, helps, defaults, dest_of = {}, {}, {}, {}
    for prog, p in parsers().items():
        for a in public(p):
            names.setdefault(a.dest, {}).setdefault(tuple(a.option_strings), []).append(prog)
            helps.setdefault(a.dest, {}).setdefault(a.help, []).append(prog)
            defaults.setdefault(a.dest, {}).setdefault(repr(_default(a)), []).append(prog)
            for o in a.option_strings:
                dest_of.setdefault(o, {}).setdefault(a.dest, []).append(prog)
    two_names = {d: v for d, v in names.items() if len(v) > 1}
    assert not two_names, f"one concept, two names: {two_names}"
    two_meanings = {o: v for o, v in dest_of.items() if len(v) > 1}
    assert not two_meanings, f"one name, two concepts: {two_meanings}"
    for table, what in ((helps, "help texts"), (defaults, "defaults")):
        differ = {d: v for d, v in table.items() if len(v) > 1 and d not in ALLOWED}
        assert not differ, f"one concept, two {what}: {differ}"


def test_shared_concepts_come_from_the_flags_module():
    """A flag spelled like a shared concept is built by zeroi2v.settings.flags (no hand-made copy)."""
    options = {f.option: f.dest for f in flags.FLAGS.values()}
    for prog, p in parsers().items():
        for a in public(p):
            for o in a.option_strings:
                if o in options:
                    assert getattr(a, "concept", None) == options[o], f"{prog} {o} is not built by flags.add"


@pytest.mark.parametrize("dest", ["amp", "on_error", "schedule", "sampling", "erasing_mode", "decoder", "loader",
                                  "split"])
def test_fixed_sets_use_choices(dest):
    seen = 0
    for prog, p in parsers().items():
        for a in public(p):
            if a.dest == dest:
                seen += 1
                assert a.choices, f"{prog} {a.option_strings}"
    assert seen


def test_help_shows_no_boolean_default_noise_and_states_what_runs():
    for prog, p in parsers().items():
        text = p.format_help()
        assert "(default: True)" not in text and "(default: False)" not in text and "(default: None)" not in text, prog
    train = parsers()["python -m zeroi2v.train"].format_help()
    # the values that run come from the recipe, not numbers a recipe overrides
    assert "default 8)" not in train and "default 30" not in train and "vit_base_patch16_clip_224" not in train
    assert train.count("the recipe's") >= 10


def test_every_command_reading_video_has_one_decoder_flag():
    for prog in ("python -m fewshot.run", "python -m fewshot.data check", "python -m zeroi2v.train",
                 "python -m zeroi2v.bench"):
        (a,) = [a for a in public(parsers()[prog]) if a.dest == "decoder"]
        assert a.option_strings == ["--decoder"] and a.choices == flags.DECODERS


def test_the_same_dataset_spellings_everywhere():
    from zeroi2v.settings.datasets import spellings

    for prog, p in parsers().items():
        for a in public(p):
            if a.dest == "dataset":
                assert spellings() in a.help, prog


def test_an_old_spelling_sets_the_new_field_with_one_note():
    p = argparse.ArgumentParser()
    flags.add(p, "num_workers")
    flags.add(p, "fold", old=("--split",))
    flags.NOTES.clear()
    args = p.parse_args(["--workers", "3", "--split", "2", "--workers", "4"])
    assert (args.num_workers, args.fold) == (4, 2)
    assert flags.NOTES == ["note: --workers is deprecated; use --num-workers", "note: --split is deprecated; use --fold"]
    assert "--workers" not in p.format_help() and "--split" not in p.format_help()
    flags.NOTES.clear()


def test_the_reference_lists_every_command_and_flag():
    ps = parsers()
    text = flags.reference_markdown(ps)
    for prog, p in ps.items():
        assert f"## `{prog}`" in text
        for a in public(p):
            assert f"`{a.option_strings[0]}`" in text
    assert "| `--decoder` | video decoder: auto = per file the fastest measured (PyAV for .avi and .webm, else decord, " \
           "else torchcodec, else PyAV), or one by name; choices: auto, decord, pyav, torchcodec | auto |" in text
    assert "| `--dataset` |" in text and "| required |" in text


def test_the_flags_module_imports_no_torch():
    r = subprocess.run([sys.executable, "-c", "import sys, zeroi2v.settings.flags, zeroi2v.settings.datasets, "
                        "zeroi2v.settings.runfolder; print('torch' in sys.modules)"], cwd=REPO, capture_output=True,
                       text=True)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr
