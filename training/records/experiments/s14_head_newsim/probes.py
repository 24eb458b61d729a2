"""Session 14 probes: can anything cheap see an MR bias field on the held-out volumes?

    PYTHONPATH=. python training/records/experiments/s14_head_newsim/probes.py n4
    PYTHONPATH=. python training/records/experiments/s14_head_newsim/probes.py cnn [N]

``n4``: SimpleITK's N4 on each MR volume of the cache (benchmark crop, clean, bias field
at each severity, other severe types); prints the spread (5th-95th percentile) of its
log-field over the anatomy. A detector needs the bias cases to stand clear of the rest.

``cnn``: a small CNN on a slice's 32 x 32 log intensities plus foreground and coordinate
channels, trained on N (default 2000) degraded 16-slice slabs of the five training
volumes (half with a bias field), then read on the held-out benchmark cases the way
`classify` reads a volume (mean over 12 slices); prints p(bias field) per case and the
AUC of bias against everything else per volume. ~5 min on 2 cores.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import SimpleITK as sitk
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks import common
from napari_dcpt.degradations import apply_record, sample_record
from napari_dcpt.inference.normalise import normaliser_for

TRAIN = (
    "s1_t1_1mm.nii.gz",
    "colin27_t1_1mm.nii.gz",
    "brain1_t1c.nrrd",
    "dwi_b0_10slices.nii.gz",
    "mni152_6asym_t1_1mm.nii.gz",
)
GRID = 32  # side of the pooled log-intensity map


def n4_spread(arr: np.ndarray, spacing: tuple[float, ...], shrink: int = 2) -> float:
    """5th-95th percentile spread of N4's log bias field over the Otsu foreground."""
    a = np.asarray(arr, np.float32)
    a = a / max(float(np.percentile(a, 99.5)), 1e-6)
    img = sitk.GetImageFromArray(a)
    img.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    mask = sitk.OtsuThreshold(img, 0, 1, 200)
    factors = [shrink] * 3 if min(a.shape) >= 2 * shrink else [shrink, shrink, 1]
    n4 = sitk.N4BiasFieldCorrectionImageFilter()
    n4.SetMaximumNumberOfIterations([30, 30, 30])
    n4.Execute(sitk.Shrink(img, factors), sitk.Shrink(mask, factors))
    log_field = sitk.GetArrayFromImage(n4.GetLogBiasFieldAsImage(img))
    inside = log_field[sitk.GetArrayFromImage(mask).astype(bool)]
    return float(np.percentile(inside, 95) - np.percentile(inside, 5))


def probe_n4() -> None:
    d = common.data_dir()
    names = (*TRAIN, "macaque_inia19_t1.nii.gz", "mni152_2009a_t1.nii.gz")
    vols = [common.load_volume(d / "mr" / n, "MR", n.split(".")[0]) for n in names]
    cases = [("clean", sample_record("MR", 1, types="clean"))]
    for k, sev in enumerate(("mild", "moderate", "severe") * 2):
        cases.append((f"bias/{sev}", sample_record("MR", 10 + k, types="bias_field", severity=sev)))
    for k, t in enumerate(("motion", "ghosting", "undersampling", "rician_noise")):
        cases.append((f"{t}/severe", sample_record("MR", 30 + k, types=t, severity="severe")))
    for vol in [*vols, *common.heldout_volumes("MR")]:
        t0 = time.time()
        row = [
            f"{label}={n4_spread(apply_record(vol.clean, rec, vol.spacing), vol.spacing):.3f}"
            for label, rec in cases
        ]
        print(vol.name, vol.clean.shape, f"{time.time() - t0:.1f}s", " ".join(row), flush=True)


def features(slice_net_units: np.ndarray) -> torch.Tensor:
    """(4, GRID, GRID): log intensity, foreground, y and x coordinates."""
    x = torch.from_numpy(np.ascontiguousarray(slice_net_units))[None, None].float()
    x = F.adaptive_avg_pool2d(x, GRID)[0, 0]
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, GRID), torch.linspace(-1, 1, GRID), indexing="ij")
    return torch.stack([torch.log(x.clamp_min(0) + 0.05), (x > 0.1).float(), yy, xx])


