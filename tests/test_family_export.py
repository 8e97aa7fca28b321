"""Convert (CLI) → export (CLI) → plain transformers with `trust_remote_code=True`, for every family
that has a recorded conversion of the original (tests/fixtures/original_families, selected through
the family table; BART's own round trip: test_conversion_export.py).

The exported folder is loaded in a subprocess where lsgzoo cannot be imported, through the Auto
class of the converted head, and must give lsgzoo's outputs (and the original's recorded ones).
Without remote code, transformers' Auto class returns the plain family model from an LSG folder:
`assert_lsg_model` must catch it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import transformers
from safetensors.torch import load_file
from test_conversion_export import WITHOUT_LSGZOO
from test_family_fixtures import CONVERT_CASES, INPUTS, TOLERANCE, original_conversion

from lsgzoo.models import assert_lsg_model, load_model
from lsgzoo.models.families import family_of_config

REMOTE_CHECK = WITHOUT_LSGZOO + """
import torch
import transformers
from safetensors.torch import load_file, save_file
io = load_file({io!r})
inputs = {{key: io[key] for key in {inputs!r} if key in io}}
model = getattr(transformers, {auto!r}).from_pretrained({folder!r}, trust_remote_code=True).eval()
out = {{"class_module": torch.tensor([int(type(model).__module__.startswith("transformers_modules"))])}}
with torch.no_grad():
    torch.manual_seed({seed})
    result = model(**inputs)
    for key in {outputs!r}:
        out[key] = getattr(result, key)
    if {generate!r}:
        out["greedy"] = model.generate(io["input_ids"], attention_mask=io["attention_mask"], max_new_tokens=5,
                                       num_beams=1)
save_file({{k: v.contiguous() for k, v in out.items()}}, {result!r})
"""


def cli(*args):
    result = subprocess.run([sys.executable, "-m", "lsgzoo", *map(str, args)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("name", CONVERT_CASES)
def test_convert_export_round_trip_without_lsgzoo(name, tmp_path):
    source, original, record = original_conversion(name)
    settings = record["convert_from_pretrained"]["model_kwargs"]
    options = [item for key, value in settings.items() for item in (f"--{key.replace('_', '-')}", value)]
    converted, hub = tmp_path / "lsg", tmp_path / "hub"
    cli("convert", source, converted, "--max-length", record["converter_init"]["max_sequence_length"], *options)
    cli("export", converted, hub)

    config = json.loads((hub / "config.json").read_text())
    family = family_of_config(config)
    head = family.head_named(config["architectures"][0])
    assert (hub / f"{family.code_module}.py").is_file() and config["auto_map"] == family.auto_map()
    assert config["model_type"] == json.loads((source / "config.json").read_text())["model_type"]

    io_path = original / "io.safetensors"
    io = load_file(io_path)
    outputs = sorted(set(io) - INPUTS)
    seq2seq = head.auto_class == "AutoModelForSeq2SeqLM"
    script = REMOTE_CHECK.format(src=str(Path(__file__).parents[1] / "src"), io=str(io_path), inputs=sorted(INPUTS),
                                 auto=head.auto_class, folder=str(hub), seed=record["seed"], outputs=outputs,
                                 generate=seq2seq, result=str(tmp_path / "out.safetensors"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_HOME"] = str(tmp_path / "hf")
    result = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    remote = load_file(tmp_path / "out.safetensors")
    assert remote["class_module"].item() == 1  # the shipped code, not transformers' plain class

    local = load_model(converted).eval()
    with torch.no_grad():
        torch.manual_seed(record["seed"])
        expected = local(**{key: io[key] for key in INPUTS & set(io)})
    for key in outputs:
        torch.testing.assert_close(remote[key], getattr(expected, key), atol=TOLERANCE, rtol=0)
        torch.testing.assert_close(remote[key], io[key], atol=TOLERANCE, rtol=0)  # the original's
    if seq2seq:
        greedy = local.generate(io["input_ids"], attention_mask=io["attention_mask"], max_new_tokens=5, num_beams=1)
        assert torch.equal(remote["greedy"], greedy)

    plain = getattr(transformers, head.auto_class).from_pretrained(converted)  # the Auto trap
    assert type(plain).__name__ == head.base_class
    with pytest.raises(TypeError, match=f"LSG-{family.display_name} checkpoint"):
        assert_lsg_model(plain)
