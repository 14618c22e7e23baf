"""Tiny timm ViTs for fast tests (CPU, well under a second per forward)."""
import torch

TINY = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=4)
BACKBONE = "vit_tiny_patch16_224"
CLIP_BACKBONE = "vit_base_patch16_clip_224"


def tiny_model(num_frames=4, **kw):
    import zeroi2v

    timm_kw = {**TINY, **kw.pop("timm", {})}
    return zeroi2v.create_model(kw.pop("backbone", BACKBONE), num_frames=num_frames, **kw, **timm_kw)


def randomize_adapters(model, seed=0, std=0.2):
    """Non-zero adapter weights and biases (a fresh adapter is the identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".adapter_" in name:
                p.copy_(torch.randn(p.shape, generator=g) * std)
            if name == "temporal_embedding":
                p.copy_(torch.randn(p.shape, generator=g) * std)
    return model


def video(batch=2, frames=4, size=32, seed=0):
    return torch.randn(batch, 3, frames, size, size, generator=torch.Generator().manual_seed(seed))
