"""`--seeds 0,1,2`: one run per seed, each on its own toy data, and one table over seeds.

Seed S runs under `<out>/seed<S>` with `--seed S`; on the toy dataset without --data-root it also
gets its own toy set, generated with toy seed S (`<toy cache>/toy-seed<S>`; seed 0 is the default
toy set), so the spread across seeds covers the data as well as the episodes and the adaptation.
The table's cells are the mean over seeds of each seed's mean episode accuracy ± the 95 %
Student-t interval across seeds (n_seeds in the heading), never one seed's number.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

from zeroi2v.training import distributed as D

log = logging.getLogger("fewshot")

SEEDS_NOTE = ("Cells: mean over seeds of each seed's mean test-episode accuracy (%) ± 95% Student-t interval "
              "across seeds (n = number of seeds); each seed has its own toy data (toy seed = run seed), "
              "episodes and adaptation.")


def toy_root_for_seed(seed: int, dataset: str = "toy") -> Path:
    """The generated toy set (toy or toy_time) of toy seed `seed` (rank 0 generates it once; cached)."""
    from zeroi2v.data.toy import default_config, default_root, ensure_toy, make_toy, read_meta

    if seed == 0:
        root = default_root(dataset)
        make = lambda: ensure_toy(kind=dataset)  # noqa: E731
    else:
        root = default_root(dataset).parent / f"{dataset.replace('_', '-')}-seed{seed}"
        make = lambda: make_toy(root, default_config(dataset, seed))  # noqa: E731
    if read_meta(root, dataset) is None:
        if D.is_main():
            log.info("generating the toy dataset of seed %d at %s", seed, root)
            make()
        D.barrier()
    return root


def seeds_table(written_by_seed: dict[int, list[tuple[Path, dict]]]) -> str:
    """Markdown table: per (method, backbone) row and (dataset, ways, shots, protocol) column, the mean
    over seeds ± the t-interval across seeds."""
    from results import records as rec
    from results.compare import t_interval
    from results.formats import render
    from results.tables import Cell, Table, method_order

    acc: dict[tuple, dict[tuple, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for seed, written in written_by_seed.items():
        for _, r in written:
            col = (r["dataset"], int(r["ways"]), int(r["shots"]), r["protocol"])
            acc[col][(r["method"], r["backbone"])][seed] = float(r["accuracy"])
    if not acc:
        return "(no few-shot records)"
    columns = sorted(acc, key=lambda k: (k[0], k[1], k[2], k[3]))
    rows = {row for col in acc.values() for row in col}
    order = method_order([m for m, _ in rows])
    rows = sorted(rows, key=lambda p: (order.index(p[0]), p[1]))
    n_seeds = len(written_by_seed)
    show_bb = len({b for _, b in rows}) > 1
    table = Table(name="fewshot-seeds", title=f"Episodic few-shot accuracy (%), mean over {n_seeds} seeds "
                                              f"({', '.join(map(str, sorted(written_by_seed)))}) ± 95% CI across seeds",
                  row_header=["Method"], columns=[(d, f"{w}-way", f"{s}-shot", p) for d, w, s, p in columns],
                  footnotes=[SEEDS_NOTE])
    for m, b in rows:
        cells = []
        for col in columns:
            values = [acc[col][(m, b)][s] for s in sorted(acc[col].get((m, b), {}))]
            if not values:
                cells.append(Cell())
                continue
            iv = t_interval(values)
            cells.append(Cell(mean=iv.mean, half_width=iv.half_width, n=iv.n))
        label = rec.METHOD_LABELS.get(m, m)
        table.rows.append(((f"{label} ({b})" if show_bb else label,), cells))
    return render(table, "markdown") + paired_seeds_table(acc, columns, rows, n_seeds)


def paired_seeds_table(acc: dict, columns: list, rows: list, n_seeds: int) -> str:
    """ZeroI2V minus each other method, per seed (same data, episodes and seed), as a t-interval across
    seeds: the between-seed spread of the data's difficulty cancels in the difference."""
    from results import records as rec
    from results.compare import t_interval
    from results.formats import render
    from results.tables import Cell, Table

    full = [r for r in rows if r[0] == "zeroi2v"]
    if not full or n_seeds < 2:
        return ""
    table = Table(name="fewshot-seeds-paired", title=f"ZeroI2V minus each method (points), paired per seed, mean "
                                                     f"over {n_seeds} seeds ± 95% CI across seeds",
                  row_header=["Difference"], columns=[(d, f"{w}-way", f"{s}-shot", p) for d, w, s, p in columns],
                  footnotes=["Cells: mean over seeds of (ZeroI2V - method) accuracy on the same seed ± 95% Student-t "
                             "interval across seeds. Bold: the interval excludes 0."])
    for other in [r for r in rows if r != full[0]]:
        cells = []
        for col in columns:
            a, b = acc[col].get(full[0], {}), acc[col].get(other, {})
            seeds = sorted(set(a) & set(b))
            if len(seeds) < 2:
                cells.append(Cell())
                continue
            iv = t_interval([a[s] - b[s] for s in seeds])
            cells.append(Cell(mean=iv.mean, half_width=iv.half_width, n=iv.n, bold=iv.excludes_zero()))
        table.rows.append(((f"ZeroI2V - {rec.METHOD_LABELS.get(other[0], other[0])}",), cells))
    return "\n" + render(table, "markdown")
