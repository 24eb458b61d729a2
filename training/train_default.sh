#!/usr/bin/env bash
# The recipe of a shipped default model, end to end on any machine (one modality per call):
#   bash training/train_default.sh mr|ct [RUN_ROOT=runs] [THREADS=1]
# The MR file itself was made in sessions; weights/MODEL_CARD.md lists that exact
# sequence of commands, which this script repeats.
# DCPT pre-training -> all-in-one fine-tuning -> export (MR: -> a k-space head refit ->
# a second, augmented fine-tuning -> a third with the PSNR loss -> a fourth with its
# floor at 50 dB -> a fifth, 10000 steps longer at that floor, a sixth, 7000 steps at a
# lower peak rate, and the first 10500 steps of a seventh (34745 planned, on the
# anatomy-scaled bias field), an eighth (8000 steps annealing the seventh's rate there
# to zero), each after a head refit of the one before -> the classifier's head refit on
# whole slices, then 2000 more head steps on crops down to 32 px;
# CT: -> a second with the PSNR loss -> a third and a fourth with its floor at 50, then
# 60 dB -> a fifth, one more doubling at 60 dB) -> calibration on volumes
# outside both splits -> the no-pre-training ablation with the first fine-tuning's
# step budget, then taken through the same continuations and head refits so that it
# ends at the shipped file's budget (MR's, with its 8 head refits, about 9 h on a 2-core
# CPU; session 22 started it), exported and calibrated the same way. Every stage of both
# is evaluated on the held-out split. Wall times go to RUN_ROOT/<mod>_times.txt. The
# small files of each run (config, metrics, eval) are what training/records keeps for
# the model card.
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
# The continuations run twice: from the pre-trained export (run folders <mod>_<stage>,
# weights RUN_ROOT/<mod>.safetensors) and, with tag=abl_, from the ablation's
# (<mod>_abl_<stage>, RUN_ROOT/<mod>_ablation.safetensors), so that the model card
# compares the two at every budget (model_card.ablation_budgets).
tag=; w=$root/${mod}.safetensors
# each further fine-tuning starts from the previous export: training/configs/<run>.yaml
# (further arguments go to finetune: `--until STEP` where the file was taken part-way)
cont() {
  local run=$1; shift; local dir=$root/${mod}_${tag}${run#"${mod}"_}
  t $py -m training finetune --config "training/configs/$run.yaml" --run-dir "$dir" --init "$w" --threads "$threads" --resume "$@"
  t $py -m training export "$dir/last.pt" "$w"
  t $py -m training evaluate --checkpoint "$dir/last.pt" --out "$dir/eval" --samples 16
}
# the MR classifier's whole-slice k-space refit (backbone frozen) on the current export;
# the second argument names its config (default training/configs/mr_head.yaml)
refit() {
  local dir=$root/${mod}_${tag}${1#"${mod}"_}
  t $py -m training head --config "training/configs/${2:-mr_head}.yaml" --run-dir "$dir" --init "$w" --threads "$threads" --resume
  t $py -m training export "$dir/last.pt" "$w"
}
chain() {
  if [ "$mod" = mr ]; then
    # a whole-slice k-space head refit (4000 steps, as in session 6), then a second,
    # augmented fine-tuning, a third with the per-sample PSNR loss, a fourth with it
    # floored at 50 dB and a fifth and a sixth at that floor, the first 10500 steps of a
    # seventh (model_card.CHAIN) and an eighth; each fine-tuning starts from a head
    # refit of the one before (backbone frozen: only the head it starts from changes),
    # as the shipped file's did
    refit mr_head_s6 mr_head_s6
    for run in mr_cont mr_psnr mr_floor mr_long mr_long2; do cont $run; refit "mr_head_${run#mr_}"; done
    cont mr_long3 --until 10500
    refit mr_head_long3
    cont mr_long4
    refit mr_head
    # (session 18) 2000 more head steps on crops down to 32 px, for small fields of view
    refit mr_fov_head mr_fov_head
  else
    # CT: a second fine-tuning with the per-sample PSNR loss, a third and a fourth with
    # its floor at 50 and then 60 dB, a fifth (one more doubling) at 60 dB
    for run in ct_psnr ct_floor ct_floor60 ct_long; do cont $run; done
  fi
}
chain
t $py -m training calibrate "$w" "$w" "${cal[@]}"
t $py -m training evaluate --checkpoint "$root/${mod}_ft/last.pt" --out "$root/${mod}_ft/eval" --samples 16
if [ "$mod" = mr ]; then  # the shipped file (refit head) on the same validation samples
  t $py -m training evaluate --checkpoint "$w" --config "$cfg" --out "$root/mr_head/eval" --samples 16
fi
t $py -m training ablation --config "$cfg" --run-dir "$root/${mod}_abl" --threads "$threads" --resume
tag=abl_; w=$root/${mod}_ablation.safetensors
t $py -m training export "$root/${mod}_abl/last.pt" "$w"
t $py -m training evaluate --checkpoint "$root/${mod}_abl/last.pt" --out "$root/${mod}_abl/eval" --samples 16
chain  # the same continuations from the ablation's own exports
t $py -m training calibrate "$w" "$w" "${cal[@]}"
