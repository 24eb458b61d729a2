"""Training data: the cached manifest, the patient-level split and degraded-patch datasets.

A dataset is a folder tree of NIfTI/NRRD/MHA files and DICOM series. The manifest
(one JSON, cached) lists what could be read and what was skipped and why. Samples
are drawn by a global index: index -> seed -> volume, slice, degradation record,
patch positions, so a run resumed at step N sees exactly the data it would have
seen, whatever the number of workers.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from monai.transforms import Transform
from torch.utils.data import Dataset, Sampler

from napari_dcpt.config import DataConfig, DegradationSampling, TrainingConfig
from napari_dcpt.errors import DcptError
from napari_dcpt.inference.normalise import normaliser_for

MANIFEST_VERSION = 3  # 3: a DICOM header's other modality (CR...) is recorded


def degradations() -> ModuleType:
    """The degradation simulators (`napari_dcpt.degradations`).

    ``$NAPARI_DCPT_DEGRADATIONS`` may name another module with the same API
    (``vocabulary``, ``sample_record``, ``apply_record``): an experiment or test hook.
    """
    return importlib.import_module(
        os.environ.get("NAPARI_DCPT_DEGRADATIONS", "napari_dcpt.degradations")
    )


# -- manifest ----------------------------------------------------------------------
def _fingerprint(path: Path) -> str:
    """Size and mtime of a file, or of every file directly in a folder (DICOM)."""
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    h = hashlib.sha1()
    for f in files:
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()


def build_manifest(root: str | os.PathLike[str], cache_dir: str | os.PathLike[str]) -> dict:
    """List the readable volumes under ``root`` (cached as ``manifest.json`` in ``cache_dir``).

    Every volume is read once to record its shape, spacing (mm) and modality;
    entries whose files did not change since the cached manifest are not re-read.
    Unreadable inputs are listed under ``"skipped"`` with the reason, never fatal.

    Returns
    -------
    dict
        ``{"root", "items": [{"key", "path", "series_uid", "shape", "spacing",
        "modality", "fingerprint"}], "skipped": [{"path", "reason"}]}``.
    """
    from napari_dcpt.io import discover, other_modality, read

    rootp = Path(root).expanduser().resolve()
    cache = Path(cache_dir) / "manifest.json"
    old: dict[str, dict] = {}
    if cache.is_file():
        try:
            prev = json.loads(cache.read_text())
            if prev.get("version") == MANIFEST_VERSION and prev.get("root") == str(rootp):
                old = {it["key"]: it for it in prev["items"]}
                old.update({s["key"]: s for s in prev.get("skipped", []) if "key" in s})
        except (OSError, ValueError, KeyError):
            old = {}
    found, skipped_dirs = discover(rootp)
    items: list[dict] = []
    skipped: list[dict] = [{"path": str(p), "reason": r} for p, r in skipped_dirs]
    for it in found:
        key = str(Path(it.path).relative_to(rootp)) + (f"#{it.series_uid}" if it.series_uid else "")
        try:
            fp = _fingerprint(Path(it.path))
        except OSError as err:
            skipped.append({"key": key, "path": str(it.path), "reason": str(err)})
            continue
        prev_entry = old.get(key)
        if prev_entry is not None and prev_entry.get("fingerprint") == fp:
            (items if "shape" in prev_entry else skipped).append(prev_entry)
            continue
        try:
            vol = read(it.path, series_uid=it.series_uid)
        except DcptError as err:
            skipped.append(
                {"key": key, "path": str(it.path), "reason": err.reason, "fingerprint": fp}
            )
            continue
        items.append(
            {
                "key": key,
                "path": str(it.path),
                "series_uid": it.series_uid,
                "shape": list(vol.shape),
                "spacing": list(vol.spacing),
                # a modality guessed from intensities must not filter data out; one a
                # DICOM header names (CR, NM...) must, like MR in a CT run
                "modality": other_modality(vol.meta)
                or ("unknown" if vol.meta.get("modality_guessed") else vol.modality),
                "fingerprint": fp,
            }
        )
    manifest = {
        "version": MANIFEST_VERSION,
        "root": str(rootp),
        "items": items,
        "skipped": skipped,
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, cache)
    return manifest


def _matches(key: str, patterns: Sequence[str] | None) -> bool:
    path = key.split("#", 1)[0]
    return bool(patterns) and any(
        fnmatch.fnmatch(path, p) or fnmatch.fnmatch(Path(path).name, p) for p in patterns
    )


def split_items(items: Sequence[dict], cfg: DataConfig) -> tuple[list[dict], list[dict]]:
    """Split manifest items into (train, val) by series, never by slice.

    Explicit ``val_files``/``train_files`` glob patterns win; otherwise a seeded hash
    of the item key (file, or folder + SeriesInstanceUID) decides, so the split is
    stable when files are added. Items of another modality are dropped (``unknown``
    ones are kept as the configured modality).

    Raises
    ------
    ValueError
        If an explicit pattern matches no series: a renamed or converted file (say
        ``.nrrd`` to ``.nii.gz``) would otherwise silently change the validation set.
    """
    train: list[dict] = []
    val: list[dict] = []
    items = [it for it in items if it["modality"] in (cfg.modality, "unknown")]
    for field in ("val_files", "train_files"):
        for pattern in getattr(cfg, field) or ():
            if not any(_matches(it["key"], (pattern,)) for it in items):
                raise ValueError(f"data.{field}: {pattern!r} matches no {cfg.modality} series")
    for it in items:
        if cfg.val_files is not None or cfg.train_files is not None:
            if _matches(it["key"], cfg.val_files):
                val.append(it)
            elif cfg.train_files is None or _matches(it["key"], cfg.train_files):
                train.append(it)
            continue
        h = hashlib.sha256(f"{cfg.split_seed}:{it['key']}".encode()).digest()
        u = int.from_bytes(h[:8], "little") / 2**64
        (val if u < cfg.val_fraction else train).append(it)
    return train, val


# -- volumes -----------------------------------------------------------------------
class LoadVolume(Transform):
    """MONAI transform: manifest item -> dict with the array in degradation units.

    A `monai.transforms.Transform` subclass on purpose: `CacheDataset` caches only up
    to the first transform that is not one, and as a plain callable every sample
    re-read and re-normalised its whole volume from disk (95 % of the data time;
    the data loader kept fine-tuning waiting 55-59 % of each step).

    MR is normalised first (99.5th percentile -> 1) because the MR simulators are
    scale-invariant; CT stays in HU so the sinogram physics sees real attenuation.
    """

    def __init__(self, modality: str, foreground_threshold: float) -> None:
        self.modality = modality
        self.threshold = foreground_threshold

    def __call__(self, item: dict) -> dict:
        from napari_dcpt.io import read

        vol = read(item["path"], series_uid=item.get("series_uid"))
        arr = np.asarray(vol.array, dtype=np.float32)
        if arr.ndim == 2:
            arr = arr[None]
        spacing = tuple(float(s) for s in vol.spacing)
        if len(spacing) == 2:
            spacing = (1.0, *spacing)
        if self.modality == "MR":
            arr = normaliser_for("MR", arr).forward(arr)
        net = normaliser_for(self.modality, arr).forward(arr) if self.modality == "CT" else arr
        above = net > self.threshold
        # foreground share of every slice across each axis (the augmentation may slice
        # a near-isotropic volume across any of them)
        fg_axes = tuple(above.mean(axis=tuple(a for a in range(3) if a != ax)) for ax in range(3))
        return {"key": item["key"], "image": arr, "spacing": spacing, "fg_axes": fg_axes}


def load_volumes(items: Sequence[dict], cfg: DataConfig, num_workers: int = 0) -> Any:
    """A MONAI `CacheDataset` of loaded volumes (``LoadVolume`` outputs)."""
    from monai.data import CacheDataset

    return CacheDataset(
        data=list(items),
        transform=LoadVolume(cfg.modality, cfg.foreground_threshold),
        cache_rate=cfg.cache_rate,
        num_workers=max(1, num_workers) if num_workers else None,
        progress=False,
    )


# -- augmentation ------------------------------------------------------------------
# Five MR training volumes, all axial T1 brains at about 1 mm, taught the first shipped
# network and head their anatomy rather than the artefacts: on held-out volumes (a
# coronal 2 mm brain, a breast) it never named motion or ghosting. The remedy is the
# usual one, more views of the same volumes; each is drawn per slice and applied to
# the clean slice before the simulator degrades it, so the physics stays exact.
ISOTROPY = 1.5  # largest voxel-spacing ratio at which any axis may be the slice axis
GAMMA_RANGE = (0.7, 1.4)  # MR contrast curve; T1 sequences and scanners differ about this much
MIN_ZOOMED = 64  # px: the zoom-out never leaves a slice side shorter than this


@dataclass(frozen=True)
class View:
    """One random view of a volume's slices (training augmentation).

    Attributes
    ----------
    axis
        Volume axis the slices are taken across (0: as stored).
    size
        In-plane size ``(H, W)`` in px after the zoom-out, before the turns.
    turns
        In-plane quarter turns.
    flips
        Flip of each in-plane axis (after the turns).
    gamma
        Contrast curve exponent (1: none).
    """

    axis: int = 0
    size: tuple[int, int] = (0, 0)
    turns: int = 0
    flips: tuple[bool, bool] = (False, False)
    gamma: float = 1.0

    def shape(self, max_size: int) -> tuple[int, int]:
        """In-plane shape of a viewed slice once centre-cropped to ``max_size`` px."""
        h, w = self.size[::-1] if self.turns % 2 else self.size
        return min(h, max_size), min(w, max_size)


def draw_view(vol: dict, d: DataConfig, rng: np.random.Generator) -> View:
    """A random `View` of ``vol`` (any axis only when its voxels are near-isotropic)."""
    spacing, shape = vol["spacing"], vol["image"].shape
    iso = shape[0] > 1 and max(spacing) / min(spacing) <= ISOTROPY
    axis = int(rng.integers(3)) if iso else 0
    h, w = (s for a, s in enumerate(shape) if a != axis)
    zoom = float(rng.uniform(1.0, d.max_zoom_out)) if rng.random() < 0.5 else 1.0
    zoom = max(1.0, min(zoom, min(h, w) / MIN_ZOOMED))
    lo, hi = np.log(GAMMA_RANGE)
    return View(
        axis=axis,
        size=(round(h / zoom), round(w / zoom)),
        turns=int(rng.integers(4)),
        flips=(bool(rng.integers(2)), bool(rng.integers(2))),
        gamma=float(np.exp(rng.uniform(lo, hi))) if d.modality == "MR" else 1.0,
    )


def apply_view(block: np.ndarray, view: View) -> np.ndarray:
    """Apply ``view``'s in-plane part to a ``(C, H, W)`` clean block (already resliced)."""
    from monai.transforms import AdjustContrast, Flip, Resize, Rotate90

    x: Any = block
    if tuple(block.shape[1:]) != view.size:  # area averaging: a coarser acquisition
        x = Resize(view.size, mode="area")(x)
    if view.turns:
        x = Rotate90(view.turns, spatial_axes=(0, 1))(x)
    for ax, flip in enumerate(view.flips):
        if flip:
            x = Flip(spatial_axis=ax)(x)
    if view.gamma != 1.0:
        x = AdjustContrast(view.gamma)(x)
    return np.ascontiguousarray(torch.as_tensor(x).numpy(), dtype=np.float32)


