"""MR degradation operators acting on the complex image, in-plane k-space per slice.

Every operator takes a complex array ``(y, x)`` or ``(z, y, x)`` and returns one of the
same shape; the caller takes the magnitude once at the end, so k-space operations and
Rician noise compose the way they do in an acquisition. k-space is the orthonormal 2-D
FFT over the last two (in-plane) axes: 3-D volumes are treated as 2-D multi-slice
acquisitions (the most common clinical protocol), and only ``blur`` acts through-plane
(slice thickness). Frequencies are indexed with ``np.fft.fftfreq`` (cycles per pixel,
-0.5..0.5), so no ``fftshift`` is needed. ``axis`` (0 or 1) picks the phase-encode
axis among the in-plane axes ``(y, x)``.

Written with numpy rather than wrapping MONAI because MONAI's ``GibbsNoise`` and
``KSpaceSpikeNoise`` return the real part instead of the magnitude, its Rician std is
absolute rather than relative to the image, and motion/ghosting (TorchIO) are not
installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

BIAS_MASK_FRACTION = 0.1  # of the robust maximum: where the bias field's ratio is measured


def _fft(z: np.ndarray) -> np.ndarray:
    return np.fft.fft2(z, axes=(-2, -1), norm="ortho")


def _ifft(k: np.ndarray) -> np.ndarray:
    return np.fft.ifft2(k, axes=(-2, -1), norm="ortho")


def _freqs(shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Cycles per pixel along y and x, broadcastable to ``(..., ny, nx)``."""
    return np.fft.fftfreq(shape[-2])[:, None], np.fft.fftfreq(shape[-1])[None, :]


def _pe_line_shape(shape: Sequence[int], axis: int) -> tuple[int, ...]:
    """Broadcast shape of a per-phase-encode-line vector."""
    out = [1] * len(shape)
    out[len(shape) - 2 + axis] = shape[len(shape) - 2 + axis]
    return tuple(out)


def check_range(name: str, value: float, lo: float, hi: float) -> float:
    """Return ``float(value)`` or raise ValueError naming the parameter."""
    v = float(value)
    if not np.isfinite(v) or v < lo or v > hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return v


def check_axis(axis: Any) -> int:
    """Phase-encode axis among the in-plane axes: 0 (y) or 1 (x)."""
    if axis not in (0, 1):
        raise ValueError(f"axis must be 0 (y) or 1 (x), got {axis!r}")
    return int(axis)


def rician_noise(
    z: np.ndarray, spacing: Sequence[float], ctx: dict, *, sigma: float, seed: int
) -> np.ndarray:
    """Add complex Gaussian noise of std ``sigma * scale`` to real and imaginary parts.

    The magnitude of the result is Rician (Rayleigh where the signal is 0). ``sigma``
    is a fraction of the clean image's robust maximum (``ctx["scale"]``, its 99.5th
    percentile), so the simulator is scale-invariant. Adding white noise to the
    complex image equals adding it to k-space under the orthonormal FFT.
    """
    sigma = check_range("sigma", sigma, 0.0, 1.0)
    rng = np.random.default_rng(int(seed))
    s = sigma * ctx["scale"]
    noise = rng.standard_normal((2, *z.shape), dtype=np.float32) * np.float32(s)
    return z + (noise[0] + 1j * noise[1]).astype(z.dtype)


