"""Probe (docs/demo.md): is a model above chance on the order toy because a query shares its start hue h0 with a
same-class support? 5-way 5-shot prototype episodes (1 query) on a run's cached test features, split by
whether the query's h0 equals that of one of its class's 5 supports.

    python docs/probes/start_hue_match.py TOY_SEED TOY_ROOT FEATURES.pt
(FEATURES.pt: the cache file a run's log names after "embed test: embedding ... ->")
"""
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

from zeroi2v.data import toy_order
seed, root, feat = int(sys.argv[1]), sys.argv[2], sys.argv[3]
meta = json.load(open(root + '/toy.json')); names, size = meta['classes'], meta['config']['size']
d = torch.load(feat, weights_only=True)
ids, X = d['ids'], F.normalize(d['features'].float(), dim=1)
cls = [i.split('/')[0] for i in ids]; idx = [int(i.split('_')[-1][:3]) for i in ids]
h0 = []
for c, i in zip(cls, idx):
    h0.append(toy_order.draw(np.random.default_rng([seed, names.index(c), i]), size)[1])  # as zeroi2v.data.toy drew it
h0 = np.array(h0); labels = np.array([sorted(set(cls)).index(c) for c in cls])
r = np.random.default_rng(0); hit = {True: [], False: []}
for _ in range(20000):
    ways = r.choice(7, 5, replace=False); sup, q = [], None
    qk = r.integers(5)
    for k, c in enumerate(ways):
        m = r.permutation(np.where(labels == c)[0])
        sup.append(m[:5])
        if k == qk: q = m[5]
    protos = torch.stack([X[s].mean(0) for s in sup])
    pred = int((X[q] @ protos.T).argmax())
    shared = h0[q] in set(h0[sup[qk]])
    hit[shared].append(pred == qk)
for s in (True, False):
    print(f"seed {seed}: query shares h0 with a same-class support={s}: {100*np.mean(hit[s]):.1f}% of {len(hit[s])} episodes")
