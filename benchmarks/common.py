"""Shared benchmark plumbing: held-out volumes, degradation cases, metrics and memory.

Everything here is numpy/scipy/skimage; torch is only imported by the napari-dcpt
method (`benchmarks.methods`) and the speed workers.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from napari_dcpt.degradations import (
    SEVERITIES,
    DegradationRecord,
    apply_record,
    sample_record,
    vocabulary,
)
from napari_dcpt.degradations import registry as _registry

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CACHE = ROOT / "runs" / "bench_cache"  # degraded volumes (CT sinogram physics is slow)
MACHINE = "2-core CPU, no GPU"
CT_WINDOW = (-1000.0, 1000.0)  # HU window for CT metrics -> data_range 2000 HU
MR_FG_FRACTION = 0.10  # MR foreground: clean > 10 % of the robust maximum
CT_BODY_HU = -500.0  # CT body mask: clean > -500 HU

# Mixtures measured in addition to every single type x severity (all moderate).
MIXTURES: dict[str, tuple[tuple[str, ...], ...]] = {
    "MR": (
        ("blur", "rician_noise"),
        ("motion", "rician_noise"),
        ("bias_field", "gibbs_ringing", "rician_noise"),
    ),
    "CT": (("blur", "low_dose"), ("sparse_view", "low_dose"), ("ring", "low_dose")),
}
QUICK_MIXTURES = {"MR": MIXTURES["MR"][:1], "CT": MIXTURES["CT"][:1]}
NOISE_TYPES = {"MR": "rician_noise", "CT": "low_dose"}


def data_dir() -> Path:
    """The real data cache (``$NAPARI_DCPT_DATA`` or ``~/.cache/napari-dcpt/data``)."""
    return Path(os.environ.get("NAPARI_DCPT_DATA", Path.home() / ".cache/napari-dcpt/data"))


@dataclass
class TestVolume:
    """A clean crop of a real volume (float32, scanner units) with its geometry.

    ``full`` is the full-slice array that CT degradations run on (sinogram physics
    needs whole slices); ``crop`` is the in-plane slice taken afterwards. ``source`` and
    ``z0`` say where the crop lies in the file (its first slice), for degradations that
    must see the whole scan (3-D k-space).
    """

    name: str
    modality: str
    clean: np.ndarray
    spacing: tuple[float, float, float]
    affine: np.ndarray
    full: np.ndarray | None = None
    crop: tuple[slice, slice] | None = None
    source: Path | None = None
    z0: int = 0

    def degrade(self, record: DegradationRecord) -> np.ndarray:
        """Apply ``record`` (on whole slices for CT) and return the cropped result."""
        src = self.full if self.full is not None else self.clean
        out = apply_record(src, record, self.spacing)
        if self.crop is not None:
            out = out[:, self.crop[0], self.crop[1]]
        return np.ascontiguousarray(out, dtype=np.float32)


def centre(n: int, k: int) -> slice:
    """The central ``min(n, k)`` indices of ``n``."""
    k = min(n, k)
    a = (n - k) // 2
    return slice(a, a + k)


def load_volume(
    path: Path,
    modality: str,
    name: str,
    slices: int = 16,
    size: int = 256,
    ct_crop: int = 320,
    z_centre: int | None = None,
) -> TestVolume:
    """Read a volume and cut ``slices`` central slices (in-plane <= ``size`` for MR).

    CT keeps whole slices for degrading and is cropped to ``ct_crop`` x ``ct_crop``
    (centre) afterwards.
    """
    from napari_dcpt import io

    vol = io.read(path, modality=modality)
    arr = np.asarray(vol.array, dtype=np.float32)
    zc = arr.shape[0] // 2 if z_centre is None else z_centre
    z0 = max(0, min(arr.shape[0] - slices, zc - slices // 2))
    arr = arr[z0 : z0 + slices]
    spacing = tuple(float(s) for s in vol.spacing)
    if modality == "CT":
        sl = (centre(arr.shape[1], ct_crop), centre(arr.shape[2], ct_crop))
        full = np.ascontiguousarray(arr)
        clean = np.ascontiguousarray(arr[:, sl[0], sl[1]])
        return TestVolume(name, modality, clean, spacing, vol.affine, full, sl, path, z0)  # type: ignore[arg-type]
    arr = arr[:, centre(arr.shape[1], size), centre(arr.shape[2], size)]
    return TestVolume(
        name,
        modality,
        np.ascontiguousarray(arr),
        spacing,  # type: ignore[arg-type]
        vol.affine,
        source=path,
        z0=z0,
    )


def heldout_volumes(modality: str, quick: bool = False) -> list[TestVolume]:
    """The development volumes no model was trained on (see docs/benchmarks.md)."""
    d = data_dir()
    if modality == "MR":
        vols = [load_volume(d / "mr/itk_t1_coronal.nii.gz", "MR", "itk_t1_coronal")]
        if not quick:
            vols.append(load_volume(d / "mr/breast1.nrrd", "MR", "breast1"))
        return vols
    val = ROOT / "runs/data/ct/val/lung1_z38-47.nii.gz"
    if val.exists():
        return [load_volume(val, "CT", "lung1_z38-47", slices=10)]
    # the same slab without prepare_ct: slices 38..47 of ct/lung1.nrrd
    return [load_volume(d / "ct/lung1.nrrd", "CT", "lung1_z38-47", slices=10, z_centre=43)]


def tuning_volumes(modality: str) -> list[TestVolume]:
    """Volumes the classical methods are tuned on (never the held-out ones)."""
    d = data_dir()
    if modality == "MR":
        return [
            load_volume(d / "mr/colin27_t1_1mm.nii.gz", "MR", "colin27_t1_1mm", slices=12, size=160)
        ]
    head = ROOT / "runs/data/ct/train/head_atlas_air.nii.gz"
    if not head.exists():
        raise SystemExit("run `python -m training.prepare_ct --out runs/data/ct` first")
    return [load_volume(head, "CT", "head_atlas_air", slices=8, z_centre=60)]


@dataclass
class Case:
    """One degraded input: which volume, the record, and the noise std it carries."""

    volume: TestVolume
    record: DegradationRecord
    kind: str  # "single", "mixture" or "clean"
    degraded: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    noise_std: float | None = None  # true noise std (scanner units) where the record has noise
    noise_source: str = ""
    psf: np.ndarray | None = field(repr=False, default=None)
    reports: dict[str, Any] = field(repr=False, default_factory=dict)  # method -> report

    @property
    def label(self) -> str:
        """e.g. ``rician_noise/severe`` or ``blur+rician_noise/moderate``."""
        if self.record.is_clean:
            return "clean"
        return "+".join(self.record.types) + "/" + "+".join(sorted(set(self.record.severities)))

    @property
    def type_key(self) -> str:
        """Types joined with ``+`` (``clean`` for a clean input)."""
        return "clean" if self.record.is_clean else "+".join(self.record.types)

    @property
    def severity(self) -> str:
        """The severity of a single type (mixtures: the shared one)."""
        return "" if self.record.is_clean else self.record.severities[0]


def case_records(
    modality: str, quick: bool, seed0: int = 0, mixtures: bool = True, clean: bool = True
) -> list[tuple[str, DegradationRecord]]:
    """Every registry type at every severity (quick: mild and severe), mixtures, clean.

    Seeds are fixed: ``seed0 + 100 * type index + severity index``.
    """
    sevs = ("mild", "severe") if quick else SEVERITIES
    out: list[tuple[str, DegradationRecord]] = []
    if clean:
        out.append(("clean", sample_record(modality, seed0, types="clean")))
    for ti, t in enumerate(vocabulary(modality)[1:]):
        for s in sevs:
            seed = seed0 + 100 * ti + SEVERITIES.index(s)
            out.append(("single", sample_record(modality, seed, types=(t,), severity=s, p_clean=0)))
    if mixtures:
        for mi, mix in enumerate((QUICK_MIXTURES if quick else MIXTURES)[modality]):
            out.append(
                (
                    "mixture",
                    sample_record(
                        modality, seed0 + 5000 + mi, types=mix, severity="moderate", p_clean=0
                    ),
                )
            )
    return out


@functools.cache  # read once per run, not once per case and method
def _simulator_digest() -> bytes:
    """Hash of the degradation simulator's source: a cached case is stale once it changes."""
    h = hashlib.sha1()
    for f in sorted(Path(_registry.__file__).parent.glob("*.py")):
        h.update(f.read_bytes())
    return h.digest()