def blur(
    z: np.ndarray,
    spacing: Sequence[float],
    ctx: dict,
    *,
    res_factor: float,
    slice_mm: float,
) -> np.ndarray:
    """Low resolution: in-plane k-space truncation and thick-slice partial volume.

    The acquired in-plane matrix is ``1 / res_factor`` of the image's, with a
    raised-cosine roll-off over the outer 30 % of the kept band (the apodisation
    scanners apply to limit ringing; hard truncation is `gibbs_ringing`). For 3-D
    volumes each slice becomes the average over a ``slice_mm`` thick slab (box
    slice profile), when that is thicker than the slice spacing.
    """
    res_factor = check_range("res_factor", res_factor, 1.0, 8.0)
    slice_mm = check_range("slice_mm", slice_mm, 0.0, 20.0)
    fy, fx = _freqs(z.shape)
    cut = 0.5 / res_factor

    def window(f: np.ndarray) -> np.ndarray:
        a = np.abs(f) / cut
        w = np.where(a <= 0.7, 1.0, 0.5 * (1.0 + np.cos(np.pi * (a - 0.7) / 0.3)))
        return np.where(a <= 1.0, w, 0.0)

    if res_factor > 1.0:
        z = _ifft(_fft(z) * (window(fy) * window(fx)).astype(np.float32))
    if z.ndim == 3 and slice_mm > spacing[0]:
        width = slice_mm / spacing[0]  # slab width in slices (fractional edges)
        half = width / 2.0
        n = int(np.ceil(half - 0.5))
        taps = np.ones(2 * n + 1)
        edge = half - (n - 0.5)
        if n > 0:
            taps[0] = taps[-1] = edge
        taps /= taps.sum()
        z = ndimage.convolve1d(z.real, taps, axis=0, mode="nearest") + 1j * ndimage.convolve1d(
            z.imag, taps, axis=0, mode="nearest"
        )
    return z.astype(np.complex64)


def gibbs_ringing(z: np.ndarray, spacing: Sequence[float], ctx: dict, *, keep: float) -> np.ndarray:
    """Hard k-space truncation: keep the central ``keep`` fraction along both in-plane axes.

    No apodisation, so edges ring (Gibbs phenomenon, ~9 % overshoot).
    """
    keep = check_range("keep", keep, 0.05, 1.0)
    fy, fx = _freqs(z.shape)
    mask = (np.abs(fy) <= keep / 2) & (np.abs(fx) <= keep / 2)
    return _ifft(_fft(z) * mask)


def motion(
    z: np.ndarray,
    spacing: Sequence[float],
    ctx: dict,
    *,
    axis: int,
    times: Sequence[float],
    shifts_mm: Sequence[Sequence[float]],
    angles_deg: Sequence[float],
) -> np.ndarray:
    """Rigid in-plane motion during a sequential Cartesian acquisition.

    Phase-encode lines are acquired in order from the most negative to the most
    positive frequency; ``times`` (sorted fractions in (0, 1)) split them into
    ``len(times) + 1`` segments, and segment ``k`` is filled from the k-space of the
    image rotated by ``angles_deg[k]`` about the centre and shifted by
    ``shifts_mm[k]`` = (dy, dx) (Fourier shift theorem, exact). The same motion
    applies to every slice of a volume (in-plane motion only).
    """
    axis = check_axis(axis)
    n_seg = len(times) + 1
    if len(shifts_mm) != n_seg or len(angles_deg) != n_seg:
        raise ValueError("shifts_mm and angles_deg need len(times) + 1 entries")
    t = np.asarray(times, dtype=float)
    if t.size and (np.any(t <= 0) or np.any(t >= 1) or np.any(np.diff(t) < 0)):
        raise ValueError(f"times must be sorted fractions in (0, 1), got {list(times)!r}")
    for a in angles_deg:
        check_range("angles_deg", a, -45.0, 45.0)
    n_pe = z.shape[z.ndim - 2 + axis]
    # Acquisition order: k index sorted by signed frequency (sequential ordering).
    order = np.argsort(np.fft.fftfreq(n_pe), kind="stable")
    segment = np.empty(n_pe, dtype=int)
    segment[order] = np.searchsorted(np.round(t * n_pe), np.arange(n_pe), side="right")
    k = _fft(z)
    fy, fx = _freqs(z.shape)
    sy, sx = float(spacing[-2]), float(spacing[-1])
    out = k.copy()
    for seg in range(n_seg):
        (dy, dx), ang = shifts_mm[seg], float(angles_deg[seg])
        if dy == 0 and dx == 0 and ang == 0:
            continue  # identity pose: the clean k-space is already in `out`
        lines = segment == seg
        if not lines.any():
            continue
        moved = z
        if ang != 0:
            moved = ndimage.rotate(
                z.real, ang, axes=(-2, -1), reshape=False, order=3, mode="constant"
            ) + 1j * ndimage.rotate(
                z.imag, ang, axes=(-2, -1), reshape=False, order=3, mode="constant"
            )
        km = _fft(moved) * np.exp(-2j * np.pi * (fy * dy / sy + fx * dx / sx))
        sel = lines.reshape(_pe_line_shape(z.shape, axis))
        out = np.where(sel, km, out)
    return _ifft(out)


