#!/usr/bin/env bash
# The recipe of a shipped default model, end to end on any machine (one modality per call):
#   bash training/train_default.sh mr|ct [RUN_ROOT=runs] [THREADS=1]
# The MR file itself was made in sessions, with head refits between the fine-tunings
# (they change only the head those fine-tunings start from); weights/MODEL_CARD.md lists
# that exact sequence.
# DCPT pre-training -> all-in-one fine-tuning -> export (MR: -> a second, augmented
# fine-tuning -> a third with the PSNR loss -> a fourth with its floor at 50 dB ->
# classifier head refit on whole slices; CT: -> a second with the PSNR loss -> a third
# and a fourth with its floor at 50, then 60 dB) -> calibration on volumes
# outside both splits -> the no-pre-training ablation with the same total step
# budget (exported and calibrated the same way) -> evaluation of both on the held-out
# split. Wall times go to RUN_ROOT/<mod>_times.txt. The small files of each run
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
if [ "$mod" = mr ]; then
  # a second, augmented fine-tuning (k-space head on), a third with the per-sample PSNR
  # loss (then floored at 50 dB), then the classifier's whole-slice k-space refit with the
  # backbone frozen
  t $py -m training finetune --config training/configs/mr_cont.yaml --run-dir "$root/mr_cont" --init "$root/mr.safetensors" --threads "$threads" --resume
  t $py -m training export "$root/mr_cont/last.pt" "$root/mr.safetensors"
  t $py -m training finetune --config training/configs/mr_psnr.yaml --run-dir "$root/mr_psnr" --init "$root/mr.safetensors" --threads "$threads" --resume
  t $py -m training export "$root/mr_psnr/last.pt" "$root/mr.safetensors"
  t $py -m training finetune --config training/configs/mr_floor.yaml --run-dir "$root/mr_floor" --init "$root/mr.safetensors" --threads "$threads" --resume
  t $py -m training export "$root/mr_floor/last.pt" "$root/mr.safetensors"
  t $py -m training head --config training/configs/mr_head.yaml --run-dir "$root/mr_head" --init "$root/mr.safetensors" --threads "$threads" --resume
  t $py -m training export "$root/mr_head/last.pt" "$root/mr.safetensors"
else
  # CT: a second fine-tuning with the per-sample PSNR loss, a third and a fourth with its
  # floor at 50 and then 60 dB
  t $py -m training finetune --config training/configs/ct_psnr.yaml --run-dir "$root/ct_psnr" --init "$root/ct.safetensors" --threads "$threads" --resume
  t $py -m training export "$root/ct_psnr/last.pt" "$root/ct.safetensors"
  t $py -m training finetune --config training/configs/ct_floor.yaml --run-dir "$root/ct_floor" --init "$root/ct.safetensors" --threads "$threads" --resume
  t $py -m training export "$root/ct_floor/last.pt" "$root/ct.safetensors"
  t $py -m training finetune --config training/configs/ct_floor60.yaml --run-dir "$root/ct_floor60" --init "$root/ct.safetensors" --threads "$threads" --resume
  t $py -m training export "$root/ct_floor60/last.pt" "$root/ct.safetensors"
fi
t $py -m training calibrate "$root/${mod}.safetensors" "$root/${mod}.safetensors" "${cal[@]}"
t $py -m training evaluate --checkpoint "$root/${mod}_ft/last.pt" --out "$root/${mod}_ft/eval" --samples 16
if [ "$mod" = mr ]; then  # the shipped file (refit head) on the same validation samples
  t $py -m training evaluate --checkpoint "$root/mr.safetensors" --config "$cfg" --out "$root/mr_head/eval" --samples 16
fi
t $py -m training ablation --config "$cfg" --run-dir "$root/${mod}_abl" --threads "$threads" --resume
t $py -m training export "$root/${mod}_abl/last.pt" "$root/${mod}_ablation.safetensors"
t $py -m training calibrate "$root/${mod}_ablation.safetensors" "$root/${mod}_ablation.safetensors" "${cal[@]}"
t $py -m training evaluate --checkpoint "$root/${mod}_abl/last.pt" --out "$root/${mod}_abl/eval" --samples 16