def case_key(vol: TestVolume, rec: DegradationRecord) -> str:
    """Cache key of one degraded case: the volume, the record and the simulator's code."""
    h = hashlib.sha1(_simulator_digest())
    h.update(vol.name.encode())
    h.update(str(vol.clean.shape).encode())
    h.update(rec.to_json().encode())
    return h.hexdigest()[:16]


def _degrade_cached(vol: TestVolume, rec: DegradationRecord) -> np.ndarray:
    CACHE.mkdir(parents=True, exist_ok=True)
    f = CACHE / f"{case_key(vol, rec)}.npy"
    if f.exists():
        return np.load(f)
    out = vol.degrade(rec)
    np.save(f, out)
    return out


def mask_of(vol: TestVolume) -> np.ndarray:
    """Foreground: MR clean > 10 % of its 99.5th percentile; CT body (clean > -500 HU)."""
    if vol.modality == "CT":
        return vol.clean > CT_BODY_HU
    return vol.clean > MR_FG_FRACTION * float(np.percentile(vol.clean, 99.5))


def build_case(vol: TestVolume, kind: str, rec: DegradationRecord) -> Case:
    """Degrade (cached on disk) and attach the true noise std and PSF the record implies."""
    case = Case(vol, rec, kind, _degrade_cached(vol, rec))
    noise = NOISE_TYPES[vol.modality]
    if noise in rec.types:
        p = rec.params[rec.types.index(noise)]
        if vol.modality == "MR":
            # the simulator's std is sigma x the clean image's 99.5th percentile
            scale = _registry.robust_max(vol.full if vol.full is not None else vol.clean)
            case.noise_std = float(p["sigma"]) * scale
            case.noise_source = "record (sigma x clean p99.5)"
        else:
            # CT quantum noise has no closed-form std in HU: measure it as the std of
            # (degraded - the same record without low_dose) inside the body mask
            others = [t for t in rec.types if t != noise]
            if others:
                sub = DegradationRecord(
                    rec.modality,
                    tuple(others),
                    tuple(s for t, s in zip(rec.types, rec.severities) if t != noise),
                    tuple(q for t, q in zip(rec.types, rec.params) if t != noise),
                    rec.seed,
                )
                ref = _degrade_cached(vol, sub)
            else:
                ref = vol.clean
            case.noise_std = float(np.std((case.degraded - ref)[mask_of(vol)]))
            case.noise_source = "std of (degraded - noise-free) in body mask"
    if "blur" in rec.types:
        case.psf = blur_psf(vol, rec.params[rec.types.index("blur")])
    return case


