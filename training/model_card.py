"""Assemble `weights/MODEL_CARD.md` and learning-curve PNGs from finished runs.

    python -m training.model_card [--runs training/records] [--out src/napari_dcpt/weights]

Reads, per modality, ``<runs>/<mod>_{pre,ft,abl,head,...}/metrics.jsonl`` (validation
during training) and ``config.yaml``, ``<runs>/<mod>_{ft,abl,head,...}/eval/eval.json``
(`python -m training evaluate`; the head refit's, when there is one, is the shipped
model's) and ``<runs>/<mod>_times.txt`` (wall times). Every number in the card comes
from those files; nothing is typed in by hand. The default ``training/records`` is the
committed copy of those small files (training/records/README.md says which were
reconstructed after their machine was lost)."""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import yaml

# Hand-written observations (dated); every number below them is generated from the runs.
NOTES = """\
### Session 12 (2026-11-27): MR fine-tuned 10000 more steps, its head refit; shipped

- **MR: 10000 more fine-tuning steps** from the session-9 file (17745 -> 27745):
  `training/configs/mr_long.yaml`, mr_floor's recipe (PSNR loss floored at 50 dB) with a
  fresh cosine from 5e-4, 108 min on the 2-core CPU (1 thread, the degradations in one
  worker, 1.55 steps/s); then the same whole-slice head refit as session 9 (2000 steps,
  20 min) and calibration on the same volumes and seeds (67 s).
  - Validation: 29.56 dB at step 17745, 29.86 at 27745, still rising by 0.01-0.02 dB per
    500 steps at the end. Against the recomputed 29.49 dB at 15745 that is +0.37 dB over
    1.76x the steps: **the MR curve is still not flat.**
  - Patch table (fine-tuning's end, against mr_floor's, same samples): noise +0.3 to
    +0.7 dB, spike +0.4 to +0.8, motion +0.3, Gibbs +0.1; every blur row now above its
    input (+0.03 to +0.04). Still below: every bias-field row, mild ghosting (-0.09) and
    mild and moderate undersampling. Clean patches 58.3 -> 59.9 dB.
  - Whole held-out volumes (calibrated `restore`): mean over single types +0.76 ->
    +1.02 dB; spike +2.70 -> +4.20, noise +3.34 -> +3.75, motion +0.03 -> +0.12 (now
    ahead of TV's +0.11), Gibbs +0.06; blur above its input at every severity. Cells at
    or below their input 11 -> 8, all within 0.011 dB (bias field, ghosting, moderate
    and severe undersampling). Mixtures up 0.13-0.20 dB; clean 78.7 -> 75.0 dB.
  - Report: whole-volume top-1 77 -> 78 % (ghosting 5 -> 7, motion 5 -> 4 of 12);
    patch top-1 48 -> 52 %.
  - Shipped: better on every type it changes, the clean loss is 35 dB above the bar.
    Two MR bars stay missed (above input, top-1) and the curve is not flat.

### Session 11 (2026-11-27): CT fine-tuned for one more doubling of its steps; MR curve points recomputed

- **CT: 7076 more fine-tuning steps** from the session-9 file, which doubles its
  fine-tuning (7076 -> 14152 steps): `training/configs/ct_long.yaml`, ct_floor60's
  recipe (PSNR loss floored at 60 dB) with a fresh cosine from 5e-4, 73 min on the
  2-core CPU (1 thread, the sinogram simulation in one worker, 1.62 steps/s).
  - Validation: 39.75 dB at step 7076, 39.78 dB at 14152 (+0.02 dB), between 39.71
    and 39.78 dB after a 39.89 blip at its step 750. **The CT curve is flat by the
    issue's bar.**
  - Patch table against the session-9 file (same samples): mean gain over single-type
    rows +2.46 -> +2.65 dB; mild and moderate blur now above their input (+0.07,
    +0.03 dB); mild ring still below (-2.06 -> -1.76 dB); top-1 88 -> 92 %; clean
    patches 48.4 -> 48.6 dB, though clean patches are called clean less often (exact
    accuracy 1.00 -> 0.75).
  - Whole held-out slab (calibrated `restore`, one case per type and severity): a
    trade. Mean over single types +2.59 -> +2.50 dB: mild sparse view +3.18 -> +1.36,
    mild and moderate ring +1.17 / +2.37 -> +0.83 / +1.90, severe low dose +5.25 ->
    +6.60, severe ring +3.14 -> +3.95. Mixtures +4.12 -> +4.67 dB, clean 76.7 ->
    83.3 dB, every case still above its input, whole-volume top-1 still 100 %.
  - Shipped because it ends a flat curve, meets the patch top-1 bar and lifts blur
    above its input on patches. The mild sparse-view loss on the slab is real and
    recorded here.
- **The MR curve's lost points were recomputed** from the MR files shipped in git
  (`training/records/revalidate.py`: the training loop's `validate` on `mr_floor`'s
  fixed samples; the last file reproduces `mr_floor`'s logged point to the last digit):
  29.15 dB at step 5745, 29.21 at 11745, 29.49 at 15745, 29.56 at 17745. No point lies
  near half the last step, so the card reads 11745 -> 17745 (1.5x the steps):
  +0.35 dB. **The MR curve is not flat**; most of that came with the PSNR loss
  (session 8), not with more steps of one loss.
- **The card now states the bars as shipped** (below each patch table): `restore()`
  with the calibrated strength on whole held-out volumes, from the benchmark results.
  CT meets all three there; MR misses two (11 type x severity cells within 0.011 dB
  below their input, top-1 77 %).

### Session 10 (2026-11-27): two experiments, neither shipped; session 9's networks, recalibrated

- **2.5-D input by inflation.** Both networks were widened to three input slices (the
  first conv's kernel on the centre slice, zeros on the neighbours, so step 0 is the
  shipped network) and fine-tuned from the shipped files: MR 3000 steps at a 60 dB
  floor (44 min), CT 1764 of 3000 steps (36 min, stopped), on the 2-core CPU side by
  side. The neighbours' kernels stayed at 1.6 % (MR) and 2.3 % (CT) of the centre's,
  and the patch tables (same slices and records, the shipped file widened as baseline)
  moved +0.02 and +0.06 dB: what more single-slice steps give. A 2.5-D network has to
  be trained from the start. training/records/experiments/s10_25d.
- **A coarse log-intensity branch in the MR head** (16 x 16 map of the slice, for the
  bias field), refit like the shipped head (2000 steps, 21 min): whole held-out top-1
  77 -> 76 %, bias field still at the per-volume prior (6 of 12). A linear probe of the
  map separates bias fields at AUC 0.92 on training volumes and 0.53 on the held-out
  brain. Reverted; training/records/experiments/s10_coarse_head.
- **The MR report's motion, ghosting and bias-field hits are a prior.** On each
  held-out volume p(bias field) is the same for the clean scan and every severity of the
  field (0.45 brain, 0.33 breast); the top guess among these three types is mostly the
  volume's favourite. The README now says so where it described the bias-field
  finding as detected.
- **Both files were recalibrated** (same volumes and seeds: the gain tables came out
  identical) to add the recall table below each gain table: the share of each type's
  unseen degraded cases in which the report named it. `classify`, its JSON and the
  widget now mark MR motion, ghosting and bias field (recall 0-0.33) as unreliable; every
  CT type and every other MR type is named in 0.56-1.0 of its cases.

### Session 9 (2026-11-27): the PSNR loss's floor raised to 50 (CT: then 60) dB; records in git

- **What changed.** Session 8's PSNR loss floors each sample's MSE at 40 dB, so inputs
  already near 40 dB get almost no push: CT mild ring (input 51.8 dB) and mild blur
  (42.7 dB) and MR mild bias field (43.4 dB) came back worse than they went in.
  `finetune.psnr_floor_db: 50` (`training/configs/{mr,ct}_floor.yaml`) keeps pushing
  them. Both networks had 2000 more fine-tuning steps with it from the session-8 files,
  side by side on the 2-core CPU with 1 thread each (MR 24 min, CT 30 min). MR then had
  the same augmented head refit (2000 steps, 23 min), CT 2000 more steps at 60 dB
  (below), and both were recalibrated.
- **CT** (patch table, against the session-8 file on the same samples):
  - the mean gain over single-type rows went +1.43 -> +2.31 dB; low dose +1.1 / +2.0 /
    +2.8 dB by severity, ring +0.6 / +0.6 / +1.2, sparse view +0.1 / +0.7 / +0.9;
  - blur and mild ring were still below their input, but less: mild blur -0.80 ->
    -0.33 dB, mild ring -2.97 -> -2.33 dB. Clean patches 47.2 -> 47.8 dB, top-1 81 -> 84 %;
  - the validation curve went 38.77 -> 39.64 dB, and its last 1000 steps still gained
    0.12 dB. So CT had 2000 more steps with the floor at 60 dB
    (`training/configs/ct_floor60.yaml`, 28 min, partly beside a CI run): validation
    39.64 -> 39.75 dB (a peak of 39.80 at its step 750, then flat), patch mean +2.31 ->
    +2.47 dB, clean 47.8 -> 48.4 dB, mild ring -2.33 -> -2.06 dB, top-1 84 -> 88 %.
    Severe blur is now level with its input, mild and moderate blur 0.2 and 0.04 dB
    below it;
  - whole held-out slab (`python -m benchmarks quality --modality CT --merge`): no type
    is worse than its input any more. Over the session, CT blur went -0.10 -> +0.18 dB,
    low dose +3.35 -> +5.32, ring +1.06 -> +2.23 and clean 69.5 -> 76.7 dB. The 60 dB
    step helped every case but mild sparse view (+3.51 -> +3.18 dB).
- **MR** (patch table):
  - the mean gain over single-type rows went +0.77 -> +0.85 dB, and clean patches went
    53.1 -> 58.3 dB. Mild bias field went -1.66 -> -0.63 dB, noise gained up to 0.3 dB
    and spike up to 0.2 dB;
  - blur, Gibbs ringing, motion, ghosting and undersampling moved by 0.04 dB or less.
    Rows at or below their input went 8 -> 10 of 24; all but mild bias field are
    within 0.05 dB of it;
  - the validation curve is flat within this run (29.56-29.62 dB, -0.01 dB over its
    last doubling). The 50 dB floor lifted it from session 8's 29.42-29.55 dB;
  - whole held-out volumes (docs/benchmarks.md): clean volumes come back at 78.7 dB
    (was 67.6), spike and noise gained 0.1 to 0.9 dB, and the worst case went -0.60 ->
    -0.02 dB. The report went 76 -> 77 % top-1, but its severity (type right) fell
    77 -> 70 %, as with session 8's second head refit.
- **The records are in git now** (training/records). Until session 8 the card was made
  from the ignored `runs/gpu/`, which was lost with its machine. The evaluations were
  recomputed from the files in git: MR to the last digit, CT within 0.01 dB. The
  configs were re-dumped and the wall times transcribed. The validation curves of
  sessions 3-8 are lost. Their plots are kept (below each model). Without them the MR
  flatness bar cannot be read; the CT one can, because session 9's own runs already
  cover its last doubling.

### Session 8 (2026-11-27): fine-tuning with a per-sample PSNR loss

- **What changed.** Until now every fine-tuning minimised L1 over the batch. Its
  gradient is dominated by the samples with the largest errors (noise, spike), so the
  types with small errors (bias field, ghosting, Gibbs) were never weighed: 6000 more L1
  steps in session 7 moved the patch table's mean gain over single-type rows by
  -0.01 dB. `finetune.restoration_loss: psnr` (`training.engine.psnr_loss`) minimises
  the mean over samples of `log10(MSE_i + 1e-4)`: every sample's error counts on a log
  scale, floored at 40 dB.
- **MR: 4000 more fine-tuning steps with it** from the session-7 file
  (`training/configs/mr_psnr.yaml`; augmentation on, peak LR 5e-4, 40 min on the 2-core
  CPU with 1 thread, 1.67 steps/s), then the same augmented head refit (2000 steps,
  23 min, sharing the CPU) and calibration. Patch table against the session-7 file:
  - the mean gain over single-type rows went +0.27 -> +0.76 dB;
  - clean patches went 45.0 -> 53.1 dB;
  - rows at or below their input went 17 -> 8 of 24. The worst was mild bias field,
    -5.2 -> -1.7 dB;
  - Rician noise gained 0.6 to 1.1 dB per severity, spike 0.4 to 0.6 dB, and motion
    is now above its input at every severity (+0.1 to +0.2 dB).
- **Whole held-out volumes** (`python -m benchmarks quality` / `classify`):
  - the mean gain over single types went +0.48 -> +0.68 dB: noise +2.06 -> +3.20, spike
    +1.86 -> +2.20;
  - mixtures went +1.42 -> +2.00 dB, and clean volumes come back at 67.6 dB (was 62.7);
  - the worst case went -1.19 -> -0.60 dB (mild spike on the brain);
  - the report went 74 -> 76 % top-1 (ghosting 2 -> 4 of 12), and clean is still clean.
- **Calibration moved** (the session-8 table; session 9's is below): mild noise and
  mild spike 0.61 -> 1.0, bias field 0 / 0.08 / 0.26 -> 0.29 / 0.25 / 1.0. Ghosting
  0.11-0.31 -> 0, and severe
  undersampling 1.0 -> 0. The network's change on a clean slice went 0.72 % -> 0.27 %
  of the 99.5th percentile (rms).
- **Still not learned: blur, Gibbs ringing, ghosting, undersampling** (patch rows within
  +-0.05 dB of the input). MR blur is k-space truncation plus slice thickness: the
  detail is gone rather than smeared, and a single-slice 2-D network cannot see the
  through-plane part. The validation curve was not flat by the bar: the loss change
  lifted it by 0.24 dB within 500 steps, after which it stayed within 29.42-29.55 dB.
- **CT: 2000 more fine-tuning steps with it** from the session-5 file
  (`training/configs/ct_psnr.yaml`: batch 16 of 8 patches per slice, peak LR 5e-4, no
  augmentation, so the loss is the only change; 28 min on the 2-core CPU with 1 thread,
  1.18 steps/s, 39 % of it waiting for the sinogram simulation), then calibration. The
  CT head had no whole-slice refit; the fine-tuning trains it on patches.
  - Patch table: the mean gain over single-type rows went +0.96 -> +1.43 dB, mild low
    dose -0.05 -> +0.69 dB, and top-1 73 -> 81 %. Clean patches stayed at 47 dB. Blur
    (-0.8 to -0.1 dB) and mild ring (-3.0 dB) are unchanged: those inputs are above
    the 47 dB the network returns on a clean patch, and the loss's 40 dB floor gives
    no push there.
  - Whole held-out slab: the mean gain over single types went +0.83 -> +1.67 dB. Low
    dose went +1.41 -> +3.35, ring +0.32 -> +1.06, sparse view +1.61 -> +2.37 and
    mixtures +1.14 -> +2.51. Blur went -0.03 -> -0.10 dB, because the new calibration
    trusts the blur change (1.0 on the head and spine) and it does not help on the
    chest. Clean CT comes back at 69.5 dB (was 72.1).
  - The report went 79 -> 96 % top-1, and clean CT is now reported clean (0 -> 2 of 2).
    The strict-xfail test for severe low dose passed and was promoted to a plain test.
  - The validation curve rose 38.38 -> 38.77 dB and was still rising (+0.06 dB over its
    last 250 steps). Longer runs would likely help.
- **No same-budget L1 control was run.** The evidence that the loss, not the steps,
  made the difference is the two earlier L1 continuations: session 4 (5745 steps,
  +0.06 dB mean) and session 7 (6000 steps, -0.01 dB).

### Session 7 (2026-11-27): the MR file is an augmented second fine-tuning

- **What changed.** Training slices can now be augmented (`data.augment`; docs/
  architecture.md): a random axis of near-isotropic volumes, quarter turns, flips,
  zoom-out up to 2x and an MR gamma curve, all before the simulator degrades the slice.
  The five MR training volumes are all axial T1 brains near 1 mm. The MR network was
  fine-tuned again with it: 6000 steps of batch 16 from the session-6 file, peak LR
  5e-4, k-space head on (`training/configs/mr_cont.yaml`). It ran on the 2-core CPU
  with 1 thread in 62 min (1.63 steps/s), sharing the CPU. Then the head was refit on
  whole slices with augmentation, 2000 steps in 19 min (`training/configs/mr_head.yaml`),
  and the file was calibrated again.
- **Validation curve** (same 32 held-out samples as every MR run): 29.15 dB at the end
  of the first fine-tuning, 29.02 at step 1000 of the second (its warm-up), 29.21 at its
  end. That is +0.06 dB over a doubling of the fine-tuning steps, so the curve was flat by
  the issue's bar (until session 8's loss change lifted it again). Caveat: session 4's continuation without
  augmentation (GPU, 5745 steps) gained 0.23 dB over its doubling, so the augmented
  objective is flat, but the plain one was not.
- **Calibration on the two unseen templates moved** (the session-7 table, against
  session 5; session 8's is below).
  Mild Rician noise went 0.09 -> 0.61. Ghosting went 0 -> 0.11 / 0.29 / 0.31. Bias field
  went 0 -> 0 / 0.08 / 0.26, and severe undersampling 0 -> 1.0. Mild spike went
  0.70 -> 0.61. Before augmentation, the network's change helped on these types only on
  its training anatomy.
- **Whole held-out volumes** (`python -m benchmarks classify` / `quality`, docs/
  benchmarks.md):
  - The report got better. MR top-1 went 65 -> 74 %, and motion is named for the first
    time (5 of 12). Ghosting is 2 of 12, blur 12 of 12, severity 61 -> 75 %. Clean
    volumes are still reported clean.
  - The restoration is a trade. Over single types the mean gain went +0.57 -> +0.48 dB:
    spike +2.47 -> +1.86 dB (mostly one case: severe spike on the breast, +9.5 ->
    +4.6 dB), Rician noise +2.12 -> +2.06. Structured types stay within +-0.1 dB (bias
    field -0.03 -> -0.08, ghosting -0.02 -> -0.05). Clean inputs come back at 62.7 dB
    (was 71.8).
  - The patch table barely moved (mean gain over single-type rows +0.28 ->
    +0.27 dB), so the network did not learn blur, motion or bias field at this size and
    budget with augmentation either.
- **Not shipped:** a head refit with augmentation on the session-6 backbone, with the
  two calibration templates added to its training data (3000 steps, 30 min). It reached
  67 % top-1 but reported the clean breast as undersampled (p = 0.56).

### Notes from the training runs (2026-11-26, session 3)

- **Trained for 8 minutes on a lent GPU** (one H100 with 16 CPU cores; MR and CT ran
  side by side). `python -m training.timed` measured the step rate during
  pre-training and chose the fine-tuning steps to fit the budget. No run was cut
  short.
  - MR: 1500 + 5745 steps of batch 16. That is 3.6 times the steps of the CPU run
    behind the previous weights (400 + 1600). 27 steps/s, data wait 7 %.
  - CT: 400 + 1076 steps of batch 32, 8 patches per slice. That is 3.3 times the
    patches of the previous weights (300 + 600 steps of batch 16).
  - CT is bound by its sinogram physics: 5 data workers per run left the GPU waiting
    75 % of each step.
- **Against the previous (CPU) weights, on the same validation samples:**
  - MR: top-1 32 -> 42 %; clean 41.2 -> 44.6 dB. The worst harm shrank: mild bias
    field -7.4 -> -5.4 dB, mild ghosting -2.2 -> -0.7 dB.
  - CT: top-1 69 -> 73 %; clean 45.9 -> 47.3 dB. Moderate ring is now restored
    (-0.46 -> +0.28 dB), and mild low dose is nearly neutral (-0.39 -> -0.05 dB).
- **The CT curve was flat by the issue's bar; the MR curve was not** (at session 3).
  MR still gained from more steps.
- **A second MR fine-tuning cycle was tried and not shipped** (session 4, 3 minutes on
  a lent H200, 37 steps/s): 5745 more steps from the shipped weights, peak LR 5e-4,
  the same data and validation samples (`python -m training finetune --init
  runs/gpu/mr_ft/last.pt`; its run folder is not in git). Validation PSNR rose by
  0.23 dB (29.15 -> 29.39) over this doubling of fine-tuning steps, so the MR curve
  is still not flat. Per type it was a trade: spike (+0.3 to +0.5 dB) and moderate
  noise gained, mild noise (-0.6 dB), mild ghosting and clean inputs (44.6 ->
  44.1 dB) lost. The mean over single-type rows rose only 0.06 dB, and as many rows
  (15 of 24) still end below their input. Without a matching ablation, the shipped
  weights stayed.
- **The MR report (session 3 head) did not recognise motion, ghosting, bias field or
  undersampling.** On the whole held-out volumes (`python -m benchmarks classify`) its top guess
  among those four follows the volume, not the degradation: bias field for the brain
  (itk_t1_coronal: 23 of 24 such cases, and both clean ones), undersampling or
  ghosting for the breast. These are global k-space artefacts (copies shifted by
  half the field of view, smooth fields), and 64 px training patches do not show
  them. A session-4 experiment retrained only the head (backbone frozen) on whole
  192 px slices, 600 steps of batch 8 on the CPU: whole-volume MR top-1 moved 56 ->
  58 % (2 of 96 cases), motion and ghosting still 0 of 24. The frozen features do not
  carry these artefacts; a backbone trained on a larger field of view is the lever.
- **Session 6: the MR classifier was refit on whole slices with a k-space branch**
  (`python -m training head --config training/configs/mr_head.yaml` as of 9e018c0, `--run-dir
  runs/gpu/mr_head_s6 --init src/napari_dcpt/weights/mr.safetensors --threads 1`, 4000 steps
  of 8 slices, 52 min on the 2-core CPU, then `python -m training export`). The backbone
  tensors are identical (checked), so the session-5 calibration table was carried over
  with `models.weights.rewrite_extra` instead of being re-measured. Whole held-out
  volumes: MR top-1 56 -> 65 %; Gibbs 12/12, undersampling 10/12; motion and ghosting
  still 0/24 (docs/architecture.md). The ablation model keeps its own head (no refit).
- **At inference the change is scaled by the report** (session 4): `restore` applies
  `1 - p(clean)` of the network's change by default (docs/architecture.md). The tables
  below are the raw networks on patches. On whole held-out volumes the scaling lifts
  clean MR 41.2 -> 46.6 dB and clean CT 53.0 -> 58.7 dB, and MR bias field goes
  -3.9 -> -1.8 dB (`python -m benchmarks quality`). The MR "harm" on bias field was the
  network's fixed change to real detail (1.7 % rms on the brain volume, the same with
  or without a field), not a wrong correction.
- **Since session 5 the strength is calibrated per type and severity.** `python -m
  training calibrate` measures the least-squares share `g` of the network's change
  that moves a degraded slice towards its clean original, on volumes it was not
  trained on, and embeds the table (below each model). `restore` applies
  `(1 - p(clean)) x (1 - prod_k (1 - p_k g_k))` of the change: the chance that a type
  the network can fix is present.
  - MR: on its five training volumes the network looked able to fix ghosting (gains
    0.45 / 0.87 / 1.0 by severity) and undersampling (1.0). On two volumes it never
    saw (the macaque and MNI152 2009a templates), every structured type gets 0; only
    moderate and severe Rician noise (1.0) and spike (0.7 to 1.0) are trusted. It
    learned those artefacts on its training anatomy only.
  - CT: unseen volumes (the eCT_Supplemental brain and pydicom's CT_small spine crop)
    give sparse view 1.0, blur 0 (mild, moderate), ring 0.04 to 0.43 and low dose 0.08
    to 0.55. Low-dose severity is a dose, not a noise level: one mild record adds
    4 HU of noise to CT_small, 14 HU to eCT and 21 HU to the chest (moderate 8 / 24 /
    38, severe 14 / 44 / 72). On heads the correction helps less: the training
    volumes weighted equally (head atlas and chest) give low dose 0.12 / 0.29 / 0.67
    and ring 0.02 / 0.07 / 0.26. The data cache has no unseen body CT; recalibrating
    on one is a single command.
  - Whole held-out volumes (`python -m benchmarks quality`): clean MR 46.6 -> 67.5 dB,
    clean CT 58.7 -> 72.1 dB; MR bias field -1.84 -> -0.04 dB, ghosting -0.24 ->
    -0.02, Gibbs -0.07 -> +0.01, undersampling -0.05 -> -0.00; CT blur -0.11 -> -0.03.
    The cost: MR Rician noise +2.15 -> +1.98, spike +2.53 -> +2.33, MR mixtures 0.1 to
    0.3 dB; on the chest (the same patient as the CT training slab) low dose
    +2.10 -> +1.41 and ring +1.02 -> +0.32 dB. Mean over single types: MR +0.32 ->
    +0.54 dB, CT +1.16 -> +0.83 dB.
  - A first version weighted the table by each type's share of the summed
    probabilities. It diluted noise with the bias field that the MR report sees in
    every brain (Rician +0.96, spike +0.81 dB): the types are multi-label, so a
    detected but unfixable type must not scale down a fixable one.
- **What still did harm after session 5** (whole held-out volumes, calibrated strength):
  MR bias field (mild: -0.07 dB brain, -0.13 dB breast), mild ghosting (-0.02 / -0.07), mild spike on
  the brain (-0.8 dB: the table trusts spike, and this volume's mild spike is not
  fixed) and mild Rician noise on the brain (-0.1 dB); CT mild blur (-0.07 dB). The raw
  networks (the tables below, no scaling) do more harm: the network detects MR bias
  field and CT blur but did not learn to undo them at this budget.
- **DCPT pre-training, against the same total steps from random initialisation:**
  MR +0.10 dB, CT -0.14 dB (mean restored PSNR over single-type rows). With the CPU
  budgets it was MR +0.00 and CT -0.30, so the sign follows the budget. The paper's
  +2.55 dB came from far longer schedules.
- **On the GPU machine the MR data were converted.** It has no SimpleITK, so the two
  MR NRRD volumes were carried as NIfTI conversions. `napari_dcpt.io` read them back
  with identical voxels and affine. That is why the run configs name
  `.gpu/data/mr/*.nii.gz`; `training/configs/mr.yaml` reads the original NRRD files.
- **Still true from session 2:**
  - `training/data.LoadVolume` is a MONAI `Transform`, so `CacheDataset` caches
    (MR 210 -> 8 ms per sample).
  - The classifier head works on log local-energy maps (docs/architecture.md).
"""


