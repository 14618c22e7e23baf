"""One flag per concept: the suite's command-line flags as data, and the argument groups every command builds from.

    p = ArgumentParser(prog="python -m fewshot.run")
    flags.add_group(p, "data", "dataset", "data_root", "decoder")
    flags.add_group(p, "device", "device", "amp", "num_workers")

Each concept (`FLAGS`) has one option name, one help text (ending in its default) and one default
(None = "not set": the command fills it, from the recipe or the dataset's record). Groups (`GROUPS`)
order the concepts in --help: data, model, training, device, output. Old spellings (`Flag.old`)
keep working for one release: they set the same field and print one line, `note: --X is deprecated;
use --Y` (`emit_notes`, called by a command once its checks have passed).

`--batch-size` is global everywhere: videos per forward pass summed over all processes (an
optimizer step sees --batch-size x --accum videos); `--fold` is the official train/test fold,
`--split` a few-shot split (train, val, test); `--out` is always a folder (`run_folder`), a single
file output has its own name (`--json`, `--episodes-file`).

`reference_markdown(parsers)` renders every command's flags (help and default) as Markdown for the docs.
Importing this module does not import torch.
"""
from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass, field

from zeroi2v.settings.defaults import AMP, LOADERS
from zeroi2v.utils.errors import json_object

DECODERS = ("auto", "decord", "pyav", "torchcodec")  # zeroi2v.data.decode.DECODERS (that module imports numpy)
ON_ERROR = ("error", "skip")
SCHEDULES = ("cosine", "cosine_epoch")
SAMPLINGS = ("uniform", "dense", "tsn")  # zeroi2v.data.sampling
ERASING_MODES = ("const", "rand")
NOTES: list[str] = []  # deprecation notes of the current parse, printed by emit_notes


def ints(s: str) -> tuple[int, ...]:
    """`1,5` -> (1, 5)."""
    try:
        return tuple(int(x) for x in s.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a comma-separated list of integers") from None


def names(s: str) -> tuple[str, ...]:
    """`a, b` -> ("a", "b")."""
    return tuple(x.strip() for x in s.split(",") if x.strip())


def finite(s: str) -> float:
    try:
        x = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"{s!r} is not a finite number")
    return x


@dataclass(frozen=True)
class Flag:
    """One concept on the command line. `kwargs`: add_argument's type/choices/action/metavar/nargs."""

    option: str
    dest: str
    help: str
    kwargs: dict = field(default_factory=dict)
    old: tuple[str, ...] = ()  # deprecated spellings (one release)


def _f(option: str, help: str, *, dest: str | None = None, old: tuple[str, ...] = (), **kwargs) -> Flag:
    return Flag(option=option, dest=dest or option.lstrip("-").replace("-", "_"), help=help, kwargs=kwargs, old=old)


def _dataset_help() -> str:
    from zeroi2v.settings.datasets import spellings

    return (f"dataset: {spellings()} (names in brackets are spellings of the same videos) (default: fewshot.run: toy_time, "
            f"the generated time-only demo set; zeroi2v.train: the --recipe's or --config's; required elsewhere)")


