"""The HTML report: self-contained, every section present, every image renders in a browser."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from PIL import Image
from report_run import images_of, shared_run

from topoae import datasets
from topoae.apps.report import build_report, detect_kind
from topoae.runs import embedding_to_csv

#: The browser command; `make test` (scripts/provision.sh) installs Debian's chromium if missing.
CHROMIUM = os.environ.get("TOPOAE_CHROMIUM", "chromium")
_CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (i) { return !i.complete || i.naturalWidth === 0; });
  var out = document.createElement('pre');
  out.id = 'image-check';
  out.textContent = 'IMAGES=' + images.length + ' BROKEN=' + broken.length + ' SIZES=' +
    images.map(function (i) { return i.naturalWidth + 'x' + i.naturalHeight; }).join(',') +
    ' WIDE=' + (document.documentElement.scrollWidth > window.innerWidth ? 1 : 0);
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture(scope="module")
def run_dir():
    return shared_run()


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory, run_dir):
    """A comparison folder as `topoae compare` writes it, without its figure.png."""
    from sklearn.decomposition import PCA

    folder = tmp_path_factory.mktemp("compare")
    data = datasets.load("spheres", seed=0)
    latent_pca = PCA(2).fit(data.x_train).transform(data.x_test)
    latent_ae = np.load(run_dir / "embedding_test.npz")["latent"]
    records = []
    for method, latent in (("pca", latent_pca), ("topoae", latent_ae)):
        path = folder / "embeddings" / f"{method}_seed0.csv"
        path.parent.mkdir(exist_ok=True)
        path.write_text(embedding_to_csv(latent, data.y_test))
        records.append(
            {
                "method": method,
                "seed": 0,
                "measures": {"kl_0.1": 0.22711359124067576, "continuity": 0.8},
                "embedding": f"embeddings/{method}_seed0.csv",
            }
        )
    records[1]["run_dir"] = "runs/topoae-seed0"
    records.append({"method": "pca", "seed": 1, "measures": {"kl_0.1": 0.3}})  # no embedding
    shutil.copytree(run_dir, folder / "runs" / "topoae-seed0")
    settings = {"dataset": "spheres", "dataset_kwargs": {}, "methods": ["pca", "topoae"]}
    settings.update(seeds=[0, 1], preset="spheres", note="<0.2>")
    (folder / "results.json").write_text(
        json.dumps({"format": 1, "settings": settings, "records": records})
    )
    return folder


def assert_self_contained(page):
    # Nothing is fetched: every src / href is a data URI or an in-page anchor.
    for attribute, value in re.findall(r'\b(src|href)="([^"]*)"', page):
        assert value.startswith(("data:", "#")), (attribute, value[:80])
    assert "<script" not in page
    assert "url(" not in page


def browser_image_check(html_path, tmp_path):
    """Load a page in headless Chromium; returns (images, broken, sizes)."""
    match = _browser_check(html_path, tmp_path)
    sizes = [tuple(int(v) for v in s.split("x")) for s in match.group(3).split(",") if s]
    return int(match.group(1)), int(match.group(2)), sizes


def browser_page_overflows(html_path, tmp_path, width=1024):
    """Whether the page is wider than a ``width``-pixel window (a table sticking out)."""
    return _browser_check(html_path, tmp_path, width).group(4) == "1"


def _browser_check(html_path, tmp_path, width=1024):
    if shutil.which(CHROMIUM) is None:
        pytest.fail(
            f"{CHROMIUM} is not installed: the report test needs a real browser. Install it "
            "with `apt-get install -y chromium` (`make provision` does this when it may)."
        )
    checked = tmp_path / f"checked-{html_path.name}"
    checked.write_text(html_path.read_text().replace("</body>", _CHECK_SCRIPT + "</body>"))
    profile = tmp_path / "chromium-profile"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        f"--window-size={width},900",
        "--dump-dom",
        checked.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    match = re.search(r"IMAGES=(\d+) BROKEN=(\d+) SIZES=([\dx,]*) WIDE=(\d)", result.stdout)
    assert match, f"the page did not finish loading in chromium: {result.stderr[-2000:]}"
    return match


def test_detect_kind(tmp_path, run_dir, compare_dir):
    assert detect_kind(run_dir) == "run"
    assert detect_kind(compare_dir) == "compare"
    with pytest.raises(ValueError, match="neither a train run"):
        detect_kind(tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        detect_kind(tmp_path / "missing")


def test_run_report_renders_in_a_browser(tmp_path, run_dir):
    out = build_report(run_dir, tmp_path / "report.html", n_subsample=60, dpi=60)
    page = out.read_text()
    assert_self_contained(page)
    for title in (
        "Configuration",
        "Measures",
        "Embedding",
        "Loss curves",
        "Persistence diagrams",
        "Training animation",
    ):
        assert f"<h2>{title}</h2>" in page
    assert "Notes" not in page  # nothing was left out
    measures = page.split("<h2>Measures</h2>")[1].split("</section>")[0]
    assert "<td>TopoAE</td><td>1</td><td>–</td><td>0.25</td>" in measures
    assert "<td>TopoAE (paper)</td><td>5</td><td>0.085</td><td>0.326</td>" in measures
    assert "<td>best_val_loss</td><td>0.227</td>" in measures  # 3 digits, not the raw float
    images = images_of(page)
    assert [mime for mime, _ in images] == ["image/png"] * 3 + ["image/gif"]
    assert images[-1][1].n_frames == 3  # 3 snapshots (the hold frames merge into the last)
    count, broken, sizes = browser_image_check(out, tmp_path)
    assert (count, broken) == (4, 0)
    assert sizes == [image.size for _, image in images]


def test_browser_check_catches_a_missing_image(tmp_path):
    png = io.BytesIO()
    Image.new("RGB", (7, 5), "red").save(png, format="PNG")
    good = base64.b64encode(png.getvalue()).decode()
    page = tmp_path / "page.html"
    page.write_text(
        f'<!DOCTYPE html><html><body><img src="data:image/png;base64,{good}">'
        '<img src="data:image/png;base64,bm90IGFuIGltYWdl"></body></html>'
    )
    assert browser_image_check(page, tmp_path) == (2, 1, [(7, 5), (0, 0)])


def test_browser_check_catches_a_page_too_wide(tmp_path):
    page = tmp_path / "wide.html"
    page.write_text('<!DOCTYPE html><html><body><div style="width:3000px">x</div></body></html>')
    assert browser_page_overflows(page, tmp_path)
    page.write_text("<!DOCTYPE html><html><body><p>narrow</p></body></html>")
    assert not browser_page_overflows(page, tmp_path)


def test_compare_report(tmp_path, compare_dir):
    out = build_report(compare_dir, n_subsample=50, dpi=50)
    assert out == compare_dir / "report.html"
    page = out.read_text()
    assert_self_contained(page)
    for title in ("Settings", "Measures", "Embeddings", "Loss curves", "Persistence diagrams"):
        assert f"<h2>{title}</h2>" in page
    assert "<h2>Training animations</h2>" in page
    assert "&lt;0.2&gt;" in page  # table cells are escaped
    images = images_of(page)
    assert len(images) == 4
    for _, image in images:
        pixels = np.asarray(image.convert("RGB"), dtype=float)
        assert pixels.std() > 5
    # The measures table reads like the command line's: one column per measure, mean ± std
    # over the seeds to 3 digits (PCA: 0.2271… and 0.3), the paper's rows beside ours.
    measures = page.split("<h2>Measures</h2>")[1].split("</section>")[0]
    assert "<th>KL_0.1</th>" in measures and "<th>ℓ-Cont</th>" in measures
    assert "_mean" not in measures and "0.22711359124067576" not in page
    assert "<td>PCA</td><td>2</td><td>–</td><td>0.264 ± 0.052</td>" in measures
    assert "<td>TopoAE</td><td>1</td><td>–</td><td>0.227</td>" in measures
    assert "<td>PCA (paper)</td><td>5</td><td>0.332</td><td>0.651</td>" in measures
    assert "TopoAE (paper)" in measures
    # ... and fits the page: a narrow window scrolls the table, not the page.
    assert not browser_page_overflows(out, tmp_path, width=700)


def test_report_leaves_out_missing_parts(tmp_path, run_dir):
    folder = tmp_path / "partial"
    shutil.copytree(run_dir, folder)
    for name in ("snapshots.npz", "history.json", "summary.json"):
        (folder / name).unlink()
    config = json.loads((folder / "config.json").read_text())
    config["dataset"] = "not-a-dataset"
    (folder / "config.json").write_text(json.dumps(config))
    page = build_report(folder, n_subsample=50, dpi=50).read_text()
    assert "<h2>Configuration</h2>" in page and "<h2>Embedding</h2>" in page
    for title in ("Measures", "Loss curves", "Training animation", "Persistence diagrams"):
        assert f"<h2>{title}</h2>" not in page
    assert "Persistence diagrams left out" in page and "not-a-dataset" in page
    assert len(images_of(page)) == 1


def test_estimated_measures_show_their_intervals(tmp_path, compare_dir, run_dir):
    from topoae.apps.compare.tables import ESTIMATE_NOTE

    folder = tmp_path / "estimated"
    shutil.copytree(compare_dir, folder)
    saved = json.loads((folder / "results.json").read_text())
    for record in saved["records"]:
        record["measures"].update(
            {"continuity_ci95": 0.004, "estimated": True, "estimated_measures": ["continuity"]}
        )
    (folder / "results.json").write_text(json.dumps(saved))
    page = build_report(folder, n_subsample=50, dpi=50).read_text()
    measures = page.split("<h2>Measures</h2>")[1].split("</section>")[0]
    # TopoAE has one seed: the estimate's interval, marked; PCA has two: their spread.
    assert "<td>TopoAE</td><td>1</td><td>–</td><td>0.227</td>" in measures
    rows = {row.split("</td>")[0]: row for row in measures.split("<tr><td>")[1:]}
    assert "<td>0.8 ± 0.004*</td>" in rows["TopoAE"]
    assert "<td>0.264 ± 0.052</td>" in rows["PCA"] and "*" not in rows["PCA"]
    assert ESTIMATE_NOTE in measures

    # A run whose summary holds a half-width shows it the same way.
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    summary = json.loads((run / "summary.json").read_text())
    summary["kl_0.1_ci95"] = 0.002
    (run / "summary.json").write_text(json.dumps(summary))
    page = build_report(run, n_subsample=50, dpi=50).read_text()
    measures = page.split("<h2>Measures</h2>")[1].split("</section>")[0]
    assert f"<td>{summary['kl_0.1']:.3g} ± 0.002*</td>" in measures
    assert ESTIMATE_NOTE in measures and "kl_0.1_ci95" not in measures
