"""musicnn (Pons & Serra, 2019), the tagger pretrained on the Million Song Dataset's 50 most common last.fm
tags, as a PyTorch module reading the TensorFlow checkpoint that the ``musicnn`` wheel ships
(``MSD_musicnn/``; install the wheel with ``--no-deps``: it asks for TensorFlow and an old NumPy otherwise).

It is a timbre and genre teacher: none of the others (Basic Pitch, madmom's key/tempo/chroma) knows what
instruments play or what the music sounds like. The MSD model, not the MagnaTagATune one, so that a
downstream experiment on MagnaTagATune is not scored against tags its teacher learnt.

The network, as ``musicnn/models.py`` builds it (``build_musicnn``, 64 mid-end filters, 200 back-end units):
- front end on a log-mel patch ``(time 187, mel 96)``: batch norm, then two timbral convolutions (7 frames x
  38 / 67 mel bands, 204 filters) and three temporal ones (128 / 64 / 32 frames x 1 band, 51 filters), each
  ReLU, batch norm, max over frequency;
- mid end: three 1-d convolutions over time (7 frames, 64 filters; ReLU, batch norm), the last two residual;
- back end: max and mean over time of everything above (753 channels), batch norm, dense 200 (ReLU, batch
  norm), dense 50: the tags' logits.
Batch norms use TensorFlow's epsilon (1e-3). Inference only (its dropouts are off).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SAMPLE_RATE = 16000
N_FFT, HOP, N_MELS = 512, 256, 96
PATCH_FRAMES = 187  # 3 s: the patch length the models were trained on
BN_EPS = 1e-3
MSD_LABELS = ("rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
              "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul",
              "indie rock", "Mellow", "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies",
              "blues", "hard rock", "ambient", "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop",
              "70s", "party", "country", "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal",
              "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy")


def checkpoint_dir(model: str = "MSD_musicnn") -> Path:
    """The folder of ``model``'s TF checkpoint inside the installed ``musicnn`` wheel."""
    from booster.teachers import wheel_file

    return wheel_file("musicnn", f"{model}/.index", "pip install --no-deps musicnn==0.1.0").parent


def log_mel(audio: np.ndarray) -> np.ndarray:
    """musicnn's input: mono ``(samples,)`` audio at :data:`SAMPLE_RATE` -> ``(frames, 96)`` log-compressed
    mel power, computed as its extractor does (librosa, rounded to float16, ``log10(1 + 10000 x)``)."""
    import librosa

    mel = librosa.feature.melspectrogram(y=audio.astype(np.float32), sr=SAMPLE_RATE, hop_length=HOP,
                                         n_fft=N_FFT, n_mels=N_MELS).T
    # rounded to float16 as musicnn does, then compressed in float32 (under NumPy 2's promotion rules
    # ``10000 * float16`` stays float16 and overflows; musicnn's NumPy 1 promoted it to float32)
    return np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)