# Further fine-tuning runs from the previous one's weights, in the order they ran:
# ``<runs>/<mod>_<name>``. Their steps count on after the first fine-tuning's.
# The runs after the first fine-tuning (`<mod>_ft`), in the order they made the shipped
# files; a name ending in "head" is a classifier head refit of the run before it, every
# other one a fine-tuning continued from the previous run's weights.
CHAIN = ("cont", "psnr", "floor", "floor60", "long", "head")
CONTINUATIONS = tuple(c for c in CHAIN if not c.endswith("head"))


def continuations(runs: Path, mod: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """``(run name, validation metrics)`` of each continuation run present, in order.

    A run whose config is kept but whose metrics were lost is present with no metrics.
    """
    names = [f"{mod}_{c}" for c in CONTINUATIONS]
    return [
        (n, _jsonl(runs / n / "metrics.jsonl"))
        for n in names
        if (runs / n / "metrics.jsonl").is_file() or (runs / n / "config.yaml").is_file()
    ]


def _run_config(runs: Path, name: str) -> dict[str, Any] | None:
    path = runs / name / "config.yaml"
    return yaml.safe_load(path.read_text()) if path.is_file() else None


def _steps(runs: Path, name: str, ms: list[dict[str, Any]]) -> int | None:
    """Fine-tuning steps of a run: its configured ones, else its last logged step."""
    cfg = _run_config(runs, name)
    if cfg is not None:
        return int(cfg["finetune"]["steps"])
    return int(ms[-1]["step"]) if ms else None


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def top1_single(ev: dict[str, Any]) -> float:
    """Top-1 (argmax) accuracy over single-degradation samples (clean row excluded)."""
    conf = np.asarray(ev["confusion"])
    sub = conf[1:]  # rows of the non-clean types
    return float(np.trace(conf[1:, 1:]) / max(sub.sum(), 1))


def plot_curves(runs: Path, mod: str, out: Path) -> Path:
    """Validation PSNR (restored vs degraded) and accuracy against step, per stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    pre = _jsonl(runs / f"{mod}_pre/metrics.jsonl")
    ft_cfg = _run_config(runs, f"{mod}_ft")
    # fine-tuning starts where pre-training ended (its configured steps if its log is lost)
    offset = max(m["step"] for m in pre) if pre else ft_cfg["pretrain"]["steps"] if ft_cfg else 0
    tuned = dict(fine_tuning_runs(runs, mod))
    logged = [ms for ms in tuned.values() if ms]
    series = [("pre-training", pre, "-", 0)]
    for name, ms in tuned.items():
        label = "fine-tuning" if name == f"{mod}_ft" else f"fine-tuning continued ({name})"
        series.append((label, ms, "-", offset))
    series.append(
        ("ablation (no pre-training)", _jsonl(runs / f"{mod}_abl/metrics.jsonl"), "--", 0)
    )
    for stage, ms, style, off in series:
        if not ms:
            continue
        steps = [m["step"] + off for m in ms]
        axes[0].plot(steps, [m["psnr_restored"] for m in ms], style, label=f"{stage}: restored")
        axes[1].plot(steps, [m["acc_exact"] for m in ms], style, label=stage)
    recomputed = revalidated(runs, mod)
    if recomputed and tuned:
        axes[0].plot(
            [m["step"] + offset for m in recomputed],
            [m["psnr_restored"] for m in recomputed],
            "o",
            mfc="none",
            label="recomputed from shipped files",
        )
    if logged:  # every run validates on the same fixed samples
        axes[0].axhline(
            logged[0][-1]["psnr_degraded"], color="grey", lw=0.8, label="degraded input"
        )
    axes[0].set_xlabel("step (fine-tuning continues after pre-training)")
    axes[0].set_ylabel("validation PSNR (dB)")
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("exact multi-label accuracy")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{mod.upper()} model: validation during training")
    fig.tight_layout()
    path = out / f"{mod}_learning_curves.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _table(ev: dict[str, Any], abl: dict[str, Any] | None) -> list[str]:
    head = (
        "| condition | severity | PSNR in | PSNR out | SSIM in | SSIM out | exact acc |"
        " severity acc | ablation PSNR out |"
    )
    lines = [head, "|" + "---|" * 9]
    abl_rows = {(r["condition"], r["severity"]): r for r in (abl or {}).get("rows", [])}
    for r in ev["rows"]:
        a = abl_rows.get((r["condition"], r["severity"]))
        sev_acc = r.get("acc_severity")
        lines.append(
            f"| {r['condition']} | {r['severity'] or '-'} | {r['psnr_degraded']:.2f} | "
            f"{r['psnr_restored']:.2f} | {r['ssim_degraded']:.3f} | {r['ssim_restored']:.3f} | "
            f"{r['acc_exact']:.2f} | {'-' if sev_acc is None else f'{sev_acc:.2f}'} | "
            f"{'-' if a is None else format(a['psnr_restored'], '.2f')} |"
        )
    return lines


def fine_tuning_runs(runs: Path, mod: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """The first fine-tuning and its continuations (`CONTINUATIONS`) that are present,
    each continuation's steps counted on from the end of the previous run (its
    configured steps, so that a run whose metrics were lost still counts). Empty when
    the first fine-tuning's length is unknown: the offsets would be wrong."""
    ft = _jsonl(runs / f"{mod}_ft/metrics.jsonl")
    last = _steps(runs, f"{mod}_ft", ft)
    if last is None:
        return []
    out = [(f"{mod}_ft", ft)]
    for name, ms in continuations(runs, mod):
        out.append((name, [{**m, "step": m["step"] + last} for m in ms]))
        last += _steps(runs, name, ms) or 0
    return out