R = "(default: the recipe's; see --list-recipes)"
_ALL = (
    # data
    _f("--dataset", "__dataset__"),
    _f("--data-root", "dataset root (default: $ZEROI2V_<DATASET>_ROOT; toy: the generated set in the cache)",
       metavar="DIR"),
    _f("--fold", "official train/test fold of the dataset (HMDB51/UCF101: 1, 2, 3; others 1) (default: 1)",
       type=int, old=("--split", "--list-fold")),
    _f("--split", "few-shot split: train (base classes), val or test (novel classes) (default: test)",
       choices=("train", "val", "test")),
    _f("--decoder", "video decoder: auto = per file the fastest measured (PyAV for .avi and .webm, else decord, "
                    "else torchcodec, else PyAV), or one by name (default: auto)", choices=DECODERS),
    _f("--on-error", "unreadable or missing videos: stop (error) or leave them out (skip) (default: error)",
       choices=ON_ERROR),
    _f("--loader", "what loader workers hand over: float32 (normalised on the worker), uint8 (normalised on "
                   "the device; same numbers) or uint8+fast (also resized in uint8, within one grey level) "
                   "(default: the dataset's: uint8+fast on real data, float32 on toy)", choices=tuple(LOADERS)),
    _f("--frames", f"frames per clip {R}", type=int),
    _f("--size", "frame size in pixels (default: the recipe's, else the backbone's input size; toy: its frames')",
       type=int),
    _f("--sampling", f"frame sampling: uniform (mmaction2 UniformSample), dense (SampleFrames, at --interval) or "
                     f"tsn (TSN segments, the toy's) {R}",
       choices=SAMPLINGS),
    _f("--interval", f"frame interval of dense sampling {R}", type=int),
    _f("--test-views", f"test views CLIPSxCROPS, e.g. 1x3 (softmax averaged per video) {R}"),
    # model
    _f("--recipe", "start from this recipe (see --list-recipes), or none (the dataset's defaults row) "
                   "(default: the original config of the dataset and backbone size; toy on toy)"),
    _f("--list-recipes", "print the recipe table and exit (default: off)", action="store_true"),
    _f("--backbone", f"timm ViT name {R}"),
    _f("--timm-kwargs", "JSON object of timm.create_model arguments, e.g. '{\"img_size\": 112}' (default: the toy "
                        "ViT's on toy with its backbone, else none)", type=json_object, old=("--model-kwargs",)),
    _f("--pretrained", "local image weights: OpenAI CLIP .pt, timm .pth/.safetensors (zeroi2v.train also takes none: "
                       "random init) (default: on toy the tiny ViT image-pretrained on toy frames, cached; required "
                       "on real data)"),
    _f("--methods", "methods, comma-separated, from the method registry (zeroi2v.methods: frozen, full_finetune, aim, "
                    "st_adapter, zeroi2v_no_stdha, zeroi2v); zeroi2v.train trains one per run (default: frozen,"
                    "zeroi2v_no_stdha,zeroi2v; zeroi2v.train: zeroi2v)", type=names,
       old=("--method",)),
    _f("--stdha", f"STDHA offsets: default, ssv2, none or '-1:1,1:1' (offset:heads) {R}"),
    _f("--adapter-scale", f"adapter output scale {R}", type=float),
    _f("--adapter-dropout", f"adapter dropout {R}", type=float),
    _f("--head-dropout", f"dropout before the classifier head {R}", type=float),
    # training
    _f("--epochs", f"training (adaptation) epochs, at least 1 {R}", type=int),
    _f("--batch-size", "videos per forward pass, summed over all processes (global); an optimizer step sees "
                       "--batch-size x --accum videos (default: the recipe's batch per GPU x processes)",
       type=int, old=("--batch",)),
    _f("--accum", "micro-batches per optimizer step (default: the recipe's global batch / --batch-size)", type=int),
    _f("--lr", "peak learning rate, > 0 (default: the recipe's at the global batch)", type=finite),
    _f("--weight-decay", f"AdamW weight decay {R}", type=finite),
    _f("--warmup-epochs", "linear warm-up length in epochs (default: the recipe's, at most a quarter of --epochs)",
       type=finite),
    _f("--warmup-start", f"warm-up starts at this fraction of --lr {R}", type=finite),
    _f("--schedule", f"cosine (per optimizer step) or cosine_epoch (per epoch, the originals) {R}",
       choices=SCHEDULES),
    _f("--label-smoothing", f"label smoothing of the training loss {R}", type=finite),
    _f("--erasing-mode", f"RandomErasing fill: const (grey) or rand (random pixels) {R}", choices=ERASING_MODES),
    _f("--seed", "random seed: episodes, data order, model initialisation, generated data (default: 0)", type=int),
    _f("--seeds", "several seeds, e.g. 0,1,2: one run each under <out>/seed<S>, one table over seeds (default: "
                  "the single --seed)", type=ints),
    _f("--shots", "K support videos per class, or a list such as 1,5 (default: 1,5)", type=ints),
    _f("--ways", "N classes per episode, at least 2 (default: 5)", type=int),
    _f("--queries", "query videos per class in an episode (default: 1)", type=int),
    _f("--episodes", "episodes per shot count (default: 10000)", type=int),
    _f("--episodes-file", "episode set file (JSONL, python -m episodes sample) (default: none)", metavar="FILE"),
    # device
    _f("--device", "auto (a GPU when torch sees one, else cpu), cpu, cuda, cuda:N (default: auto)"),
    _f("--amp", "precision on CUDA: auto = fp16 = float16 with loss scaling (the originals' AmpOptimWrapper), bf16 "
                "only when asked, none = float32; CPU: float32 (default: auto)",
       choices=AMP),
    _f("--num-workers", "DataLoader worker processes per process; 0 loads in the main process (default: 0 on toy, "
                        "whose frames are kept decoded; else min(8, cores per process - 1))", type=int,
       old=("--workers", "--data-workers")),
    _f("--threads", "CPU intra-op threads of torch (default: torch's; toy training: 1)", type=int),
    # output
    _f("--out", "output folder; an existing non-empty one is refused unless --resume (default: "
                "runs/<program>-<dataset>-<time>)", metavar="DIR"),
    _f("--resume", "continue the run in --out: finished stages are kept, interrupted ones continue (default: off)",
       action="store_true"),
    _f("--config", "replay a run's saved config.json (or a result record's config); flags given beside it "
                   "override single fields (default: none)", metavar="FILE"),
    _f("--json", "also write the report as JSON to this file (default: none)", metavar="FILE"),
    _f("--cache-dir", "feature and weight cache (default: $ZEROI2V_CACHE or ~/.cache/zeroi2v)", metavar="DIR"),
    _f("--tensorboard", "also write TensorBoard event files to <out>/tensorboard (needs tensorboard) (default: off)",
       action="store_true"),
    _f("--wandb", "also log the metrics to this Weights & Biases project (needs wandb; offline unless WANDB_MODE "
                  "or an API key says otherwise) (default: none)", metavar="PROJECT"),
)
FLAGS: dict[str, Flag] = {f.dest: f for f in _ALL}
GROUPS = {
    "data": ("dataset", "data_root", "fold", "split", "decoder", "on_error", "loader", "frames", "size", "sampling",
             "interval", "test_views"),
    "model": ("recipe", "list_recipes", "backbone", "timm_kwargs", "pretrained", "methods", "stdha", "adapter_scale",
              "adapter_dropout", "head_dropout"),
    "training": ("epochs", "batch_size", "accum", "lr", "weight_decay", "warmup_epochs", "warmup_start", "schedule",
                 "label_smoothing", "erasing_mode", "seed", "seeds", "shots", "ways", "queries", "episodes",
                 "episodes_file"),
    "device": ("device", "amp", "num_workers", "threads"),
    "output": ("out", "resume", "config", "json", "cache_dir", "tensorboard", "wandb"),
}
assert sorted(d for g in GROUPS.values() for d in g) == sorted(FLAGS), "every flag is in one group"


