"""Small helpers every layer uses: atomic I/O, one-line user errors, statistics. No torch at import."""
