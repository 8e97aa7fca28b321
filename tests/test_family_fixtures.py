"""lsgzoo reproduces the ORIGINAL LSG's recorded outputs for every family in its table (tests/fixtures/original_families).

Cases are selected through `models.families.FAMILIES`: a case runs when its checkpoint's `model_type` has a
row (so BARThez's cases, `model_type: mbart`, run with the mBART row; the fixtures also hold families not yet
added). Model cases: the folder is loaded with `load_model`
(the class named in case.json) and the recorded calls are replayed with the seeding protocol
(tests/compat/fixture_report.py); floats agree to 1e-5, generated ids exactly. Conversion cases:
`convert_to_lsg` on `convert_src_<family>` with convert.json's arguments gives the recorded weights
(exactly; Pegasus's sinusoidal tables recomputed for the new length, its row's position_rule), the
recorded config.json, and the recorded forward. Every conversion case's checkpoint exports to a Hub folder that
plain transformers loads (trust_remote_code, no lsgzoo) with lsgzoo's outputs (and greedy ids for the
encoder-decoder heads), and the Auto-class trap is caught. Biases the original's transformers lost on reload (`fixture_report.LOST_ON_RELOAD`) are zeroed for
the comparison; the conversion keeps the source's. Run with `-s` to see the max-abs difference of every case.
"""

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).parent / "compat"))
from fixture_report import (  # noqa: E402
    FAMILY_FIXTURES, INPUTS, as_the_original_loaded, case_diffs, lost_on_reload, print_max_diffs,
)

from lsgzoo.attention.keys import LSG_KEYS  # noqa: E402
from test_conversion_export import REPO_SRC, WITHOUT_LSGZOO  # noqa: E402
from lsgzoo.hub.export import write_hub_folder  # noqa: E402
from lsgzoo.models import FAMILIES, LSGMissingWeightsWarning, assert_lsg_model, is_lsg_checkpoint, load_model  # noqa: E402
from lsgzoo.models.conversion import convert_to_lsg  # noqa: E402
from lsgzoo.models.families import family_for_model_type  # noqa: E402

TOLERANCE = 1e-5
MAX_DIFFS: dict[str, float] = {}
INDEX = json.loads((FAMILY_FIXTURES / "index.json").read_text())
MODEL_TYPES = {model_type for family in FAMILIES for model_type in family.model_types}
# config.json keys a conversion may write differently from the original converter's: transformers' own
# bookkeeping (where it ran, dtype spelling, serialisation defaults of 5.x), lsgzoo's backend key, and
# `auto_map`, which names lsgzoo's heads of the family (the encoders have no causal-LM head; tested elsewhere)
CONFIG_KEYS_NOT_COMPARED = {"_name_or_path", "transformers_version", "torch_dtype", "dtype", "num_hidden_layers",
                            "auto_map"}


def cases(kind: str) -> list[dict]:
    """The index's cases of this kind whose checkpoint's model_type has a row in FAMILIES."""
    return [case for case in INDEX["cases"] if case["kind"] == kind and case["base_model_type"] in MODEL_TYPES]


def family_of_case(case: dict):
    return family_for_model_type(case["base_model_type"])


@pytest.fixture(scope="module", autouse=True)
def print_summary():
    yield
    print_max_diffs("LSG", MAX_DIFFS)


def test_every_family_of_the_table_has_fixture_cases():
    """No family goes untested: each row (but BART, whose fixtures are tests/fixtures/original) has model
    cases and a conversion case here; cases of a model type with a row are selected whatever their family
    folder (BARThez's with mBART)."""
    recorded = ({family_of_case(case).name for case in cases("model")}
                & {family_of_case(case).name for case in cases("convert")})
    assert {family.name for family in FAMILIES} - {"bart"} <= recorded
    if "mbart" in MODEL_TYPES:
        assert {case["family"] for case in cases("convert")} >= {"mbart", "barthez"}


@pytest.mark.parametrize("name", [case["name"] for case in cases("model")])
def test_fixture_case_matches_original(name, one_thread):
    folder = FAMILY_FIXTURES / name
    case = json.loads((folder / "case.json").read_text())
    assert type(load_model(folder)).__name__ == case["architecture"]  # the documented loading path
    diffs = case_diffs(folder)
    MAX_DIFFS[name] = max(diffs.values())
    assert set(diffs) == set(case["tensors"]) - set(INPUTS)
    bad = {key: value for key, value in diffs.items() if not value <= TOLERANCE}  # NaN fails too
    assert not bad, f"{name}: {bad}"


def test_a_mismatching_case_fails(tmp_path, one_thread):
    """The replay catches a difference: a case whose checkpoint says another selector than the recorded one."""
    name = next(case["name"] for case in cases("model") if case["lsg"]["sparsity_type"] == "norm")
    folder = tmp_path / name
    shutil.copytree(FAMILY_FIXTURES / name, folder)
    config_file = folder / "config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "sparsity_type": "stride"}))
    diffs = case_diffs(folder)
    assert any(not value <= TOLERANCE for value in diffs.values()), diffs


