"""Replay the golden fixtures of the ORIGINAL LSG with lsgzoo's models, for any family.

Two fixture roots: tests/fixtures/original (LSG-BART) and tests/fixtures/original_families (the
other families, one folder per family). For every model case: load the folder with the lsgzoo class
named by case.json, repeat each recorded call with the seeding protocol (torch.manual_seed(case["seed"])
right before every call, a fresh clone of the attention mask for each call) and return the max-abs
difference of every recorded tensor. The calls follow from what io.safetensors holds:

* a forward with input_ids / attention_mask (/ decoder_input_ids), with output_hidden_states when hidden
  states were recorded; every tensor field of the output is taken under its name, hidden-state tuples
  as `<name>_<i>`; multiple-choice heads get the inputs viewed as (1, n, t);
* with `inputs_embeds` recorded, a second forward on them, its fields prefixed `embeds_`;
* with `greedy_ids` recorded, greedy and beam `generate` (case.json's "generate" settings).

    python tests/compat/fixture_report.py                  # table of max-abs diffs per BART case
    python tests/compat/fixture_report.py s2s_lsh          # one BART case, per tensor
    python tests/compat/fixture_report.py roberta/mlm_lsh  # a case of another family
"""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "original"
FAMILY_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "original_families"
INTEGER_TENSORS = ("greedy_ids", "beam_ids")  # compared exactly (as a 0/1 "diff")
INPUTS = ("input_ids", "attention_mask", "decoder_input_ids", "inputs_embeds")


def model_cases(root: Path = FIXTURES) -> list[dict]:
    index = json.loads((root / "index.json").read_text())
    return [case for case in index["cases"] if case["kind"] == "model"]


def case_folder(name) -> Path:
    """A case's folder: a path, a BART case name ("s2s_lsh") or "<family>/<case>" of the family fixtures."""
    if isinstance(name, Path):
        return name
    return FIXTURES / name if (FIXTURES / name).is_dir() else FAMILY_FIXTURES / name


def model_class(architecture: str):
    """The lsgzoo class of an LSG architecture name, through the family table."""
    from lsgzoo.models import lsg_classes
    from lsgzoo.models.families import family_of_class

    family = family_of_class(architecture)
    if family is None:
        raise ValueError(f"no family of lsgzoo has the class {architecture}")
    return lsg_classes(family)[architecture]


def output_tensors(output, prefix: str = "") -> dict[str, torch.Tensor]:
    """{name: tensor} of a model output's tensor fields; tuples of tensors as name_0, name_1, ..."""
    got = {}
    for key, value in output.items():
        if isinstance(value, torch.Tensor):
            got[prefix + key] = value
        elif isinstance(value, tuple) and value and all(isinstance(v, torch.Tensor) for v in value):
            got.update({f"{prefix}{key}_{i}": v for i, v in enumerate(value)})
    return got


def replay_generate(model, case: dict, inputs: dict) -> dict[str, torch.Tensor]:
    """The recorded greedy and beam `generate` calls (seeded; `inputs()` gives input_ids and attention_mask,
    no decoder_input_ids), as greedy_ids/greedy_logits and beam_ids/beam_sequences_scores."""
    settings = case["generate"]
    got = {}
    for kind in ("greedy", "beam"):
        torch.manual_seed(case["seed"])
        generated = model.generate(**inputs(), **settings[f"{kind}_ids"], **settings["output_kwargs"])
        got[f"{kind}_ids"] = generated.sequences
        if kind == "greedy":
            got["greedy_logits"] = torch.stack(generated.logits, dim=0)
        else:
            got["beam_sequences_scores"] = generated.sequences_scores
    return got


# The biases the original's transformers (4.44) lost when it reloaded a saved checkpoint, per family: they came
# back from `from_pretrained` at zero whatever the file held (the tied LM bias of RoBERTa-style `*LMHead`s,
# plain models too; ALBERT's `predictions.bias`, re-tied to a fresh zero tensor). So the recorded logits and
# the original's converted checkpoints carry zeros there; lsgzoo (transformers 5) keeps the stored values.
LOST_ON_RELOAD = {
    "roberta": ("lm_head.bias",),
    "xlm_roberta": ("lm_head.bias",),
    "camembert": ("lm_head.bias",),
    "albert": ("predictions.bias",),
}


