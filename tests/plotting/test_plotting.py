"""Pictures render to files of the expected size and are not blank."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from PIL import Image

from topoae.plotting import plot_embeddings
from topoae.plotting.style import CLASS_COLORS, MUTED_COLOR, class_color_map


def assert_not_blank(path, size=None):
    """A PNG of ``size`` pixels whose pixels vary and are not all white."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        if size is not None:  # inches x dpi, give or take matplotlib's rounding
            assert abs(image.size[0] - size[0]) <= 1 and abs(image.size[1] - size[1]) <= 1
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    assert pixels.std() > 5
    assert (pixels < 200).any(axis=-1).mean() > 0.005  # some ink, not just a white page
    return pixels


def rgb(hex_color):
    return np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float64)


def color_fraction(pixels, hex_color, tol=12):
    return float((np.abs(pixels - rgb(hex_color)).max(axis=-1) <= tol).mean())


@pytest.fixture
def clusters():
    rng = np.random.RandomState(0)
    labels = np.repeat(np.arange(11), 30)
    centers = 6 * rng.normal(size=(11, 2))
    centers[10] = 0
    Z = centers[labels] + rng.normal(size=(len(labels), 2))
    Z[labels == 10] *= 8
    return Z, labels


def test_class_color_map():
    colors = class_color_map(np.arange(11), muted_label=10)
    assert colors[10] == MUTED_COLOR
    assert [colors[i] for i in range(10)] == list(CLASS_COLORS[:10])
    assert len(set(class_color_map(np.arange(11)).values())) == 11
    assert class_color_map(np.linspace(0, 1, 50)) is None  # continuous: colour bar
    assert class_color_map(np.arange(30)) is None  # too many classes


def test_plot_embeddings_png(tmp_path, clusters):
    Z, labels = clusters
    path = tmp_path / "figure.png"
    fig = plot_embeddings(
        {"A": (Z, labels), "B": (-Z, labels), "C": (Z[:, ::-1], None)},
        path,
        title="three",
        muted_label=10,
        dpi=50,
        panel_size=2.0,
    )
    assert [ax.get_title() for ax in fig.axes[:3]] == ["A", "B", "C"]
    width, height = fig.get_size_inches()
    pixels = assert_not_blank(path, (int(width * 50), int(height * 50)))
    assert width == pytest.approx(6.0)
    # Every class colour is on the picture, the muted grey too.
    for color in [*CLASS_COLORS[:10], MUTED_COLOR]:
        assert color_fraction(pixels, color) > 0, color
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == [str(i) for i in range(11)]


def test_plot_embeddings_muted_class_is_underneath(clusters):
    Z, labels = clusters
    fig = plot_embeddings({"A": (Z, labels)}, muted_label=10)
    muted, main = fig.axes[0].collections
    assert muted.get_zorder() < main.get_zorder()
    assert len(muted.get_offsets()) == 30 and len(main.get_offsets()) == 300


def test_plot_embeddings_formats_and_colorbar(tmp_path, clusters):
    Z, labels = clusters
    fig = plot_embeddings({"A": (Z, labels * 0.5)}, tmp_path / "f.pdf")
    assert len(fig.axes) == 2  # panel + colour bar for continuous labels
    assert (tmp_path / "f.pdf").read_bytes().startswith(b"%PDF")
    plot_embeddings({"A": (Z, labels)}, tmp_path / "f.svg")
    assert b"<svg" in (tmp_path / "f.svg").read_bytes()[:500]
    # Same input, same bytes (no creation dates).
    plot_embeddings({"A": (Z, labels)}, tmp_path / "g.svg")
    assert (tmp_path / "f.svg").read_bytes() == (tmp_path / "g.svg").read_bytes()


@pytest.mark.parametrize(
    ("embeddings", "message"),
    [
        ({}, "non-empty"),
        ({"A": (np.zeros((5, 3)), None)}, r"shape \(n, 2\)"),
        ({"A": (np.zeros((5, 2)), np.zeros(4))}, "Labels"),
        ({"A": (np.full((5, 2), np.nan), None)}, "NaN"),
        ({"A": np.zeros((5, 2))}, "pair"),
    ],
)
def test_plot_embeddings_bad_input(embeddings, message):
    with pytest.raises(ValueError, match=message):
        plot_embeddings(embeddings)


def test_plot_embeddings_bad_suffix(tmp_path, clusters):
    with pytest.raises(ValueError, match=r"\.png"):
        plot_embeddings({"A": clusters}, tmp_path / "f.jpeg")
    assert not list(tmp_path.iterdir())


