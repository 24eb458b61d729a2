"""The restoration methods compared: napari-dcpt (default and no-pre-training) and the
classical tools a user would try instead, with their tuned settings (`TUNED`).

Every method maps a degraded `Case` to a float32 array in scanner units. Classical
methods work on intensities scaled to about [0, 1] (MR: / the degraded volume's
99.5th percentile; CT: the [-1000, 1000] HU window) and are given the true noise std
where the record has noise (`Case.noise_std`), otherwise skimage's wavelet estimate
of it (what a user would do), and the true PSF for blur.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import NOISE_TYPES, Case

# Settings chosen once by `python -m benchmarks tune` on the tuning volumes (MR: colin27
# T1 crop; CT: head-atlas slab), masked PSNR averaged over noise cases (denoisers) or
# blur cases (Richardson-Lucy), mild/moderate/severe. `k` multiplies the noise std.
# Result of the run recorded in benchmarks/results/tuning.json.
TUNED: dict[str, dict[str, dict[str, Any]]] = {
    "MR": {
        "nlm": {"patch_size": 5, "patch_distance": 6, "k": 0.8},
        "tv": {"k": 0.5},
        "wavelet": {"k": 1.0, "wavelet": "db2"},
        "richardson_lucy": {"num_iter": 2},  # every setting loses on MR blur; 2 loses least
        "wiener": {"balance": 0.03},
        "dipy_nlm": {"patch_radius": 1, "block_radius": 3, "k": 1.0},
        "bm4d": {"k": 1.0},  # not tuned (true std; ~40 s per call)
        "n4": {"shrink": 2, "iterations": [50, 50, 50]},  # not tuned
    },
    "CT": {
        "nlm": {"patch_size": 5, "patch_distance": 6, "k": 0.8},
        "tv": {"k": 0.5},
        "wavelet": {"k": 3.0, "wavelet": "db2"},  # grid edge; 2.0 -> 3.0 gains 0.02 dB
        # grid edges: noise-free blur rewards aggressive deconvolution (kept; see docs)
        "richardson_lucy": {"num_iter": 40},
        "wiener": {"balance": 0.0003},
        "bm4d": {"k": 1.0},
    },
}


@dataclass
class Method:
    """A named restoration method, which cases it applies to, and how it runs."""

    name: str
    kind: str  # "dcpt" or "classical"
    run: Callable[[Case, dict[str, Any]], np.ndarray]
    applies: Callable[[Case], bool]
    note: str = ""


def _scale(case: Case) -> tuple[float, float]:
    """(offset, scale) mapping scanner units to ~[0, 1] without looking at the clean."""
    if case.volume.modality == "CT":
        return -1000.0, 2000.0
    top = float(np.percentile(case.degraded, 99.5))
    return 0.0, top if top > 0 else 1.0


def _sigma_n(case: Case, xn: np.ndarray) -> float:
    """Noise std in normalised units: the true one, else skimage's estimate."""
    off, sc = _scale(case)
    if case.noise_std is not None:
        return case.noise_std / sc
    from skimage.restoration import estimate_sigma

    return float(estimate_sigma(xn, average_sigmas=True))


def _norm(case: Case) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    off, sc = _scale(case)
    xn = (case.degraded.astype(np.float64) - off) / sc
    return xn, lambda y: (np.asarray(y, np.float64) * sc + off).astype(np.float32)


def nlm(case: Case, p: dict[str, Any]) -> np.ndarray:
    """skimage non-local means, slice by slice (3-D NLM is ~40x slower here)."""
    from skimage.restoration import denoise_nl_means

    xn, back = _norm(case)
    s = _sigma_n(case, xn)
    out = np.stack(
        [
            denoise_nl_means(
                sl,
                patch_size=p["patch_size"],
                patch_distance=p["patch_distance"],
                h=p["k"] * s,
                sigma=s,
                fast_mode=True,
            )
            for sl in xn
        ]
    )
    return back(out)


def tv(case: Case, p: dict[str, Any]) -> np.ndarray:
    """skimage 3-D total-variation denoising (Chambolle), weight = k x noise std."""
    from skimage.restoration import denoise_tv_chambolle

    xn, back = _norm(case)
    return back(denoise_tv_chambolle(xn, weight=p["k"] * _sigma_n(case, xn)))