def revalidated(runs: Path, mod: str) -> list[dict[str, Any]]:
    """Validation points recomputed from shipped files whose run's metrics were lost:
    ``<runs>/<mod>_revalidated.jsonl``, one row per file with its cumulative
    fine-tuning ``step`` (training/records/README.md says how they were made)."""
    return _jsonl(runs / f"{mod}_revalidated.jsonl")


def fine_tuning_curve(runs: Path, mod: str) -> list[dict[str, Any]]:
    """Validation of the whole fine-tuning (`fine_tuning_runs`, concatenated), so that
    the flatness bar reads all of it, not the last run alone. Recomputed points
    (`revalidated`) fill in steps that no kept log covers."""
    logged = [m for _, ms in fine_tuning_runs(runs, mod) for m in ms]
    if not logged:  # without the runs' offsets the recomputed steps cannot be placed
        return []
    have = {m["step"] for m in logged}
    extra = [m for m in revalidated(runs, mod) if m["step"] not in have]
    return sorted(logged + extra, key=lambda m: m["step"])


def flatness(ms: list[dict[str, Any]]) -> tuple[int, int, float] | None:
    """Validation PSNR gained over the last doubling of steps: (from, to, dB).

    None when there is no validation point within 20 % of half the last step (lost
    records leave gaps): a shorter span would understate the gain.
    """
    if len(ms) < 2:
        return None
    last = ms[-1]
    half = min(ms[:-1], key=lambda m: abs(m["step"] - last["step"] / 2))
    if abs(half["step"] - last["step"] / 2) > 0.2 * last["step"] / 2:
        return None
    return half["step"], last["step"], last["psnr_restored"] - half["psnr_restored"]


