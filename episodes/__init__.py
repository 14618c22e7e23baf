"""Episodic few-shot benchmark data: shipped splits, seeded episode sets, all-way K-shot lists.

Modules: `splits`, `sampler`, `episode_set`, `allway`, `views`; CLI: `python -m episodes sample|allway`.
"""
