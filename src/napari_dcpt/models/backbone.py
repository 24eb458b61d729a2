"""The restoration backbone: a compact NAFNet-style U-shaped network for 2-D, 2.5-D or 3-D.

After Chen et al., "Simple Baselines for Image Restoration" (ECCV 2022): blocks of
channel LayerNorm, pointwise/depthwise convolutions, a SimpleGate instead of a
non-linearity and simplified channel attention. MONAI has no NAF block, so the
block is written here; it is generic in ``spatial_dims`` through the conv type.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from napari_dcpt.config import ModelConfig


def _conv(spatial_dims: int) -> type[nn.Module]:
    return nn.Conv2d if spatial_dims == 2 else nn.Conv3d


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of a (B, C, *spatial) tensor, per voxel.

    ``F.layer_norm`` normalises trailing axes, so the channel axis is moved last
    (a free view for channels-last tensors, the layout inference uses on CPU);
    ``GroupNorm(1, C)`` would also pool over space, which NAFNet does not.
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = (0, *range(2, x.ndim), 1)
        y = F.layer_norm(x.permute(last), (x.shape[1],), self.weight, self.bias, self.eps)
        back = (0, x.ndim - 1, *range(1, x.ndim - 1))
        return y.permute(back)


class SimpleGate(nn.Module):
    """Split channels in two halves and multiply them (NAFNet's activation)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b


class NAFBlock(nn.Module):
    """One NAFNet block: gated depthwise conv + channel attention, then a gated FFN."""

    def __init__(self, channels: int, spatial_dims: int = 2) -> None:
        super().__init__()
        conv = _conv(spatial_dims)
        pool = nn.AdaptiveAvgPool2d if spatial_dims == 2 else nn.AdaptiveAvgPool3d
        c2 = channels * 2
        self.norm1 = ChannelLayerNorm(channels)
        self.pw1 = conv(channels, c2, 1)
        self.dw = conv(c2, c2, 3, padding=1, groups=c2)
        self.gate = SimpleGate()
        self.sca = nn.Sequential(pool(1), conv(channels, channels, 1))
        self.pw2 = conv(channels, channels, 1)
        self.norm2 = ChannelLayerNorm(channels)
        self.ffn1 = conv(channels, c2, 1)
        self.ffn2 = conv(channels, channels, 1)
        shape = (1, channels) + (1,) * spatial_dims
        # Zero-initialised residual scales: every block starts as the identity, which
        # keeps the global residual (output = input) exact at initialisation.
        self.beta = nn.Parameter(torch.zeros(shape))
        self.gamma = nn.Parameter(torch.zeros(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.gate(self.dw(self.pw1(self.norm1(x))))
        y = self.pw2(y * self.sca(y))
        x = x + y * self.beta
        y = self.ffn2(self.gate(self.ffn1(self.norm2(x))))
        return x + y * self.gamma


class RestorationNet(nn.Module):
    """U-shaped NAFNet with a global residual; returns its decoder features on request.

    Input ``(B, C, H, W)`` (``spatial_dims=2``; ``C = in_slices`` neighbouring slices)
    or ``(B, 1, D, H, W)`` (``spatial_dims=3``), float32 in network units. Output
    ``(B, 1, ...)``: the restored (centre) slice or volume. Any spatial size works:
    the input is padded (replicate) to a multiple of ``2 ** (levels - 1)`` and the
    output cropped back.

    Parameters
    ----------
    config
        Widths, depths, ``spatial_dims`` and ``in_slices``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        sd, w = config.spatial_dims, config.width
        conv = _conv(sd)
        convt = nn.ConvTranspose2d if sd == 2 else nn.ConvTranspose3d
        self.intro = conv(config.in_slices, w, 3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        ch = w
        for n in config.enc_blocks:
            self.encoders.append(nn.Sequential(*(NAFBlock(ch, sd) for _ in range(n))))
            self.downs.append(conv(ch, ch * 2, 2, stride=2))
            ch *= 2
        self.middle = nn.Sequential(*(NAFBlock(ch, sd) for _ in range(config.middle_blocks)))
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for n in config.dec_blocks:
            self.ups.append(convt(ch, ch // 2, 2, stride=2))
            ch //= 2
            self.decoders.append(nn.Sequential(*(NAFBlock(ch, sd) for _ in range(n))))
        self.ending = conv(w, 1, 3, padding=1)
        self.multiple = 2 ** len(config.enc_blocks)

    @property
    def stage_channels(self) -> dict[str, int]:
        """Channels of each named feature stage (``middle``, ``dec.0`` ... finest)."""
        w, n = self.config.width, len(self.config.enc_blocks)
        out = {"middle": w * 2**n}
        for i in range(n):
            out[f"dec.{i}"] = w * 2 ** (n - 1 - i)
        return out

    def forward(
        self, x: torch.Tensor, return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Restore ``x``; with ``return_features`` also return every stage's output.

        Features are returned explicitly (not hooked by a name pattern), so they
        exist in every run, wrapped in DDP or not.
        """
        expected = self.config.in_slices if self.config.spatial_dims == 2 else 1
        if x.ndim != self.config.spatial_dims + 2 or x.shape[1] != expected:
            raise ValueError(
                f"x: expected shape (B, {expected}, {'H, W' if x.ndim == 4 else 'D, H, W'})"
                f" for spatial_dims={self.config.spatial_dims}, got {tuple(x.shape)}"
            )
        spatial = x.shape[2:]
        pad: list[int] = []
        for s in reversed(spatial):  # F.pad wants the last axis first
            pad += [0, (-s) % self.multiple]
        xp = F.pad(x, pad, mode="replicate") if any(pad) else x
        feats: dict[str, torch.Tensor] = {}
        h = self.intro(xp)
        skips = []
        for enc, down in zip(self.encoders, self.downs):
            h = enc(h)
            skips.append(h)
            h = down(h)
        h = self.middle(h)
        feats["middle"] = h
        for i, (up, dec) in enumerate(zip(self.ups, self.decoders)):
            h = up(h) + skips[-1 - i]
            h = dec(h)
            feats[f"dec.{i}"] = h
        centre = xp[:, self.config.in_slices // 2 : self.config.in_slices // 2 + 1]
        out = self.ending(h) + centre  # global residual: the network predicts a correction
        crop = (slice(None), slice(None), *(slice(0, s) for s in spatial))
        out = out[crop]
        if return_features:
            return out, feats
        return out