def gain_since_half(ms: list[dict[str, Any]]) -> tuple[int, int, float] | None:
    """Validation PSNR gained from the first point at or after half the last step to
    the last: (from, to, dB). A span shorter than a doubling, read where `flatness`
    finds no point near half; on a rising curve the doubling gained at least this."""
    if len(ms) < 2:
        return None
    last = ms[-1]
    after = [m for m in ms[:-1] if m["step"] >= last["step"] / 2]
    if not after:
        return None
    return after[0]["step"], last["step"], last["psnr_restored"] - after[0]["psnr_restored"]


def _bars(ev: dict[str, Any]) -> list[str]:
    rows = [r for r in ev["rows"] if r["condition"] not in ("clean", "mixed")]
    worse = [
        f"{r['condition']}/{r['severity']}"
        for r in rows
        if r["psnr_restored"] <= r["psnr_degraded"]
    ]
    clean = next(r for r in ev["rows"] if r["condition"] == "clean")
    acc = top1_single(ev)
    return [
        f"- restored PSNR above the degraded input for every type and severity: "
        f"{'met' if not worse else 'NOT met (' + ', '.join(worse) + ')'}",
        f"- clean input comes back at >= 40 dB against itself: "
        f"{'met' if clean['psnr_restored'] >= 40 else 'NOT met'} ({clean['psnr_restored']:.1f} dB)",
        f"- mean top-1 accuracy on single degradations >= 90 %: "
        f"{'met' if acc >= 0.9 else 'NOT met'} ({100 * acc:.0f} %)",
    ]


