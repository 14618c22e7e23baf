"""`python -m zeroi2v.bench`: the efficiency benchmark program (see cli.py). The library never imports it."""
