#!/usr/bin/env bash
# The recipe of a shipped default model, end to end on any machine (one modality per call):
#   bash training/train_default.sh mr|ct [RUN_ROOT=runs] [THREADS=1]
# The MR file itself was made in sessions, with head refits between the fine-tunings
# (they change only the head those fine-tunings start from); weights/MODEL_CARD.md lists
# that exact sequence.
# DCPT pre-training -> all-in-one fine-tuning -> export (MR: -> a second, augmented
# fine-tuning -> a third with the PSNR loss -> a fourth with its floor at 50 dB -> a
# fifth, 10000 steps longer at that floor, a sixth, 7000 steps at a lower peak rate, and
# the first 10500 steps of a seventh (34745 planned, on the anatomy-scaled bias field),
# a head refit, an eighth (8000 steps annealing the seventh's rate there to zero)
# -> classifier head refit on whole slices, then 2000 more head steps on crops down to
# 32 px;
# CT: -> a second with the PSNR loss -> a third and a fourth with its floor at 50, then
# 60 dB -> a fifth, one more doubling at 60 dB) -> calibration on volumes
# outside both splits -> the no-pre-training ablation with the first fine-tuning's
# step budget (CT: then taken through the same continuations, so that it ends at the
# shipped file's budget; MR's chain would take about 7 h more on a 2-core CPU and has
# not been run), exported and calibrated the same way -> evaluation of both on the
# held-out split. Wall times go to RUN_ROOT/<mod>_times.txt. The small files of each run
# (config, metrics, eval) are what training/records keeps for the model card.
set -euo pipefail
mod=$1; root=${2:-runs}; threads=${3:-1}
cfg=training/configs/$mod.yaml
py=${PYTHON:-python}
t() { local s=$(date +%s); "$@"; echo "$(( $(date +%s) - s )) s: $*" >> "$root/${mod}_times.txt"; }
mkdir -p "$root"
data=${NAPARI_DCPT_DATA:-$HOME/.cache/napari-dcpt/data}
if [ "$mod" = mr ]; then
  cal=(--repeats 3 --volumes "$data/mr/macaque_inia19_t1.nii.gz" "$data/mr/mni152_2009a_t1.nii.gz")
else
  cal=(--repeats 8 --volumes "$data/dicom/eCT_Supplemental.dcm"
       "$($py -c 'from pydicom.data import get_testdata_file as g; print(g("CT_small.dcm"))')")
fi
[ "$mod" = ct ] && [ ! -d "$root/data/ct" ] && $py -m training.prepare_ct --out "$root/data/ct"
t $py -m training pretrain --config "$cfg" --run-dir "$root/${mod}_pre" --threads "$threads" --resume
t $py -m training finetune --config "$cfg" --run-dir "$root/${mod}_ft" --init "$root/${mod}_pre/last.pt" --threads "$threads" --resume
t $py -m training export "$root/${mod}_ft/last.pt" "$root/${mod}.safetensors"
# each further fine-tuning starts from the previous export: training/configs/<run>.yaml
# (further arguments go to finetune: `--until STEP` where the file was taken part-way)
cont() {
  local run=$1; shift
  t $py -m training finetune --config "training/configs/$run.yaml" --run-dir "$root/$run" --init "$root/${mod}.safetensors" --threads "$threads" --resume "$@"
  t $py -m training export "$root/$run/last.pt" "$root/${mod}.safetensors"
}
# the MR classifier's whole-slice k-space refit (backbone frozen) on the current export;
# the second argument names its config (default training/configs/mr_head.yaml)
refit() {
  t $py -m training head --config "training/configs/${2:-mr_head}.yaml" --run-dir "$root/$1" --init "$root/${mod}.safetensors" --threads "$threads" --resume
  t $py -m training export "$root/$1/last.pt" "$root/${mod}.safetensors"
}
if [ "$mod" = mr ]; then
  # a second, augmented fine-tuning (k-space head on), a third with the per-sample PSNR
  # loss, a fourth with it floored at 50 dB and a fifth and a sixth at that floor, the
  # first 10500 steps of a seventh (model_card.CHAIN), a head refit and an eighth; then
  # the classifier's whole-slice k-space refit with the backbone frozen
  for run in mr_cont mr_psnr mr_floor mr_long mr_long2; do cont $run; done
  cont mr_long3 --until 10500
  # (session 15 shipped this refit; mr_long4 started from it)
  refit mr_head_long3
  cont mr_long4
  refit mr_head
  # (session 18) 2000 more head steps on crops down to 32 px, for small fields of view
  refit mr_fov_head mr_fov_head
else
  # CT: a second fine-tuning with the per-sample PSNR loss, a third and a fourth with its
  # floor at 50 and then 60 dB, a fifth (one more doubling) at 60 dB
  for run in ct_psnr ct_floor ct_floor60 ct_long; do cont $run; done
fi
t $py -m training calibrate "$root/${mod}.safetensors" "$root/${mod}.safetensors" "${cal[@]}"
t $py -m training evaluate --checkpoint "$root/${mod}_ft/last.pt" --out "$root/${mod}_ft/eval" --samples 16
if [ "$mod" = mr ]; then  # the shipped file (refit head) on the same validation samples
  t $py -m training evaluate --checkpoint "$root/mr.safetensors" --config "$cfg" --out "$root/mr_head/eval" --samples 16
fi
t $py -m training ablation --config "$cfg" --run-dir "$root/${mod}_abl" --threads "$threads" --resume
t $py -m training export "$root/${mod}_abl/last.pt" "$root/${mod}_ablation.safetensors"
if [ "$mod" = ct ]; then  # the same continuations from the ablation's own exports
  for run in ct_psnr ct_floor ct_floor60 ct_long; do
    abl=ct_abl_${run#ct_}
    t $py -m training finetune --config "training/configs/$run.yaml" --run-dir "$root/$abl" --init "$root/ct_ablation.safetensors" --threads "$threads" --resume
    t $py -m training export "$root/$abl/last.pt" "$root/ct_ablation.safetensors"
    t $py -m training evaluate --checkpoint "$root/$abl/last.pt" --out "$root/$abl/eval" --samples 16
  done
fi
t $py -m training calibrate "$root/${mod}_ablation.safetensors" "$root/${mod}_ablation.safetensors" "${cal[@]}"
t $py -m training evaluate --checkpoint "$root/${mod}_abl/last.pt" --out "$root/${mod}_abl/eval" --samples 16
