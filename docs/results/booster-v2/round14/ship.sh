#!/usr/bin/env bash
# Bundle a round-14 arm: its readout, with the codec and priors of 1cfd160c (checked tensor for tensor), becomes
# booster/weights/default; then the held-out evaluation (booster bench model) and the model card.
#   bash docs/results/booster-v2/round14/ship.sh readout-bp-mnne-w25
# Run once, with 1cfd160c bundled (the arm must have started from the bundled checkpoint: a rerun now refuses).
set -euo pipefail
cd "$(dirname "$0")/../../../.."
ARM=$1
SRC=${OUT:-build/s33/arms}/$ARM
DOCS=docs/results/booster-v2/round14
DEST=booster/weights/default
.venv/bin/python - "$SRC" "$DEST" <<'PY'
import json, sys
from pathlib import Path
from safetensors.torch import load_file
import torch
src, dest = Path(sys.argv[1]), Path(sys.argv[2])
new, old = load_file(str(src / "model.safetensors")), load_file(str(dest / "model.safetensors"))
kept = [k for k in old if not k.startswith("readout.")]
assert all(torch.equal(new[k], old[k]) for k in kept), "codec or priors differ from the bundled checkpoint"
print(f"{len(kept)} codec and prior tensors equal to the bundled checkpoint's")
training = json.loads((src / "training.json").read_text())
parent = json.loads((dest / "training.json").read_text())
assert training["init_fingerprint"] == parent["fingerprint"], "the arm did not start from the bundled checkpoint"
# the arm ran before pretrain recorded its parent's training.json: add it, so the card names the priors' teachers
training.setdefault("init_training", parent)
(src / "training.json").write_text(json.dumps(training, indent=2) + "\n")
PY
cp "$SRC"/{config.json,model.safetensors,training.json} $DEST/
.venv/bin/python -m booster.cli bench model --model $DEST --out $DEST/bench_model.json > $DOCS/bench-model-$ARM.log 2>&1
.venv/bin/python -m booster.model_card $DEST $DEST/bench_model.json --probe $DOCS/$ARM.probe.md \
  --data-list docs/results/booster-v2/data_list.json \
  --data "Booster v2 data: 20 h of our renders (2400 mixes of 30 s: procedural and music21 scores; basic synth, TimGM6mb and FluidR3_GM; most through a production-effects chain) and 12 h of recorded game music from seven Debian packages; the priors read a random 13.0 h of it as a token corpus (the same files every v2 stage 2 read), the readout a 6.58 h subset of those files (2 h of music, 0.75 h of each render group)" \
  --command "$(cat docs/results/booster-v2/model_card_command.txt)"
ls -l $DEST
