"""Datasets as records: one frozen `DatasetRecord` per dataset, the one place every command resolves
dataset names, aliases and per-dataset defaults.

    rec = find("kinetics")                 # -> the k400 record (names, aliases, the reader name all resolve)
    fewshot_name("ssv2")                   # -> "ssv2_full", the record's first few-shot split set
    rec.defaults.frames, rec.recipe_for("vit_large_patch14_clip_224")

A record names its reader by module path (imported only when videos are read, so this module
imports no torch), the environment variable holding its root, its few-shot split sets (shipped
split files under `episodes/splits/<name>/`, or a folder of your own, or -- `path=None` -- split
files under the data root), how a split line's `<video>` part becomes a video id, its class count,
whether a horizontal flip swaps left/right classes, the recipe per backbone size and the row of
defaults an unset flag takes (`zeroi2v.settings.defaults.DatasetDefaults`: frames, STDHA, test
views, sampling, ...).

Adding a dataset = a reader module (layout, annotations, video ids, `READER`) + one record here
(+ its few-shot split files). `register` adds a record at run time (tests, plug-ins). Worked example
(tests/test_settings_datasets.py runs it through fewshot.run and zeroi2v.train):

    # zeroi2v/data/folders.py: list_split(root, split, *, fold, bad) -> [VideoItem], and
    READER = Reader(name="folders", env="ZEROI2V_FOLDERS_ROOT", splits=("train", "test"), folds=(1,),
                    list_split=list_split, layout="videos/<class>/<file>.mp4")
    # here, in RECORDS:
    DatasetRecord(name="folders", reader="folders", reader_module="zeroi2v.data.folders",
                  env="ZEROI2V_FOLDERS_ROOT", fewshot=(FewShotSplits("folders", "folders"),), num_classes=9)
    # episodes/splits/folders/{train,val,test}.txt: lines "train0//videos/<class>/<file>.mp4"
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from zeroi2v.settings.defaults import REAL_BACKBONE, TOY_BACKBONE, DatasetDefaults
from zeroi2v.settings.recipes import FEWSHOT_CHANGES, RECIPES
from zeroi2v.utils.errors import UserError

ID_STYLES = ("class_file", "numeric", "youtube")


@dataclass(frozen=True)
class FewShotSplits:
    """One few-shot benchmark cut from a dataset's videos: train / val / test (base / val / novel) split files.

    `path`: a folder of `train.txt`, `val.txt`, `test.txt` -- relative: under `episodes/splits/`,
    absolute: your own; None: the files live under the data root (toy: `<root>/splits/`, a list
    dataset: `<root>/<split>.txt` in its own list format)."""

    name: str
    path: str | None


@dataclass(frozen=True)
class DatasetRecord:
    name: str
    reader: str  # the zeroi2v.data reader's name (its Reader.name; also a spelling of this dataset)
    reader_module: str  # module holding `READER`, imported on first use
    env: str  # environment variable holding the dataset root
    aliases: tuple[str, ...] = ()
    fewshot: tuple[FewShotSplits, ...] = ()  # the first is what the dataset's name means in fewshot.run
    split_ids: str = "class_file"  # split line `<video>` -> id: "<class>/<file>", "numeric" (SSv2), "youtube" (K400)
    num_classes: int | None = None  # None: set by the data (toy, list)
    flip_label_map: bool = False  # a horizontal flip swaps left/right classes (SSv2)
    recipe: str | None = None  # zeroi2v.settings.recipes name for ViT-B (and every size but ViT-L)
    recipe_large: str | None = None  # for ViT-L backbones (name containing "large")
    backbone: str = REAL_BACKBONE  # the backbone without a recipe
    defaults: DatasetDefaults = field(default_factory=DatasetDefaults)
    fixture: str | None = None  # the generated-video kind (zeroi2v.data.fixtures) shaped like these videos
    peer_variant: str = "k400"  # the peers' (AIM, ST-Adapter) published configuration for these videos

    @property
    def names(self) -> tuple[str, ...]:
        """Every spelling of this dataset: its name, aliases, reader name and few-shot split-set names."""
        return tuple(dict.fromkeys((self.name, *self.aliases, self.reader, *(s.name for s in self.fewshot))))

    def recipe_for(self, backbone: str | None) -> str | None:
        """The recipe for a backbone: ViT-L (a name containing "large") or every other size."""
        return self.recipe_large if backbone and "large" in backbone else self.recipe

    @property
    def split_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.fewshot)


_REAL = DatasetDefaults()
_TOY, _TOY_FS = RECIPES["toy"], FEWSHOT_CHANGES["toy"]  # the toy's values live in its recipe
RECORDS: dict[str, DatasetRecord] = {r.name: r for r in (
    # toy classes are directions (left/right, cw/ccw): never mirrored; the six val classes stay at chance
    # for every method and epoch (measured), so few-shot adaptation keeps the last epoch
    DatasetRecord(name="toy", reader="toy", reader_module="zeroi2v.data.toy", env="ZEROI2V_TOY_ROOT",
                  fewshot=(FewShotSplits("toy", None),), recipe="toy", recipe_large="toy", backbone=TOY_BACKBONE,
                  defaults=DatasetDefaults(size=_TOY.size, test_views=_TOY.test_views, sampling=_TOY.sampling,
                                           epochs=_TOY.epochs, batch_size=_TOY.batch_per_gpu, lr=_TOY.lr,
                                           weight_decay=_TOY.weight_decay, warmup_epochs=_TOY.warmup_epochs,
                                           head_dropout=_TOY.head_dropout, adapter_dropout=_TOY.adapter_dropout,
                                           adapter_scale=_TOY.adapter_scale, flip=_TOY.flip > 0,
                                           crop_area=_TOY.crop_area, keep_decoded=True, adapt_keep=_TOY.keep,
                                           adapt_epochs=_TOY_FS["epochs"], adapt_batch_size=_TOY_FS["batch_per_gpu"],
                                           adapt_warmup_epochs=_TOY_FS["warmup_epochs"], loader="float32")),
    DatasetRecord(name="ssv2", reader="ssv2", reader_module="zeroi2v.data.ssv2", env="ZEROI2V_SSV2_ROOT",
                  fewshot=(FewShotSplits("ssv2_full", "ssv2_full"), FewShotSplits("ssv2_small", "ssv2_small")),
                  split_ids="numeric", num_classes=174, flip_label_map=True, recipe="clip_b16_ssv2_u16",
                  recipe_large="clip_l14_ssv2_u32", fixture="ssv2", peer_variant="ssv2",
                  defaults=replace(_REAL, test_views="2x3", test_split="val", stdha="ssv2", epochs=50)),
    DatasetRecord(name="k400", reader="kinetics", reader_module="zeroi2v.data.kinetics", env="ZEROI2V_KINETICS_ROOT",
                  aliases=("kinetics400", "k100"), fewshot=(FewShotSplits("kinetics100", "kinetics100"),),
                  split_ids="youtube", num_classes=400, recipe="clip_b16_k400_8x16x1",
                  recipe_large="clip_l14_k400_8x16x1", fixture="kinetics",
                  defaults=replace(_REAL, sampling="dense", interval=16, test_split="val")),
    DatasetRecord(name="hmdb51", reader="hmdb51", reader_module="zeroi2v.data.hmdb51", env="ZEROI2V_HMDB51_ROOT",
                  fewshot=(FewShotSplits("hmdb51", "hmdb51"),), num_classes=51, recipe="clip_b16_hmdb51_u8",
                  fixture="hmdb"),
    DatasetRecord(name="ucf101", reader="ucf101", reader_module="zeroi2v.data.ucf101", env="ZEROI2V_UCF101_ROOT",
                  fewshot=(FewShotSplits("ucf101", "ucf101"),), num_classes=101, recipe="clip_b16_ucf101_u8"),
    # your own videos: <root>/train.txt, val.txt, test.txt (+ classes.txt); no original recipe. The originals'
    # lr 3e-4 with dropout 0.1/0.5 and adapter scale 0.5 leaves a small non-CLIP ViT at chance (measured: toy
    # videos as a list, the tiny toy ViT, 10 epochs: train top-1 9.4% vs chance 6.25%, p = 0.018); no dropout,
    # adapter scale 1 and lr 1e-3 learn (19.1%, p < 1e-6; docs/fidelity.md)
    DatasetRecord(name="list", reader="list", reader_module="zeroi2v.data.listfile", env="ZEROI2V_LIST_ROOT",
                  fewshot=(FewShotSplits("list", None),),
                  defaults=replace(_REAL, lr=1e-3, head_dropout=0.0, adapter_dropout=0.0, adapter_scale=1.0)),
    # the time-only toy (zeroi2v.data.toy_time): every frame is distributed alike in every class, the classes
    # are learnable from frame pairs, so the epoch is selected on its val classes; clips hold every frame exactly
    # once (dense, interval 1: the originals' uniform sampling of 8 from 8 frames reads [0,1,2,3,4,4,5,6], which
    # drops one frame and doubles another, and so leaks the order to an order-blind model: measured 30.0 % for
    # the frozen model, 5-way 5-shot finetune) and are never cropped nor mirrored; no recipe: this row
    DatasetRecord(name="toy_time", reader="toy_time", reader_module="zeroi2v.data.toy_time_reader",
                  env="ZEROI2V_TOY_TIME_ROOT", fewshot=(FewShotSplits("toy_time", None),), backbone=TOY_BACKBONE,
                  defaults=DatasetDefaults(size=None, test_views="1x1", sampling="dense", interval=1, epochs=20, batch_size=16, lr=2e-3,
                                           head_dropout=0.0, adapter_dropout=0.0, adapter_scale=1.0, flip=False,
                                           crop_area=(1.0, 1.0), keep_decoded=True, adapt_keep="best",
                                           adapt_epochs=30, adapt_batch_size=8, loader="float32",
                                           stdha="-1:1,1:1")),
)}
SHIPPED = tuple(RECORDS)


def register(record: DatasetRecord) -> DatasetRecord:
    """Add a dataset at run time; its spellings must not collide with another dataset's."""
    if record.split_ids not in ID_STYLES:
        raise ValueError(f"split_ids {record.split_ids!r} is not one of {ID_STYLES}")
    taken = {n: r.name for r in RECORDS.values() if r.name != record.name for n in r.names}
    clash = [n for n in record.names if n in taken]
    if clash:
        raise ValueError(f"dataset {record.name!r}: the name {clash[0]!r} already means {taken[clash[0]]!r}")
    RECORDS[record.name] = record
    return record


