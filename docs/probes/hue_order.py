"""Probe for the time-only demo (issue 23): hue-ORDER classes. A stand-alone experiment, not a dataset kind yet.

Every video: one random smooth texture (static) tinted, frame by frame, with each of 8 hues exactly once; the
class is the order (hue at frame t = h0 + perm_c[t] mod 8, h0 uniform, perm_c one of 25 random permutations).
Per clip position the hue is uniform, and the *set* of frames of a video is the same for every class, so an
order-blind model (the frozen image model: per-frame features, mean over frames) has exactly class-independent
clip features. The tiny ViT (64 px, patch 16, depth 4, width 96, 6 heads) is image-pretrained on single tinted
frames (hue, 8-way, 3 epochs); adaptation as in the suite (frozen backbone, linear adapters, temporal
embedding, AdamW 1e-3, batch 16) on 13 base classes x 20 videos, then 5-way 5-shot prototype (L2-normalised
clip features) over 1000 episodes on 7 novel classes x 20 videos. In-memory float clips (no codec, no loader).

    python docs/probes/hue_order.py SEED EPOCHS     # e.g. 0 20: ~50 s on 2 CPU cores
"""
import colorsys
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from zeroi2v.model.video import create_model
S, T, H = 64, 8, 8
SEED = int(sys.argv[1]) if len(sys.argv) > 1 else 0
EPOCHS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
rng = np.random.default_rng(SEED); torch.manual_seed(SEED)
HUES = np.array([colorsys.hsv_to_rgb(h / H, 0.8, 1.0) for h in range(H)], np.float32)  # (8, 3)
def texture(r):
    z = r.normal(size=(8, 8)); z = torch.tensor(z, dtype=torch.float32)[None, None]
    z = F.interpolate(z, size=(S, S), mode="bicubic", align_corners=False)[0, 0].numpy()
    return (z - z.min()) / (z.max() - z.min() + 1e-6)
def frame(tex, h):  # (3, S, S) in [0, 1]: texture luminance x hue colour
    return (tex[None] * 0.8 + 0.2) * HUES[h][:, None, None]
PERMS = [rng.permutation(T) for _ in range(25)]
def video(c, r):
    tex = texture(r); h0 = r.integers(H)
    return np.stack([frame(tex, (h0 + PERMS[c][t]) % H) for t in range(T)], 1)  # (3, T, S, S)
def dataset(classes, n, seed):
    r = np.random.default_rng(seed); X, Y = [], []
    for i, c in enumerate(classes):
        for _ in range(n): X.append(video(c, r)); Y.append(i)
    return torch.tensor(np.stack(X)), torch.tensor(Y)
MEAN = torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1, 1); STD = torch.tensor([0.25] * 3).view(1, 3, 1, 1, 1)
norm = lambda x: (x - MEAN) / STD
classes = rng.permutation(25); base, novel = classes[:13], classes[18:]
t0 = time.time()
# image pretraining: hue x (a coarse texture statistic) on single frames, unrelated to any order
r = np.random.default_rng(1000 + SEED)
imgs, lab = [], []
for i in range(3000):
    h = i % H; imgs.append(frame(texture(r), h)); lab.append(h)
imgs = torch.tensor(np.stack(imgs))[:, :, None]; lab = torch.tensor(lab)
kw = dict(img_size=64, patch_size=16, embed_dim=96, depth=4, num_heads=6)
img = create_model("vit_tiny_patch16_224", num_frames=1, num_classes=H, stdha="none", adapters=(), temporal_embedding=False, **kw)
opt = torch.optim.AdamW(img.parameters(), 1e-3, weight_decay=0.05)
for ep in range(3):
    perm = torch.randperm(len(imgs)); acc = 0
    for b in range(0, len(imgs), 64):
        j = perm[b:b + 64]; out = img(norm(imgs[j])); loss = F.cross_entropy(out, lab[j])
        opt.zero_grad(); loss.backward(); opt.step(); acc += (out.argmax(1) == lab[j]).sum().item()
    print(f"pretrain ep {ep} acc {acc / len(imgs):.3f} {time.time() - t0:.0f}s", flush=True)
sd = {k: v for k, v in img.backbone.state_dict().items()}
Xb, Yb = dataset(base, 20, 2 + 10 * SEED); Xn, Yn = dataset(novel, 20, 3 + 10 * SEED)
def proto_acc(feats, y, episodes=1000, seed=0):
    r = np.random.default_rng(seed); f = F.normalize(feats, dim=1); accs = []
    for _ in range(episodes):
        cls = r.choice(7, 5, replace=False); s, q, qy = [], [], []
        for k, c in enumerate(cls):
            idx = r.permutation(np.where(y.numpy() == c)[0])
            s.append(f[idx[:5]].mean(0)); q.append(f[idx[5:20]]); qy += [k] * 15
        pred = (torch.cat(q) @ torch.stack(s).T).argmax(1)
        accs.append((pred == torch.tensor(qy)).float().mean().item())
    return 100 * np.mean(accs)
for name, st, ep_n in (("frozen", "none", 0), ("w/o STDHA", "none", EPOCHS), ("ZeroI2V", "default", EPOCHS)):
    m = create_model("vit_tiny_patch16_224", num_frames=T, num_classes=13, stdha=st, **kw)
    missing = m.backbone.load_state_dict({k: v for k, v in sd.items() if not k.startswith("head")}, strict=False)
    m.freeze_backbone()
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, 1e-3, weight_decay=0.05)
    for ep in range(ep_n):
        m.train(); perm = torch.randperm(len(Xb)); acc = 0
        for b in range(0, len(Xb), 16):
            j = perm[b:b + 16]; out = m(norm(Xb[j])); loss = F.cross_entropy(out, Yb[j])
            opt.zero_grad(); loss.backward(); opt.step(); acc += (out.argmax(1) == Yb[j]).sum().item()
        print(f"  {name} ep {ep} train acc {acc / len(Xb):.3f}", flush=True)
    m.eval()
    with torch.no_grad():
        feats = torch.cat([m.forward_features(norm(Xn[b:b + 32])) for b in range(0, len(Xn), 32)])
    print(f"{name}: 5-way 5-shot prototype on 7 novel classes {proto_acc(feats, Yn):.1f}  ({time.time() - t0:.0f}s)", flush=True)