def _training_record(rng: np.random.Generator, i: int) -> object:
    """Half with a bias field (alone or in a mixture), half without one."""
    if rng.random() < 0.5:
        types = ("bias_field",) if rng.random() < 0.6 else None
        rec = sample_record("MR", 100_000 + i, types=types, p_clean=0.2, p_mix=0.3)
        return (
            rec
            if "bias_field" in rec.types
            else sample_record("MR", 200_000 + i, types="bias_field")
        )
    rec = sample_record("MR", 300_000 + i, p_clean=0.3, p_mix=0.3)
    while "bias_field" in rec.types:
        rec = sample_record("MR", int(rng.integers(10**6, 10**7)), p_clean=0.3, p_mix=0.3)
    return rec


def probe_cnn(n: int) -> None:
    torch.manual_seed(0)
    d = common.data_dir()
    train = [common.load_volume(d / "mr" / f, "MR", f, slices=1000) for f in TRAIN]
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for i in range(n):
        vol = train[rng.integers(len(train))]
        depth = min(16, vol.clean.shape[0])
        z0 = rng.integers(0, vol.clean.shape[0] - depth + 1)
        rec = _training_record(rng, i)
        slab = apply_record(vol.clean[z0 : z0 + depth], rec, vol.spacing)
        k = rng.integers(int(0.1 * depth), max(int(0.9 * depth), int(0.1 * depth) + 1))
        xs.append(features(normaliser_for("MR", slab).forward(slab[k])))
        ys.append(float("bias_field" in rec.types))
    x_all, y_all = torch.stack(xs), torch.tensor(ys)
    net = nn.Sequential(
        nn.Conv2d(4, 16, 3, padding=1), nn.GELU(),
        nn.Conv2d(16, 32, 3, 2, 1), nn.GELU(),
        nn.Conv2d(32, 32, 3, 2, 1), nn.GELU(),
        nn.Conv2d(32, 32, 3, 2, 1), nn.GELU(),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(32 * 16, 1),
    )  # fmt: skip
    opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-2)
    for step in range(3000):
        idx = torch.randint(len(x_all), (64,))
        xb = x_all[idx].clone()
        if step % 2:  # mirror, with the x coordinate channel mirrored too
            xb = xb.flip(-1)
            xb[:, 3] = -xb[:, 3]
        loss = F.binary_cross_entropy_with_logits(net(xb)[:, 0], y_all[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    recs = common.case_records("MR", quick=False, seed0=0, mixtures=False, clean=True)
    recs += common.case_records("MR", quick=False, seed0=20_000, mixtures=False, clean=True)
    for vol in common.heldout_volumes("MR"):
        pos, neg = [], []
        for kind, rec in recs:
            x = common.build_case(vol, kind, rec).degraded
            norm, nz = normaliser_for("MR", x), x.shape[0]
            lo, hi = int(0.1 * nz), max(int(np.ceil(0.9 * nz)), int(0.1 * nz) + 1)
            picks = np.unique(np.linspace(lo, hi - 1, min(12, hi - lo)).round().astype(int))
            with torch.no_grad():
                batch = torch.stack([features(norm.forward(x[z])) for z in picks])
                p = float(torch.sigmoid(net(batch)).mean())
            (pos if "bias_field" in rec.types else neg).append(p)
            print(f"  {vol.name} {'+'.join(rec.types)}/{'+'.join(rec.severities)} p={p:.2f}")
        auc = np.mean([(a > b) + 0.5 * (a == b) for a in pos for b in neg])
        print(vol.name, "AUC", round(float(auc), 3), flush=True)


if __name__ == "__main__":
    torch.set_num_threads(1)  # small nets; leaves a core to whatever trains beside it
    if sys.argv[1:2] == ["n4"]:
        probe_n4()
    elif sys.argv[1:2] == ["cnn"]:
        probe_cnn(int(sys.argv[2]) if len(sys.argv) > 2 else 2000)
    else:
        sys.exit(__doc__)
