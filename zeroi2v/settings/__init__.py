"""Settings as data: the original recipes and the per-dataset defaults. Importing it does not import torch."""
