"""What a readout's teacher losses are to be read against: for each soft teacher of a token corpus, the binary
cross-entropy of the best constant prediction (per-channel means: a head that ignores its input) and the
targets' own entropy (the floor no prediction passes).

Run: .venv/bin/python docs/results/booster-v2/round8/teacher_floors.py build/v2/tokens-kt key tempo
"""

from __future__ import annotations

import sys

import numpy as np

from booster.token_corpus import TokenCorpus


def main(corpus: str, names: list[str]) -> None:
    c = TokenCorpus.load(corpus)
    for name in names:
        y = np.concatenate([t[name].astype(np.float64) for t in c.teachers])
        p = y.mean(axis=0).clip(1e-6, 1 - 1e-6)
        constant = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
        yc = y.clip(1e-6, 1 - 1e-6)
        floor = -(y * np.log(yc) + (1 - y) * np.log(1 - yc)).mean()
        print(f"{name}: {y.shape[0]} frames x {y.shape[1]} channels; BCE of the best constant {constant:.4f}, "
              f"floor (the targets' own entropy) {floor:.4f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
