"""Write ``MODEL_CARD.md`` for a checkpoint from its ``training.json`` and a ``booster bench model`` report.

    python -m booster.model_card CKPT_DIR REPORT.json --command "..." --data "..." [--probe PROBE.md]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from booster.checkpoint import checkpoint_size_bytes, fingerprint, read_config


def variance_trajectory(ckpt: Path, levels: list[str]) -> dict[str, list[tuple[int, float]]]:
    """``level -> [(step, variance), ...]`` from the stage-1 CSV logs of a ``booster pretrain`` run."""
    import csv

    out: dict[str, list[tuple[int, float]]] = {lv: [] for lv in levels}
    for path in sorted((ckpt / "logs" / "stage1").glob("version_*/metrics.csv")):
        with path.open() as f:
            for row in csv.DictReader(f):
                for lv in levels:
                    v = row.get(f"stage1/{lv}/variance")
                    if v:
                        out[lv].append((int(row["step"]), float(v)))
    return out


def variance_lines(ckpt: Path, levels: list[str]) -> list[str]:
    """One line on how the learnable variance moved during stage 1 (start, quartiles, end)."""
    traj = variance_trajectory(ckpt, levels)
    if not any(traj.values()):
        return []
    parts = []
    for lv, points in traj.items():
        if points:
            picks = [points[round(q * (len(points) - 1))] for q in (0, 0.25, 0.5, 0.75, 1)]
            parts.append(f"{lv} " + " -> ".join(f"{v:.3f}" for _, v in picks))
    return ["- Learnable variance during stage 1 (first logged, quartiles, last): " + "; ".join(parts) + "."]


def init_lines(training: dict) -> list[str]:
    """What a run started with ``--init`` started from (fresh runs: nothing)."""
    if not training.get("init"):
        return []
    return [f"- Started from the checkpoint `{training['init_fingerprint'][:12]}...` (`{training['init']}`, "
            f"{training['init_stage1_steps']} stage-1 and {training['init_stage2_steps']} stage-2 steps); the budget "
            "above is this run's, the step counts are in all; optimizers started afresh (learning rates: the "
            "commands below)."]


def paired_lines(report: dict) -> list[str]:
    """HQ-VAE minus baseline per held-out clip, with its 95% interval (reports from before it: nothing)."""
    from booster.stats import paired_sentences

    return [*(f"- {line}" for line in paired_sentences(report["paired"])), ""] if "paired" in report else []


def readout_sentence(readout: dict, sample_rate: int) -> str:
    """What the readout stack is, from its config (``hqvae.readout.ReadoutConfig``)."""
    from hqvae.readout import Readout, ReadoutConfig

    cfg = ReadoutConfig.from_dict(readout)
    reach = Readout(cfg, 1, 1, 1).receptive_frames() * 128 / sample_rate
    convs = cfg.convs
    sources = f" and prior layers {', '.join(map(str, cfg.source_layers))}" if cfg.source_layers else ""
    return (f" Readout: `readout.layer{{1..{convs + cfg.layers}}}`, {convs} centred convolutions (kernel {cfg.kernel}) "
            f"then {cfg.layers} bidirectional sparse-attention layers, dim {cfg.dim}, at 172.3 frames/s over the top "
            f"and mid code vectors{sources} (4 mid frames side by side per top frame), trained on the teachers below; it reads {reach:.2f} s of context "
            f"on each side. `readout.head`: its head's {cfg.outputs} outputs in the teachers' space (their channels side by side, "
            f"in the order listed below)"
            f"{_head_kinds(cfg)}.")


def _head_kinds(cfg) -> str:
    """What the head's outputs are: probabilities, raw regression outputs, or runs of both."""
    runs = cfg.activations()
    if len(runs) == 1:
        return " (probabilities)" if runs[0][1] == "sigmoid" else ""
    return " (" + ", then ".join(f"{n} {'probabilities' if a == 'sigmoid' else 'raw outputs'}" for n, a in runs) + ")"


