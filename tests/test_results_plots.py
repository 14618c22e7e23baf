"""Plots: PNG + SVG files exist and are real, non-trivial images."""
import numpy as np

from results import records as rec
import record_fixtures as T
from results.load import read_records
from results.plots import write_plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_images(paths, stem):
    png, svg = [p for p in paths if p.stem == stem]
    assert png.suffix == ".png" and svg.suffix == ".svg"
    data = png.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 5000
    text = svg.read_text()
    assert "<svg" in text and len(text) > 5000


def test_fewshot_and_allway_plots(tmp_path):
    run = tmp_path / "run"
    rng = np.random.default_rng(0)
    for shots in (1, 2, 5):
        for m, base in (("frozen", 50), ("zeroi2v", 60)):
            for protocol in ("prototype", "finetune"):
                T.fewshot_from_episodes(run, rng.uniform(base - 20, base + 20, 50), method=m,
                                        shots=shots, protocol=protocol, dataset="hmdb51")
    for k in (2, 4, 8, 16):
        for fold in (1, 2, 3):
            rec.write_record(run, T.allway_record(shots=k, fold=fold, top1=40.0 + k + fold))
    rec.write_record(run, T.allway_record(method="frozen", shots=2, fold=1, top1=30.0))  # n=1
    rec.write_record(run, T.full_record(top1=85.0))
    out = tmp_path / "out"
    paths = write_plots(read_records(run).records, out)
    assert sorted(p.name for p in paths) == [
        "allway_toy.png", "allway_toy.svg", "fewshot_hmdb51.png", "fewshot_hmdb51.svg"]
    _assert_images(paths, "fewshot_hmdb51")
    _assert_images(paths, "allway_toy")
    assert not list(out.glob(".*"))                    # no temp files left


def test_accuracy_vs_gflops_one_point_per_method_and_shots(tmp_path, monkeypatch):
    from results import plots

    run = tmp_path / "run"
    rng = np.random.default_rng(0)
    cost = dict(zeroi2v=140.5, aim=202.1, frozen=140.5)
    for shots in (1, 5):
        for m, g in cost.items():
            T.fewshot_from_episodes(run, rng.uniform(40, 80, 50), method=m, shots=shots, gflops_per_view=g)
    T.fewshot_from_episodes(run, rng.uniform(40, 80, 50), method="st_adapter", shots=1)  # no cost: left out
    points = []
    real = plots._save

    def spy(fig, out_dir, stem):
        for ax in fig.axes:
            for line in ax.lines:
                x, y = line.get_data()
                if line.get_marker() not in (None, "None", "", "_"):
                    points.extend(zip(np.asarray(x).tolist(), np.asarray(y).tolist()))
        return real(fig, out_dir, stem)

    monkeypatch.setattr(plots, "_save", spy)
    paths = plots.plot_cost(read_records(run).records, tmp_path / "out")
    assert sorted(p.name for p in paths) == ["cost_toy.png", "cost_toy.svg"]
    _assert_images(paths, "cost_toy")
    xs = sorted({round(x, 1) for x, _ in points})
    assert xs == [140.5, 202.1]  # GFLOPs of the records; st_adapter (none recorded) absent
    assert len({(round(x, 1), round(y, 6)) for x, y in points}) >= 5  # 3 methods x 2 shots (frozen/zeroi2v share x)


def test_no_plot_without_matching_records(tmp_path):
    rec.write_record(tmp_path, T.full_record())
    assert write_plots(read_records(tmp_path).records, tmp_path / "out") == []
