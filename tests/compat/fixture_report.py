"""Replay the golden fixtures of the ORIGINAL LSG-BART with lsgzoo's models.

For every model case of tests/fixtures/original/index.json: load the folder with
the lsgzoo class named by case.json, repeat each recorded call with the seeding
protocol (torch.manual_seed(case["seed"]) right before every call, a fresh clone
of the attention mask for each call) and return the max-abs difference of every
recorded tensor.

    python tests/compat/fixture_report.py            # table of max-abs diffs per case
    python tests/compat/fixture_report.py s2s_lsh    # one case, per tensor
"""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "original"
INTEGER_TENSORS = ("greedy_ids", "beam_ids")  # compared exactly (as a 0/1 "diff")


def model_cases() -> list[dict]:
    index = json.loads((FIXTURES / "index.json").read_text())
    return [case for case in index["cases"] if case["kind"] == "model"]


def model_class(architecture: str):
    import lsgzoo.models as models

    return getattr(models, architecture)


def replay_case(name: str, attn_implementation: str | None = None) -> dict[str, torch.Tensor]:
    """Run the recorded calls of one case; returns {tensor name: our output} for every recorded output."""
    folder = FIXTURES / name
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
    arch = case["architecture"]
    with torch.no_grad():
        if arch == "LSGBartForConditionalGeneration":
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
        elif arch == "LSGBartForSequenceClassification":
            torch.manual_seed(seed)
            out = model(input_ids=ids, attention_mask=mask())
            got["logits"] = out.logits
            got["encoder_last_hidden_state"] = out.encoder_last_hidden_state
        elif arch == "LSGBartForQuestionAnswering":
            torch.manual_seed(seed)
            out = model(input_ids=ids, attention_mask=mask())
            got["start_logits"] = out.start_logits
            got["end_logits"] = out.end_logits
            got["encoder_last_hidden_state"] = out.encoder_last_hidden_state
        elif arch == "LSGBartModel":
            torch.manual_seed(seed)
            out = model(input_ids=ids, attention_mask=mask(), decoder_input_ids=dec, output_hidden_states=True)
            got["last_hidden_state"] = out.last_hidden_state
            got["encoder_last_hidden_state"] = out.encoder_last_hidden_state
            for i, state in enumerate(out.encoder_hidden_states):
                got[f"encoder_hidden_states_{i}"] = state
            torch.manual_seed(seed)
            out = model(inputs_embeds=io["inputs_embeds"], attention_mask=mask(), decoder_input_ids=dec)
            got["embeds_last_hidden_state"] = out.last_hidden_state
            got["embeds_encoder_last_hidden_state"] = out.encoder_last_hidden_state
        else:
            raise ValueError(f"unknown architecture {arch}")
    return got


def case_diffs(name: str, attn_implementation: str | None = None) -> dict[str, float]:
    """{tensor name: max-abs diff} for every recorded output of the case (ids: 0.0 if identical, else inf)."""
    folder = FIXTURES / name
    want = load_file(str(folder / "io.safetensors"))
    got = replay_case(name, attn_implementation)
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
