"""The demo (README's main job until training lands) runs end to end and writes its outputs."""

import json

from lsgzoo.demo import main


def test_demo_small(tmp_path, capsys):
    main(["--length", "600", "--heads", "2", "--head-dim", "8", "--block-size", "32", "--sparse-block-size", "32",
          "--repeats", "1", "--plot-length", "64", "--plot-block-size", "8", "--out", str(tmp_path)])
    summary = json.loads((tmp_path / "demo.json").read_text())
    names = [row["selector"] for row in summary["rows"]]
    assert {"none", "norm", "pooling", "lsh", "stride", "block_stride", "bos_pooling"} <= set(names)
    for row in summary["rows"][1:]:
        assert 0 < row["keys_per_query"] < 601
        assert (tmp_path / f"pattern_{row['selector']}.png").stat().st_size > 1000
    assert "keys/query" in capsys.readouterr().out


def test_timings_are_medians_after_a_warm_up_pass():
    """A configuration that is slow on its first three calls (cold caches, first allocations) is timed warm."""
    import time

    from lsgzoo.demo import time_configurations

    calls = {"cold_start": 0, "steady": 0}

    def cold_start():
        calls["cold_start"] += 1
        time.sleep(0.05 if calls["cold_start"] <= 3 else 0.0)

    def steady():
        calls["steady"] += 1

    timings = time_configurations({"cold_start": cold_start, "steady": steady}, warmup=3, repeats=5)
    assert calls == {"cold_start": 8, "steady": 8}
    assert timings["cold_start"].median < 0.01 and len(timings["cold_start"].seconds) == 5


def test_demo_json_records_the_timing_protocol(tmp_path):
    main(["--length", "128", "--heads", "1", "--head-dim", "8", "--block-size", "16", "--sparse-block-size", "16",
          "--warmup", "1", "--repeats", "3", "--plot-length", "32", "--plot-block-size", "8", "--out", str(tmp_path)])
    summary = json.loads((tmp_path / "demo.json").read_text())
    assert summary["args"]["warmup"] == 1 and summary["args"]["repeats"] == 3
    for row in summary["rows"]:
        assert len(row["all_seconds"]) == 3 and row["seconds"] == sorted(row["all_seconds"])[1]


def test_median_time_of_one_call_warms_up_first():
    from lsgzoo.demo import median_time

    calls = []
    assert median_time(lambda: calls.append(1), repeats=3, warmup=2) >= 0 and len(calls) == 5