def unregister(name: str) -> None:
    """Remove a dataset added with `register` (the shipped ones stay)."""
    if name not in SHIPPED:
        RECORDS.pop(name, None)


def spellings() -> str:
    """The accepted spellings, for help texts and errors: "toy, ssv2 (ssv2_full, ssv2_small), ..."."""
    return ", ".join(r.name + (f" ({', '.join(r.names[1:])})" if len(r.names) > 1 else "") for r in RECORDS.values())


def find(name: str, *, what: str = "dataset") -> DatasetRecord:
    """The record of a dataset name, alias, reader name or few-shot split-set name; one-line UserError otherwise."""
    for r in RECORDS.values():
        if name in r.names:
            return r
    raise UserError(f"unknown {what} {name!r}; use one of {spellings()}")


def fewshot_names() -> tuple[str, ...]:
    return tuple(s.name for r in RECORDS.values() for s in r.fewshot)


def fewshot_name(name: str, *, what: str = "few-shot dataset") -> str:
    """The few-shot split set a name means: itself if it names one, else its dataset's first ("ssv2" -> "ssv2_full")."""
    r = find(name, what=what)
    if name in r.split_names:
        return name
    if not r.fewshot:
        raise UserError(f"unknown {what} {name!r}: {r.name} has no few-shot splits; use one of "
                        f"{', '.join(fewshot_names())}")
    return r.fewshot[0].name


def fewshot_splits(name: str) -> tuple[DatasetRecord, FewShotSplits]:
    """(record, split set) of a few-shot dataset name."""
    split_name = fewshot_name(name)
    r = find(split_name)
    return r, next(s for s in r.fewshot if s.name == split_name)


def defaults_for(name: str) -> DatasetDefaults:
    """The defaults row of any spelling of a dataset."""
    return find(name).defaults


def fixture_recipes() -> dict[str, str]:
    """Generated-video kind -> the recipe of the dataset it imitates (the data-path benchmark's transforms)."""
    return {r.fixture: r.recipe for r in RECORDS.values() if r.fixture and r.recipe}