def ghosting(
    z: np.ndarray,
    spacing: Sequence[float],
    ctx: dict,
    *,
    axis: int,
    intensity: float,
    period: int,
) -> np.ndarray:
    """Periodic ghosts along the phase-encode axis (TorchIO ``RandomGhosting`` model).

    Every ``period``-th phase-encode line is scaled by ``1 - intensity`` (a periodic
    signal modulation such as respiration or cardiac pulsation), which places
    ``period - 1`` ghosts at ``FOV / period`` spacing with amplitude ~``intensity /
    period``; the central 2 % of lines is restored as in TorchIO so that image
    contrast is kept.
    """
    axis = check_axis(axis)
    intensity = check_range("intensity", intensity, 0.0, 1.0)
    if int(period) != period or not 2 <= period <= 16:
        raise ValueError(f"period must be an integer in [2, 16], got {period!r}")
    n_pe = z.shape[z.ndim - 2 + axis]
    f = np.fft.fftfreq(n_pe)
    gain = np.ones(n_pe, dtype=np.float32)
    gain[:: int(period)] = 1.0 - intensity
    gain[np.abs(f) < 0.01] = 1.0
    return _ifft(_fft(z) * gain.reshape(_pe_line_shape(z.shape, axis)))


def spike(
    z: np.ndarray,
    spacing: Sequence[float],
    ctx: dict,
    *,
    amplitude: float,
    positions: Sequence[Sequence[float]],
    phases: Sequence[float],
) -> np.ndarray:
    """Herringbone: corrupted k-space samples (RF spikes) at ``positions`` (ky, kx).

    Positions are frequencies in cycles per pixel (-0.5..0.5). Each spike adds a
    complex sinusoid of amplitude ``amplitude * scale`` to the image (``scale`` is
    the robust maximum), i.e. a k-space value of that times sqrt(ny * nx) under the
    orthonormal FFT. Applied to every slice of a volume.
    """
    amplitude = check_range("amplitude", amplitude, 0.0, 2.0)
    if len(positions) != len(phases):
        raise ValueError("positions and phases need the same length")
    ny, nx = z.shape[-2:]
    k = _fft(z)
    a = amplitude * ctx["scale"] * np.sqrt(ny * nx)
    for (py, px), ph in zip(positions, phases):
        check_range("positions", py, -0.5, 0.5)
        check_range("positions", px, -0.5, 0.5)
        iy, ix = int(round(py * ny)) % ny, int(round(px * nx)) % nx
        k[..., iy, ix] += a * np.exp(1j * float(ph))
    return _ifft(k)