def teacher_lines(training: dict) -> list[str]:
    """Every teacher whose targets stage 2 predicted, named with its source."""
    from booster.teachers import TEACHER_SPECS

    names = training.get("teachers") or []
    if not names:
        return ["- Teachers: none (stage 2 is next-token prediction only)."]
    readout = (training.get("readout_teachers") or [training["readout_teacher"]]) if training.get("readout_teacher") else []
    weights = training.get("readout_weights") or (training.get("readout_training") or {}).get("readout_weights")
    weighed = [f", loss weight {w:g}" for w in weights] if weights else [""] * len(readout)
    readout_lines = ["- Teachers of the readout (targets computed once per training file, never at extraction; their "
                     "channels side by side in its head, in this order):",
                     *(f"  - `{n}` ({TEACHER_SPECS[n].channels} channels{w}): {TEACHER_SPECS[n].source}"
                       for n, w in zip(readout, weighed, strict=True))]
    if readout and not training.get("prior_levels"):
        return readout_lines + _kept_prior_teachers(training)
    # a merged checkpoint (priors of one run, readout of another) was taught in both places
    return _prior_head_lines(training, "Teachers") + (readout_lines if training.get("readout_training") else [])


def _prior_head_lines(training: dict, title: str) -> list[str]:
    """The teachers of the prior heads of the run ``training`` records, under ``title``."""
    from booster.teachers import TEACHER_SPECS

    names = [n for n in training.get("teachers") or [] if n in TEACHER_SPECS]
    delay = f", reading {training['teacher_delay']} top frames late" if training.get("teacher_delay") else ""
    return [f"- {title} (stage-2 heads on the last prior layer, weight {training.get('teacher_weight')}{delay}; "
            "targets computed once per training file, never at extraction):",
            *(f"  - `{n}`: {TEACHER_SPECS[n].source}" for n in names)]


def _kept_prior_teachers(training: dict) -> list[str]:
    """A readout-only run keeps its parent's priors: the teachers they were trained with, from the nearest
    ancestor that trained priors (``init_training``, the parent's record; nothing when it is not known)."""
    parent = training.get("init_training")
    while parent and not parent.get("prior_levels"):
        parent = parent.get("init_training")
    if not parent:
        return []
    made = f"`{parent['fingerprint'][:8]}`" if parent.get("fingerprint") else "the run that trained them"
    if not parent.get("teachers"):
        return [f"- The priors (kept from {made}) were trained without teachers (next-token prediction only)."]
    return _prior_head_lines(parent, f"Teachers of the priors, kept from {made}")


def budget_lines(training: dict) -> list[str]:
    """Where and how long this run trained (a stage-2-only run on a token corpus says so)."""
    if training.get("token_corpus") and training.get("readout_teacher") and not training.get("prior_levels"):
        return [f"- This run trained the readout only (codec and priors frozen, those of the checkpoint it started "
                f"from) for {training['minutes_budget']} min wall clock on {training.get('device_name') or training['device']}, "
                f"from a token corpus of that codec (`booster data tokenize`): {training['stage2_steps']} steps in "
                f"all, batch {training['batch_size']} x {training['stage2_crop_seconds']:.2f} s crops."]
    if training.get("token_corpus") and training.get("readout_training"):
        r = training["readout_training"]
        return [f"- Two runs from the same checkpoint, merged (`docs/results/booster-v2/round9/merge_arms.py`: the priors "
                f"of one, the readout of the other; the readout reads the code vectors alone). The priors of levels "
                f"{', '.join(training['prior_levels'])}: {training['minutes_budget']} min wall clock on "
                f"{training.get('device_name') or training['device']}, {training['stage2_steps']} stage-2 steps in all, "
                f"batch {training['batch_size']} x {training['stage2_crop_seconds']:.2f} s crops. The readout alone "
                f"(priors frozen): {r['minutes_budget']} min on {r.get('device_name') or r['device']}, "
                f"{r['stage2_steps']} steps in all, batch {r['batch_size']} x {r['stage2_crop_seconds']:.2f} s crops. "
                "Both from a token corpus of the codec they started from (`booster data tokenize`); the codec is that "
                "checkpoint's, bit for bit."]
    if training.get("token_corpus"):
        return [f"- This run trained stage 2 only (the priors of levels {', '.join(training['prior_levels'])}) "
                f"for {training['minutes_budget']} min wall clock on {training.get('device_name') or training['device']}, "
                f"from a token corpus of the codec it started from (`booster data tokenize`); the codec is that "
                f"checkpoint's, bit for bit. Stage 2: {training['stage2_steps']} steps in all, batch "
                f"{training['batch_size']} x {training['stage2_crop_seconds']:.2f} s crops."]
    return [f"- Budget {training['minutes_budget']} min wall clock on 2 CPU cores shared with the VQ baseline run "
            f"(1 thread each): stage 1 {training.get('stage1_minutes', '?')} min, {training['stage1_steps']} steps; "
            f"stage 2 {training['stage2_steps']} steps; "
            f"batch {training['batch_size']} x {training['crop_seconds']:.2f} s crops."]