def help_of(dest: str) -> str:
    h = FLAGS[dest].help
    return _dataset_help() if h == "__dataset__" else h


class _Deprecated(argparse.Action):
    """An old spelling: does what the new flag does and queues `note: --old is deprecated; use --new`."""

    def __init__(self, option_strings, dest, *, new: str, base: type, **kwargs):
        self._base = base(option_strings, dest, **kwargs)
        super().__init__(option_strings, dest, nargs=self._base.nargs, const=self._base.const,
                         default=self._base.default, type=self._base.type, choices=self._base.choices,
                         help=argparse.SUPPRESS, metavar=self._base.metavar)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None):
        note(f"{option_string} is deprecated; use {self.new}")
        self._base(parser, namespace, values, option_string)


def note(text: str) -> None:
    if f"note: {text}" not in NOTES:
        NOTES.append(f"note: {text}")


def emit_notes() -> None:
    """Print the queued deprecation notes (one line each, stderr) and clear them."""
    import sys

    for line in NOTES:
        print(line, file=sys.stderr)
    NOTES.clear()


def add(container, dest: str, *, default=None, required: bool = False, old: tuple[str, ...] | None = None,
        help: str | None = None, **extra) -> argparse.Action:
    """Add one concept's flag (and its old spellings) to a parser or argument group. `default`: the
    parser default (None = not set; the parser's argument_default applies when None is not wanted).
    `old`: which old spellings this command keeps (default: all of the concept's). `help`: only where a
    command must give the concept another default (listed, with the reason, in tests/test_settings_flags.py)."""
    f = FLAGS[dest]
    kwargs = {**f.kwargs, **extra}
    if required:
        kwargs["required"] = True
    elif default is not None or not isinstance(getattr(container, "argument_default", None), str):
        kwargs.setdefault("default", default)
    action = container.add_argument(f.option, dest=dest, help=help or help_of(dest), **kwargs)
    action.concept = dest
    for spelling in (f.old if old is None else old):
        base = container._registry_get("action", kwargs.get("action"), kwargs.get("action"))
        alias = {k: v for k, v in kwargs.items() if k not in ("action", "required")}
        container.add_argument(spelling, dest=dest, action=_Deprecated, new=f.option, base=base, **alias)
    return action


