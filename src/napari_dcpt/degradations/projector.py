"""Batched 2-D parallel-beam projector and filtered back-projection in torch (CT physics).

Hand-written because neither MONAI nor torch ships a CT projector and scikit-image's
``radon``/``iradon`` are far too slow to run on the fly (they loop over angles in
Python with ``warp``). Geometry: a square ``S x S`` image of unit pixels centred on the
rotation axis; ``D = ceil(S * sqrt(2))`` detector bins of one pixel, centred; views
equally spaced over [0, pi). Angle 0 integrates along the rows (sums each column),
as ``skimage.transform.radon`` does; angles turn from +x towards +row (skimage turns
towards -row, so ``radon(img[::-1])`` matches ``skimage.transform.radon(img)``).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch


def n_detectors(size: int) -> int:
    """Detector bins (one pixel wide) covering the circumscribed circle of ``size``."""
    d = int(math.ceil(size * math.sqrt(2.0)))
    return d + (1 - d % 2)  # odd, so that bin (D - 1) / 2 is the rotation axis


def view_angles(n_views: int) -> torch.Tensor:
    """``n_views`` equally spaced projection angles in [0, pi) (radians, float64)."""
    return torch.arange(n_views, dtype=torch.float64) * (math.pi / n_views)


def _centred(size: int) -> torch.Tensor:
    return torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0


def radon(image: torch.Tensor, n_views: int, chunk: int = 4) -> torch.Tensor:
    """Line integrals (pixel units) of a batch of square images.

    Pixel-driven with linear interpolation onto the detector: the exact adjoint of
    `backproject` (a matched pair), and three times faster than rotating with
    ``grid_sample``.

    Parameters
    ----------
    image
        ``(B, S, S)`` float tensor.
    n_views
        Number of equally spaced views over 180 degrees.
    chunk
        Views handled per vectorised step (bounds memory).

    Returns
    -------
    torch.Tensor
        Sinogram ``(B, n_views, D)``; multiply by the pixel size (mm) for mm units.
    """
    b, s, s2 = image.shape
    if s != s2:
        raise ValueError(f"image must be square, got {tuple(image.shape)}")
    d = n_detectors(s)
    theta = view_angles(n_views)
    c = _centred(s)
    xf = c[None, :].expand(s, s).reshape(-1)
    yf = c[:, None].expand(s, s).reshape(-1)
    img = image.float().reshape(b, 1, -1)
    out = torch.zeros(b, n_views * d, dtype=torch.float32)
    centre = (d - 1) / 2.0
    for v0 in range(0, n_views, chunk):
        th = theta[v0 : v0 + chunk, None]
        nv = th.shape[0]
        t = (xf[None] * torch.cos(th) + yf[None] * torch.sin(th) + centre).float()
        i0 = t.floor().clamp_(0, d - 2)
        w = (t - i0)[None]
        idx = (i0.long() + (torch.arange(v0, v0 + nv) * d)[:, None]).reshape(1, -1)
        idx = idx.expand(b, -1)
        hi = (img * w).reshape(b, -1)
        out.scatter_add_(1, idx, img.expand(-1, nv, -1).reshape(b, -1) - hi)
        out.scatter_add_(1, idx + 1, hi)
    return out.reshape(b, n_views, d)


@lru_cache(maxsize=8)
def _ramp_kernel(n_det: int) -> tuple[torch.Tensor, int]:
    # Spatial-domain Ram-Lak (Kak & Slaney 1988, eq. 61): no DC offset, unlike |f| sampled.
    pad = 1 << int(math.ceil(math.log2(2 * n_det)))
    n = torch.cat((torch.arange(0, pad // 2 + 1), torch.arange(pad // 2 - 1, 0, -1)))
    h = torch.zeros(pad, dtype=torch.float64)
    h[0] = 0.25
    odd = n % 2 == 1
    h[odd] = -1.0 / (math.pi * n[odd].double()) ** 2
    return torch.fft.rfft(h).real.float(), pad


def ramp_filter(sinogram: torch.Tensor) -> torch.Tensor:
    """Ram-Lak filter along the detector axis of ``(..., D)`` projections (pixel units)."""
    d = sinogram.shape[-1]
    kernel, pad = _ramp_kernel(d)
    spec = torch.fft.rfft(sinogram.float(), n=pad, dim=-1) * kernel
    return torch.fft.irfft(spec, n=pad, dim=-1)[..., :d]


def backproject(sinogram: torch.Tensor, size: int, chunk: int = 4) -> torch.Tensor:
    """Pixel-driven linear-interpolation back-projection, ``(B, V, D) -> (B, S, S)``.

    Scaled by ``pi / V`` so that ``backproject(ramp_filter(radon(f)))`` approximates ``f``.
    """
    b, n_views, d = sinogram.shape
    theta = view_angles(n_views)
    c = _centred(size)
    xf = c[None, :].expand(size, size).reshape(-1)
    yf = c[:, None].expand(size, size).reshape(-1)
    sino = sinogram.float().reshape(b, n_views * d)
    out = torch.zeros(b, size * size, dtype=torch.float32)
    centre = (d - 1) / 2.0
    for v0 in range(0, n_views, chunk):
        th = theta[v0 : v0 + chunk, None]
        t = (xf[None] * torch.cos(th) + yf[None] * torch.sin(th) + centre).float()
        i0 = t.floor().clamp_(0, d - 2)
        w = (t - i0).unsqueeze(0)
        idx = (i0.long() + (torch.arange(v0, v0 + th.shape[0]) * d)[:, None]).reshape(1, -1)
        idx = idx.expand(b, -1)
        a = torch.gather(sino, 1, idx)
        a1 = torch.gather(sino, 1, idx + 1)
        vals = a.reshape(b, th.shape[0], -1)
        vals = vals + w * (a1.reshape(b, th.shape[0], -1) - vals)
        out += vals.sum(dim=1)
    return (out * (math.pi / n_views)).reshape(b, size, size)


def fbp(sinogram: torch.Tensor, size: int) -> torch.Tensor:
    """Filtered back-projection (Ram-Lak) of ``(B, V, D)`` line integrals in pixel units."""
    return backproject(ramp_filter(sinogram), size)
