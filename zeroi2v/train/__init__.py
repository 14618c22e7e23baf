"""`python -m zeroi2v.train`: the full-supervised trainer program (see cli.py). The library never imports it."""
