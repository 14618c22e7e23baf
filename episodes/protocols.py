"""Episode evaluation protocols on cached video embeddings, batched over episodes.

Both take support (E, W, K, D) and query (E, W, Q, D) embeddings -- E episodes, W ways, K shots,
Q queries per class; class w of an episode is row w -- and return per-episode accuracy (E,) in [0, 1].

- prototype: cosine similarity between each L2-normalised query and the L2-normalised mean of its
  episode's L2-normalised support embeddings per class; predict the most similar class.
- finetune: a linear classifier (W x D weights + bias, on L2-normalised embeddings, zero init)
  trained on each episode's support set by full-batch gradient descent with momentum on the
  cross-entropy. Started at zero, gradient descent keeps the weights in the span of the support
  embeddings, W = Xs^T A, so it runs exactly in that dual form on the (WK x WK) Gram matrix --
  the same iterates as the primal form (tests/test_episodes_protocols.py checks it against an explicit
  D x W classifier) at a cost independent of D. All episodes of a chunk are one tensor program;
  episodes share no parameters, so the result equals a loop over episodes.

Both protocols only need cosine similarities between videos, so `evaluate_table` runs them from
one (N x N) similarity table of the cached features and the episodes' row indices: no
(E, W, K, D) tensor is ever gathered. The (support, query) tensor functions are the reference
the table form is tested against.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from zeroi2v.utils import stats

PROTOCOLS = ("prototype", "finetune")


def _labels(E: int, W: int, n: int, device) -> torch.Tensor:
    return torch.arange(W, device=device).repeat_interleave(n).expand(E, W * n)  # (E, W*n)


def prototype_accuracy(support: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    E, W, K, D = support.shape
    Q = query.shape[2]
    protos = F.normalize(F.normalize(support.float(), dim=-1).mean(2), dim=-1)  # (E, W, D)
    q = F.normalize(query.float(), dim=-1).reshape(E, W * Q, D)  # (E, W*Q, D)
    pred = torch.bmm(q, protos.transpose(1, 2)).argmax(-1)  # (E, W*Q)
    return (pred == _labels(E, W, Q, q.device)).float().mean(1)


@dataclass(frozen=True)
class FinetuneConfig:
    steps: int = 100
    lr: float = 0.01  # stable for logit_scale 10 on unit-norm features (curvature <= scale^2)
    momentum: float = 0.9
    weight_decay: float = 1e-3
    logit_scale: float = 10.0  # logits = scale * (x / |x| @ w + b)
    chunk: int = 2000  # episodes per tensor program (bounds memory)


def _finetune_gram(gram: torch.Tensor, gram_q: torch.Tensor, W: int, cfg: FinetuneConfig) -> torch.Tensor:
    """Dual-form descent from Gram matrices: gram (E, W*K, W*K) support x support, gram_q (E, W*Q, W*K)."""
    E, WK, _ = gram.shape
    K, Q = WK // W, gram_q.shape[1] // W
    onehot = F.one_hot(_labels(E, W, K, gram.device), W).float()  # (E, W*K, W)
    A = torch.zeros(E, WK, W, device=gram.device)  # weights W = xs^T A, (E, D, W) never built
    b = torch.zeros(E, 1, W, device=gram.device)
    vA, vb = torch.zeros_like(A), torch.zeros_like(b)
    for _ in range(cfg.steps):
        logits = cfg.logit_scale * (torch.bmm(gram, A) + b)  # (E, W*K, W)
        dz = cfg.logit_scale * (logits.softmax(-1) - onehot) / WK  # d(mean CE)/d(xW + b)
        vA.mul_(cfg.momentum).add_(dz + cfg.weight_decay * A)  # grad_W = xs^T (dz + wd A)
        vb.mul_(cfg.momentum).add_(dz.sum(1, keepdim=True))
        A.sub_(cfg.lr * vA)
        b.sub_(cfg.lr * vb)
    pred = (torch.bmm(gram_q, A) + b).argmax(-1)  # (E, W*Q)
    return (pred == _labels(E, W, Q, gram.device)).float().mean(1)


def _finetune_chunk(support: torch.Tensor, query: torch.Tensor, cfg: FinetuneConfig) -> torch.Tensor:
    E, W, K, D = support.shape
    xs = F.normalize(support.float(), dim=-1).reshape(E, W * K, D)  # (E, W*K, D)
    xq = F.normalize(query.float(), dim=-1).reshape(E, -1, D)  # (E, W*Q, D)
    return _finetune_gram(torch.bmm(xs, xs.transpose(1, 2)), torch.bmm(xq, xs.transpose(1, 2)), W, cfg)


def finetune_primal(support: torch.Tensor, query: torch.Tensor, cfg: FinetuneConfig) -> torch.Tensor:
    """Reference: the same descent on an explicit (D, W) classifier per episode, with autograd."""
    out = []
    for s, q in zip(support, query):  # one episode at a time
        W, K, D = s.shape
        xs, xq = F.normalize(s.float(), dim=-1).reshape(W * K, D), F.normalize(q.float(), dim=-1).reshape(-1, D)
        w = torch.zeros(D, W, requires_grad=True)
        b = torch.zeros(W, requires_grad=True)
        opt = torch.optim.SGD([w, b], lr=cfg.lr, momentum=cfg.momentum)
        ys = torch.arange(W).repeat_interleave(K)
        for _ in range(cfg.steps):
            opt.zero_grad()
            with torch.enable_grad():
                loss = F.cross_entropy(cfg.logit_scale * (xs @ w + b), ys)
                loss.backward()
            w.grad += cfg.weight_decay * w.detach()  # decay on the weights only, as in the dual form
            opt.step()
        pred = (xq @ w + b).argmax(-1)
        out.append((pred == torch.arange(W).repeat_interleave(q.shape[1])).float().mean())
    return torch.stack(out)


def finetune_accuracy(support: torch.Tensor, query: torch.Tensor, cfg: FinetuneConfig = FinetuneConfig()) -> torch.Tensor:
    return torch.cat([_finetune_chunk(support[i:i + cfg.chunk], query[i:i + cfg.chunk], cfg)
                      for i in range(0, support.shape[0], cfg.chunk)])


def episode_tensors(features: torch.Tensor, row_of: dict[str, int], episodes: Sequence[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather (E, W, K, D) support and (E, W, Q, D) query embeddings of episode dicts from a feature table.

    features: (N, D), one row per video; row_of maps a video id to its row; an episode is
    {"support": [[ids of class 0], ...], "query": [[...], ...]} as written by `episodes`.
    """
    sup = torch.tensor([[[row_of[v] for v in cls] for cls in ep["support"]] for ep in episodes])  # (E, W, K)
    qry = torch.tensor([[[row_of[v] for v in cls] for cls in ep["query"]] for ep in episodes])  # (E, W, Q)
    return features[sup], features[qry]


