"""Can a bias field be read from the coarse log-intensity map? A linear probe.

Runs at commit cca5b10 (where `CoarseIntensityBranch` exists; it was reverted after this
experiment). Whole slices of three training volumes (random axis) and of the held-out
itk_t1_coronal (axial), half of them with a 2-D bias field of random severity, through
the branch's 16 x 16 map; a logistic regression (torch L-BFGS, standardised features,
small L2) fit on the training volumes, ROC AUC there and on the held-out volume.

    PYTHONPATH=. python training/records/experiments/s10_coarse_head/probe_bias.py
"""

import numpy as np
import torch
import torch.nn.functional as F

from napari_dcpt import io
from napari_dcpt.degradations import apply_record, sample_record
from napari_dcpt.inference.normalise import normaliser_for
from napari_dcpt.models.dcpt import CoarseIntensityBranch

DATA = "/root/.cache/napari-dcpt/data/mr/"
VOLUMES = ("s1_t1_1mm", "colin27_t1_1mm", "mni152_6asym_t1_1mm", "itk_t1_coronal")


def auc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg).mean())


def fit(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=2000)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(x @ w + b, y) + 1e-3 * w.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def main() -> None:
    torch.set_num_threads(1)
    branch = CoarseIntensityBranch()
    rng = np.random.default_rng(0)
    feats, labels, groups = [], [], []
    for vi, name in enumerate(VOLUMES):
        a = io.read(f"{DATA}{name}.nii.gz", modality="MR").array.astype(np.float32)
        norm = normaliser_for("MR", a.ravel()[::7])
        for i in range(160):
            b = np.moveaxis(a, int(rng.integers(3)) if vi < 3 else 0, 0)
            s = b[int(rng.integers(b.shape[0] // 4, 3 * b.shape[0] // 4))]
            if (s > 0.1 * a.max()).mean() < 0.1:
                continue
            if i % 2:
                seed = int(rng.integers(1 << 30))
                rec = sample_record("MR", seed, types=("bias_field",), p_clean=0.0, p_mix=0.0)
                s = np.asarray(apply_record(s, rec, (1.0, 1.0)), np.float32)
            m = branch.maps(torch.from_numpy(norm.forward(s))[None, None])
            feats.append(m[0, 0].flatten().numpy())
            labels.append(i % 2)
            groups.append(vi)
    x, y, g = np.array(feats), np.array(labels), np.array(groups)
    train, held = g < 3, g == 3
    mu, sd = x[train].mean(0), x[train].std(0) + 1e-6
    xt = torch.from_numpy((x - mu) / sd).float()
    w, b = fit(xt[train], torch.from_numpy(y[train]).float())
    score = (xt @ w + b).numpy()
    print(
        f"training volumes AUC {auc(y[train], score[train]):.3f} (n {train.sum()}), "
        f"held-out itk_t1_coronal AUC {auc(y[held], score[held]):.3f} (n {held.sum()})"
    )


if __name__ == "__main__":
    main()
