"""The picture commands: topoae animate, diagrams, filtration and report."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from PIL import Image
from report_run import images_of, shared_run

from topoae.cli import main
from topoae.plotting import animation


@pytest.fixture(scope="module")
def run_dir():
    return shared_run()


def n_frames(path):
    with Image.open(path) as image:
        assert image.format == "GIF"
        return image.n_frames


def test_filtration_default_circle(tmp_path, capsys):
    out = tmp_path / "f.gif"
    argv = ["-q", "filtration", "--out", str(out), "--frames", "3", "--n-points", "12"]
    assert main([*argv, "--dpi", "30", "--hold", "0"]) == 0
    assert n_frames(out) == 3
    table = capsys.readouterr().out
    assert "| H0        | 11 " in table  # n - 1 finite H0 classes
    assert "| H1" in table


def test_filtration_points_csv(tmp_path, capsys):
    angles = np.linspace(0, 2 * np.pi, 300, endpoint=False)
    rows = "\n".join(f"{np.cos(a)},{np.sin(a)},{i % 3}" for i, a in enumerate(angles))
    (tmp_path / "points.csv").write_text("0,1,labels\n" + rows + "\n")
    out = tmp_path / "f.gif"
    argv = ["filtration", "--points", str(tmp_path / "points.csv"), "--out", str(out)]
    assert main([*argv, "--frames", "2", "--dpi", "30"]) == 2
    assert "--subsample" in capsys.readouterr().err  # 300 points: asks for fewer
    assert main([*argv, "--frames", "2", "--dpi", "30", "--subsample", "15"]) == 0
    assert n_frames(out) == 2
    assert "| H0        | 14 " in capsys.readouterr().out


def test_animate(tmp_path, run_dir, capsys):
    out = tmp_path / "a.gif"
    argv = ["animate", str(run_dir), str(run_dir), "--titles", "AE", "TopoAE"]
    assert main([*argv, "--out", str(out), "--dpi", "30", "--hold", "0"]) == 0
    assert n_frames(out) == 3  # snapshots at steps 0, 3 and 6
    table = capsys.readouterr().out
    assert "| AE " in table and "| TopoAE " in table and "| 40 " in table
    assert main([*argv, "--out", str(out), "--max-frames", "2", "--dpi", "30", "--hold", "0"]) == 0
    assert n_frames(out) == 2


def test_animate_errors(tmp_path, run_dir, capsys, monkeypatch):
    assert main(["animate", str(run_dir), "--titles", "a", "b", "--out", "x.gif"]) == 2
    assert "one title per run" in capsys.readouterr().err
    plain = tmp_path / "plain"
    shutil.copytree(run_dir, plain)
    (plain / "snapshots.npz").unlink()
    assert main(["animate", str(plain), "--out", str(tmp_path / "x.gif")]) == 2
    assert "--snapshot-every" in capsys.readouterr().err
    monkeypatch.setattr(animation, "find_ffmpeg", lambda: None)
    assert main(["animate", str(run_dir), "--out", str(tmp_path / "x.mp4")]) == 2
    assert "ffmpeg" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


def test_diagrams(tmp_path, run_dir, capsys):
    out = tmp_path / "d.png"
    assert main(["diagrams", str(run_dir), "--out", str(out), "--subsample", "50"]) == 0
    with Image.open(out) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=float)
    assert pixels.std() > 5
    table = capsys.readouterr().out
    assert "| dimension | bottleneck | Wasserstein-1 |" in table
    assert "| H1 " in table


def test_report(tmp_path, run_dir, capsys):
    out = tmp_path / "r.html"
    argv = ["report", str(run_dir), "--out", str(out), "--no-diagrams", "--max-frames", "2"]
    assert main(argv) == 0
    assert "| run  |" in capsys.readouterr().out
    page = out.read_text()
    assert "<h2>Persistence diagrams</h2>" not in page
    mimes = [mime for mime, _ in images_of(page)]
    assert mimes == ["image/png", "image/png", "image/gif"]
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "not a folder" in capsys.readouterr().err
