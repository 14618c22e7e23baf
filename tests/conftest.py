import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded from a hub, ever
os.environ.setdefault("OMP_NUM_THREADS", "2")