def final_lines(s1: dict, s2: dict, levels: list[str]) -> list[str]:
    """The last logged training values of the stages this run trained."""
    parts = []
    if s1:
        parts.append(f"stage-1 loss {s1.get('stage1/loss', float('nan')):.3f}, MSE {s1.get('stage1/mse', float('nan')):.4f}, "
                     f"MR-STFT {s1.get('stage1/stft', float('nan')):.3f}; variance "
                     + ", ".join(f"{lv} {s1.get(f'stage1/{lv}/variance', float('nan')):.3f}" for lv in levels))
    nll = [f"{lv} {s2[f'stage2/{lv}_nll']:.3f}" for lv in levels if f"stage2/{lv}_nll" in s2]
    if nll:
        parts.append("stage-2 NLL (nats) " + ", ".join(nll))
    teachers = [f"{k.removeprefix('stage2/')} {v:.4f}" for k, v in sorted(s2.items())
                if k.startswith("stage2/") and not k.endswith("_nll") and k != "stage2/loss"]
    if teachers:
        parts.append("auxiliary losses " + ", ".join(teachers))
    return [f"- Final logged training values (last batch): {'; '.join(parts)}."] if parts else []


def data_lines(data_list: list[dict] | None) -> list[str]:
    """The pretraining data as a table: each source's hours, origin and licence."""
    if not data_list:
        return []
    rows = [f"| {d['name']} | {d['hours']:.2f} | {d.get('hours_used', d['hours']):.2f} | {d['origin']} | {d['licence']} |"
            for d in data_list]
    total = sum(d["hours"] for d in data_list), sum(d.get("hours_used", d["hours"]) for d in data_list)
    return ["## Pretraining data", "", "Renders are read as mixes only: no renderer label (tags, notes, stems, mixing "
            "parameters) is a pretraining target.", "",
            "| source | hours | hours in this run's stage 2 | origin | licence |", "|---|---|---|---|---|", *rows,
            f"| **total** | **{total[0]:.2f}** | **{total[1]:.2f}** | | |", ""]


def probe_lines(probe_markdown: str | None) -> list[str]:
    if not probe_markdown:
        return []
    return ["## Linear probes (`booster probe`, held-out probe set of renders)", "", probe_markdown.strip(), ""]


