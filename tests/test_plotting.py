"""Pictures render to files of the expected size and are not blank."""

from __future__ import annotations

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
        if size is not None:
            assert image.size == size
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


def test_matplotlib_is_imported_only_when_drawing():
    import subprocess
    import sys

    code = "import sys, topoae.plotting; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_matplotlib_names_the_extra(monkeypatch, clusters):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"topoae\[plot\]"):
        plot_embeddings({"A": clusters})