def shipped_bars(bench: Path, mod: str) -> list[str]:
    """The quality bars of the product as a user runs it: `restore()` with the calibrated
    strength on whole held-out volumes, from the benchmark results in ``bench``
    (`python -m benchmarks quality` and `classify`; docs/benchmarks.md). Masked 3-D
    PSNR, each (type, severity) averaged over the held-out volumes."""
    quality, classify = _json(bench / "quality.json"), _json(bench / "classify.json")
    key = mod.upper()
    if quality is None or key not in quality.get("models", {}):
        return []
    rows = [r for r in quality["rows"] if r["modality"] == key]
    inp = {(r["volume"], r["case"]): r["psnr_mask"] for r in rows if r["method"] == "input"}
    gains: dict[tuple[str, str], list[float]] = {}
    clean: list[float] = []
    for r in rows:
        if r["method"] != "napari-dcpt":
            continue
        if r["kind"] == "clean":
            clean.append(r["psnr_mask"])
        elif r["kind"] == "single":
            gain = r["psnr_mask"] - inp[(r["volume"], r["case"])]
            gains.setdefault((r["type"], r["severity"]), []).append(gain)
    worse = [
        f"{t}/{sev} {np.mean(g):+.3f} dB"
        for (t, sev), g in sorted(gains.items())
        if np.mean(g) <= 0
    ]
    run = (
        max(
            (r for r in quality.get("runs", []) if key in r["modalities"]),
            key=lambda r: r["date_utc"],
            default=None,
        )
        or quality["environment"]
    )  # a results file from before runs were listed
    lines = [
        "Quality bars as shipped (`restore()` with the calibrated strength, whole held-out "
        f"volumes; `python -m benchmarks quality` of {run['date_utc']} at {run['git_commit']}, "
        f"weights `{Path(quality['models'][key]['napari-dcpt']).name}`):",
        "",
        f"- restored PSNR above the degraded input for every type and severity: "
        f"{'met' if not worse else 'NOT met (' + ', '.join(worse) + ')'}"
        f" ({len(gains)} type x severity cells)",
    ]
    if clean:
        c = float(np.mean(clean))
        lines.append(
            f"- clean input comes back at >= 40 dB against itself: "
            f"{'met' if c >= 40 else 'NOT met'} ({c:.1f} dB)"
        )
    res = ((classify or {}).get("results", {}).get(key) or {}).get("napari-dcpt")
    if res is not None:
        acc = res["single_top1"]
        lines.append(
            f"- mean top-1 accuracy on single degradations >= 90 %: "
            f"{'met' if acc >= 0.9 else 'NOT met'} ({100 * acc:.0f} %, "
            f"`python -m benchmarks classify` of {classify['environment']['date_utc']})"
        )
    return [*lines, ""]