def bias_field_map(
    shape: Sequence[int],
    coeffs: Sequence[float],
    ratio: float,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Smooth positive multiplicative field: exp of a degree-3 Legendre polynomial.

    Coordinates run over [-1, 1] along each axis. The log-field is rescaled so that
    ``max / min == ratio`` over ``mask`` (the anatomy; the whole array if None or
    empty), centred there so its geometric mean is 1, and clipped to that range
    outside it. Measured over the array box instead, the cubic's extremes fall in the
    empty corners: a box ratio of 1.64 left 0.91-1.13 (1st-99th percentile) across a
    held-out brain, while the severities cite spans over the anatomy (BrainWeb INU).
    """
    ndim = len(shape)
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij", sparse=True)
    terms = _legendre_terms(ndim)
    if len(coeffs) != len(terms):
        raise ValueError(f"coeffs needs {len(terms)} values for a {ndim}-D image")
    log_f = np.zeros(tuple(shape), dtype=np.float64)
    for c, degs in zip(coeffs, terms):
        term = 1.0
        for g, d in zip(grids, degs):
            term = term * np.polynomial.legendre.Legendre.basis(d)(g)
        log_f = log_f + c * term
    if mask is not None and mask.shape != tuple(shape):
        raise ValueError(f"mask has shape {mask.shape}, the field {tuple(shape)}")
    inside = log_f[mask] if mask is not None and mask.any() else log_f
    lo, hi = float(inside.min()), float(inside.max())
    if hi - lo <= 0:
        return np.ones(tuple(shape), dtype=np.float32)
    log_f = (np.clip(log_f, lo, hi) - float(inside.mean())) * (np.log(ratio) / (hi - lo))
    return np.exp(log_f).astype(np.float32)


def _legendre_terms(ndim: int, degree: int = 3) -> list[tuple[int, ...]]:
    """Exponent tuples of the non-constant Legendre terms of total degree <= 3."""
    import itertools

    return [d for d in itertools.product(range(degree + 1), repeat=ndim) if 0 < sum(d) <= degree]


def bias_field(
    z: np.ndarray,
    spacing: Sequence[float],
    ctx: dict,
    *,
    ratio: float,
    seed: int,
) -> np.ndarray:
    """Multiply by a smooth coil-sensitivity field, max/min ``ratio`` over the anatomy.

    The anatomy is where the clean magnitude exceeds 10 % of its robust maximum
    (``ctx["scale"]``). The polynomial coefficients are standard normal draws from
    ``seed`` (one per Legendre term of the image's dimensionality). Hand-written
    rather than wrapping MONAI ``RandBiasField`` because MONAI draws raw coefficients,
    so its severity cannot be stated as a percentage inhomogeneity.
    """
    ratio = check_range("ratio", ratio, 1.0, 5.0)
    coeffs = np.random.default_rng(int(seed)).standard_normal(len(_legendre_terms(z.ndim)))
    anatomy = np.abs(z) > BIAS_MASK_FRACTION * ctx["scale"]
    return z * bias_field_map(z.shape, coeffs, ratio, anatomy)


def undersampling_mask(
    n: int, acceleration: float, center_fraction: float, pattern: str, seed: int
) -> np.ndarray:
    """fastMRI-style 1-D Cartesian mask over ``n`` phase-encode lines (fftfreq order)."""
    rng = np.random.default_rng(int(seed))
    f = np.fft.fftfreq(n)
    n_centre = max(1, int(round(n * center_fraction)))
    order = np.argsort(np.abs(f), kind="stable")
    mask = np.zeros(n, dtype=bool)
    mask[order[:n_centre]] = True
    if pattern == "random":
        prob = max(0.0, (n / acceleration - n_centre) / max(1, n - n_centre))
        mask |= rng.random(n) < prob
    elif pattern == "equispaced":
        step = acceleration
        offset = rng.uniform(0, step)
        pos = np.arange(offset, n, step).astype(int)  # positions in acquisition order
        mask[np.argsort(f, kind="stable")[pos]] = True
    else:
        raise ValueError(f"pattern must be 'random' or 'equispaced', got {pattern!r}")
    return mask


def undersampling(
    z: np.ndarray,
    spacing: Sequence[float],
    ctx: dict,
    *,
    axis: int,
    acceleration: float,
    center_fraction: float,
    pattern: str,
    seed: int,
) -> np.ndarray:
    """Cartesian undersampling of phase-encode lines, zero-filled reconstruction.

    Masks follow the fastMRI challenge (Zbontar et al. 2018): a fully sampled
    centre of ``center_fraction`` of the lines plus random or equispaced lines
    for an overall ``acceleration``. The same mask applies to every slice.
    """
    axis = check_axis(axis)
    acceleration = check_range("acceleration", acceleration, 1.0, 16.0)
    center_fraction = check_range("center_fraction", center_fraction, 0.0, 1.0)
    n_pe = z.shape[z.ndim - 2 + axis]
    mask = undersampling_mask(n_pe, acceleration, center_fraction, pattern, seed)
    return _ifft(_fft(z) * mask.reshape(_pe_line_shape(z.shape, axis)))
