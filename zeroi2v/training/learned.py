"""Did a run learn anything? A one-sided binomial test of the kept epoch's train accuracy against chance.

With C classes a model that learned nothing is right on a clip with probability 1/C; `k` of `n`
training clips right is "clearly above chance" when P(X >= k | n, 1/C) < `alpha` (0.01). Train
accuracy is measured with dropout and augmentation on (the trainer's running count), so a pass
here says little -- a failure says the run compared unadapted models.
"""
from __future__ import annotations

import math

ALPHA = 0.01
ADVICE = ("likely causes: an lr too low for this backbone (or too high: diverging), too few epochs, dropout on a "
          "small non-CLIP model; change --lr, --epochs or the recipe (--recipe; zeroi2v.train also --head-dropout, "
          "--adapter-dropout, --adapter-scale)")


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed exactly in log space (terms below 1e-300 dropped)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    lp, lq = math.log(p), math.log1p(-p)
    total = 0.0
    for i in range(k, n + 1):
        term = math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq)
        total += term
        if i > n * p and term < 1e-300:  # past the mode the terms only shrink
            break
    return min(1.0, total)


def learning_check(*, train_acc: float, clips: int, num_classes: int, epoch: int,
                   alpha: float = ALPHA) -> dict:
    """{chance, correct, clips, p_value, learned, warning}; `warning` is one line (None when learned)."""
    chance = 1.0 / num_classes
    correct = round(train_acc / 100.0 * clips)
    p = binomial_sf(correct, clips, chance)
    learned = p < alpha
    warning = None if learned else (
        f"warning: the kept epoch {epoch} is not clearly above chance on its own training clips (train top-1 "
        f"{train_acc:.2f}% of {clips} clips vs chance {100 * chance:.2f}%, binomial p = {p:.2g} >= {alpha:g}): "
        f"the adapted model may have learned nothing; {ADVICE}")
    return dict(chance=100 * chance, correct=correct, clips=clips, p_value=p, learned=learned, warning=warning)
