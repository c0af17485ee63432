"""One checkpoint from two arms trained from the same parent: the priors of one, the readout of the other.

The readout reads the code vectors alone (no prior state), so the two parts were trained independently and
combine without retraining. Refuses arms whose codecs differ or whose configs differ beyond training notes.

    python docs/results/booster-v2/round9/merge_arms.py PRIORS_ARM READOUT_ARM OUT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from booster.checkpoint import load_checkpoint, read_config, save_checkpoint


def main(priors_arm: str, readout_arm: str, out: str) -> None:
    a, b = load_checkpoint(priors_arm), load_checkpoint(readout_arm)
    if read_config(priors_arm)["model"] != read_config(readout_arm)["model"]:
        raise SystemExit(f"{priors_arm} and {readout_arm} describe different models: nothing to merge")
    sa, sb = a.state_dict(), b.state_dict()
    codec = [k for k in sa if k.startswith("codec.") and not torch.equal(sa[k], sb[k])]
    if codec:
        raise SystemExit(f"the arms' codecs differ ({codec[:2]}...): their tokens would not match")
    merged = {k: (sb[k] if k.startswith("readout.") else sa[k]) for k in sa}
    a.load_state_dict(merged)
    ta = json.loads((Path(priors_arm) / "training.json").read_text())
    tb = json.loads((Path(readout_arm) / "training.json").read_text())
    extra = dict(read_config(priors_arm)["extra"])
    extra["merged"] = {"priors_from": str(priors_arm), "readout_from": str(readout_arm)}
    fp = save_checkpoint(a, out, extra=extra)
    # the priors arm's summary (what the model card reads), with the readout's teachers and training beside it
    summary = {**ta, "merged": extra["merged"], "readout_teacher": tb["readout_teacher"],
               "readout_teachers": tb["readout_teachers"], "readout_training": tb, "fingerprint": fp}
    (Path(out) / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(fp)


if __name__ == "__main__":
    main(*sys.argv[1:])
