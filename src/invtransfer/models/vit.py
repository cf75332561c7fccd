"""Vision Transformer for 32×32 inputs (Dosovitskiy et al. 2020, "An Image is Worth 16x16
Words"), in the style of omihub777/ViT-CIFAR, which the paper uses (App. B.1).

Defaults are the paper's: 4×4-pixel patches (an 8×8 grid = 64 tokens) plus a CLS token, 7
pre-LN encoder layers, hidden size 384, MLP 1536, 8 heads, no dropout. Two details follow the
omihub777 code rather than the ViT paper: the MLP applies GELU after *both* linear layers, and
attention logits are scaled by 1/sqrt(hidden) instead of 1/sqrt(head dim)
(``attn_scale="head"`` gives the usual scaling). The penultimate representation is the final
LayerNorm of the CLS token (the reference's ``fc[0]``); ``head`` is the linear layer after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from invtransfer.models.base import Classifier, check_input

__all__ = ["ViT", "ViTConfig", "vit"]


@dataclass(frozen=True)
class ViTConfig:
    img_size: int = 32  # pixels per side of the input
    patch_size: int = 4  # pixels per side of a patch: 32/4 = 8×8 tokens
    depth: int = 7  # encoder layers
    hidden: int = 384  # token width = feature_dim
    mlp_hidden: int = 1536  # inner width of each MLP
    heads: int = 8  # attention heads; hidden must be divisible by it
    attn_scale: Literal["model", "head"] = (
        "model"  # logits / sqrt(hidden) (omihub777) or sqrt(hidden/heads)
    )

    def __post_init__(self) -> None:
        for name in ("img_size", "patch_size", "depth", "hidden", "mlp_hidden", "heads"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"vit: {name} must be a positive int, got {value!r}")
        if self.img_size % self.patch_size:
            raise ValueError(
                f"vit: img_size ({self.img_size}) must be divisible by patch_size ({self.patch_size})"
            )
        if self.hidden % self.heads:
            raise ValueError(
                f"vit: hidden ({self.hidden}) must be divisible by heads ({self.heads})"
            )
        if self.attn_scale not in ("model", "head"):
            raise ValueError(f"vit: attn_scale must be 'model' or 'head', got {self.attn_scale!r}")


class SelfAttention(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.heads = cfg.heads
        self.q = nn.Linear(cfg.hidden, cfg.hidden)
        self.k = nn.Linear(cfg.hidden, cfg.hidden)
        self.v = nn.Linear(cfg.hidden, cfg.hidden)
        self.o = nn.Linear(cfg.hidden, cfg.hidden)
        dim = cfg.hidden if cfg.attn_scale == "model" else cfg.hidden // cfg.heads
        self.scale = dim**-0.5

    def forward(self, x: Tensor) -> Tensor:
        b, n, d = x.shape

        def split(t: Tensor) -> Tensor:  # N×T×D -> N×heads×T×(D/heads)
            return t.view(b, n, self.heads, d // self.heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            split(self.q(x)), split(self.k(x)), split(self.v(x)), scale=self.scale
        )
        return self.o(out.transpose(1, 2).reshape(b, n, d))  # heads merged back: N×T×D


class EncoderLayer(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.hidden)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.hidden)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.hidden, cfg.mlp_hidden),
            nn.GELU(),
            nn.Linear(cfg.mlp_hidden, cfg.hidden),
            nn.GELU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class ViT(Classifier):
    def __init__(self, cfg: ViTConfig, num_classes: int):
        super().__init__()
        self.cfg = cfg
        tokens = (cfg.img_size // cfg.patch_size) ** 2
        # a stride-p p×p conv is the linear patch embedding applied to each flattened patch
        self.embed = nn.Conv2d(3, cfg.hidden, cfg.patch_size, stride=cfg.patch_size)
        self.cls_token = nn.Parameter(torch.randn(1, 1, cfg.hidden))
        self.pos_emb = nn.Parameter(torch.randn(1, tokens + 1, cfg.hidden))
        self.encoder = nn.Sequential(*[EncoderLayer(cfg) for _ in range(cfg.depth)])
        self.norm = nn.LayerNorm(cfg.hidden)
        self.feature_dim = cfg.hidden
        self.head = nn.Linear(cfg.hidden, num_classes)

    def features(self, x: Tensor) -> Tensor:
        check_input(x, self.cfg.img_size)
        tokens = self.embed(x).flatten(2).transpose(1, 2)  # N×D×8×8 -> N×64×D
        cls = self.cls_token.expand(x.shape[0], -1, -1)  # N×1×D
        out = torch.cat([cls, tokens], dim=1) + self.pos_emb  # N×65×D
        out = self.encoder(out)
        return self.norm(out[:, 0])  # CLS token: N×D


def vit(num_classes: int, **config: object) -> ViT:
    return ViT(ViTConfig(**config), num_classes)  # type: ignore[arg-type]