class _BatchNorm(nn.Module):
    """Inference batch norm over the last axis, from TF's ``beta, gamma, moving_mean, moving_variance``."""

    def __init__(self, weights: dict[str, np.ndarray], name: str):
        super().__init__()
        scale = weights[f"{name}/gamma"] / np.sqrt(weights[f"{name}/moving_variance"] + BN_EPS)
        self.register_buffer("scale", torch.from_numpy(scale.astype(np.float32)))
        self.register_buffer("shift", torch.from_numpy(
            (weights[f"{name}/beta"] - weights[f"{name}/moving_mean"] * scale).astype(np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


class Musicnn(nn.Module):
    """``forward``: log-mel patches ``(batch, time, 96)`` -> tag logits ``(batch, 50)``."""

    def __init__(self, weights: dict[str, np.ndarray]):
        super().__init__()

        def conv(name: str, module: nn.Module) -> nn.Module:
            """``module`` with TF's kernel ``(h, w, in, out)`` as torch's ``(out, in, h, w)``."""
            kernel = torch.from_numpy(weights[f"{name}/kernel"].transpose(3, 2, 0, 1).copy())
            if isinstance(module, nn.Conv1d):  # a (7, C) kernel on one channel = C channels, 7 frames
                kernel = kernel[:, 0].permute(0, 2, 1).contiguous()
            module.weight.data = kernel
            module.bias.data = torch.from_numpy(weights[f"{name}/bias"].copy())
            return module

        self.bn_in = _BatchNorm(weights, "batch_normalization")
        # front end: conv2d, conv2d_1 timbral (7 x 38, 7 x 67); conv2d_2..4 temporal (128, 64, 32 x 1)
        self.front = nn.ModuleList(conv(name, nn.Conv2d(1, out, kernel)) for name, out, kernel in (
            ("conv2d", 204, (7, 38)), ("conv2d_1", 204, (7, 67)), ("conv2d_2", 51, (128, 1)),
            ("conv2d_3", 51, (64, 1)), ("conv2d_4", 51, (32, 1))))
        self.front_bn = nn.ModuleList(_BatchNorm(weights, f"batch_normalization_{i}") for i in range(1, 6))
        # mid end: (7, C, 1, 64) kernels over (time, channels) = 1-d convolutions over time
        self.mid = nn.ModuleList(conv(name, nn.Conv1d(c, 64, 7)) for name, c in (
            ("conv2d_5", 561), ("conv2d_6", 64), ("conv2d_7", 64)))
        self.mid_bn = nn.ModuleList(_BatchNorm(weights, f"batch_normalization_{i}") for i in range(6, 9))
        self.pool_bn = _BatchNorm(weights, "batch_normalization_9")
        self.dense = nn.Linear(1506, 200)
        self.dense_bn = _BatchNorm(weights, "batch_normalization_10")
        self.out = nn.Linear(200, 50)
        with torch.no_grad():
            for lin, name in ((self.dense, "dense"), (self.out, "dense_1")):
                lin.weight.copy_(torch.from_numpy(weights[f"{name}/kernel"].T.copy()))
                lin.bias.copy_(torch.from_numpy(weights[f"{name}/bias"]))
        self.requires_grad_(False)

    @classmethod
    def from_wheel(cls, model: str = "MSD_musicnn") -> Musicnn:
        from booster.tf_checkpoint import read_tf_checkpoint

        return cls(read_tf_checkpoint(checkpoint_dir(model))).eval()

    def _front(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, time, 96)`` -> ``(batch, time, 561)``: each block's maximum over frequency."""
        x = self.bn_in(x.unsqueeze(-1)).squeeze(-1).unsqueeze(1)  # (batch, 1, time, mel)
        outs = []
        for i, front in enumerate(self.front):
            k = front.kernel_size[0]
            # timbral blocks pad 3 frames each side ("valid" in frequency); temporal ones pad as TF's "same"
            pad = (0, 0, 3, 3) if i < 2 else (0, 0, (k - 1) // 2, k - 1 - (k - 1) // 2)
            y = front(F.pad(x, pad))  # (batch, filters, time, freq')
            # TF: ReLU, batch norm, max over frequency. ReLU commutes with max and min, and a per-channel affine
            # map takes the maximum to the maximum (or, where its scale is negative, the minimum to it): so
            # reduce first and map the (batch, filters, time) result, not the 59x larger tensor
            bn = self.front_bn[i]
            hi, lo = F.relu(y.amax(dim=3)).transpose(1, 2), F.relu(y.amin(dim=3)).transpose(1, 2)
            outs.append(torch.where(bn.scale >= 0, hi, lo) * bn.scale + bn.shift)  # (batch, time, filters)
        return torch.cat(outs, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.penultimate(x))

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, time, 96)`` -> ``(batch, 200)``: the back end's hidden layer (musicnn's "penultimate"
        feature), what the tag logits are a linear map of."""
        front = self._front(x)  # (batch, time, 561)
        feats, h = [front], front
        for i, mid in enumerate(self.mid):
            y = F.relu(mid(F.pad(h.transpose(1, 2), (3, 3)))).transpose(1, 2)
            y = self.mid_bn[i](y)
            h = y if i == 0 else y + h
            feats.append(h)
        m = torch.cat(feats, dim=-1)  # (batch, time, 753)
        pooled = torch.stack([m.amax(dim=1), m.mean(dim=1)], dim=-1).flatten(1)  # (batch, 1506): max, mean
        return self.dense_bn(F.relu(self.dense(self.pool_bn(pooled))))


def taggram(model: Musicnn, audio: np.ndarray, sample_rate: int, hop_s: float = 1.0, batch: int = 16,
            embedding: bool = False) -> np.ndarray:
    """Tag probabilities ``(patches, 50)`` of 3 s patches every ``hop_s`` seconds of mono ``audio`` (with
    ``embedding``, the 200 penultimate features instead); patch ``k`` is centred at ``k * hop_s`` s (audio
    shorter than a patch, and the edges, are zero-padded). Patches go through the network ``batch`` at a time,
    so memory stays flat in the audio's length."""
    import soxr

    if sample_rate != SAMPLE_RATE:
        audio = soxr.resample(audio.astype(np.float32), sample_rate, SAMPLE_RATE)
    mel = log_mel(audio)
    frames_per_s = SAMPLE_RATE / HOP
    n = max(1, int(np.ceil(len(audio) / SAMPLE_RATE / hop_s)))
    half = PATCH_FRAMES // 2
    padded = np.pad(mel, ((half, PATCH_FRAMES), (0, 0)))  # log10(1 + 0) = 0: padding is silence
    starts = [int(round(k * hop_s * frames_per_s)) for k in range(n)]
    out = []
    with torch.inference_mode():
        for i in range(0, n, batch):  # a batch's front end holds (batch, 204, 187, 59) floats: 36 MB a patch
            patches = np.stack([padded[s:s + PATCH_FRAMES] for s in starts[i:i + batch]])
            x = torch.from_numpy(patches)
            out.append((model.penultimate(x) if embedding else torch.sigmoid(model(x))).numpy())
    return np.concatenate(out).astype(np.float32)
