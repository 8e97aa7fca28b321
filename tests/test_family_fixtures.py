"""lsgzoo reproduces the ORIGINAL LSG's recorded outputs and conversions for every family it has
(tests/fixtures/original_families; LSG-BART's own fixtures: test_original_fixtures.py).

Cases are selected through the family table: a case (model or conversion) runs when its
checkpoint's `model_type` has a row in `models.families.FAMILIES` (so BARThez cases, `model_type:
mbart`, run with the mBART family); cases of families lsgzoo does not have yet are left out, and a
family added to the table brings its cases in. Model cases replay the recorded calls with the
seeding protocol (tests/compat/fixture_report.py): floats within 1e-5, generated ids exactly.
Conversions repeat the original converter's call (its convert.json) and must give the same weights,
tensor by tensor, exactly. Run with `-s` for the max-abs difference of every case.
"""

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent / "compat"))
from fixture_report import FAMILY_FIXTURES, case_diffs, family_model_cases, model_cases, print_max_diffs  # noqa: E402

from lsgzoo.models.conversion import convert_to_lsg  # noqa: E402
from lsgzoo.models.families import FAMILIES, family_for_model_type  # noqa: E402

TOLERANCE = 1e-5
INPUTS = {"input_ids", "attention_mask", "decoder_input_ids", "inputs_embeds"}
# config.json keys that may differ from the original converter's: where it ran, transformers' own
# bookkeeping (aliases, dtype spelling, serialisation defaults of 5.x), lsgzoo's backend key
CONFIG_KEYS_NOT_COMPARED = {"_name_or_path", "transformers_version", "torch_dtype", "dtype", "num_hidden_layers"}
MAX_DIFFS: dict[str, float] = {}


def index_cases(kind: str) -> list[dict]:
    """The cases of one kind whose checkpoint's model_type has a family in the table."""
    cases = json.loads((FAMILY_FIXTURES / "index.json").read_text())["cases"]
    return [case for case in cases if case["kind"] == kind and has_family(case["base_model_type"])]


def has_family(model_type: str) -> bool:
    try:
        family_for_model_type(model_type)
    except ValueError:
        return False
    return True


MODEL_CASES = [case["name"] for case in family_model_cases()]
CONVERT_CASES = [case["name"] for case in index_cases("convert")]


@pytest.fixture(scope="module", autouse=True)
def print_summary():
    yield
    print_max_diffs("LSG", MAX_DIFFS)


def test_cases_are_selected_through_the_family_table():
    everything = model_cases(FAMILY_FIXTURES)
    model_types = {t for family in FAMILIES for t in family.model_types}
    assert set(MODEL_CASES) == {case["name"] for case in everything if case["base_model_type"] in model_types}
    assert all(case["architecture"].startswith("LSG") for case in everything)
    assert MODEL_CASES and CONVERT_CASES  # the table has families with recorded cases


def check_case(name: str, root: Path = FAMILY_FIXTURES) -> dict[str, float]:
    """Replay a case; assert every recorded output is reproduced (floats within TOLERANCE, ids exactly)."""
    diffs = case_diffs(name, root=root)
    recorded = set(json.loads((root / name / "case.json").read_text())["tensors"])
    assert set(diffs) == recorded - INPUTS
    bad = {key: value for key, value in diffs.items() if not value <= TOLERANCE}  # NaN fails too
    assert not bad, f"{name}: {bad}"
    return diffs


@pytest.mark.parametrize("name", MODEL_CASES)
def test_fixture_case_matches_original(name, one_thread):
    diffs = check_case(name)
    MAX_DIFFS[name] = max(diffs.values())


def test_a_mismatching_case_fails(tmp_path, one_thread):
    """The check fails for a case of a family lsgzoo has when lsgzoo's outputs differ (here: its
    checkpoint says another selector than the one recorded)."""
    name = next(n for n in MODEL_CASES if json.loads((FAMILY_FIXTURES / n / "case.json").read_text())
                ["lsg"]["sparsity_type"] == "norm")
    shutil.copytree(FAMILY_FIXTURES / name, tmp_path / name)
    config_file = tmp_path / name / "config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "sparsity_type": "stride"}))
    with pytest.raises(AssertionError, match=name):
        check_case(name, root=tmp_path)


def original_conversion(name: str) -> tuple[Path, Path, dict]:
    """(source folder, original output folder, convert.json) of a conversion case."""
    out = FAMILY_FIXTURES / name
    record = json.loads((out / "convert.json").read_text())
    source = out.parent / record["convert_from_pretrained"]["model_name_or_path"]
    return source, out, record


def convert_like_the_original(name: str):
    source, _, record = original_conversion(name)
    call, init = record["convert_from_pretrained"], record["converter_init"]
    return convert_to_lsg(
        source, init["max_sequence_length"], architecture=call["architecture"],
        random_global_init=init["random_global_init"], global_positional_stride=init["global_positional_stride"],
        keep_first_global_token=init["keep_first_global_token"], resize_lsg=init["resize_lsg"],
        use_token_ids=init["use_token_ids"], seed=init["seed"], **call["model_kwargs"],
    )


@pytest.mark.parametrize("name", CONVERT_CASES)
def test_conversion_equals_original_converter(name, one_thread):
    _, out, record = original_conversion(name)
    model, tokenizer, report = convert_like_the_original(name)
    reference = load_file(out / "model.safetensors")
    state = model.state_dict()
    for key, value in reference.items():
        assert state[key].shape == value.shape and torch.equal(state[key], value), key
    for key in set(state) - set(reference):  # the original's files leave the tied copies out
        assert any(state[key].data_ptr() == state[other].data_ptr() for other in reference), key
    assert report["new"] == [] and report["dropped"] == []
    assert tokenizer.model_max_length == record["converter_init"]["max_sequence_length"]

    original_config = json.loads((out / "config.json").read_text())
    config = model.config.to_dict()
    differ = {key: (value, config.get(key)) for key, value in original_config.items()
              if key not in CONFIG_KEYS_NOT_COMPARED and config.get(key) != value}
    assert not differ, differ

    io = load_file(out / "io.safetensors")
    torch.manual_seed(record["seed"])
    with torch.no_grad():
        output = model(**{key: io[key] for key in INPUTS & set(io)})
    for key in set(io) - INPUTS:
        diff = (getattr(output, key) - io[key]).abs().max().item()
        MAX_DIFFS[name] = max(MAX_DIFFS.get(name, 0.0), diff)
        assert diff <= TOLERANCE, (key, diff)
