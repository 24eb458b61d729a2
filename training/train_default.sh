#!/usr/bin/env bash
# The exact recipe of a shipped default model (one modality per call):
#   bash training/train_default.sh mr|ct [RUN_ROOT=runs] [THREADS=1]
# DCPT pre-training -> all-in-one fine-tuning -> export -> the no-pre-training
# ablation with the same total step budget -> evaluation of both on the held-out
# split. Wall times go to RUN_ROOT/<mod>_times.txt.
set -euo pipefail
mod=$1; root=${2:-runs}; threads=${3:-1}
cfg=training/configs/$mod.yaml
py=${PYTHON:-python}
t() { local s=$(date +%s); "$@"; echo "$(( $(date +%s) - s )) s: $*" >> "$root/${mod}_times.txt"; }
mkdir -p "$root"
[ "$mod" = ct ] && [ ! -d "$root/data/ct" ] && $py -m training.prepare_ct --out "$root/data/ct"
t $py -m training pretrain --config "$cfg" --run-dir "$root/${mod}_pre" --threads "$threads" --resume
t $py -m training finetune --config "$cfg" --run-dir "$root/${mod}_ft" --init "$root/${mod}_pre/last.pt" --threads "$threads" --resume
t $py -m training export "$root/${mod}_ft/last.pt" "$root/${mod}.safetensors"
t $py -m training evaluate --checkpoint "$root/${mod}_ft/last.pt" --out "$root/${mod}_ft/eval" --samples 16
t $py -m training ablation --config "$cfg" --run-dir "$root/${mod}_abl" --threads "$threads" --resume
t $py -m training export "$root/${mod}_abl/last.pt" "$root/${mod}_ablation.safetensors"
t $py -m training evaluate --checkpoint "$root/${mod}_abl/last.pt" --out "$root/${mod}_abl/eval" --samples 16