#: What plotting may import of topoae: itself and the bottom leaves (files, errors, facts).
LEAF_IMPORTS = ("topoae.plotting", "topoae._io", "topoae.errors", "topoae.paper", "topoae._text")


def test_plotting_imports_no_computing_layer():
    # Arrays in, pictures out: no module of topoae.plotting imports metrics, core or runs.
    import ast
    from pathlib import Path

    import topoae.plotting

    for path in Path(topoae.plotting.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module.startswith(LEAF_IMPORTS) or not (
                    node.module.startswith("topoae")
                ), (path.name, node.module)


def test_matplotlib_is_imported_only_when_drawing(monkeypatch):
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # any import of it now fails
    for name in [m for m in sys.modules if m.startswith("topoae.plotting")]:
        monkeypatch.delitem(sys.modules, name)
    for module in ("style", "embeddings", "diagrams", "animation", "filtration"):
        importlib.import_module(f"topoae.plotting.{module}")
    importlib.import_module("topoae.plotting")


def test_missing_matplotlib_names_the_extra(monkeypatch, clusters):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"topoae\[plot\]"):
        plot_embeddings({"A": clusters})


# --------------------------------------------------------------------------- diagrams


def circle(n, seed=0, noise=0.0):
    angles = np.random.default_rng(seed).uniform(0, 2 * np.pi, n)
    return np.column_stack([np.cos(angles), np.sin(angles)]) + noise * np.random.default_rng(
        seed + 1
    ).normal(size=(n, 2))


def test_plot_persistence_png(tmp_path):
    from topoae.metrics.diagrams import compare_persistence
    from topoae.plotting.diagrams import plot_persistence

    X = np.column_stack([circle(50, noise=0.05), np.zeros(50)])
    Z = X[:, :2] * [1.0, 0.2]
    c = compare_persistence(X, Z, n_subsample=40)
    path = tmp_path / "dgm.png"
    fig = plot_persistence(c.diagrams_x, c.diagrams_z, c.distances, path, dpi=40, title="t")
    assert_not_blank(path, tuple(int(v * 40) for v in fig.get_size_inches()))
    text = fig._suptitle.get_text()
    assert "bottleneck" in text and "Wasserstein" in text and "40 points" in text
    assert f"H1 {c.distances['bottleneck_h1']:.3g}" in text  # the distances it was given
    assert len(fig.axes) == 4
    # Pictures only: each panel shows the classes it was handed, as many as given.
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == [f"H0 ({len(c.diagrams_x[0])})", f"H1 ({len(c.diagrams_x[1])})"]


# --------------------------------------------------------------------------- animation


def gif_frames(path):
    with Image.open(path) as image:
        assert image.format == "GIF"
        frames = []
        for i in range(image.n_frames):
            image.seek(i)
            frames.append(np.asarray(image.convert("RGB"), dtype=np.float64))
        return image.size, frames


def test_animate_snapshots_gif(tmp_path):
    from topoae.plotting.animation import Snapshots, animate_snapshots

    rng = np.random.RandomState(0)
    labels = np.repeat(np.arange(11), 10)
    growth = np.linspace(0.1, 1.0, 5)[:, None, None]
    latent = growth * (rng.normal(size=(1, 110, 2)) + 4 * (labels[None, :, None] % 3))
    runs = [
        Snapshots("ae", latent, epoch=np.arange(5), step=10 * np.arange(5), labels=labels),
        Snapshots("topoae", latent[:3] * 2, epoch=np.arange(3), labels=labels),
    ]
    path = animate_snapshots(runs, tmp_path / "a.gif", dpi=40, panel_size=2.0, muted_label=10)
    size, frames = gif_frames(path)
    assert len(frames) == 5  # the longer run sets the length
    # (2 panels x 2.0 in + 0.6 in of legend, 2.0 in + 0.45 in of titles) x 40 dpi
    assert size == (184, 98)
    for frame in frames:
        assert frame.std() > 5
    # Fixed axes: the cloud grows on screen from frame to frame. Coloured pixels (the
    # points; axes and text are grey) of the first panel spread out.
    spread = []
    for frame in frames:
        panel = frame[:, :80]
        coloured = np.argwhere(panel.max(axis=-1) - panel.min(axis=-1) > 60)
        spread.append(coloured.std(axis=0).sum())
    assert spread[0] < 0.7 * spread[-1]


