"""LSG-DistilBERT and LSG-ALBERT against the original's recorded fixtures (tests/fixtures/original_families),
the converter's output tensor by tensor, export loaded by plain transformers, and the Auto-class trap.

Fixture quirk (transformers 4.44, not lsgzoo): ALBERT's MLM head loses its `predictions.bias` when 4.44 reloads
its own safetensors file (the decoder bias is re-tied to a fresh zero tensor), so the original's recorded MLM
logits and its converted `predictions.bias` are those of a zero bias. lsgzoo (transformers 5) keeps the bias,
as plain ALBERT does; the replay zeroes it to reproduce the recorded model, and the conversion keeps the source's.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from lsgzoo.cli import main as cli
from lsgzoo.hub import export_model
from lsgzoo.models import assert_lsg_model, family_named, is_lsg_checkpoint, load_model
from lsgzoo.models.conversion import convert_to_lsg
from test_bert_family import EXPORT_CHECK  # the remote-code check (AutoModelForMaskedLM + AutoModel)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "original_families"
FAMILIES = ("distilbert", "albert")
# one case per head kind, plus lsh (seeded draws) and mask_first_token
CASES = ("base_norm", "mlm_lsh", "mlm_norm_maskfirst", "cls_norm", "tok_pooling", "qa_lsh", "mc_stride")
OUTPUTS = ("last_hidden_state", "pooler_output", "logits", "start_logits", "end_logits")
TIED_KEYS = ("vocab_projector.weight", "predictions.decoder.weight", "predictions.decoder.bias")


def replay(model, io, seed):
    """The recorded calls (torch.manual_seed(seed) right before each) → {fixture tensor name: max-abs diff}."""
    ids, mask = io["input_ids"], io["attention_mask"]
    if type(model).__name__.endswith("MultipleChoice"):
        ids, mask = ids.view(1, 2, -1), mask.view(1, 2, -1)
    hidden = "hidden_states_0" in io
    torch.manual_seed(seed)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask.clone(), output_hidden_states=hidden or None)
    got = {name: getattr(out, name) for name in OUTPUTS if name in io}
    if hidden:
        got.update({f"hidden_states_{i}": h for i, h in enumerate(out.hidden_states)})
    if "inputs_embeds" in io:
        torch.manual_seed(seed)
        with torch.no_grad():
            out = model(inputs_embeds=io["inputs_embeds"], attention_mask=mask.clone())
        got.update({f"embeds_{name}": getattr(out, name) for name in OUTPUTS if f"embeds_{name}" in io})
    assert got
    return {name: (value - io[name]).abs().max().item() for name, value in got.items()}


def as_recorded(model):
    """The model as transformers 4.44 reloaded it for the recording (see the module docstring)."""
    if hasattr(model, "predictions"):
        with torch.no_grad():
            model.predictions.bias.zero_()
    return model


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("family", FAMILIES)
def test_forward_equals_the_original(family, case):
    folder = FIXTURES / family / case
    meta = json.loads((folder / "case.json").read_text())
    model = load_model(folder).eval()
    assert type(model).__name__ == meta["architecture"]
    diffs = replay(as_recorded(model), load_file(folder / "io.safetensors"), meta["seed"])
    assert max(diffs.values()) < 1e-5, diffs


@pytest.mark.parametrize("family", FAMILIES)
def test_conversion_equals_the_original(family):
    out = FIXTURES / family / f"convert_out_{family}"
    meta = json.loads((out / "convert.json").read_text())
    call, init = meta["convert_from_pretrained"], meta["converter_init"]
    model, _, report = convert_to_lsg(FIXTURES / family / call["model_name_or_path"], init["max_sequence_length"],
                                      architecture=call["architecture"], **call["model_kwargs"])
    assert type(model).__name__ == meta["architecture"] and not report["new"] and not report["dropped"]
    reference, state = load_file(out / "model.safetensors"), model.state_dict()
    assert set(state) - set(reference) <= set(TIED_KEYS) and set(reference) <= set(state)
    source = load_file(FIXTURES / family / call["model_name_or_path"] / "model.safetensors")
    for key, expected in reference.items():
        if key == "predictions.bias":  # the original's is zero (transformers 4.44 dropped it): lsgzoo keeps it
            assert torch.equal(state[key], source[key])
            continue
        assert torch.equal(state[key], expected), key
    assert max(replay(as_recorded(model), load_file(out / "io.safetensors"), meta["seed"]).values()) < 1e-5


def test_distilbert_takes_inputs_embeds():
    """The original crashes on `inputs_embeds`; lsgzoo equals the ids path."""
    folder = FIXTURES / "distilbert" / "base_none"
    io = load_file(folder / "io.safetensors")
    model = load_model(folder).eval()
    with torch.no_grad():
        from_ids = model(input_ids=io["input_ids"], attention_mask=io["attention_mask"]).last_hidden_state
        embeds = model.get_input_embeddings()(io["input_ids"])
        from_embeds = model(inputs_embeds=embeds, attention_mask=io["attention_mask"]).last_hidden_state
    assert torch.equal(from_ids, from_embeds)


def test_albert_pretraining_head():
    folder = FIXTURES / "albert" / "mlm_lsh"
    model = load_model(folder, task="pretraining").eval()
    assert type(model).__name__ == "LSGAlbertForPreTraining"
    io = load_file(folder / "io.safetensors")
    with torch.no_grad():
        out = model(input_ids=io["input_ids"], attention_mask=io["attention_mask"])
    assert out.prediction_logits.shape == (2, 75, 64) and out.sop_logits.shape == (2, 2)


@pytest.fixture(scope="module", params=FAMILIES)
def converted(request, tmp_path_factory):
    """The family's tiny plain source converted with `lsgzoo convert` (1024 tokens, blocks of 16)."""
    family = request.param
    out = tmp_path_factory.mktemp(family) / "lsg"
    source = FIXTURES / family / f"convert_src_{family}"
    assert cli(["convert", str(source), str(out), "--max-length", "1024", "--block-size", "16",
                "--sparse-block-size", "16", "--num-global-tokens", "2"]) == 0
    return family, source, out




