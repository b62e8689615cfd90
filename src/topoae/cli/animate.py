"""``topoae animate``: training snapshots of one or more runs, side by side, as GIF or MP4."""

from __future__ import annotations

import argparse
from pathlib import Path

from topoae.cli import CLIError
from topoae.cli._common import format_table, positive_float, positive_int, say


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "animate",
        help="animate the latent space of runs during training (GIF / MP4)",
        description=(
            "Render the latent codes stored by `topoae train --snapshot-every N` of each RUN "
            "side by side, one frame per snapshot, with fixed axes per panel. .gif uses "
            "Pillow; .mp4 needs ffmpeg (the plot extra's imageio-ffmpeg, or one on the PATH)."
        ),
    )
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run folders")
    parser.add_argument("--out", required=True, type=Path, help="FILE.gif or FILE.mp4")
    parser.add_argument("--titles", nargs="+", help="panel titles (default: model and seed)")
    parser.add_argument("--title", help="figure title")
    parser.add_argument("--fps", type=positive_float, default=8.0, help="frames per second (8)")
    parser.add_argument("--dpi", type=positive_float, default=100.0, help="pixels per inch (100)")
    parser.add_argument(
        "--max-frames",
        type=positive_int,
        default=None,
        help="use at most this many snapshots, evenly spaced (default: all)",
    )
    parser.add_argument(
        "--hold", type=int, default=8, help="extra frames holding the result at the end (8)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from topoae.plotting.animation import animate_snapshots, check_animation_path
    from topoae.runs.snapshots import snapshots_from_run

    check_animation_path(args.out)
    if args.titles is not None and len(args.titles) != len(args.runs):
        raise CLIError(f"--titles needs one title per run ({len(args.runs)}).")
    if args.hold < 0:
        raise CLIError("--hold must be >= 0.")
    if args.max_frames is not None and args.max_frames < 2:
        raise CLIError("--max-frames must be >= 2.")
    runs = []
    muted = None
    for i, folder in enumerate(args.runs):
        title = args.titles[i] if args.titles else None
        snapshots = snapshots_from_run(folder, title)
        if args.max_frames is not None:
            snapshots = snapshots.thinned(args.max_frames)
        runs.append(snapshots)
        muted = _muted_label(folder) if muted is None else muted
    say(args, f"rendering {max(r.latent.shape[0] for r in runs)} frames to {args.out}")
    animate_snapshots(
        runs,
        args.out,
        fps=args.fps,
        dpi=args.dpi,
        muted_label=muted,
        title=args.title,
        hold_last=args.hold,
    )
    rows = [
        [
            r.title,
            r.latent.shape[0],
            r.latent.shape[1],
            f"{int(r.epoch[0])}–{int(r.epoch[-1])}",
        ]
        for r in runs
    ]
    print(format_table(["run", "frames", "points", "epochs"], rows))
    say(args, f"wrote {args.out}")
    return 0


def _muted_label(folder: Path) -> int | None:
    """10 (the enclosing sphere) for Spheres runs, else None."""
    from topoae._safe_files import read_json

    config = read_json(folder / "config.json", kind="run config")  # load_run checked it
    return 10 if config.get("dataset") == "spheres" else None