def lost_on_reload(model) -> list[str]:
    """The parameters of this model that the original's transformers reloaded as zeros (`LOST_ON_RELOAD`)."""
    names = dict(model.named_parameters(remove_duplicate=False))
    return [key for key in LOST_ON_RELOAD.get(model.config.lsg_family().name, ()) if key in names]


def as_the_original_loaded(model):
    """The model as the original's transformers had it for the recorded calls: `lost_on_reload` zeroed."""
    with torch.no_grad():
        for key in lost_on_reload(model):
            model.get_parameter(key).zero_()
    return model


def replay_case(name, attn_implementation: str | None = None) -> dict[str, torch.Tensor]:
    """Run the recorded calls of one case; returns {tensor name: our output} for every recorded output."""
    folder = case_folder(name)
    case = json.loads((folder / "case.json").read_text())
    io = load_file(str(folder / "io.safetensors"))
    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    model = model_class(case["architecture"]).from_pretrained(str(folder), **kwargs)
    as_the_original_loaded(model.eval())
    family = model.config.lsg_family()
    choices = family.head_named(case["architecture"]).auto_class == "AutoModelForMultipleChoice"

    def view(x):  # multiple choice: (n, t) recorded → (1, n, t)
        return x.unsqueeze(0) if choices and x is not None else x

    def inputs(source: str = "input_ids", decoder: bool = True):
        mask = io["attention_mask"].clone() if case.get("attention_mask_passed", True) else None
        given = {source: view(io[source]), "attention_mask": view(mask)}
        if decoder and "decoder_input_ids" in io:
            given["decoder_input_ids"] = io["decoder_input_ids"]
        return given

    hidden = any(key.split("_")[-1].isdigit() and "hidden_states" in key for key in io)
    got = {}
    with torch.no_grad():
        torch.manual_seed(case["seed"])
        got.update(output_tensors(model(**inputs(), output_hidden_states=hidden or None)))
        if "inputs_embeds" in io:
            torch.manual_seed(case["seed"])
            got.update(output_tensors(model(**inputs("inputs_embeds")), "embeds_"))
        if "greedy_ids" in io:
            got.update(replay_generate(model, case, lambda: inputs(decoder=False)))
    return got


def case_diffs(name, attn_implementation: str | None = None) -> dict[str, float]:
    """{tensor name: max-abs diff} for every recorded output of the case (ids: 0.0 if identical, else inf)."""
    want = load_file(str(case_folder(name) / "io.safetensors"))
    got = replay_case(name, attn_implementation)
    diffs = {}
    for key in sorted(set(want) - set(INPUTS)):
        if key not in got:
            diffs[key] = float("nan")  # recorded but not reproduced: reported as a failure
        elif got[key].shape != want[key].shape:
            diffs[key] = float("inf")
        elif key in INTEGER_TENSORS:
            diffs[key] = 0.0 if torch.equal(got[key], want[key]) else float("inf")
        else:
            diffs[key] = (got[key].float() - want[key].float()).abs().max().item()
    return diffs


def print_max_diffs(title: str, max_diffs: dict[str, float]) -> None:
    """The per-case table the fixture tests print under `-s`."""
    if max_diffs:
        print(f"\nmax-abs diff vs the original {title}, per fixture case:")
        for name, diff in max_diffs.items():
            print(f"  {name:40s} {diff:.3g}")


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)  # as recorded
    names = argv or [case["name"] for case in model_cases()]
    worst = 0.0
    for name in names:
        diffs = case_diffs(name)
        case_max = max(diffs.values())
        worst = max(worst, case_max)
        if len(names) == 1:
            for key, value in diffs.items():
                print(f"  {key:36s} {value:.3g}")
        print(f"{name:34s} max-abs diff {case_max:.3g}")
    print(f"worst: {worst:.3g}")
    return 0 if worst <= 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
