"""Episode sets of a run, the episodes a method's features can answer, records and this run's table.

- `episode_sets`: the given --episodes-file (validated against the dataset's test split) or one
  sampled set per shot count (written only by `write_episode_sets`, after every check passed).
- `answerable`: episodes whose every video has features; episodes needing a skipped (unreadable)
  video are dropped, counted and logged -- never answered with another video's features.
- `evaluate_method`: every protocol on every set for one method's features -> one record each.
- `run_table`: the table of exactly the records this run wrote (`python -m results` aggregates runs).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from episodes.episode_set import (describe_episode_set, episode_set_hash, read_episode_set, sample_episode_set,
                                  validate_episode_set, write_episode_set)
from episodes.protocols import episode_indices, evaluate_table, mean_ci95, similarity_table
from results import records as rec
from zeroi2v.utils.errors import UserError

log = logging.getLogger("fewshot")


@dataclass
class EpisodeSet:
    episodes: list[dict]
    desc: dict  # describe_episode_set: episodes, ways, shots, queries, hash
    path: Path  # where it is (or will be) written
    given: bool  # an --episodes-file (never rewritten)


def episode_sets(cfg, fs, out: Path) -> list[EpisodeSet]:
    """The --episodes-file, validated against the test split, or one sampled set per shot count (not written)."""
    if cfg.episodes_file:
        eps = read_episode_set(cfg.episodes_file)
        validate_episode_set(eps, fs.splits["test"], source=str(cfg.episodes_file))
        return [EpisodeSet(eps, describe_episode_set(eps), Path(cfg.episodes_file), True)]
    sets = []
    for shots in cfg.shots:
        path = out / "episodes" / f"{cfg.dataset}-test-{cfg.ways}w{shots}s{cfg.queries}q-{cfg.episodes}-seed{cfg.seed}.jsonl"
        eps = sample_episode_set(fs.splits["test"], cfg.ways, shots, cfg.queries, cfg.episodes, cfg.seed,
                                 source=f"{cfg.dataset} test")
        sets.append(EpisodeSet(eps, describe_episode_set(eps), path, False))
    return sets


def write_episode_sets(sets: list[EpisodeSet]) -> None:
    for s in sets:
        if not s.given:
            write_episode_set(s.path, s.episodes)
            log.info("episode set: %d %d-way %d-shot episodes, hash %s -> %s", s.desc["episodes"], s.desc["ways"],
                     s.desc["shots"], s.desc["hash"][:12], s.path)


def answerable(episodes: list[dict], row_of: dict[str, int]) -> tuple[list[dict], int]:
    """(episodes whose every video has a feature row, number dropped)."""
    kept = [ep for ep in episodes if all(v in row_of for c in ep["support"] + ep["query"] for v in c)]
    return kept, len(episodes) - len(kept)


@dataclass
class MethodResult:
    """What one method's stages produced, for its records."""

    method: str
    feats: object  # (M, D) features of the readable test videos
    row_of: dict[str, int]
    model_info: dict  # record fields describing the model (stdha, adapters, params, merge diffs, ...)
    seconds: dict[str, float]
    embed: object  # EmbedStats
    feature_cache: str


def constant_features(feats, *, rtol: float = 1e-6) -> bool:
    """True when every video has (nearly) the same feature (N, D): episodes then measure chance."""
    if len(feats) < 2:
        return False
    spread = float((feats - feats.mean(0)).abs().max())
    return spread <= rtol * max(1.0, float(feats.abs().max()))


def evaluate_method(cfg, out: Path, sets: list[EpisodeSet], r: MethodResult, *, pretrained: str,
                    pretrained_sha: str, identity: dict | None = None) -> list[tuple[Path, dict]]:
    """Every protocol on every episode set with one method's features; writes and returns the records.
    `identity`: the records' data / model / settings identity fields. Features equal for every video
    (a zeroed checkpoint) are warned about and the records marked `features_constant`."""
    written = []
    constant = constant_features(r.feats)
    if constant:
        log.warning("[%s] every test video has the same features (spread <= 1e-6): the model ignores its input "
                    "(zeroed or broken weights?); the accuracies are chance level; records marked features_constant",
                    r.method)
    sim = similarity_table(r.feats)  # (N, N) cosine similarities: all both protocols need
    for s in sets:
        eps, dropped = answerable(s.episodes, r.row_of)
        if not eps:
            raise UserError(f"every one of the {len(s.episodes)} {s.desc['shots']}-shot episodes needs one of the "
                            f"{len(r.embed.skipped)} unreadable videos (first: {r.embed.skipped[0]}); fix the videos")
        ep_hash, ep_file = s.desc["hash"], str(s.path)
        if dropped:
            ep_hash = episode_set_hash(eps)
            ep_file = str(out / "episodes" / f"{s.path.stem}-{r.method}-answerable-{ep_hash[:12]}.jsonl")
            write_episode_set(ep_file, eps)
            log.warning("[%s] %d-shot: dropped %d of %d episodes that need one of %d skipped videos; the %d kept "
                        "(hash %s) -> %s", r.method, s.desc["shots"], dropped, len(s.episodes), len(r.embed.skipped),
                        len(eps), ep_hash[:12], ep_file)
        sup, qry = episode_indices(r.row_of, eps)  # (E, W, K), (E, W, Q) rows of `sim`
        for protocol in cfg.protocols:
            t = time.perf_counter()
            acc = evaluate_table(protocol, sim, sup, qry)
            seconds = {**r.seconds, f"eval_{protocol}": time.perf_counter() - t}
            mean, ci, std = mean_ci95(acc)
            name = f"{cfg.dataset}-{r.method}-{s.desc['ways']}w{s.desc['shots']}s-{protocol}"
            rel = rec.save_episode_accuracies(out, name, acc.double().numpy() * 100)
            record = rec.new_record(
                "fewshot", dataset=cfg.dataset, method=r.method, backbone=cfg.backbone, seed=cfg.seed,
                ways=s.desc["ways"], shots=s.desc["shots"], queries=s.desc["queries"], protocol=protocol,
                accuracy=mean, ci95=ci, std=std, n_episodes=len(eps), episode_set_hash=ep_hash,
                episode_set=ep_file, episode_accuracies=rel, pretrained=pretrained, pretrained_sha256=pretrained_sha,
                **r.model_info, stage_seconds=seconds, embedded=r.embed.embedded, embed_cached=r.embed.cached,
                videos_skipped=len(r.embed.skipped), skipped_videos=r.embed.skipped[:100],
                episodes_skipped=dropped, episodes_sampled=len(s.episodes), feature_cache=r.feature_cache,
                recipe=cfg.recipe, config=dataclasses.asdict(cfg), **(identity or {}),
                **({"features_constant": True} if constant else {}))
            path = rec.write_record(out, record)
            written.append((path, record))
            log.info("[%s] %d-shot %s: %.2f ± %.2f %% over %d episodes -> %s", r.method, s.desc["shots"], protocol,
                     mean, ci, len(eps), path)
    return written


def run_table(written: list[tuple[Path, dict]]) -> str:
    """The few-shot table of exactly these records (not of older records in the same --out)."""
    import pandas as pd

    from results.formats import render
    from results.tables import fewshot_table

    df = pd.DataFrame([{**r, "_path": str(p)} for p, r in written])
    if not df.empty:
        df["created"] = df["created"].astype(str)
    table = fewshot_table(df)
    return render(table, "markdown") if table is not None else "(no few-shot records)"