def convert_like_the_original(case: dict):
    """`convert_to_lsg` with the arguments the original's converter got for this conversion case."""
    folder = FAMILY_FIXTURES / case["name"]
    recorded = json.loads((folder / "convert.json").read_text())
    init, call = recorded["converter_init"], recorded["convert_from_pretrained"]
    torch.manual_seed(recorded["torch_manual_seed_before_conversion"])
    return convert_to_lsg(
        FAMILY_FIXTURES / case["source"], init["max_sequence_length"], architecture=call["architecture"],
        random_global_init=init["random_global_init"], global_positional_stride=init["global_positional_stride"],
        keep_first_global_token=init["keep_first_global_token"], resize_lsg=init["resize_lsg"],
        use_token_ids=init["use_token_ids"], seed=init["seed"], **call["model_kwargs"],
    )


@pytest.mark.parametrize("name", [case["name"] for case in cases("convert")])
def test_conversion_matches_original(name, one_thread):
    case = next(case for case in cases("convert") if case["name"] == name)
    folder = FAMILY_FIXTURES / name
    model, tokenizer, report = convert_like_the_original(case)
    assert type(model).__name__ == case["architecture"]
    recorded = json.loads((folder / "convert.json").read_text())
    assert tokenizer.model_max_length == recorded["converter_init"]["max_sequence_length"]
    source = load_file(str(FAMILY_FIXTURES / case["source"] / "model.safetensors"))
    for key in lost_on_reload(model):  # lsgzoo keeps the source's; the original's transformers reloaded zeros
        assert source[key].any() and torch.equal(model.get_parameter(key), source[key]), key
    as_the_original_loaded(model)
    recorded_config = json.loads((folder / "config.json").read_text())
    config = model.config.to_dict()
    assert all(key in config for key in (*LSG_KEYS, "max_position_embeddings") if key in recorded_config)
    differ = {key: (value, config.get(key)) for key, value in recorded_config.items()
              if key not in CONFIG_KEYS_NOT_COMPARED and config.get(key) != value}
    assert not differ, f"{name}: config.json differs from the original's conversion: {differ}"
    want, got = load_file(str(folder / "model.safetensors")), model.state_dict()
    assert set(want) <= set(got), set(want) - set(got)
    new = set(report["new"])  # not in the source: initialised by each implementation its own way
    differ = [key for key, value in want.items() if key not in new and not torch.equal(got[key], value)]
    assert not differ, f"{name}: weights differ from the original's conversion: {differ}"
    assert all(got[key].shape == want[key].shape for key in new)
    if new:
        return
    io = load_file(str(folder / "io.safetensors"))
    with torch.no_grad():
        torch.manual_seed(recorded["seed"])
        output = model(**{key: io[key] for key in INPUTS if key in io})
    diff = max((getattr(output, key) - io[key]).abs().max().item() for key in io if key not in INPUTS)
    MAX_DIFFS[name] = diff
    assert diff <= TOLERANCE, f"{name}: forward of the converted model differs by {diff}"


EXPORT_CHECK = WITHOUT_LSGZOO + """import json, traceback
import torch, transformers
from safetensors.torch import load_file, save_file
for entry in {entries!r}:  # every family in this one process (torch + transformers imported once)
    report = {{"name": entry["name"], "classes": [], "error": None}}
    try:
        io = load_file(entry["io"])
        out = {{}}
        for auto in entry["autos"]:
            model = getattr(transformers, auto).from_pretrained(entry["hub"], trust_remote_code=True).eval()
            with torch.no_grad():
                out[auto] = model(**io)[0]
                if auto == "AutoModelForSeq2SeqLM":
                    out["greedy_ids"] = model.generate(io["input_ids"], attention_mask=io["attention_mask"],
                                                       max_new_tokens=5, num_beams=1)
            report["classes"].append(type(model).__name__)
        save_file({{k: v.contiguous() for k, v in out.items()}}, entry["result"])
    except BaseException:  # one family's failure is that family's test's failure, not the others'
        report["error"] = traceback.format_exc()
    print(json.dumps(report), flush=True)
"""

def exportable_families() -> list[str]:
    """Fixture family folders with a conversion source (BARThez's too: its mBART checkpoints; BART's export is
    tested in test_conversion_export)."""
    return sorted({case["family"] for case in cases("convert_source")})


def first_conversion(folder: str) -> dict:
    """The first conversion case of a fixture family folder."""
    return next(case for case in cases("convert") if case["family"] == folder)


@pytest.fixture(scope="module")
def converted_checkpoints(tmp_path_factory):
    """fixture family folder → an LSG checkpoint converted (by lsgzoo) from the folder's fixture source."""
    root, done = tmp_path_factory.mktemp("families"), {}

    def convert(name: str) -> Path:
        if name not in done:
            case = first_conversion(name)
            model, tokenizer, _ = convert_like_the_original(case)
            model.save_pretrained(root / name)
            tokenizer.save_pretrained(root / name)
            done[name] = root / name
        return done[name]

    return convert


