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
