"""fewshot.seeds: the table over seeds (mean ± t-interval) and the paired differences per seed."""
from pathlib import Path

from fewshot.seeds import seeds_table
from results.compare import t_interval

ACC = {  # seed -> method -> accuracy (5-way 5-shot prototype)
    0: {"frozen": 25.1, "zeroi2v_no_stdha": 29.2, "zeroi2v": 35.3},
    1: {"frozen": 21.8, "zeroi2v_no_stdha": 29.2, "zeroi2v": 29.1},
    2: {"frozen": 27.2, "zeroi2v_no_stdha": 40.7, "zeroi2v": 41.3},
}


def written():
    return {seed: [(Path(f"seed{seed}/{m}.json"), dict(kind="fewshot", dataset="toy", ways=5, shots=5,
                                                       protocol="prototype", method=m, backbone="vit", accuracy=a))
                   for m, a in accs.items()] for seed, accs in ACC.items()}


def test_cells_are_the_mean_over_seeds_and_the_t_interval_across_seeds():
    table = seeds_table(written())
    assert "mean over 3 seeds (0, 1, 2)" in table
    for m, label in (("frozen", "Frozen image model"), ("zeroi2v", "ZeroI2V")):
        iv = t_interval([ACC[s][m] for s in ACC])
        assert f"| {label} | {iv.mean:.1f} ± {iv.half_width:.1f} |" in table


def test_paired_differences_per_seed_cancel_the_data_difficulty():
    table = seeds_table(written())
    diff = t_interval([ACC[s]["zeroi2v"] - ACC[s]["frozen"] for s in ACC])
    assert diff.excludes_zero()  # 10.2, 7.3, 14.1: paired, the margin is clear ...
    assert f"| ZeroI2V - Frozen image model | **{diff.mean:.1f} ± {diff.half_width:.1f}** |" in table
    unpaired = t_interval([ACC[s]["zeroi2v"] for s in ACC])
    assert unpaired.half_width > diff.half_width  # ... though each method's own spread across seeds is wide
    nostdha = t_interval([ACC[s]["zeroi2v"] - ACC[s]["zeroi2v_no_stdha"] for s in ACC])
    assert f"| ZeroI2V - ZeroI2V w/o STDHA | {nostdha.mean:.1f} ± {nostdha.half_width:.1f} |" in table
