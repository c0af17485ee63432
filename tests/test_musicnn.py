"""The musicnn teacher: the TF checkpoint reader, the PyTorch port against musicnn's own TensorFlow outputs, and
the teacher's targets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from booster.musicnn import MSD_LABELS, PATCH_FRAMES, Musicnn, checkpoint_dir, log_mel, taggram
from booster.teachers import TEACHER_RATE, TEACHER_SPECS, make_teacher
from booster.tf_checkpoint import CheckpointError, read_tf_checkpoint
from tests.musicnn_signal import reference_signal

REFERENCE = Path(__file__).parent / "data" / "musicnn_tf_reference.json"


def test_reads_the_wheels_tf_checkpoint():
    weights = read_tf_checkpoint(checkpoint_dir())
    assert weights["conv2d/kernel"].shape == (7, 38, 1, 204)  # timbral block, 7 frames x 38 mel bands
    assert weights["conv2d_2/kernel"].shape == (128, 1, 1, 51)  # temporal block, 128 frames
    assert weights["dense_1/kernel"].shape == (200, 50) and weights["dense_1/kernel"].dtype == np.float32
    assert np.isfinite(weights["dense/kernel"]).all() and weights["dense/kernel"].std() > 0


def test_bad_checkpoints_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        read_tf_checkpoint(tmp_path / "missing")
    (tmp_path / "junk.index").write_bytes(b"\0" * 100)
    with pytest.raises(CheckpointError, match="junk.index.*magic"):
        read_tf_checkpoint(tmp_path / "junk")
    # a real index whose data shard is cut short: every tensor's bytes are checked against the shard
    src = checkpoint_dir()
    (tmp_path / "cut.index").write_bytes((src / ".index").read_bytes())
    (tmp_path / "cut.data-00000-of-00001").write_bytes((src / ".data-00000-of-00001").read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="do not hold shape"):
        read_tf_checkpoint(tmp_path / "cut")


def test_port_matches_musicnns_own_tensorflow_outputs():
    ref = json.loads(REFERENCE.read_text())
    assert tuple(ref["labels"]) == MSD_LABELS
    mel = log_mel(reference_signal())
    patches = torch.from_numpy(np.stack([mel[:PATCH_FRAMES], mel[PATCH_FRAMES:2 * PATCH_FRAMES]]))
    with torch.inference_mode():
        probs = torch.sigmoid(Musicnn.from_wheel()(patches)).numpy()
    np.testing.assert_allclose(probs, np.array(ref["probabilities"]), atol=1e-4)
    assert np.ptp(probs) > 0.1  # the reference is not a flat output that any network would match


def test_musicnn_teacher_gives_tag_probabilities_every_3_s():
    t = np.arange(10 * TEACHER_RATE) / TEACHER_RATE
    audio = (0.3 * np.sin(2 * np.pi * 220.0 * t) * (1 + np.sin(2 * np.pi * 0.5 * t))).astype(np.float32)
    y = make_teacher("musicnn")(audio)
    assert y.shape == (4, TEACHER_SPECS["musicnn"].channels)  # patches centred at 0, 3, 6 and 9 s
    assert y.dtype == np.float32 and (y >= 0).all() and (y <= 1).all()
    # patches go through in batches (memory flat in length): the batch size does not change the targets
    np.testing.assert_allclose(taggram(Musicnn.from_wheel(), audio, TEACHER_RATE, hop_s=3.0, batch=1), y, atol=1e-5)
    # the embedding is the layer the tags read: the tag head applied to it gives the tag teacher's targets
    model = Musicnn.from_wheel()
    emb = make_teacher("musicnn-embedding")(audio)
    assert emb.shape == (4, TEACHER_SPECS["musicnn-embedding"].channels) and TEACHER_SPECS["musicnn-embedding"].loss == "mse"
    with torch.inference_mode():
        np.testing.assert_allclose(torch.sigmoid(model.out(torch.from_numpy(emb))).numpy(), y, atol=1e-5)
    # the dense variant: a patch every second, and every third one is the 3 s hop's (same patch centres)
    dense = make_teacher("musicnn-embedding-1s")(audio)
    assert dense.shape == (10, 200) and TEACHER_SPECS["musicnn-embedding-1s"].fps == 1.0
    np.testing.assert_allclose(dense[::3], emb, atol=1e-4)
    assert np.abs(dense[1] - dense[0]).max() > 1e-3  # the patches in between are new ones, not copies
    silent = make_teacher("musicnn")(np.zeros(TEACHER_RATE * 2, np.float32))
    assert silent.shape == (1, 50) and np.isfinite(silent).all()
