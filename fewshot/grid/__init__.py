"""Benchmark grids of fewshot.run (and zeroi2v.train) cells: `python -m fewshot.grid` (see __main__.py)."""
