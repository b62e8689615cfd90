"""``topoae report``: one self-contained HTML page for a train run or a comparison."""

from __future__ import annotations

import argparse
from pathlib import Path

from topoae.cli._common import format_table, positive_int, say


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="one self-contained HTML page for a run or a comparison folder",
        description=(
            "Write an HTML page (images embedded, no network needed) with the configuration, "
            "the measures, the embedding figure, loss curves, persistence diagrams and the "
            "training animation of a `topoae train` or `topoae compare` folder. Sections "
            "whose files are missing are left out."
        ),
    )
    parser.add_argument("folder", type=Path, metavar="DIR", help="a train or compare --out")
    parser.add_argument("--out", type=Path, help="HTML file (default: DIR/report.html)")
    parser.add_argument("--no-diagrams", action="store_true", help="skip persistence diagrams")
    parser.add_argument("--no-animation", action="store_true", help="skip the animation")
    parser.add_argument(
        "--subsample", type=positive_int, default=500, help="points for the diagrams (500)"
    )
    parser.add_argument("--seed", type=int, default=0, help="subsample seed (0)")
    parser.add_argument(
        "--max-frames", type=positive_int, default=40, help="snapshots per animation (40)"
    )
    parser.add_argument("--data-dir", help="folder of downloaded data files (image data sets)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from topoae.apps.report import build_report, detect_kind

    kind = detect_kind(args.folder)
    say(args, f"building the report of {kind} folder {args.folder}")
    out = build_report(
        args.folder,
        args.out,
        diagrams=not args.no_diagrams,
        animation=not args.no_animation,
        n_subsample=args.subsample,
        random_state=args.seed,
        max_frames=args.max_frames,
        data_dir=args.data_dir,
    )
    size = out.stat().st_size
    print(format_table(["report", "kind", "size"], [[out, kind, f"{size / 1024:.0f} KiB"]]))
    return 0
