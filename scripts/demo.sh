#!/usr/bin/env bash
# Set up (if needed) and run the main job on the embedded default: the demo corpus, the four P2E phases on a
# tiny Nano-EmoX (about ten minutes on 2 CPU cores), the held-out scores with modality ablations, an answer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
out=${1:-runs/demo}
nanoemox data demo --output "$out/data" --num-clips 600 --overwrite
nanoemox train --config demo --output "$out/train" --set "datasets.demo.path=$out/data"
final=$(ls -d "$out"/train/4-*/final)
python - "$out/train/eval_results.json" "$out/data" <<'PY'
import json, sys
from pathlib import Path
from datasets import load_from_disk
from nanoemox.processing.demo_corpus import accuracy_by_decisive_modality
results = json.load(open(sys.argv[1]))
for name, conditions in results["datasets"].items():
    print(f"held-out {results['split']} split of {name}:")
    for condition, tasks in conditions.items():
        mer, mir = tasks.get("mer", {}), tasks.get("mir", {})
        print(f"  {condition:<16} MER accuracy {mer.get('war', float('nan')):.3f}   MIR accuracy {mir.get('accuracy', float('nan')):.3f}")
predictions = [json.loads(line) for line in open(Path(sys.argv[1]).parent / "predictions-demo.jsonl")]
split = load_from_disk(sys.argv[2])[results["split"]]
print("accuracy by the modality that decides the label (a branch the model ignores is near chance there):")
for task, cells in accuracy_by_decisive_modality(split, predictions).items():
    print(f"  {task.upper()}: " + "   ".join(f"{m} {c['accuracy']:.2f} (n={c['n']})" for m, c in cells.items()))
PY
nanoemox predict --model "$final" --video "$out/data/media/demo-0000.mp4" \
  --faces "$out/data/media/demo-0000.face.json" --task mer --greedy --max-new-tokens 8
