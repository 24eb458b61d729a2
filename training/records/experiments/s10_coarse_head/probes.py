"""Can a bias field be read from simple whole-slice features? Two linear probes.

    PYTHONPATH=. python training/records/experiments/s10_coarse_head/probes.py map|histogram

Whole slices of three training volumes (random axis) and of the held-out
itk_t1_coronal (axial), half of them with a 2-D bias field of random severity. A
logistic regression (torch L-BFGS, standardised features, small L2) is fit on some
volumes and scored by ROC AUC on the others.

- ``map``: the 16 x 16 log-intensity map of `CoarseIntensityBranch` (exists at commit
  cca5b10 only; reverted after this experiment). Fit on the three training volumes,
  scored on them and on itk_t1_coronal.
- ``histogram``: the 48-bin histogram of log intensity in the foreground (centred on
  its median, smoothed), its entropy, peak height and two percentile spreads (N4's
  criterion: a field widens each tissue's peak). Each volume held out in turn.
"""

import sys

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter1d

from napari_dcpt import io
from napari_dcpt.degradations import apply_record, sample_record
from napari_dcpt.inference.normalise import normaliser_for

DATA = "/root/.cache/napari-dcpt/data/mr/"
VOLUMES = ("s1_t1_1mm", "colin27_t1_1mm", "mni152_6asym_t1_1mm", "itk_t1_coronal")


def auc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg).mean())


def fit(x: torch.Tensor, y: torch.Tensor, l2: float) -> tuple[torch.Tensor, torch.Tensor]:
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=2000)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(x @ w + b, y) + l2 * w.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def histogram(s: np.ndarray) -> np.ndarray:
    v = np.log(s[s > 0.1 * s.max()] + 1e-6)
    v = v - np.median(v)
    h, _ = np.histogram(v, bins=48, range=(-1.5, 0.9))
    h = gaussian_filter1d(h / max(h.sum(), 1), 1.0)
    entropy = -(h[h > 0] * np.log(h[h > 0])).sum()
    p10, p50, p90 = np.percentile(v, (10, 50, 90))
    return np.concatenate([h, [entropy, h.max(), p90 - p50, p50 - p10]])


def slices(kind: str, per_volume: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels (1: bias field) and volume index of the probe's slices."""
    if kind == "map":
        from napari_dcpt.models.dcpt import CoarseIntensityBranch  # commit cca5b10

        branch = CoarseIntensityBranch()
    rng = np.random.default_rng(0)
    feats, labels, groups = [], [], []
    for vi, name in enumerate(VOLUMES):
        a = io.read(f"{DATA}{name}.nii.gz", modality="MR").array.astype(np.float32)
        norm = normaliser_for("MR", a.ravel()[::7])
        for i in range(per_volume):
            b = np.moveaxis(a, int(rng.integers(3)) if vi < 3 else 0, 0)
            s = b[int(rng.integers(b.shape[0] // 4, 3 * b.shape[0] // 4))]
            if (s > 0.1 * a.max()).mean() < 0.1:
                continue
            if i % 2:
                seed = int(rng.integers(1 << 30))
                rec = sample_record("MR", seed, types=("bias_field",), p_clean=0.0, p_mix=0.0)
                s = np.asarray(apply_record(s, rec, (1.0, 1.0)), np.float32)
            if kind == "map":
                m = branch.maps(torch.from_numpy(norm.forward(s))[None, None])
                feats.append(m[0, 0].flatten().numpy())
            else:
                feats.append(histogram(s))
            labels.append(i % 2)
            groups.append(vi)
    return np.array(feats), np.array(labels), np.array(groups)


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "histogram"
    torch.set_num_threads(1)
    x, y, g = slices(kind, 160 if kind == "map" else 200)
    held_outs = [3] if kind == "map" else range(len(VOLUMES))
    for held_out in held_outs:
        train, held = g != held_out, g == held_out
        mu, sd = x[train].mean(0), x[train].std(0) + 1e-6
        xt = torch.from_numpy((x - mu) / sd).float()
        w, b = fit(xt[train], torch.from_numpy(y[train]).float(), 1e-3 if kind == "map" else 1e-2)
        score = (xt @ w + b).numpy()
        print(
            f"{kind}, {VOLUMES[held_out]} held out: AUC on the others "
            f"{auc(y[train], score[train]):.3f}, on it {auc(y[held], score[held]):.3f}"
        )


if __name__ == "__main__":
    main()
