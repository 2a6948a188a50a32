#!/usr/bin/env bash
# Set up (if needed) and run the main job on the embedded default: the demo corpus, the four P2E phases on a
# tiny Nano-EmoX, the held-out scores with modality ablations, one clip answered, and held-out answers beside their
# gold labels. About 6 minutes on 2 idle CPU cores once the pre-trained tiny components are cached; the first run
# pre-trains them and takes longer (docs/results.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
out=${1:-runs/demo}
start=$(date +%s)  # timed from here: the one-time set-up above is not counted
nanoemox data demo --output "$out/data" --num-clips 600 --overwrite
nanoemox train --config demo --output "$out/train" --set "datasets.demo.path=$out/data"
final=$(ls -d "$out"/train/4-*/final)
# held-out accuracy with all branches and with each masked, overall and on each deciding modality's share
nanoemox data demo-report --run "$out/train" --data "$out/data"
# one clip through the emotion-analysis pipeline, as JSON
nanoemox predict --model "$final" --video "$out/data/media/demo-0000.mp4" \
  --faces "$out/data/media/demo-0000.face.json" --task mer --greedy --max-new-tokens 8
# held-out clips of each task: the model's answer beside the gold label (from predictions-demo.jsonl of the run)
nanoemox answers --run "$out/train" --dataset demo --num 6
# how long it took and what it scored, with the command, commit, machine and date (nanoemox results render tabulates)
nanoemox results record-demo --run "$out/train" --seconds "$(( $(date +%s) - start ))" \
  --label "${DEMO_LABEL:-$(nproc) cores}" --output "$out/demo_result.json"