def render_card(ckpt: Path, training: dict, report: dict, command: str, data_note: str,
                probe_markdown: str | None = None, data_list: list[dict] | None = None) -> str:
    cfg = read_config(ckpt)["model"]
    codec, prior = cfg["codec"], cfg["prior"]
    s1, s2 = training.get("final_stage1", {}), training.get("final_stage2", {})
    if training.get("readout_training"):  # a merged checkpoint: its readout's losses come from the other run
        s2 = {**s2, **{k: v for k, v in training["readout_training"].get("final_stage2", {}).items()
                       if k.startswith("stage2/readout_")}}
    lines = [
        "# mfm-booster default model (tiny)",
        "",
        f"Fingerprint `{fingerprint(ckpt)}`, {checkpoint_size_bytes(ckpt) / 2**20:.1f} MiB "
        "(`config.json` + `model.safetensors`).",
        "",
        "## What it is",
        f"- Stage 1: HQ-VAE, {len(codec['levels'])} levels {', '.join(codec['levels'])} (hops "
        f"128/32/8 samples at {codec['sample_rate']} Hz), stochastic Gaussian quantization with a learnable "
        f"variance, {codec['codebook_size']} codes of dim {codec['latent_dim']} per level, injected top-down path, "
        "negative ELBO + multi-resolution STFT loss.",
        f"- Stage 2: one sparse transformer per level ({prior['layers']} layers, dim {prior['dim']}, "
        f"{prior['heads']} heads; block-local {prior['block']} / strided {prior['stride']}x{prior['taps']}); "
        "finer levels conditioned on the level above."
        + (f" The {', '.join(cfg['bidirectional_levels'])} priors are bidirectional masked-token models (their "
           "features have seen both sides); the others predict the next token." if cfg.get("bidirectional_levels") else ""),
        f"- Booster features: `<level>.embedding` (code vectors) and `<level>.layer{{{','.join(map(str, cfg['feature_layers']))}}}` "
        "(transformer hidden states), at 172.3 / 689.1 / 2756.25 frames/s for top / mid / fine."
        + (readout_sentence(cfg["readout"], codec["sample_rate"]) if cfg.get("readout") else "")
        + (f" Delayed readout: a layer feature of frame t is the state at t + {cfg['feature_delay']} top frames "
           f"({cfg['feature_delay'] * 128 / codec['sample_rate'] * 1000:.0f} ms of right context; the teacher heads "
           "read the same delay)." if cfg.get("feature_delay") else ""),
        "",
        "## Training",
        f"- Data: {data_note} ({training['hours']:.2f} h of training audio, {training['clips_used']} files).",
        *budget_lines(training),
        *init_lines(training),
        *teacher_lines(training),
        *final_lines(s1, s2, codec["levels"]),
        *variance_lines(ckpt, codec["levels"]),
        "- Reproduce:",
        "",
        "```bash",
        command,
        "```",
        "",
        f"## Held-out evaluation (`booster bench model`, {report['held_out_seconds']:.0f} s of freshly rendered "
        "audio from unseen seeds, both sources and synths)",
        "",
        "| level | codes used % | perplexity | VQ baseline codes used % | VQ baseline perplexity |",
        "|---|---|---|---|---|",
    ]
    for lv in codec["levels"]:
        a, b = report["hqvae"]["levels"][lv], report["vq_baseline"]["levels"][lv]
        lines.append(f"| {lv} | {a['usage_pct']:.1f} | {a['perplexity']:.1f} | {b['usage_pct']:.1f} | "
                     f"{b['perplexity']:.1f} |")
    lines += [
        "",
        "| reconstruction | HQ-VAE | VQ baseline |",
        "|---|---|---|",
        f"| MR-STFT distance (lower better) | {report['hqvae']['mr_stft']:.3f} | {report['vq_baseline']['mr_stft']:.3f} |",
        f"| SI-SDR dB (higher better) | {report['hqvae']['si_sdr_db']:.2f} | {report['vq_baseline']['si_sdr_db']:.2f} |",
        "",
        *paired_lines(report),
        "| stage 2 level | objective | held-out NLL (nats) | unigram entropy (nats) | reduction % |",
        "|---|---|---|---|---|",
    ]
    for lv, v in report.get("prior", {}).items():
        lines.append(f"| {lv} | {v.get('objective', 'next-token')} | {v['nll_nats']:.3f} | "
                     f"{v['unigram_entropy_nats']:.3f} | {v['reduction_pct']:.1f} |")
    lines += [
        "",
        *data_lines(data_list),
        *probe_lines(probe_markdown),
        "## Limits",
        "- Small and trained for minutes (the codec on two CPU cores): an honest starting point, not a "
        "production codec. Retrain with `booster pretrain` on your own audio for real use.",
        "- The codec was trained on rendered music only (General MIDI timbres): expect weaker features on recorded "
        "audio and voice.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("ckpt", type=Path)
    ap.add_argument("report", type=Path)
    ap.add_argument("--command", required=True)
    ap.add_argument("--data", required=True, help="one line describing the training data")
    ap.add_argument("--probe", type=Path, help="markdown tables of `booster probe --markdown`")
    ap.add_argument("--data-list", type=Path, help="JSON list of {name, hours, origin, licence}: the data table")
    args = ap.parse_args()
    training = json.loads((args.ckpt / "training.json").read_text())
    report = json.loads(args.report.read_text())
    report = report.get("model", report)  # `booster bench --out` nests it under "model"
    probe = args.probe.read_text() if args.probe else None
    data_list = json.loads(args.data_list.read_text()) if args.data_list else None
    (args.ckpt / "MODEL_CARD.md").write_text(render_card(args.ckpt, training, report, args.command, args.data, probe,
                                                         data_list))


if __name__ == "__main__":
    main()
