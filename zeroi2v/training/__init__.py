"""The one trainer: engine (steps, evaluation, FLOPs), trainer (epochs, resume), optim, distributed, checkpoints, tracking."""
