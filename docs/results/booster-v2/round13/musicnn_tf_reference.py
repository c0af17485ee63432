"""The reference figures of tests/test_musicnn.py: musicnn's own TensorFlow code (the musicnn 0.1.0 wheel,
MSD_musicnn) on the test's deterministic 6 s signal. Run once in a separate environment that has TensorFlow:
  python -m venv /tmp/tfv && /tmp/tfv/bin/pip install tensorflow-cpu tf_keras librosa "numpy<2"
  /tmp/tfv/bin/pip install --no-deps musicnn==0.1.0
  TF_USE_LEGACY_KERAS=1 /tmp/tfv/bin/python docs/results/booster-v2/round13/musicnn_tf_reference.py OUT.json
It writes the signal's recipe, tag probabilities of its two 3 s patches and the penultimate layer's mean."""
import json
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from musicnn import configuration as config
from musicnn import models

tf.compat.v1.disable_eager_execution()
sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
from tests.musicnn_signal import reference_signal  # noqa: E402  (the test's own input)


def main(out: str) -> None:
    import librosa

    mel = librosa.feature.melspectrogram(y=reference_signal(), sr=16000, hop_length=256, n_fft=512, n_mels=96).T
    mel = np.log10(10000 * mel.astype(np.float16) + 1)
    batch = np.stack([mel[0:187], mel[187:374]]).astype(np.float32)
    x = tf.compat.v1.placeholder(tf.float32, [None, 187, 96])
    is_training = tf.compat.v1.placeholder(tf.bool)
    y, *_, penultimate = models.define_model(x, is_training, "MSD_musicnn", 50)
    sess = tf.compat.v1.Session()
    tf.compat.v1.train.Saver().restore(sess, str(Path(models.__file__).parent / "MSD_musicnn") + "/")
    probs, pen = sess.run([tf.nn.sigmoid(y), penultimate], feed_dict={x: batch, is_training: False})
    json.dump({"recipe": "reference_signal() of tests/musicnn_signal.py, librosa mel (16 kHz, n_fft 512, hop 256, 96 bands), float16, "
               "log10(10000 x + 1), patches [0:187] and [187:374]",
               "tensorflow": tf.__version__, "librosa": librosa.__version__,
               "labels": list(config.MSD_LABELS), "probabilities": probs.round(6).tolist(),
               "penultimate_mean": pen.mean(axis=1).round(6).tolist()}, open(out, "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
