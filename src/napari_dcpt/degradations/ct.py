"""CT degradation operators on HU slices: sinogram-domain physics with the torch projector.

Each operator takes a float32 array in HU, ``(y, x)`` or ``(z, y, x)``, and returns one
of the same shape in HU. Sinogram work is 2-D parallel-beam on each axial slice,
batched over slices in torch (`napari_dcpt.degradations.projector`). Slices are padded
with air to a square whose side ``S`` sets the projector size; the in-plane pixel size
is the mean of the two in-plane spacings.

Noise and rings are *inserted*: the FBP of the sinogram perturbation is added to the
input image (Zeng et al., "A simple low-dose x-ray CT simulation from high-dose scan",
IEEE TNS 62(5), 2015), so the image keeps its own resolution and only the
degradation is simulated. FBP is linear, so this equals reconstructing the noisy
sinogram minus reconstructing the clean one. The input is treated as noise-free.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from napari_dcpt.degradations.mr import check_range

MU_WATER = 0.0192  # /mm, water at ~70 keV effective energy (NIST XCOM: 0.193 cm^2/g)
REF_VIEWS = 1000  # views per rotation of the reference scanner that defines I0


def default_views(size: int) -> int:
    """Views used for noise/ring insertion on an ``S x S`` slice.

    Half the matrix size: enough for the noise texture (each view's noise is
    independent, so angular undersampling adds no structured streaks) while keeping
    back-projection cost manageable on a CPU.
    """
    return max(90, size // 2)


def _to_batch(x: np.ndarray, fill: float) -> tuple[object, tuple[int, int, int, int]]:
    """``(y, x)``/``(z, y, x)`` numpy -> ``(B, S, S)`` torch padded with ``fill``."""
    import torch

    arr = x[None] if x.ndim == 2 else x
    _, h, w = arr.shape
    s = max(h, w)
    py, px = (s - h) // 2, (s - w) // 2
    out = np.full((arr.shape[0], s, s), fill, dtype=np.float32)
    out[:, py : py + h, px : px + w] = arr
    return torch.from_numpy(out), (py, px, h, w)


def _from_batch(t: object, box: tuple[int, int, int, int], ndim: int) -> np.ndarray:
    py, px, h, w = box
    out = t.numpy()[:, py : py + h, px : px + w]  # type: ignore[attr-defined]
    return out[0] if ndim == 2 else out


def _pixel_mm(spacing: Sequence[float]) -> float:
    return float(np.mean(spacing[-2:]))


def blur(x: np.ndarray, spacing: Sequence[float], ctx: dict, *, fwhm_mm: float) -> np.ndarray:
    """In-plane Gaussian PSF of full width at half maximum ``fwhm_mm`` (focal spot,
    detector aperture, smooth reconstruction kernel). Through-plane is untouched."""
    fwhm_mm = check_range("fwhm_mm", fwhm_mm, 0.0, 20.0)
    sig = fwhm_mm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    sigmas = [0.0] * (x.ndim - 2) + [sig / spacing[-2], sig / spacing[-1]]
    return ndimage.gaussian_filter(x, sigmas, mode="nearest", truncate=3.0)


def sparse_view(x: np.ndarray, spacing: Sequence[float], ctx: dict, *, n_views: int) -> np.ndarray:
    """Reconstruct each slice by FBP from only ``n_views`` projections over 180 deg.

    Angular undersampling leaves the streaks of sparse-view CT (Jin et al., FBPConvNet,
    IEEE TIP 2017). The image is projected and reconstructed as HU + 1000 so that
    the padding (air) is zero.
    """
    from napari_dcpt.degradations import projector

    if int(n_views) != n_views or not 8 <= n_views <= 2000:
        raise ValueError(f"n_views must be an integer in [8, 2000], got {n_views!r}")
    batch, box = _to_batch(x + 1000.0, 0.0)
    rec = projector.fbp(projector.radon(batch, int(n_views)), batch.shape[-1])
    return _from_batch(rec, box, x.ndim) - 1000.0


def low_dose(
    x: np.ndarray,
    spacing: Sequence[float],
    ctx: dict,
    *,
    I0: float,
    electronic_std: float,
    seed: int,
) -> np.ndarray:
    """Quantum and electronic noise of a scan at incident flux ``I0``, inserted by FBP.

    HU -> linear attenuation (mu = mu_water (1 + HU/1000)) -> line integrals p ->
    expected counts ``lam * exp(-p)`` -> Poisson counts + Gaussian electronic noise
    (std ``electronic_std`` counts) -> ``-log(counts / lam)`` -> FBP of the
    difference to p -> HU, added to the input. ``I0`` is photons per view per
    1 mm x 1 mm ray for a reference scanner with 1000 views per rotation; a simulated
    ray of width ``pixel`` mm over ``V`` views receives ``lam = I0 * (1000 / V) *
    pixel``, so the noise level does not depend on the number of simulated views.
    Line integrals for the count statistics are computed at half resolution (the
    expected counts are smooth); the noise itself is simulated at full resolution.
    """
    import torch

    from napari_dcpt.degradations import projector

    I0 = check_range("I0", I0, 1e2, 1e9)
    electronic_std = check_range("electronic_std", electronic_std, 0.0, 1e3)
    batch, box = _to_batch(np.maximum(x, -1000.0), -1000.0)
    s = batch.shape[-1]
    n_views = int(ctx.get("n_views") or default_views(s))
    px = _pixel_mm(spacing)
    mu = (MU_WATER * px) * (1.0 + batch / 1000.0)  # attenuation per pixel
    d = projector.n_detectors(s)
    if s >= 128:
        half = torch.nn.functional.avg_pool2d(mu[:, None], 2, ceil_mode=True)[:, 0]
        p_half = projector.radon(half, max(8, n_views // 2)) * 2.0
        p = torch.nn.functional.interpolate(
            p_half[:, None], size=(n_views, d), mode="bilinear", align_corners=True
        )[:, 0]
    else:
        p = projector.radon(mu, n_views)
    p = p.clamp_(min=0.0)
    lam = I0 * (REF_VIEWS / n_views) * px
    gen = torch.Generator().manual_seed(int(seed))
    mean_counts = lam * torch.exp(-p)
    counts = torch.poisson(mean_counts, generator=gen)
    if electronic_std > 0:
        counts = counts + electronic_std * torch.randn(counts.shape, generator=gen)
    counts = counts.clamp_(min=0.5)  # photon starvation: keep the log finite
    noise = -torch.log(counts / lam) - p
    rec = projector.fbp(noise, s) * (1000.0 / (MU_WATER * px))
    return x + _from_batch(rec, box, x.ndim)


def ring_profile(offsets: np.ndarray, radii: np.ndarray, n_views: int = 720) -> np.ndarray:
    """FBP of a sinogram that is constant over views, as a function of radius (pixels).

    Hand-written shortcut: such an image is rotationally symmetric, so a 1-D
    back-projection over many views at each radius replaces the 2-D one.
    """
    import torch

    from napari_dcpt.degradations import projector

    q = projector.ramp_filter(torch.from_numpy(offsets.astype(np.float32))[None]).numpy()[0]
    d = offsets.shape[0]
    theta = np.arange(n_views) * (np.pi / n_views)
    t = radii[:, None] * np.cos(theta)[None, :] + (d - 1) / 2.0
    return np.interp(t, np.arange(d), q).sum(axis=1) * (np.pi / n_views)


def ring(
    x: np.ndarray,
    spacing: Sequence[float],
    ctx: dict,
    *,
    gain_std: float,
    bad_gain: float,
    n_bad: int,
    seed: int,
) -> np.ndarray:
    """Concentric rings from uncorrected detector gain errors.

    Every detector channel has a gain ``1 + g`` with ``g ~ N(0, gain_std)``, and
    ``n_bad`` channels are miscalibrated by ``+-bad_gain``; the same gains hold for
    every view, so the sinogram gets per-channel offsets ``-log(1 + g)`` that FBP
    turns into rings centred on the rotation axis (the image centre).
    """
    gain_std = check_range("gain_std", gain_std, 0.0, 0.2)
    bad_gain = check_range("bad_gain", bad_gain, 0.0, 0.5)
    if int(n_bad) != n_bad or not 0 <= n_bad <= 64:
        raise ValueError(f"n_bad must be an integer in [0, 64], got {n_bad!r}")
    from napari_dcpt.degradations import projector

    h, w = x.shape[-2:]
    s = max(h, w)
    d = projector.n_detectors(s)
    rng = np.random.default_rng(int(seed))
    g = rng.normal(0.0, gain_std, d)
    if n_bad:
        bad = rng.choice(d, size=int(n_bad), replace=False)
        g[bad] += bad_gain * rng.choice([-1.0, 1.0], size=int(n_bad))
    offsets = -np.log1p(np.clip(g, -0.9, None))
    yy = np.arange(h) - (h - 1) / 2.0
    xx = np.arange(w) - (w - 1) / 2.0
    r = np.hypot(yy[:, None], xx[None, :])
    radii = np.arange(0, r.max() + 1.0, 0.25)
    prof = ring_profile(offsets, radii)
    img = np.interp(r, radii, prof) * (1000.0 / (MU_WATER * _pixel_mm(spacing)))
    return x + img.astype(np.float32)