@pytest.fixture(scope="module")
def remote_exports(converted_checkpoints, tmp_path_factory):
    """family folder → its exported Hub folder, io tensors, lsgzoo models and what plain transformers (one
    subprocess for every family, lsgzoo not importable) loaded from the folder: class names, outputs, error."""
    root, exports = tmp_path_factory.mktemp("exports"), {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LSGMissingWeightsWarning)  # the base model's new pooler
        for name in exportable_families():
            family = family_of_case(first_conversion(name))
            checkpoint = converted_checkpoints(name)
            model = load_model(checkpoint).eval()
            base = load_model(checkpoint, task="base").eval()
            hub = write_hub_folder(model, root / f"hub_{name}")  # distinct names: distinct remote-code modules
            ids = torch.randint(5, model.config.vocab_size, (2, 100))
            ids[:, 0] = model.config.bos_token_id if model.config.bos_token_id is not None else 0
            mask = torch.ones_like(ids)
            mask[1, 80:] = 0
            io = {"input_ids": ids, "attention_mask": mask}
            if model.config.is_encoder_decoder:  # Pegasus's models make no decoder inputs of their own
                io["decoder_input_ids"] = torch.randint(5, model.config.vocab_size, (2, 7))
                io["decoder_input_ids"][:, 0] = model.config.decoder_start_token_id
            save_file(io, root / f"io_{name}.safetensors")
            head = family.head_named(type(model).__name__)
            exports[name] = {"family": family, "head": head, "model": model, "base": base, "hub": hub, "io": io,
                             "autos": [head.auto_class, family.heads[0].auto_class],
                             "result": root / f"result_{name}.safetensors"}
    entries = [{"name": name, "hub": str(e["hub"]), "io": str(root / f"io_{name}.safetensors"), "autos": e["autos"],
                "result": str(e["result"])} for name, e in exports.items()]
    script = EXPORT_CHECK.format(src=REPO_SRC, entries=entries)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_HOME"] = str(root / "hf")
    result = subprocess.run([sys.executable, "-I", "-c", script], cwd=root, env=env, capture_output=True, text=True)
    reports = {}
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            report = json.loads(line)
            reports[report["name"]] = report
    for name, export in exports.items():
        export["report"] = reports.get(name) or {
            "classes": [], "error": f"no report (exit {result.returncode}):\n{result.stderr[-3000:]}"}
    return exports


@pytest.mark.filterwarnings("ignore::lsgzoo.models.LSGMissingWeightsWarning")  # the base model's new pooler
@pytest.mark.parametrize("name", exportable_families())
def test_export_loads_without_lsgzoo_with_the_same_outputs(name, remote_exports):
    export = remote_exports[name]
    family, head, model, base, hub, io = (export[key] for key in ("family", "head", "model", "base", "hub", "io"))
    assert (hub / f"{family.code_module}.py").is_file()
    assert [path.name for path in hub.glob("*.py")] == [f"{family.code_module}.py"]
    card = (hub / "README.md").read_text()
    assert f"- {family.name}" in card and f"plain {family.display_name}" in card
    report = export["report"]
    assert report["error"] is None, report["error"]
    assert report["classes"] == [head.lsg_class, family.heads[0].lsg_class]
    remote = load_file(export["result"])
    with torch.no_grad():
        assert torch.equal(remote[head.auto_class], model(**io)[0])
        assert torch.equal(remote[family.heads[0].auto_class], base(**io)[0])
    if "greedy_ids" in remote:
        greedy = model.generate(io["input_ids"], attention_mask=io["attention_mask"], max_new_tokens=5, num_beams=1)
        assert torch.equal(remote["greedy_ids"], greedy)


@pytest.mark.parametrize("name", exportable_families())
def test_the_auto_class_trap_is_caught(name, converted_checkpoints):
    import transformers

    family = family_of_case(first_conversion(name))
    checkpoint = converted_checkpoints(name)
    head = family.head_named(json.loads((checkpoint / "config.json").read_text())["architectures"][0])
    plain = getattr(transformers, head.auto_class).from_pretrained(checkpoint)  # plain model, globals dropped
    assert type(plain).__name__ == head.base_class
    with pytest.raises(TypeError, match=f"plain transformers {family.display_name}.*load_model"):
        assert_lsg_model(plain)
    assert type(load_model(checkpoint)).__name__ == head.lsg_class
    source = FAMILY_FIXTURES / first_conversion(name)["source"]
    assert is_lsg_checkpoint(checkpoint) and not is_lsg_checkpoint(source)
    with pytest.raises(ValueError, match=f"not an LSG-{family.display_name} checkpoint"):
        load_model(source)