def test_snapshots_validation():
    from topoae.plotting.animation import Snapshots

    with pytest.raises(ValueError, match=r"\(S, s, k\)"):
        Snapshots("x", np.zeros((3, 4)), epoch=np.arange(3))
    with pytest.raises(ValueError, match="epoch"):
        Snapshots("x", np.zeros((3, 4, 2)), epoch=np.arange(2))
    with pytest.raises(ValueError, match="labels"):
        Snapshots("x", np.zeros((3, 4, 2)), epoch=np.arange(3), labels=np.arange(5))
    with pytest.raises(ValueError, match="NaN"):
        Snapshots("x", np.full((3, 4, 2), np.nan), epoch=np.arange(3))
    # Three latent dimensions are drawn on shared principal axes.
    latent = np.random.RandomState(0).normal(size=(2, 20, 3)) * [5.0, 1.0, 0.01]
    planar = Snapshots("x", latent, epoch=np.arange(2)).planar()
    assert planar.shape == (2, 20, 2)
    assert planar[..., 0].std() > planar[..., 1].std()


def test_snapshots_thinned_keeps_first_and_last_evenly():
    from topoae.plotting.animation import Snapshots

    latent = np.arange(10)[:, None, None] * np.ones((10, 4, 2))
    run = Snapshots("x", latent, epoch=np.arange(10), step=10 * np.arange(10))
    thin = run.thinned(4)
    assert thin.epoch.tolist() == [0, 3, 6, 9]  # linspace(0, 9, 4) rounded
    assert thin.step.tolist() == [0, 30, 60, 90]
    assert thin.latent[:, 0, 0].tolist() == [0, 3, 6, 9]
    assert run.thinned(10) is run
    with pytest.raises(ValueError, match=">= 2"):
        run.thinned(1)


def test_animation_formats(tmp_path, monkeypatch):
    import shutil

    from topoae.errors import MissingDependencyError
    from topoae.plotting import animation
    from topoae.plotting.animation import Snapshots, animate_snapshots

    run = Snapshots("x", np.random.RandomState(0).normal(size=(2, 10, 2)), epoch=np.arange(2))
    with pytest.raises(ValueError, match=r"\.gif or \.mp4"):
        animate_snapshots([run], tmp_path / "a.avi")
    # Neither an ffmpeg on the PATH nor imageio-ffmpeg: a clear error before any drawing.
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    assert animation.find_ffmpeg() is None
    with pytest.raises(MissingDependencyError, match=r"ffmpeg.*plot extra"):
        animate_snapshots([run], tmp_path / "a.mp4")
    assert not list(tmp_path.iterdir())


def test_find_ffmpeg_falls_back_to_imageio_ffmpeg(monkeypatch):
    import shutil

    import imageio_ffmpeg  # in the plot extra

    from topoae.plotting.animation import find_ffmpeg

    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert find_ffmpeg() == imageio_ffmpeg.get_ffmpeg_exe()
    monkeypatch.setattr(shutil, "which", lambda name: f"/somewhere/{name}")
    assert find_ffmpeg() == "/somewhere/ffmpeg"


# --------------------------------------------------------------------------- filtration


def test_rips_simplices_of_a_square():
    from topoae.plotting.filtration import rips_simplices

    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    edges, edge_values, triangles, triangle_values = rips_simplices(square)
    assert len(edges) == 6 and len(triangles) == 4
    assert sorted(edge_values) == pytest.approx([1, 1, 1, 1, np.sqrt(2), np.sqrt(2)])
    # Every triangle of a square has a diagonal as its longest edge.
    assert triangle_values == pytest.approx(np.full(4, np.sqrt(2)))


def test_animate_filtration_gif(tmp_path):
    from topoae.metrics.diagrams import persistence_diagrams
    from topoae.plotting.filtration import animate_filtration, noisy_circle

    points = noisy_circle(12, noise=0.05, seed=1)
    diagrams = persistence_diagrams(points, 1)
    path = animate_filtration(
        points, tmp_path / "f.gif", diagrams=diagrams, n_frames=4, dpi=40, panel_size=2.0
    )
    size, frames = gif_frames(path)
    assert len(frames) == 4
    assert size == (172, 94)  # (2 x 2.0 + 0.3 in, 2.0 + 0.35 in) x 40 dpi
    # More ink as the complex grows: balls, edges and triangles fill the left panel.
    ink = [(f < 200).any(axis=-1).mean() for f in frames]
    assert ink[0] < ink[-1]


def test_read_points_csv(tmp_path):
    from topoae.plotting.filtration import read_points_csv

    (tmp_path / "a.csv").write_text("0,1,labels\n0.5,1.5,3\n2,3,1\n4,5,0\n")
    assert read_points_csv(tmp_path / "a.csv").tolist() == [[0.5, 1.5], [2, 3], [4, 5]]
    (tmp_path / "b.csv").write_text("1,2\n3,4\n5,6\n")
    assert read_points_csv(tmp_path / "b.csv").shape == (3, 2)
    (tmp_path / "c.csv").write_text("x\n1\n2\n3\n")
    with pytest.raises(ValueError, match="two coordinate columns"):
        read_points_csv(tmp_path / "c.csv")
    (tmp_path / "d.csv").write_text("1,2\n3,x\n5,6\n")
    with pytest.raises(ValueError, match="two numbers"):
        read_points_csv(tmp_path / "d.csv")


