"""lsgzoo reproduces the ORIGINAL LSG-BART's recorded outputs (tests/fixtures/original).

Every model case of index.json is loaded with the lsgzoo class named in its
case.json and its recorded calls are replayed with the seeding protocol (see
tests/compat/fixture_report.py, also runnable as a script for a table). Floats
must agree to 1e-5 (they are exact on 1 thread); generated ids exactly.
Run with `-s` to see the max-abs difference of every case.
"""

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "compat"))
from fixture_report import FIXTURES, case_diffs, model_cases, print_max_diffs  # noqa: E402

from lsgzoo.models import LSGBartForConditionalGeneration, load_model  # noqa: E402

TOLERANCE = 1e-5
MAX_DIFFS: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def print_summary():
    yield
    print_max_diffs("LSG-BART", MAX_DIFFS)


def test_every_model_case_is_covered():
    index = json.loads((FIXTURES / "index.json").read_text())
    names = {case["name"] for case in index["cases"] if case["kind"] == "model"}
    assert len(names) == 23 and names == {case["name"] for case in model_cases()}


@pytest.mark.parametrize("name", [case["name"] for case in model_cases()])
def test_fixture_case_matches_original(name, one_thread):
    diffs = case_diffs(name)
    MAX_DIFFS[name] = max(diffs.values())
    recorded = set(json.loads((FIXTURES / name / "case.json").read_text())["tensors"])
    assert set(diffs) == recorded - {"input_ids", "attention_mask", "decoder_input_ids", "inputs_embeds"}
    bad = {key: value for key, value in diffs.items() if not value <= TOLERANCE}  # NaN fails too
    assert not bad, f"{name}: {bad}"


def test_stale_remote_code_in_the_folder_is_not_executed(tmp_path):
    folder = tmp_path / "s2s_norm"
    shutil.copytree(FIXTURES / "s2s_norm", folder)
    marker = tmp_path / "executed"
    # what the original's save_pretrained copies next to the weights (auto_map points at it)
    (folder / "modeling_lsg_bart.py").write_text(
        f"open({str(marker)!r}, 'w').write('x')\nraise RuntimeError('stale remote code was imported')\n"
    )
    model = LSGBartForConditionalGeneration.from_pretrained(folder)
    assert type(load_model(folder)) is LSGBartForConditionalGeneration
    assert not marker.exists()
    assert model.config.auto_map["AutoModelForSeq2SeqLM"] == "modeling_lsg_bart.LSGBartForConditionalGeneration"