def _calibration(weights: Path) -> list[str]:
    """The embedded `training.calibrate` table of a weights file, as Markdown."""
    from napari_dcpt.models import read_metadata

    cal = read_metadata(weights)["extra"].get("restore_gain")
    if not cal:
        return ["- calibration: none (restore applies 1 - p(clean) of the change)"]
    lines = [
        "",
        f"Calibration (`python -m training calibrate`, {cal['cases']} degraded cases on "
        f"{', '.join(cal['volumes'])}, volumes outside the training and validation splits): "
        "the share of the network's change that moves an unseen slice towards its clean "
        "original (0 = none of it helps, 1 = all of it). `restore` applies "
        "`(1 - p(clean)) x (1 - prod_k (1 - p_k g_k))` of the change.",
        "",
        "| type | mild | moderate | severe |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {t} | " + " | ".join(f"{g:.2f}" for g in row) + " |" for t, row in cal["gain"].items()
    ]
    if "recall" in cal:
        lines += [
            "",
            "Recall on the same cases: the share in which the report named the type "
            "(p >= 0.5). `classify` and the widget mark a type under 0.5 as unreliable.",
            "",
            "| type | mild | moderate | severe |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {t} | " + " | ".join(f"{r:.2f}" for r in row) + " |"
            for t, row in cal["recall"].items()
        ]
    return [*lines, ""]