def wavelet(case: Case, p: dict[str, Any]) -> np.ndarray:
    """skimage 3-D wavelet denoising (BayesShrink, soft), sigma = k x noise std."""
    from skimage.restoration import denoise_wavelet

    xn, back = _norm(case)
    return back(
        denoise_wavelet(
            xn,
            sigma=p["k"] * _sigma_n(case, xn),
            wavelet=p["wavelet"],
            mode="soft",
            method="BayesShrink",
            rescale_sigma=True,
        )
    )


def richardson_lucy(case: Case, p: dict[str, Any]) -> np.ndarray:
    """skimage Richardson-Lucy deconvolution with the record's PSF (`rl_psf`)."""
    from skimage.restoration import richardson_lucy as rl

    xn, back = _norm(case)
    psf = rl_psf(case)
    xp, crop = _pad(np.clip(xn, 0, None), psf.shape)
    return back(crop(rl(xp, psf, num_iter=p["num_iter"], clip=False, filter_epsilon=1e-3)))


def rl_psf(case: Case) -> np.ndarray:
    """A non-negative PSF for Richardson-Lucy.

    CT: the record's Gaussian PSF itself. MR: the band-limited k-space PSF has negative
    lobes that RL cannot take (clipping them leaves heavy ring-shaped tails and RL then
    loses 5-15 dB), so its main lobe is replaced by a Gaussian of the same FWHM along y
    and x, times the record's (non-negative) thick-slice profile along z. Hand-written:
    no library derives an RL kernel from a k-space window.
    """
    assert case.psf is not None
    psf = case.psf.astype(np.float64)
    if case.volume.modality == "CT":
        return psf / psf.sum()
    zc, yc, xc = (n // 2 for n in psf.shape)
    z = np.clip(psf.sum(axis=(1, 2)), 0, None)

    def fwhm(profile: np.ndarray) -> float:
        c, half = len(profile) // 2, profile[len(profile) // 2] / 2
        i = c
        while i + 1 < len(profile) and profile[i + 1] > half:
            i += 1
        if i + 1 >= len(profile):
            return float(len(profile))
        # linear interpolation of the half-maximum crossing on the right flank
        frac = (profile[i] - half) / (profile[i] - profile[i + 1])
        return 2.0 * (i - c + frac)

    sy, sx = (fwhm(prof) / 2.3548 for prof in (psf[zc, :, xc], psf[zc, yc, :]))
    yy, xx = np.mgrid[: psf.shape[1], : psf.shape[2]]
    g = np.exp(-0.5 * (((yy - yc) / max(sy, 1e-3)) ** 2 + ((xx - xc) / max(sx, 1e-3)) ** 2))
    out = z[:, None, None] * g[None]
    return out / out.sum()


def _pad(x: np.ndarray, psf_shape: tuple[int, ...]) -> tuple[np.ndarray, Any]:
    """Reflect-pad by the PSF size so FFT deconvolution sees no edge (12-16 slices only)."""
    w = [(n, n) for n in psf_shape]
    sl = tuple(slice(n, n + s) for n, s in zip(psf_shape, x.shape))
    return np.pad(x, w, mode="reflect"), lambda y: y[sl]


def wiener(case: Case, p: dict[str, Any]) -> np.ndarray:
    """skimage 3-D Wiener deconvolution with the record's true (signed) PSF."""
    from skimage.restoration import wiener as wn

    xn, back = _norm(case)
    assert case.psf is not None
    xp, crop = _pad(xn, case.psf.shape)
    return back(crop(wn(xp, case.psf.astype(np.float64), balance=p["balance"], clip=False)))


def n4(case: Case, p: dict[str, Any]) -> np.ndarray:
    """SimpleITK N4 bias-field correction (Otsu mask), rescaled to the input's mean.

    N4's output has an arbitrary global gain; matching the corrected foreground mean
    to the input's (no clean image used) keeps PSNR about the field, not the gain.
    """
    import SimpleITK as sitk

    x = case.degraded.astype(np.float32)
    img = sitk.GetImageFromArray(x)
    img.SetSpacing(tuple(float(s) for s in case.volume.spacing[::-1]))
    mask = sitk.OtsuThreshold(img, 0, 1, 200)
    small = sitk.Shrink(img, [p["shrink"]] * 3)
    small_mask = sitk.Shrink(mask, [p["shrink"]] * 3)
    f = sitk.N4BiasFieldCorrectionImageFilter()
    f.SetMaximumNumberOfIterations(list(p["iterations"]))  # one entry per fitting level
    f.Execute(small, small_mask)
    log_field = f.GetLogBiasFieldAsImage(img)
    out = x / np.exp(sitk.GetArrayFromImage(log_field))
    m = sitk.GetArrayFromImage(mask).astype(bool)
    if m.any():
        out *= x[m].mean() / max(float(out[m].mean()), 1e-6)
    return out.astype(np.float32)


def dipy_nlm(case: Case, p: dict[str, Any]) -> np.ndarray:
    """dipy 3-D non-local means in Rician mode (MR magnitude noise)."""
    from dipy.denoise.nlmeans import nlmeans

    xn, back = _norm(case)
    s = p["k"] * _sigma_n(case, xn)
    return back(
        nlmeans(
            xn,
            sigma=s,
            patch_radius=p["patch_radius"],
            block_radius=p["block_radius"],
            rician=True,
            num_threads=1,
        )
    )


def bm4d_denoise(case: Case, p: dict[str, Any]) -> np.ndarray:
    """BM4D (`bm4d` package, non-commercial licence; optional) with the noise std."""
    import bm4d

    xn, back = _norm(case)
    return back(np.asarray(bm4d.bm4d(xn, p["k"] * _sigma_n(case, xn))))


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _has_noise(case: Case) -> bool:
    return NOISE_TYPES[case.volume.modality] in case.record.types


def classical_methods(
    modality: str, bm4d_cases: str = "noise-single", quick: bool = False
) -> list[Method]:
    """The classical methods for ``modality`` that are installed.

    ``bm4d_cases``: ``"noise-single"`` (single noise degradations only, and for CT one
    severity: BM4D takes ~40 s per 16x128x128 MR crop and ~150 s per 10x320x320 CT
    slab on this CPU), ``"all"`` or ``"none"``.
    """
    every: Callable[[Case], bool] = lambda c: True  # noqa: E731
    out = [
        Method("nlm", "classical", nlm, every, "skimage denoise_nl_means, 2-D per slice"),
        Method("tv", "classical", tv, every, "skimage denoise_tv_chambolle, 3-D"),
        Method("wavelet", "classical", wavelet, every, "skimage denoise_wavelet, 3-D"),
        Method(
            "richardson_lucy",
            "classical",
            richardson_lucy,
            lambda c: "blur" in c.record.types,
            "skimage richardson_lucy, true PSF",
        ),
        Method(
            "wiener",
            "classical",
            wiener,
            lambda c: "blur" in c.record.types,
            "skimage wiener, true PSF",
        ),
    ]
    if modality == "MR":
        out.append(
            Method(
                "n4",
                "classical",
                n4,
                lambda c: "bias_field" in c.record.types,
                "SimpleITK N4BiasFieldCorrection",
            )
        )
        if _has("dipy"):
            out.append(
                Method("dipy_nlm", "classical", dipy_nlm, every, "dipy nlmeans, rician=True")
            )
    if _has("bm4d") and bm4d_cases != "none":
        ct_sev = "severe" if quick else "moderate"

        def noise_single(c: Case) -> bool:
            return (
                _has_noise(c)
                and c.kind == "single"
                and (c.volume.modality == "MR" or c.severity == ct_sev)
            )

        pick = every if bm4d_cases == "all" else noise_single
        out.append(Method("bm4d", "classical", bm4d_denoise, pick, "bm4d package"))
    return out


def dcpt_method(name: str, weights: Path, threads: int = 1) -> Method:
    """napari-dcpt's `restore()` with the given weights file (CPU)."""

    def go(case: Case, p: dict[str, Any]) -> np.ndarray:
        from napari_dcpt.inference import restore, run
        from napari_dcpt.volume import Volume

        vol = Volume(
            case.degraded,
            case.volume.affine,
            case.volume.modality,
            "HU" if case.volume.modality == "CT" else "",
        )
        res = run(restore(vol, model=weights, device="cpu", threads=threads))
        case.reports[name] = res.report
        return np.asarray(res.volume.array, np.float32)

    return Method(name, "dcpt", go, lambda c: True, str(weights))