def test_animate_filtration_bad_input(tmp_path):
    from topoae.plotting.filtration import animate_filtration

    empty = [np.zeros((0, 2)), np.zeros((0, 2))]
    with pytest.raises(ValueError, match="too many"):
        animate_filtration(np.zeros((500, 2)), tmp_path / "f.gif", diagrams=empty)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        animate_filtration(np.zeros((5, 3)), tmp_path / "f.gif", diagrams=empty)
    with pytest.raises(ValueError, match="1 to 3 dimensions"):
        animate_filtration(np.eye(3, 2), tmp_path / "f.gif", diagrams=[])


def test_plot_diagram_panels(tmp_path):
    from topoae.metrics.diagrams import compare_persistence, compare_persistence_each
    from topoae.plotting.diagrams import plot_diagram_panels

    X = np.column_stack([circle(40, noise=0.05), np.zeros(40)])
    Z = {"same": X[:, :2] * 2, "line": np.column_stack([X[:, 0], np.zeros(40)])}
    each = compare_persistence_each(X, Z, n_subsample=30)
    panels = {name: (c.diagrams_z, c.distances) for name, c in each.items()}
    fig = plot_diagram_panels(each["same"].diagrams_x, panels, tmp_path / "p.png", dpi=40)
    assert_not_blank(tmp_path / "p.png")
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles[0] == "data"
    assert "30 points" in fig._suptitle.get_text()  # n - 1 finite H0 classes: 30 points
    # Each method's title carries its distances, equal to compare_persistence's.
    expected = compare_persistence(X, Z["line"], n_subsample=30).distances["bottleneck_h1"]
    assert f"H1 {expected:.3g}" in titles[2]
    assert titles[1] == "same\nH0 0, H1 0"  # the scaled copy: distance 0


# --------------------------------------------------------------------------- curves


def test_plot_history(tmp_path):
    from topoae.plotting.curves import plot_history

    history = [
        {"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e, "train_topological": 0.5 / e}
        for e in range(1, 6)
    ]
    fig = plot_history({"a": history, "b": history[:3]}, tmp_path / "c.png", dpi=40)
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == [
        "total loss",
        "topological term",
    ]
    loss_lines = fig.axes[0].get_lines()
    assert len(loss_lines) == 4  # two runs x (train, validation)
    assert loss_lines[0].get_ydata() == pytest.approx([1 / e for e in range(1, 6)])
    assert_not_blank(tmp_path / "c.png")
    with pytest.raises(ValueError, match="non-empty"):
        plot_history({"a": []})
    with pytest.raises(ValueError, match="No loss components"):
        plot_history({"a": [{"epoch": 1, "seconds": 2.0}]})


def test_animate_snapshots_mp4(tmp_path):
    import re
    import subprocess

    from topoae.plotting.animation import Snapshots, animate_snapshots, find_ffmpeg

    # The plot extra brings imageio-ffmpeg, so this never lacks a binary; the file is read
    # back with the same ffmpeg that wrote it (no ffprobe needed).
    ffmpeg = find_ffmpeg()
    assert ffmpeg is not None, "no ffmpeg: install the plot extra (imageio-ffmpeg)"
    latent = np.random.RandomState(0).normal(size=(4, 30, 2)) * np.arange(1, 5)[:, None, None]
    run = Snapshots("x", latent, epoch=np.arange(4), labels=np.arange(30) % 3)
    path = animate_snapshots([run], tmp_path / "a.mp4", dpi=41, panel_size=2.0)
    # `ffmpeg -i FILE` alone describes the input on stderr (and exits 1: no output named).
    info = subprocess.run([ffmpeg, "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    stream = re.search(r"Stream #0:0.*?: Video: (\w+).*?, (\d+)x(\d+)", info.stderr)
    assert stream is not None, info.stderr
    codec, width, height = stream.group(1), int(stream.group(2)), int(stream.group(3))
    # framemd5 decodes every frame and writes one line per frame (comments start with #).
    decoded = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    frames = [line for line in decoded.stdout.splitlines() if line and not line.startswith("#")]
    assert codec == "h264" and len(frames) == 4
    assert width % 2 == 0 and height % 2 == 0  # 82 x 100.45 rounded to even