def test_export_loads_without_lsgzoo_with_the_same_outputs(converted, tmp_path):
    family, _, out = converted
    row = family_named(family)
    hub = export_model(out, tmp_path / "hub")
    assert sorted(path.name for path in hub.glob("*.py")) == [f"{row.code_module}.py"]
    card = (hub / "README.md").read_text()
    assert f"- {family}" in card and f"plain {row.display_name}" in card
    io = load_file(FIXTURES / family / f"convert_out_{family}" / "io.safetensors")
    save_file(io, tmp_path / "io.safetensors")
    script = EXPORT_CHECK.format(io=str(tmp_path / "io.safetensors"), hub=str(hub),
                                 result=str(tmp_path / "r.safetensors"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_HOME"] = str(tmp_path / "hf")
    result = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-2:] == [row.head_named("AutoModelForMaskedLM").lsg_class, row.heads[0].lsg_class]
    remote = load_file(tmp_path / "r.safetensors")
    with torch.no_grad():
        logits = load_model(out, task="masked-lm").eval()(**io).logits
        hidden = load_model(out, task="base").eval()(**io).last_hidden_state
    assert torch.equal(remote["logits"], logits) and torch.equal(remote["hidden"], hidden)


def test_the_auto_class_trap_is_caught(converted):
    import transformers
    from transformers import AutoModelForMaskedLM

    family, source, out = converted
    row = family_named(family)
    plain = AutoModelForMaskedLM.from_pretrained(out)  # the silent trap: plain model, globals dropped
    assert type(plain) is getattr(transformers, row.head_named("AutoModelForMaskedLM").base_class)
    with pytest.raises(TypeError, match=f"plain transformers {row.display_name}.*load_model"):
        assert_lsg_model(plain)
    assert is_lsg_checkpoint(out) and not is_lsg_checkpoint(source)
    with pytest.raises(ValueError, match=f"not an LSG-{row.display_name} checkpoint"):
        load_model(source)
