"""Replay the golden fixtures of the ORIGINAL LSG (any family) with lsgzoo's models.

For every model case of tests/fixtures/original/index.json (LSG-BART) or
tests/fixtures/original_families/index.json (the other families; case names
"<family>/<case>"): load the folder with the lsgzoo class named by case.json
(found through the family table), repeat each recorded call with the seeding
protocol (torch.manual_seed(case["seed"]) right before every call, a fresh clone
of the attention mask for each call) and return the max-abs difference of every
recorded tensor. The calls follow the class's head (its Auto class in the table).

    python tests/compat/fixture_report.py                    # table of max-abs diffs per case
    python tests/compat/fixture_report.py s2s_lsh            # one case, per tensor
    python tests/compat/fixture_report.py --families         # the other families' cases lsgzoo has
"""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "original"
FAMILY_FIXTURES = FIXTURES.parent / "original_families"
INTEGER_TENSORS = ("greedy_ids", "beam_ids")  # compared exactly (as a 0/1 "diff")


def model_cases(root: Path = FIXTURES) -> list[dict]:
    index = json.loads((root / "index.json").read_text())
    return [case for case in index["cases"] if case["kind"] == "model"]


def family_model_cases(root: Path = FAMILY_FIXTURES) -> list[dict]:
    """The model cases of `root` whose checkpoint's model_type has a family in lsgzoo's table."""
    from lsgzoo.models.families import family_for_model_type

    cases = []
    for case in model_cases(root):
        try:
            family_for_model_type(case["base_model_type"])
        except ValueError:
            continue
        cases.append(case)
    return cases


def model_class(architecture: str):
    """The lsgzoo class called `architecture`, through the family table."""
    from lsgzoo.models.families import family_of_class
    from lsgzoo.models.loading import lsg_classes

    family = family_of_class(architecture)
    if family is None:
        raise ValueError(f"no family in lsgzoo has the class {architecture}")
    return lsg_classes(family)[architecture]


def head_auto_class(architecture: str) -> str:
    """The Auto class of the head `architecture` (what its recorded calls are)."""
    from lsgzoo.models.families import family_of_class

    return family_of_class(architecture).head_named(architecture).auto_class


def replay_case(name: str, attn_implementation: str | None = None, root: Path = FIXTURES) -> dict[str, torch.Tensor]:
    """Run the recorded calls of one case; returns {tensor name: our output} for every recorded output."""
    folder = root / name
    case = json.loads((folder / "case.json").read_text())
    io = load_file(str(folder / "io.safetensors"))
    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    model = model_class(case["architecture"]).from_pretrained(str(folder), **kwargs)
    model.eval()
    seed = case["seed"]
    ids = io["input_ids"]
    dec = io.get("decoder_input_ids")

    def mask():
        return io["attention_mask"].clone() if case.get("attention_mask_passed", True) else None

    got = {}
    head = head_auto_class(case["architecture"])
    with torch.no_grad():
        if head == "AutoModelForSeq2SeqLM":
            torch.manual_seed(seed)
            out = model(input_ids=ids, attention_mask=mask(), decoder_input_ids=dec, output_hidden_states=True)
            got["logits"] = out.logits
            got["encoder_last_hidden_state"] = out.encoder_last_hidden_state
            for i, state in enumerate(out.encoder_hidden_states):
                got[f"encoder_hidden_states_{i}"] = state
            if "greedy_ids" in case["tensors"]:
                gen_cfg = case["generate"]
                torch.manual_seed(seed)
                gen = model.generate(input_ids=ids, attention_mask=mask(), **gen_cfg["greedy_ids"],
                                     **gen_cfg["output_kwargs"])
                got["greedy_ids"] = gen.sequences
                got["greedy_logits"] = torch.stack(gen.logits, dim=0)
                torch.manual_seed(seed)
                gen = model.generate(input_ids=ids, attention_mask=mask(), **gen_cfg["beam_ids"],
                                     **gen_cfg["output_kwargs"])
                got["beam_ids"] = gen.sequences
                got["beam_sequences_scores"] = gen.sequences_scores
        elif head == "AutoModelForSequenceClassification":
            torch.manual_seed(seed)
            out = model(input_ids=ids, attention_mask=mask())
            got["logits"] = out.logits
            got["encoder_last_hidden_state"] = out.encoder_last_hidden_state
        elif head == "AutoModelForQuestionAnswering":
            torch.manual_seed(seed)
            out = model(input_ids=ids, attention_mask=mask())
            got["start_logits"] = out.start_logits
            got["end_logits"] = out.end_logits
            got["encoder_last_hidden_state"] = out.encoder_last_hidden_state
        elif head == "AutoModel" and dec is not None:
            torch.manual_seed(seed)
            out = model(input_ids=ids, attention_mask=mask(), decoder_input_ids=dec, output_hidden_states=True)
            got["last_hidden_state"] = out.last_hidden_state
            got["encoder_last_hidden_state"] = out.encoder_last_hidden_state
            for i, state in enumerate(out.encoder_hidden_states):
                got[f"encoder_hidden_states_{i}"] = state
            if "inputs_embeds" in io:
                torch.manual_seed(seed)
                out = model(inputs_embeds=io["inputs_embeds"], attention_mask=mask(), decoder_input_ids=dec)
                got["embeds_last_hidden_state"] = out.last_hidden_state
                got["embeds_encoder_last_hidden_state"] = out.encoder_last_hidden_state
        else:
            raise ValueError(f"{name}: no replay for the head {head} of {case['architecture']}")
    return got


def case_diffs(name: str, attn_implementation: str | None = None, root: Path = FIXTURES) -> dict[str, float]:
    """{tensor name: max-abs diff} for every recorded output of the case (ids: 0.0 if identical, else inf)."""
    folder = root / name
    want = load_file(str(folder / "io.safetensors"))
    got = replay_case(name, attn_implementation, root)
    inputs = {"input_ids", "attention_mask", "decoder_input_ids", "inputs_embeds"}
    diffs = {}
    for key in sorted(set(want) - inputs):
        if key not in got:
            diffs[key] = float("nan")  # recorded but not reproduced: reported as a failure
            continue
        if got[key].shape != want[key].shape:
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
            print(f"  {name:34s} {diff:.3g}")


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)  # as recorded
    root = FIXTURES
    if argv[:1] == ["--families"]:
        root, argv = FAMILY_FIXTURES, argv[1:]
        names = argv or [case["name"] for case in family_model_cases()]
    else:
        names = argv or [case["name"] for case in model_cases()]
    worst = 0.0
    for name in names:
        diffs = case_diffs(name, root=root)
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