def blur_psf(vol: TestVolume, params: dict[str, Any]) -> np.ndarray:
    """The true (signed) point-spread function of a ``blur`` record: the operator on a delta.

    Hand-written: the registry's blur operator is linear and shift-invariant, so its
    response to a unit impulse is exactly the PSF Richardson-Lucy needs.
    """
    spec = _registry.REGISTRY[(vol.modality, "blur")]
    nz = 9 if vol.modality == "MR" else 1
    delta = np.zeros((nz, 33, 33), np.float32)
    delta[nz // 2, 16, 16] = 1.0
    if vol.modality == "MR":
        out = spec.function(
            delta.astype(np.complex64), vol.spacing, {"scale": 1.0}, **spec.function_params(params)
        ).real
    else:
        out = spec.function(delta, vol.spacing, {}, **spec.function_params(params))
    psf = np.asarray(out, np.float64)  # signed: MR's band-limited PSF has negative lobes
    psf = psf[np.abs(psf).sum(axis=(1, 2)) > 1e-6]  # drop empty z planes
    return (psf / psf.sum()).astype(np.float32)


# -- metrics ---------------------------------------------------------------------------


def metric_range(vol: TestVolume) -> tuple[float, float]:
    """Intensity range of the metrics: CT [-1000, 1000] HU; MR [0, clean p99.5]."""
    if vol.modality == "CT":
        return CT_WINDOW
    return 0.0, float(np.percentile(vol.clean, 99.5))


def quality(vol: TestVolume, out: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """3-D PSNR and SSIM (skimage, 7x7x7 window) over the volume and in the mask.

    CT values are clipped to the HU window first (data_range 2000 HU); MR uses
    data_range = the clean 99.5th percentile, unclipped.
    """
    from skimage.metrics import structural_similarity

    lo, hi = metric_range(vol)
    rng = hi - lo
    ref = vol.clean
    x = np.asarray(out, np.float64)
    if vol.modality == "CT":
        ref = np.clip(ref, lo, hi)
        x = np.clip(x, lo, hi)
    err = (x - ref) ** 2
    _, smap = structural_similarity(
        ref.astype(np.float64), x, data_range=rng, full=True, win_size=7
    )  # 7^3 uniform window: CT slabs are 10 slices

    def psnr(e: float) -> float:
        return float(10 * np.log10(rng**2 / max(e, 1e-12)))

    return {
        "psnr": psnr(float(err.mean())),
        "ssim": float(smap.mean()),
        "psnr_mask": psnr(float(err[mask].mean())),
        "ssim_mask": float(smap[mask].mean()),
    }


# -- time and memory -------------------------------------------------------------------


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _trim() -> None:
    """Return freed heap pages to the OS (glibc), so reused memory shows as growth."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def measure(fn: Callable[[], Any]) -> tuple[Any, float, float, float]:
    """Run ``fn``; return its result, wall seconds, CPU seconds and peak RSS growth (MB).

    CPU seconds (``time.process_time``, all threads of the process) are the fair time
    on a machine shared with other jobs: single-threaded methods lose wall time to
    the other jobs, not CPU time.

    Linux: the peak (VmHWM) is reset through ``/proc/self/clear_refs`` before the
    call, so the number is this call's own high-water mark above the RSS it started
    from (falls back to tracemalloc's Python/numpy peak elsewhere).
    """
    _trim()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        base = _status_kb("VmRSS")
        t, c = time.perf_counter(), time.process_time()
        res = fn()
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        return res, wall, cpu, max(0, _status_kb("VmHWM") - base) / 1024
    except OSError:
        import tracemalloc

        tracemalloc.start()
        t, c = time.perf_counter(), time.process_time()
        res = fn()
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return res, wall, cpu, peak / 2**20


def environment(command: Sequence[str]) -> dict[str, Any]:
    """Provenance for the JSON: command, date, machine, versions, git commit."""
    import importlib.metadata as md

    def ver(p: str) -> str | None:
        try:
            return md.version(p)
        except md.PackageNotFoundError:
            return None

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "command": " ".join(command),
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": MACHINE,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "git_commit": commit,
        "versions": {
            p: ver(p)
            for p in (
                "napari-dcpt",
                "torch",
                "monai",
                "scikit-image",
                "SimpleITK",
                "dipy",
                "bm4d",
                "numpy",
            )
        },
        "note": "two training jobs shared the 2 cores during the run"
        if _training_running()
        else "",
    }


def _training_running() -> bool:
    try:
        out = subprocess.run(
            ["pgrep", "-f", "-a", "python -m training"], capture_output=True, text=True, timeout=5
        ).stdout
        return bool(out.strip())
    except (OSError, subprocess.SubprocessError):
        return False


def write_json(path: Path, obj: Any) -> Path:
    """Write JSON (sorted keys, 2-space indent), creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_default) + "\n")
    return path


def _default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))