def add_group(parser: argparse.ArgumentParser, title: str, *dests: str, **defaults) -> argparse._ArgumentGroup:
    """An argument group `title` (data, model, training, device, output) with these concepts, in the
    group's order; `defaults`: dest -> parser default for this command."""
    unknown = [d for d in dests if d not in GROUPS[title]]
    if unknown:
        raise ValueError(f"{unknown} are not {title} flags")
    g = parser.add_argument_group(title)
    g.argument_default = parser.argument_default
    for dest in sorted(dests, key=GROUPS[title].index):
        add(g, dest, default=defaults.get(dest))
    return g


def parents(*titles_and_dests: tuple[str, tuple[str, ...]]) -> list[argparse.ArgumentParser]:
    """`parents=` parsers (dinov2/timm style): one add_help=False parser per (title, dests)."""
    out = []
    for title, dests in titles_and_dests:
        p = argparse.ArgumentParser(add_help=False)
        add_group(p, title, *dests)
        out.append(p)
    return out


_DEFAULT = re.compile(r"\s*\((?:default: (?P<default>.*)|(?P<required>required))\)$")  # a help text's last bracket


def reference_markdown(parsers: dict[str, argparse.ArgumentParser], *, level: int = 1) -> str:
    """The complete flag reference: one table per command (and subcommand), every flag with its help
    and default, as Markdown (the docs page is generated from this); `level`: the heading level."""
    h = "#" * level
    out = [f"{h} Flag reference", "", "Generated from the parsers (`zeroi2v.settings.flags.reference_markdown`).", ""]
    for prog, parser in parsers.items():
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        targets = [(f"{prog} {name}", sp) for a in subs for name, sp in a.choices.items()] or [(prog, parser)]
        for title, p in targets:
            out += [f"{h}# `{title}`", "", "| flag | help | default |", "|---|---|---|"]
            for a in p._actions:
                if a.help == argparse.SUPPRESS or isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
                    continue
                name = ", ".join(f"`{o}`" for o in a.option_strings) or f"`{a.metavar or a.dest}`"
                text = (a.help or "").replace("|", "\\|").replace("\n", " ")
                default = "" if a.default in (None, argparse.SUPPRESS, False, True) else f"`{a.default}`"
                m = _DEFAULT.search(text)
                if m:  # the help's own "(default: ...)" goes to the default column
                    text, default = text[:m.start()], m.group("default") or "required"
                elif a.required:
                    default = "required"
                if a.choices and not isinstance(a.choices, dict):
                    text += f"; choices: {', '.join(map(str, a.choices))}"
                out.append(f"| {name} | {text} | {default} |")
            out.append("")
    return "\n".join(out)