def episode_indices(row_of: dict[str, int], episodes: Sequence[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    """Row indices (E, W, K) of the support and (E, W, Q) of the query videos of episode dicts."""
    sup = torch.tensor([[[row_of[v] for v in cls] for cls in ep["support"]] for ep in episodes])
    qry = torch.tensor([[[row_of[v] for v in cls] for cls in ep["query"]] for ep in episodes])
    return sup, qry


def similarity_table(features: torch.Tensor) -> torch.Tensor:
    """Cosine similarities (N, N) between all cached video features (N, D)."""
    f = F.normalize(features.float(), dim=-1)
    return f @ f.T


def prototype_from_table(sim: torch.Tensor, sup: torch.Tensor, qry: torch.Tensor) -> torch.Tensor:
    """Prototype accuracy from similarities: cos(q, mean_k s_k) = mean_k S[q,s_k] / |mean_k s_k|."""
    E, W, K = sup.shape
    s = sup.reshape(E, W * K)
    q = qry.reshape(E, -1)  # (E, W*Q)
    qs = sim[q[:, :, None], s[:, None, :]].view(E, q.shape[1], W, K).mean(-1)  # (E, W*Q, W) = q . proto
    ss = sim[s[:, :, None], s[:, None, :]].view(E, W, K, W, K)
    norm = ss.diagonal(dim1=1, dim2=3).mean((1, 2)).clamp_min(1e-12).sqrt()  # (E, W) = |proto|
    pred = (qs / norm[:, None, :]).argmax(-1)
    return (pred == _labels(E, W, qry.shape[2], sim.device)).float().mean(1)


def finetune_from_table(sim: torch.Tensor, sup: torch.Tensor, qry: torch.Tensor,
                        cfg: FinetuneConfig = FinetuneConfig()) -> torch.Tensor:
    E, W, K = sup.shape
    out = []
    for i in range(0, E, cfg.chunk):
        s, q = sup[i:i + cfg.chunk].flatten(1), qry[i:i + cfg.chunk].flatten(1)
        out.append(_finetune_gram(sim[s[:, :, None], s[:, None, :]], sim[q[:, :, None], s[:, None, :]], W, cfg))
    return torch.cat(out)


def evaluate(protocol: str, support: torch.Tensor, query: torch.Tensor,
             finetune: FinetuneConfig = FinetuneConfig()) -> torch.Tensor:
    """Reference form on gathered (E, W, K, D) / (E, W, Q, D) embeddings."""
    if protocol == "prototype":
        return prototype_accuracy(support, query)
    if protocol == "finetune":
        return finetune_accuracy(support, query, finetune)
    raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")


def evaluate_table(protocol: str, sim: torch.Tensor, sup: torch.Tensor, qry: torch.Tensor,
                   finetune: FinetuneConfig = FinetuneConfig()) -> torch.Tensor:
    """Per-episode accuracy (E,) from a similarity table and episode row indices."""
    if protocol == "prototype":
        return prototype_from_table(sim, sup, qry)
    if protocol == "finetune":
        return finetune_from_table(sim, sup, qry, finetune)
    raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")


def mean_ci95(acc: torch.Tensor) -> tuple[float, float, float]:
    """(mean, 95 % CI half-width 1.96·std/√n, std) of per-episode accuracies (E,) in [0, 1], in
    percent (`zeroi2v.utils.stats.mean_ci95`, the suite's one CI)."""
    return stats.mean_ci95(acc.detach().double().cpu().numpy() * 100)
