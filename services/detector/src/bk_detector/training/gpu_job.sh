#!/usr/bin/env bash
# One-shot GPU job: synthesise, train, calibrate, evaluate, export, benchmark; results to $OUT.
set -eo pipefail
export PYTHONPATH=libs/bk-synth/src:services/detector/src:libs/bk-core/src PYTHONUNBUFFERED=1
CLI="python3 -m bk_detector.training.cli"
N=${N:-30000}; MIN=${MIN:-5.0}
nvidia-smi --query-gpu=name,memory.used --format=csv
$CLI synth /tmp/d/train -n "$N" --seed 11 2>&1 | tail -c 300
$CLI synth /tmp/d/val -n 2000 --seed 22 2>&1 | tail -c 200
$CLI synth /tmp/d/test -n 2000 --seed 33 2>&1 | tail -c 200
$CLI train /tmp/d/train --val-dir /tmp/d/val --out-dir /tmp/art --max-minutes "$MIN" --epochs 200 \
  --batch-size 128 --eval-every 1000 2>&1 | tr '\r' '\n' | grep -v '^train:' || true
$CLI eval /tmp/d/val --model-dir /tmp/art --calibrate
$CLI eval /tmp/d/test --model-dir /tmp/art --out-json "$OUT/eval_test.json"
$CLI export --model-dir /tmp/art --onnx /tmp/art/kitchen.onnx --torchscript /tmp/art/kitchen.ts || true
$CLI bench --model-dir /tmp/art --batches 1 8 32 128 256 || true
python3 -m bk_detector.training.baseline || true
cp /tmp/art/weights.pt /tmp/art/model.json /tmp/art/loss_curve.png /tmp/art/map_curve.png "$OUT"/
ls -la /tmp/art "$OUT"
