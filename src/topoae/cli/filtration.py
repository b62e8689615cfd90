"""``topoae filtration``: the Vietoris–Rips filtration of a small 2-D point cloud, as a GIF."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from topoae.cli import CLIError
from topoae.cli._common import format_table, positive_float, positive_int, say


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "filtration",
        help="animate a Vietoris–Rips filtration and its persistence diagram",
        description=(
            "Grow ε-balls around a small 2-D point cloud (a noisy circle by default, or the "
            "first two numeric columns of --points CSV), drawing the edges and triangles of "
            "the Vietoris–Rips complex and the persistence diagram as it fills in."
        ),
    )
    parser.add_argument("--points", type=Path, help="CSV of 2-D points (header optional)")
    parser.add_argument("--out", required=True, type=Path, help="FILE.gif or FILE.mp4")
    parser.add_argument("--n-points", type=positive_int, default=40, help="circle points (40)")
    parser.add_argument("--noise", type=float, default=0.1, help="circle noise (0.1)")
    parser.add_argument("--seed", type=int, default=0, help="circle / subsample seed (0)")
    parser.add_argument(
        "--subsample",
        type=positive_int,
        help="draw this many points of a larger CSV (seeded by --seed)",
    )
    parser.add_argument("--frames", type=positive_int, default=40, help="scales shown (40)")
    parser.add_argument("--max-scale", type=positive_float, help="largest ε (default: auto)")
    parser.add_argument("--fps", type=positive_float, default=6.0, help="frames per second (6)")
    parser.add_argument("--dpi", type=positive_float, default=100.0, help="pixels per inch (100)")
    parser.add_argument("--hold", type=int, default=8, help="extra frames at the end (8)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from topoae.metrics.diagrams import persistence_diagrams
    from topoae.plotting.animation import check_animation_path
    from topoae.plotting.filtration import (
        MAX_POINTS,
        animate_filtration,
        noisy_circle,
        read_points_csv,
    )

    check_animation_path(args.out)
    if args.hold < 0:
        raise CLIError("--hold must be >= 0.")
    if args.frames < 2:
        raise CLIError("--frames must be >= 2.")
    if args.points is not None:
        points = read_points_csv(args.points)
        source = str(args.points)
    else:
        points = noisy_circle(args.n_points, noise=args.noise, seed=args.seed)
        source = f"noisy circle (n={args.n_points}, noise={args.noise:g}, seed={args.seed})"
    if args.subsample is not None and args.subsample < len(points):
        rng = np.random.default_rng(args.seed)
        points = points[np.sort(rng.choice(len(points), args.subsample, replace=False))]
    if len(points) > MAX_POINTS:
        raise CLIError(
            f"{len(points)} points are too many to draw (at most {MAX_POINTS}); "
            f"pass --subsample {MAX_POINTS // 2} or fewer."
        )
    diagrams = persistence_diagrams(points, max_dimension=1)
    say(args, f"rendering {args.frames} frames of {source} to {args.out}")
    animate_filtration(
        points,
        args.out,
        diagrams=diagrams,
        n_frames=args.frames,
        max_scale=args.max_scale,
        fps=args.fps,
        dpi=args.dpi,
        hold_last=args.hold,
    )
    rows = []
    for dim, dgm in enumerate(diagrams):
        longest = float((dgm[:, 1] - dgm[:, 0]).max()) if len(dgm) else 0.0
        rows.append([f"H{dim}", len(dgm), f"{longest:.3f}"])
    print(format_table(["dimension", "classes", "longest persistence"], rows))
    say(args, f"wrote {args.out}")
    return 0
