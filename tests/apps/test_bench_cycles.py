"""``topoae bench --which cycles``: the step with the H1 term beside the AE and H0 steps."""

from topoae.apps.bench_cycles import bench_cycles
from topoae.cli import main


def test_bench_cycles_rows():
    result = bench_cycles([8, 12], formulations=["cascade"], repeats=2, steps=1, warmup=1)
    assert result.settings["variants"] == ["ae", "topoae", "h1_cascade"]
    assert [row["batch_size"] for row in result.rows] == [8, 12]
    for row in result.rows:
        for name in ("ae", "topoae", "h1_cascade"):
            assert row[f"{name}_ms"] > 0 and row[f"{name}_cpu_ms"] >= 0
        assert row["ae_ratio"] == 1.0


def test_cli_cycles_table(capsys):
    argv = ["bench", "--which", "cycles", "--sizes", "8", "--repeats", "1", "--steps", "1"]
    assert main([*argv, "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "Training step with the cycle (H1) term" in out
    assert "h1_persistence ms" in out and "h1_cascade ms" in out