def section(runs: Path, mod: str, out: Path, bench: Path | None = None) -> list[str]:
    """The model card section of one modality; ``bench``: the benchmark results folder."""
    from napari_dcpt.models import count_parameters, load_weights

    weights = out / f"{mod}.safetensors"
    lines = [f"## {mod.upper()} model (`{weights.name}`)", ""]
    if weights.is_file():
        net, cfg, vocab = load_weights(weights)
        backbone, head = count_parameters(net.backbone), count_parameters(net.classifier)
        lines += [
            f"- file size {weights.stat().st_size / 2**20:.2f} MB; backbone {backbone:,} "
            f"parameters, classifier head {head:,}",
            f"- network: {cfg.model_dump_json()}",
            f"- vocabulary: {', '.join(vocab)}",
        ]
        lines += _calibration(weights)
    c = _run_config(runs, f"{mod}_ft")
    if c is not None:
        d = c["data"]
        lines += [
            f"- data root `{d['root']}`: train {d.get('train_files')}, validation "
            f"{d.get('val_files')} (held-out volumes); patches {d['patch_size']} px, "
            f"batch {d['batch_size']}",
            f"- steps: pre-training {c['pretrain']['steps']}, fine-tuning "
            f"{c['finetune']['steps']}; ablation: {c['pretrain']['steps'] + c['finetune']['steps']}"
            " fine-tuning steps from random initialisation",
        ]
    cont = dict(continuations(runs, mod))
    for name in (f"{mod}_{c}" for c in CHAIN):  # in the order they made the file
        if name in cont:
            ms = cont[name]
            ft_cfg = (_run_config(runs, name) or {}).get("finetune", {})
            loss = ft_cfg.get("restoration_loss", "l1").upper()
            if loss == "PSNR":
                loss += f" (floor {ft_cfg.get('psnr_floor_db', 40.0):g} dB)"
            lines += [
                f"- fine-tuning continued (`{name}`, `python -m training finetune` from the "
                f"previous run's weights): {_steps(runs, name, ms)} more steps, {loss} "
                "restoration loss" + ("" if ms else "; its validation curve was lost")
            ]
            continue
        head_cfg, head_runs = _run_config(runs, name), _jsonl(runs / name / "metrics.jsonl")
        if head_cfg is None or "head" not in head_cfg or not head_runs:
            continue
        h = head_cfg["head"]
        rate = head_runs[-1].get("steps_per_s") or 0.0
        lines += [
            f"- classifier head refit (`{name}`, `python -m training head`): "
            f"{head_runs[-1]['step']} steps of whole slices ({h['min_size']}-{h['max_size']} px "
            f"crops), k-space branch on, backbone frozen (restoration tensors unchanged); "
            f"{rate:.2f} steps/s"
        ]
    if cont:
        lines += ["- the ablation matches the first fine-tuning's budget only"]
    timed = runs / f"{mod}_timed.json"
    if timed.is_file():  # trained by `python -m training.timed`
        t = json.loads(timed.read_text())
        lines += [
            f"- trained by `python -m training.timed` on {t['device']} within {t['minutes']} "
            f"minutes ({t['wall_s']:.0f} s used): pre-training {t['pretrain_steps']} steps in "
            f"{t['pretrain_s']:.0f} s ({t['rate_steps_per_s']:.1f} steps/s), then fine-tuning "
            f"({t['finetune_steps']} steps) and the ablation ({t['ablation_steps']} steps) side "
            "by side",
        ]
    times = runs / f"{mod}_times.txt"
    if times.is_file():
        lines += ["- wall times of the CPU steps (2-core CPU, 1 torch thread):", ""]
        lines += [f"      {t}" for t in times.read_text().splitlines()]
    lines.append("")
    # the shipped file's evaluation: that of the last run of the chain that has one
    candidates = [f"{mod}_{c}" for c in reversed(CHAIN)] + [f"{mod}_ft"]
    ev_dir = next(
        (runs / c / "eval" for c in candidates if (runs / c / "eval/eval.json").is_file()), None
    )
    refit = ev_dir is not None and ev_dir.parent.name.endswith("head")
    ev = _json(ev_dir / "eval.json") if ev_dir is not None else None
    abl = _json(runs / f"{mod}_abl/eval/eval.json")
    if ev is None:
        return [*lines, "Evaluation pending.", ""]
    lines += [
        "### Validation (held-out volumes; `python -m training evaluate`)",
        "",
        "PSNR/SSIM on network units (CT: -1000..1000 HU -> 0..1; MR: 99.5th percentile -> 1),"
        " one 64 px centre patch per sampled slice, 16 samples per row, fixed seeds.",
        *(
            [
                "The shipped file's classifier is the refit head; the ablation's is its own "
                "fine-tuned head (no refit)."
            ]
            if refit
            else []
        ),
        "",
        *_table(ev, abl),
        "",
        f"Top-1 accuracy on single degradations: {100 * top1_single(ev):.0f} %"
        + (f" (ablation: {100 * top1_single(abl):.0f} %)" if abl else ""),
        "",
        "Quality bars on these validation patches (the network at full strength):",
        "",
        *_bars(ev),
    ]
    curve = fine_tuning_curve(runs, mod)
    flat = flatness(curve)
    bar = "- validation curve flat (< 0.1 dB over the last doubling of fine-tuning steps): "
    if flat is not None:
        a, b, gain = flat
        lines.append(
            f"{bar}{'met' if gain < 0.1 else 'NOT met'} ({gain:+.2f} dB from step {a} to {b})"
        )
    elif (part := gain_since_half(curve)) and part[2] >= 0.1:
        a, b, gain = part
        lines.append(
            f"{bar}NOT met: {gain:+.2f} dB from step {a} to {b} already, {b / a:.1f}x the steps "
            f"(no validation point near step {b // 2}; a rising curve gains at least that over "
            "the doubling)"
        )
    else:
        lines.append(f"{bar}not measurable from the kept records (no validation point near half)")
        tuned = fine_tuning_runs(runs, mod)
        own = flatness(_jsonl(runs / tuned[-1][0] / "metrics.jsonl")) if tuned else None
        if own is not None:  # the trend of the last run on its own
            a, b, gain = own
            lines.append(
                f"  - within the last run (`{tuned[-1][0]}`): {gain:+.2f} dB from its step {a} to {b}"
            )
    lines += ["", *(shipped_bars(bench, mod) if bench is not None else [])]
    chance = 1.0 / max(1, len(ev["vocabulary"]) - 1)
    if top1_single(ev) < 2 * chance:
        lines += [
            f"**The classifier has not learned**: top-1 {100 * top1_single(ev):.0f} % is within "
            f"twice chance ({100 * chance:.0f} %). Its reports (`classify`, the widget) are not "
            "to be relied on until a longer training run fixes it.",
            "",
        ]
    if not abl:
        lines += [
            "No-pre-training ablation: **not run for these weights** (no CPU time left in the "
            "session); `python -m training ablation --config training/configs/<mod>.yaml` runs "
            "it with the same total budget.",
            "",
        ]
    else:
        # the same budget: the first fine-tuning, before any continuation
        same = _json(runs / f"{mod}_ft/eval/eval.json") if cont else ev
        single = [(r, a) for r, a in zip((same or ev)["rows"], abl["rows"]) if r["severity"]]
        gain = np.mean([r["psnr_restored"] - a["psnr_restored"] for r, a in single])
        when = ", first fine-tuning before its continuation" if cont else ""
        lines += [
            f"DCPT pre-training vs none (same total steps{when}): mean restored PSNR difference over "
            f"single-type rows {gain:+.2f} dB "
            f"({'no measurable difference' if abs(gain) < 0.05 else 'pre-training helps' if gain > 0 else 'pre-training does not help'} here).",
            "",
        ]
    curves = plot_curves(runs, mod, out)
    lines += [f"![learning curves]({curves.name})", ""]
    # plots kept where the metrics behind them were lost (training/records/README.md)
    for old in sorted(runs.glob(f"{mod}_curves_*.png")):
        rel = Path(os.path.relpath(old.resolve(), out.resolve())).as_posix()
        lines += [
            f"Earlier curves ({old.stem.split('_')[-1]}; the image is kept, its metrics were "
            "lost):",
            "",
            f"![earlier learning curves]({rel})",
            "",
        ]
    conf = ev_dir / "confusion.png"
    if conf.is_file():
        import shutil

        shutil.copy(conf, out / f"{mod}_confusion.png")
        lines += [f"![confusion matrix]({mod}_confusion.png)", ""]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="training/records")
    ap.add_argument("--out", default="src/napari_dcpt/weights")
    ap.add_argument("--bench", default="benchmarks/results", help="benchmark results folder")
    args = ap.parse_args()
    runs, out = Path(args.runs), Path(args.out)
    lines = [
        "# napari-dcpt default models",
        "",
        "Two small 2-D NAFNet-style restoration networks (one per modality) with the DCPT",
        "degradation classifier head, trained by this repository's recipe on the real data",
        "cache (`../shared/data/fetch_data.sh`). Made by:",
        "",
        "```bash",
        "python -m training.prepare_ct --out runs/data/ct   # CT train/validation slabs",
        "python -m training.timed mr --minutes 8 --run-root runs/gpu --device cuda \\",
        "    --pretrain-steps 1500 --workers 2 --margin 0.7",
        "python -m training.timed ct --minutes 8 --run-root runs/gpu --device cuda \\",
        "    --pretrain-steps 400 --workers 5 --batch-size 32 --patches-per-slice 8 --margin 0.7",
        "python -m training export runs/gpu/mr_ft/last.pt src/napari_dcpt/weights/mr.safetensors",
        "python -m training export runs/gpu/ct_ft/last.pt src/napari_dcpt/weights/ct.safetensors",
        "# CT, 2-core CPU, 1 thread (session 8): fine-tuning with the PSNR loss",
        "python -m training finetune --config training/configs/ct_psnr.yaml --run-dir runs/gpu/ct_psnr \\",
        "    --init src/napari_dcpt/weights/ct.safetensors --threads 1",
        "python -m training export runs/gpu/ct_psnr/last.pt src/napari_dcpt/weights/ct.safetensors",
        "W=src/napari_dcpt/weights; D=~/.cache/napari-dcpt/data",
        "# MR, 2-core CPU, 1 thread: session 6 head refit, session 7 augmented fine-tuning,",
        "# session 8 fine-tuning with the PSNR loss; each followed by a head refit",
        "git show 9e018c0:training/configs/mr_head.yaml > mr_head_s6.yaml  # 4000 steps, no aug.",
        "python -m training head --config mr_head_s6.yaml --run-dir runs/gpu/mr_head_s6 \\",
        "    --init $W/mr.safetensors --threads 1",
        "python -m training export runs/gpu/mr_head_s6/last.pt $W/mr.safetensors",
        "python -m training finetune --config training/configs/mr_cont.yaml --run-dir runs/gpu/mr_cont \\",
        "    --init $W/mr.safetensors --threads 1",
        "python -m training export runs/gpu/mr_cont/last.pt runs/gpu/mr_cont.safetensors",
        "python -m training head --config training/configs/mr_head.yaml --run-dir runs/gpu/mr_head_s7 \\",
        "    --init runs/gpu/mr_cont.safetensors --threads 1",
        "python -m training export runs/gpu/mr_head_s7/last.pt $W/mr.safetensors",
        "python -m training finetune --config training/configs/mr_psnr.yaml --run-dir runs/gpu/mr_psnr \\",
        "    --init $W/mr.safetensors --threads 1",
        "python -m training export runs/gpu/mr_psnr/last.pt runs/gpu/mr_psnr.safetensors",
        "python -m training head --config training/configs/mr_head.yaml --run-dir runs/gpu/mr_head \\",
        "    --init runs/gpu/mr_psnr.safetensors --threads 1",
        "python -m training export runs/gpu/mr_head/last.pt $W/mr.safetensors",
        "# calibration (session 8)",
        "python -m training calibrate $W/mr.safetensors $W/mr.safetensors --repeats 3 \\",
        "    --volumes $D/mr/macaque_inia19_t1.nii.gz $D/mr/mni152_2009a_t1.nii.gz",
        "python -m training calibrate $W/ct.safetensors $W/ct.safetensors --repeats 8 \\",
        "    --volumes $D/dicom/eCT_Supplemental.dcm \\",
        '    "$(python -c \'from pydicom.data import get_testdata_file as g; print(g("CT_small.dcm"))\')"',
        "python -m training evaluate --checkpoint runs/gpu/mr_ft/last.pt --out runs/gpu/mr_ft/eval --samples 16",
        "python -m training evaluate --checkpoint runs/gpu/mr_cont/last.pt --out runs/gpu/mr_cont/eval --samples 16",
        "python -m training evaluate --checkpoint runs/gpu/mr_psnr/last.pt --out runs/gpu/mr_psnr/eval --samples 16",
        "python -m training evaluate --checkpoint runs/gpu/ct_psnr/last.pt --out runs/gpu/ct_psnr/eval --samples 16",
        "# session 9, 2-core CPU, 1 thread each, side by side: the PSNR loss floored at 50 dB",
        "python -m training finetune --config training/configs/ct_floor.yaml --run-dir runs/s9/ct_floor \\",
        "    --init $W/ct.safetensors --threads 1",
        "python -m training export runs/s9/ct_floor/last.pt runs/s9/ct_floor.safetensors",
        "python -m training finetune --config training/configs/ct_floor60.yaml --run-dir runs/s9/ct_floor60 \\",
        "    --init runs/s9/ct_floor.safetensors --threads 1   # then the floor at 60 dB",
        "python -m training export runs/s9/ct_floor60/last.pt runs/s9/ct_floor60.safetensors",
        "python -m training calibrate runs/s9/ct_floor60.safetensors $W/ct.safetensors --repeats 8 \\",
        "    --threads 2 --volumes $D/dicom/eCT_Supplemental.dcm <CT_small.dcm as above>",
        "python -m training finetune --config training/configs/mr_floor.yaml --run-dir runs/s9/mr_floor \\",
        "    --init $W/mr.safetensors --threads 1",
        "python -m training export runs/s9/mr_floor/last.pt runs/s9/mr_floor.safetensors",
        "python -m training head --config training/configs/mr_head.yaml --run-dir runs/s9/mr_head \\",
        "    --init runs/s9/mr_floor.safetensors --threads 1",
        "python -m training export runs/s9/mr_head/last.pt runs/s9/mr_head.safetensors",
        "python -m training calibrate runs/s9/mr_head.safetensors $W/mr.safetensors --repeats 3 \\",
        "    --threads 1 --volumes $D/mr/macaque_inia19_t1.nii.gz $D/mr/mni152_2009a_t1.nii.gz",
        "for r in ct_floor ct_floor60 mr_floor mr_head; do  # evaluate; keep the small files in git",
        "  python -m training evaluate --checkpoint runs/s9/$r/last.pt --out runs/s9/$r/eval --samples 16",
        "  mkdir -p training/records/$r/eval && cp runs/s9/$r/{config.yaml,data.json,metrics.jsonl} \\",
        "    training/records/$r/ && cp runs/s9/$r/eval/eval.* runs/s9/$r/eval/confusion.png training/records/$r/eval/",
        "done",
        "# session 10: both files recalibrated, which adds the recall table (gains unchanged)",
        "python -m training calibrate $W/mr.safetensors $W/mr.safetensors --repeats 3 --threads 1 \\",
        "    --volumes $D/mr/macaque_inia19_t1.nii.gz $D/mr/mni152_2009a_t1.nii.gz",
        "python -m training calibrate $W/ct.safetensors $W/ct.safetensors --repeats 8 --threads 1 \\",
        "    --volumes $D/dicom/eCT_Supplemental.dcm <CT_small.dcm as above>",
        "# session 11: CT one more doubling of its fine-tuning steps (7076 -> 14152), 1 thread",
        "python -m training finetune --config training/configs/ct_long.yaml --run-dir runs/s11/ct_long \\",
        "    --init $W/ct.safetensors --threads 1",
        "python -m training export runs/s11/ct_long/last.pt runs/s11/ct_long.safetensors",
        "python -m training calibrate runs/s11/ct_long.safetensors $W/ct.safetensors --repeats 8 \\",
        "    --threads 2 --volumes $D/dicom/eCT_Supplemental.dcm <CT_small.dcm as above>",
        "python -m training evaluate --checkpoint runs/s11/ct_long/last.pt --out runs/s11/ct_long/eval --samples 16",
        "# session 12: MR 10000 more fine-tuning steps (17745 -> 27745), 1 thread, then its head",
        "python -m training finetune --config training/configs/mr_long.yaml \\",
        "    --run-dir training/records/mr_long --init $W/mr.safetensors --threads 1",
        "python -m training export training/records/mr_long/last.pt runs/s12/mr_long.safetensors",
        "python -m training head --config training/configs/mr_head.yaml --run-dir runs/s12/mr_head \\",
        "    --init runs/s12/mr_long.safetensors --threads 1",
        "python -m training export runs/s12/mr_head/last.pt runs/s12/mr_head.safetensors",
        "python -m training calibrate runs/s12/mr_head.safetensors $W/mr.safetensors --repeats 3 \\",
        "    --threads 2 --volumes $D/mr/macaque_inia19_t1.nii.gz $D/mr/mni152_2009a_t1.nii.gz",
        "python -m training evaluate --checkpoint runs/s12/mr_head/last.pt --out runs/s12/mr_head/eval --samples 16",
        "PYTHONPATH=. python training/records/revalidate.py > training/records/mr_revalidated.jsonl",
        "python -m training.model_card   # reads training/records",
        "```",
        "",
        "The `runs/gpu/` folders of sessions 3-8 were lost with their machine;",
        "training/records/README.md says what was recomputed and what is gone.",
        "",
        "The two `timed` commands ran at the same time on one lent NVIDIA H100 (16 CPU cores).",
        "`training/configs/{mr,ct}_h100.yaml` hold the step counts they chose, so",
        "`python -m training pretrain|finetune|ablation --config` on those files repeats the",
        "runs with fixed steps on any machine, a CPU included (hours there).",
        "`bash training/train_default.sh` is the shorter CPU recipe of the previous weights.",
        f"Export, evaluation and this card ran on the 2-core {platform.machine()} CPU. Weights",
        "are safetensors with the network config and vocabulary embedded.",
        "",
        "Intended use: research and quality-control of MR/CT restoration; not a diagnostic "
        "device. Limits: trained for minutes (8 on one GPU; then MR 4.2 and CT 2.7 more hours of fine-tuning "
        "on a 2-core CPU), "
        "not days, on a handful of public "
        "volumes (CT: one chest CT and one head atlas), 2-D slice-wise.",
        "",
        NOTES,
        "",
    ]
    for mod in ("mr", "ct"):
        lines += section(runs, mod, out, Path(args.bench))
    (out / "MODEL_CARD.md").write_text("\n".join(lines))
    print(f"wrote {out / 'MODEL_CARD.md'}")


if __name__ == "__main__":
    main()
