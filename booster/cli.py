"""The ``booster`` command line (the composition root: imports every layer lazily).

Every command exits non-zero with a one-line reason on bad input.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="mfm-booster: music foundation model features as a booster for other models.")
data_app = typer.Typer(no_args_is_help=True, help="Make and inspect datasets.")
app.add_typer(data_app, name="data")
console = Console(stderr=True)


def fail(message: str) -> None:
    """Print a one-line reason and exit with status 2."""
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@data_app.command("render")
def data_render(
    out: Path = typer.Argument(..., help="Output folder (Slakh2100 layout)."),
    tracks: int = typer.Option(4, "--tracks", help="Number of tracks."),
    seconds: float = typer.Option(8.0, "--seconds", help="Length of each track in seconds."),
    source: str = typer.Option("procedural", "--source", help="procedural | music21"),
    synth: str = typer.Option("basic", "--synth", help="basic | fluidsynth"),
    seed: int = typer.Option(0, "--seed", help="Seed; the same seed gives identical files."),
    sample_rate: int = typer.Option(22050, "--sample-rate", help="Sample rate of the rendered audio."),
    start_index: int = typer.Option(1, "--start-index", help="Number of the first track (to extend a corpus)."),
) -> None:
    """Render multi-stem music with perfect labels (stems, MIDI, tags, mixing parameters)."""
    from downstream.data.render import RenderConfig, render_corpus

    cfg = RenderConfig(tracks, seconds, source, synth, seed, sample_rate, start_index)
    try:
        cfg.validate()
    except ValueError as err:
        fail(str(err))
    if out.exists() and not out.is_dir():
        fail(f"{out}: exists and is not a folder")
    t0 = time.perf_counter()
    with Progress(TextColumn("[bold]render"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("render", total=tracks)
        rows = render_corpus(out, cfg, progress=lambda i, row: bar.advance(task))
    wall = time.perf_counter() - t0
    table = Table(title=f"{len(rows)} tracks in {out}")
    for col in ("track", "stems", "notes", "tempo", "key", "tags"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["track"], str(r["stems"]), str(r["notes"]), f"{r['tempo']:.0f}", r["key"],
                      ", ".join(r["tags"]))
    Console().print(table)
    audio_s = tracks * seconds
    Console().print(f"rendered {audio_s:.0f} s of audio in {wall:.1f} s ({audio_s / wall:.1f}x realtime), "
                    f"source={source}, synth={synth}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