def viewed_spacing(
    spacing: Sequence[float], view: View, shape: Sequence[int]
) -> tuple[float, float, float]:
    """Voxel spacing ``(slice, row, col)`` in mm of a slice seen through ``view``.

    ``shape`` is the volume's ``(D, H, W)``.
    """
    sp = [float(s) for s in spacing]
    n = [int(s) for s in shape]
    order = [view.axis] + [a for a in range(3) if a != view.axis]
    row = sp[order[1]] * n[order[1]] / view.size[0]
    col = sp[order[2]] * n[order[2]] / view.size[1]
    if view.turns % 2:
        row, col = col, row
    return (sp[view.axis], row, col)


# -- patches -----------------------------------------------------------------------
class PatchDataset(Dataset):
    """Degraded/clean patch stacks drawn deterministically from a global sample index.

    Item ``i``: one slice (or 2.5-D slab, or 3-D block) chosen among slices with
    enough foreground, degraded whole (CT sinogram and MR k-space types are global),
    then ``patches`` patches centred on foreground pixels. Returns a dict of
    ``degraded`` ``(P, C, *patch)``, ``clean`` ``(P, C, *patch)`` (network units),
    ``label`` ``(P, V)`` float multi-hot and ``severity`` ``(P, V)`` int64.

    Parameters
    ----------
    volumes
        Loaded volumes (`load_volumes`).
    cfg
        The training configuration (data, model shape).
    sampling
        Degradation sampling probabilities (passed to ``sample_record``).
    vocabulary
        Class names, ``clean`` first.
    seed
        Base seed; sample ``i`` uses ``(seed, i)``.
    patches
        Patches per item (defaults to ``cfg.data.patches_per_slice``).
    record_kwargs
        Overrides for ``sample_record`` (e.g. ``types=("noise",), severity="mild"``).
    augment
        Draw a random `View` per item (training; validation and evaluation never).
    """

    def __init__(
        self,
        volumes: Any,
        cfg: TrainingConfig,
        sampling: DegradationSampling,
        vocabulary: Sequence[str],
        seed: int,
        patches: int | None = None,
        record_kwargs: dict | None = None,
        length: int = 2**62,
        augment: bool = False,
    ) -> None:
        if len(volumes) == 0:
            raise ValueError("volumes: no volumes to sample from")
        self.volumes = volumes
        self.cfg = cfg
        self.vocab = tuple(vocabulary)
        self.seed = seed
        self.patches = patches or cfg.data.patches_per_slice
        self.length = length
        self.augment = augment
        # DegradationSampling's fields are sample_record's keyword arguments
        self.record_kwargs = {**sampling.model_dump(), **(record_kwargs or {})}

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(index)])
        d, m = self.cfg.data, self.cfg.model
        vol = self.volumes[int(rng.integers(len(self.volumes)))]
        view = draw_view(vol, d, rng) if self.augment else None
        block, degraded, record = degraded_slice(vol, self.cfg, self.record_kwargs, rng, view)
        ps = d.patch_size
        # pad (edge) when the slice is smaller than a patch
        pads = [(0, 0)] + [(0, max(0, ps - s)) for s in block.shape[1:]]
        if any(p[1] for p in pads):
            block = np.pad(block, pads, mode="edge")
            degraded = np.pad(degraded, pads, mode="edge")
        centre = block[block.shape[0] // 2] if m.spatial_dims == 2 else block.max(axis=0)
        ys, xs = np.nonzero(centre > d.foreground_threshold)
        cleans, degs = [], []
        h, w = block.shape[1:]
        for _ in range(self.patches):
            if ys.size:
                j = int(rng.integers(ys.size))
                cy, cx = int(ys[j]), int(xs[j])
            else:
                cy, cx = int(rng.integers(h)), int(rng.integers(w))
            y0 = int(np.clip(cy - ps // 2, 0, h - ps))
            x0 = int(np.clip(cx - ps // 2, 0, w - ps))
            cleans.append(block[:, y0 : y0 + ps, x0 : x0 + ps])
            degs.append(degraded[:, y0 : y0 + ps, x0 : x0 + ps])
        clean_t = torch.from_numpy(np.ascontiguousarray(np.stack(cleans)))
        deg_t = torch.from_numpy(np.ascontiguousarray(np.stack(degs)))
        if m.spatial_dims == 3:  # (P, D, H, W) -> (P, 1, D, H, W)
            clean_t, deg_t = clean_t[:, None], deg_t[:, None]
        label = torch.from_numpy(np.asarray(record.label(self.vocab), dtype=np.float32))
        sev = torch.from_numpy(np.asarray(record.severity_targets(self.vocab), dtype=np.int64))
        return {
            "degraded": deg_t,
            "clean": clean_t,
            "label": label.expand(self.patches, -1).clone(),
            "severity": sev.expand(self.patches, -1).clone(),
        }


def degraded_slice(
    vol: dict,
    cfg: TrainingConfig,
    record_kwargs: dict,
    rng: np.random.Generator,
    view: View | None = None,
) -> tuple[np.ndarray, np.ndarray, Any]:
    """One slice (2.5-D slab, 3-D block) of ``vol``, degraded whole by a fresh record.

    The slice is drawn among those with enough foreground, seen through ``view``
    (augmentation; None: as stored) and centre-cropped to ``data.max_slice_size``
    before degradation (CT sinogram and MR k-space types act on the whole slice).
    Returns ``(clean, degraded, record)``, both ``(C, H, W)`` (``(D, H, W)`` for 3-D)
    in network units.
    """
    deg = degradations()
    d, m = cfg.data, cfg.model
    img, spacing = vol["image"], vol["spacing"]
    fg = vol["fg_axes"][view.axis if view is not None else 0]
    if view is not None:
        spacing = viewed_spacing(spacing, view, img.shape)
        img = np.moveaxis(img, view.axis, 0)
    nz = img.shape[0]
    eligible = np.flatnonzero(fg >= d.min_foreground)
    if eligible.size == 0:
        eligible = np.array([int(np.argmax(fg))])
    z = int(rng.choice(eligible))
    if m.spatial_dims == 2:
        k = m.in_slices
        zs = np.clip(np.arange(z - k // 2, z + k // 2 + 1), 0, nz - 1)
    else:
        depth = min(d.patch_size, nz)
        z0 = int(np.clip(z - depth // 2, 0, nz - depth))
        zs = np.arange(z0, z0 + depth)
    block = img[zs]
    if view is not None:
        block = apply_view(block, view)
    block = _centre_crop(block, d.max_slice_size)
    seed = int(rng.integers(2**31 - 1))
    record = deg.sample_record(d.modality, seed, **record_kwargs)
    src = block[0] if block.shape[0] == 1 and m.spatial_dims == 2 else block
    degraded = np.asarray(deg.apply_record(src, record, spacing[3 - src.ndim :]), np.float32)
    degraded = degraded.reshape(block.shape)
    if d.modality == "CT":  # CT is degraded in HU, then windowed like at inference
        norm = normaliser_for("CT", block)
        block, degraded = norm.forward(block), norm.forward(degraded)
    return block, degraded, record


class SliceBatchDataset(Dataset):
    """Whole-slice batches for refitting the classifier head (``python -m training head``).

    Item ``i`` is a whole batch: ``batch`` slices of one volume, each degraded by its
    own record, all cut to one crop size drawn between ``min_size`` and
    ``max_size`` px per axis (at most the slice) near the slice centre. Varying the
    size teaches the k-space branch the fields of view it meets at inference, where
    `classify` reads the central 256 px of a slice, or all of a smaller one. Returns
    the keys of `PatchDataset` with a leading batch axis. With ``augment`` the
    batch shares one random `View`.
    """

    def __init__(
        self,
        volumes: Any,
        cfg: TrainingConfig,
        sampling: DegradationSampling,
        vocabulary: Sequence[str],
        seed: int,
        batch: int,
        min_size: int,
        max_size: int,
        augment: bool = False,
    ) -> None:
        if len(volumes) == 0:
            raise ValueError("volumes: no volumes to sample from")
        if cfg.model.spatial_dims != 2:
            raise ValueError("the whole-slice head refit needs a 2-D model (spatial_dims 2)")
        self.volumes, self.cfg, self.vocab, self.seed = volumes, cfg, tuple(vocabulary), seed
        self.batch, self.min_size, self.max_size = batch, min_size, max_size
        self.record_kwargs = sampling.model_dump()
        self.augment = augment

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(index)])
        vol = self.volumes[int(rng.integers(len(self.volumes)))]
        view = draw_view(vol, self.cfg.data, rng) if self.augment else None
        if view is None:
            hw = [min(s, self.cfg.data.max_slice_size) for s in vol["image"].shape[1:]]
        else:
            hw = list(view.shape(self.cfg.data.max_slice_size))
        size = [int(rng.integers(min(self.min_size, s), min(self.max_size, s) + 1)) for s in hw]
        cleans, degs, labels, sevs = [], [], [], []
        for _ in range(self.batch):
            block, degraded, record = degraded_slice(vol, self.cfg, self.record_kwargs, rng, view)
            # near the centre: a jitter of up to a quarter of the spare margin
            y0, x0 = (
                (s - c) // 2 + int(rng.integers(-((s - c) // 4), (s - c) // 4 + 1))
                for s, c in zip(block.shape[1:], size)
            )
            cut = (slice(None), slice(y0, y0 + size[0]), slice(x0, x0 + size[1]))
            cleans.append(block[cut])
            degs.append(degraded[cut])
            labels.append(record.label(self.vocab))
            sevs.append(record.severity_targets(self.vocab))
        return {
            "degraded": torch.from_numpy(np.ascontiguousarray(np.stack(degs))),
            "clean": torch.from_numpy(np.ascontiguousarray(np.stack(cleans))),
            "label": torch.from_numpy(np.asarray(labels, dtype=np.float32)),
            "severity": torch.from_numpy(np.asarray(sevs, dtype=np.int64)),
        }


def _centre_crop(block: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop the in-plane axes to at most ``size`` px (bounds simulation cost)."""
    h, w = block.shape[1:]
    y0, x0 = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return block[:, y0 : y0 + min(h, size), x0 : x0 + min(w, size)]


class IndexStream(Sampler[int]):
    """Endless global sample indices for one rank: ``(start + i) * world + rank``.

    Rank-strided so that DDP ranks never draw the same sample, and restartable at
    any position so a resumed run continues the same stream.
    """

    def __init__(self, start: int = 0, rank: int = 0, world: int = 1) -> None:
        self.start, self.rank, self.world = start, rank, world

    def __iter__(self) -> Iterator[int]:
        i = self.start
        while True:
            yield i * self.world + self.rank
            i += 1

    def __len__(self) -> int:  # endless; DataLoader only needs it for len(loader)
        return 2**62


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: one torch thread, seeded numpy/random per worker."""
    import random

    torch.set_num_threads(1)
    s = torch.initial_seed() % 2**32
    np.random.seed(s)  # noqa: NPY002 -- third-party code in workers may use the global RNG
    random.seed(s)


def collate(batch: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack items and merge the per-slice patch axis into the batch axis."""
    return {k: torch.cat([b[k] for b in batch], dim=0) for k in batch[0]}
