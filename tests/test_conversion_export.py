"""BART → LSG-BART conversion (against the original converter's output), Hub export, CLI."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lsgzoo.hub import export_model, write_hub_folder
from lsgzoo.hub import export as export_module
from lsgzoo.models import load_model
from lsgzoo.models.conversion import convert_bart_to_lsg

FIXTURES = Path(__file__).parent / "fixtures" / "original"
SOURCE = FIXTURES / "convert_src_1024"


def assert_state_matches(model, reference_dir, skip=()):
    reference = load_file(reference_dir / "model.safetensors")
    state = model.state_dict()
    for key, value in reference.items():
        if any(part in key for part in skip):
            continue
        assert torch.equal(state[key], value), key


def test_conversion_equals_original_converter():
    model, tokenizer, report = convert_bart_to_lsg(SOURCE, 4096)
    assert_state_matches(model, FIXTURES / "convert_out_4096")
    assert report["new"] == []
    assert tokenizer.model_max_length == 4096
    assert model.config.max_position_embeddings == 4096
    io = load_file(FIXTURES / "convert_out_4096" / "io.safetensors")
    torch.manual_seed(777)
    logits = model(input_ids=io["input_ids"], attention_mask=io["attention_mask"],
                   decoder_input_ids=io["decoder_input_ids"]).logits
    torch.testing.assert_close(logits, io["logits"], atol=1e-5, rtol=0)


def test_conversion_to_classification_with_more_globals():
    model, _, report = convert_bart_to_lsg(SOURCE, 2048, architecture="BartForSequenceClassification",
                                           num_global_tokens=4)
    assert type(model).__name__ == "LSGBartForSequenceClassification"
    assert model.config.num_global_tokens == 4
    assert_state_matches(model, FIXTURES / "convert_out_2048_cls_g4", skip=("classification_head",))
    assert all(key.startswith("classification_head") for key in report["new"]) and report["new"]


def test_short_source_positions_follow_the_rule_on_reproducible_rows():
    model, _, _ = convert_bart_to_lsg(FIXTURES / "convert_src_64", 512)
    reference = load_file(FIXTURES / "convert_out_64_to_512" / "model.safetensors")
    state = model.state_dict()
    for key in ("model.encoder.embed_positions.weight", "model.decoder.embed_positions.weight"):
        assert torch.equal(state[key], reference[key])
    key = "model.encoder.global_embeddings.weight"
    rows = torch.arange(0, 512, 8)  # rows built from real source positions (the others are random draws)
    assert torch.equal(state[key][rows], reference[key][rows])


def test_lengths_the_original_tiles_short_get_a_full_table():
    model, _, _ = convert_bart_to_lsg(FIXTURES / "convert_src_64", 130)
    reference = load_file(FIXTURES / "convert_out_64_to_130_short" / "model.safetensors")
    table = model.state_dict()["model.encoder.embed_positions.weight"]
    short = reference["model.encoder.embed_positions.weight"]
    assert table.shape[0] == 132 and short.shape[0] == 130  # the original's table misses 2 rows
    assert torch.equal(table[:130], short)
    assert torch.equal(table[130:], table[2:4])  # rows keep cycling over the 64 source positions


def test_full_attention_lsg_equals_bart_layers_on_the_same_sequence():
    """With a block so large that attention is full, the LSG encoder is stock BART on [globals | tokens],
    and the LSG logits equal BART's decoder fed with that encoder output and the globals unmasked."""
    from transformers import BartForConditionalGeneration

    bart = BartForConditionalGeneration.from_pretrained(SOURCE).eval()
    lsg, _, _ = convert_bart_to_lsg(SOURCE, 4096, block_size=2048, sparse_block_size=0)
    ids = torch.randint(3, 100, (2, 300))
    decoder_ids = torch.randint(3, 100, (2, 6))
    with torch.no_grad():
        encoder = bart.model.encoder
        tokens = encoder.embed_tokens(ids) + encoder.embed_positions(ids)
        globals_ = lsg.model.encoder.global_embeddings.weight[:1].expand(2, 1, -1)
        hidden = encoder.layernorm_embedding(torch.cat([globals_, tokens], dim=1))
        for layer in encoder.layers:
            hidden = layer(hidden, attention_mask=None)
        lsg_out = lsg(input_ids=ids, decoder_input_ids=decoder_ids)
        torch.testing.assert_close(lsg_out.encoder_last_hidden_state, hidden, atol=1e-5, rtol=0)
        bart_logits = bart(encoder_outputs=(hidden,), decoder_input_ids=decoder_ids).logits
    torch.testing.assert_close(lsg_out.logits, bart_logits, atol=1e-5, rtol=0)


def test_converted_model_runs_at_four_times_bart_length():
    model, _, _ = convert_bart_to_lsg(SOURCE, 4096)
    ids = torch.randint(3, 100, (1, 4096))
    with torch.no_grad():
        out = model(input_ids=ids, decoder_input_ids=torch.tensor([[2, 5]]))
    assert out.encoder_last_hidden_state.shape == (1, 4097, 16) and torch.isfinite(out.logits).all()


def test_hub_name_path_resolves_from_the_cache(tmp_path):
    """`SRC` as a hub name goes through huggingface_hub's resolution (here from an offline cache)."""
    snapshot = tmp_path / "hub" / "models--lsgzoo-test--tiny-bart" / "snapshots" / ("a" * 40)
    shutil.copytree(SOURCE, snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("a" * 40)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}
    out = tmp_path / "converted"
    result = subprocess.run([sys.executable, "-m", "lsgzoo", "convert", "lsgzoo-test/tiny-bart", str(out),
                             "--max-length", "2048"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "config.json").read_text())["max_position_embeddings"] == 2048


WITHOUT_LSGZOO = """
import sys
import os
sys.path = [p for p in sys.path if os.path.realpath(p or ".") != os.path.realpath({src!r})
            and not os.path.isdir(os.path.join(p or ".", "lsgzoo"))]
try:
    import lsgzoo
    raise SystemExit("lsgzoo must not be importable here: " + lsgzoo.__file__)
except ImportError:
    pass
"""  # the start of a subprocess script (a str.format template): lsgzoo is not importable after it, while the
# environment's site-packages stay (a checkout path may well contain "lsgzoo": only the src dir and package dirs go)
REPO_SRC = str(Path(__file__).parents[1] / "src")  # its `src` value
EXPORT_CHECK = WITHOUT_LSGZOO + """import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForSeq2SeqLM, AutoModelForSequenceClassification
io = load_file({io!r})
out = {{}}
seq2seq = AutoModelForSeq2SeqLM.from_pretrained({seq2seq!r}, trust_remote_code=True)
torch.manual_seed(0)
out["logits"] = seq2seq(input_ids=io["input_ids"], attention_mask=io["attention_mask"],
                        decoder_input_ids=io["decoder_input_ids"]).logits
out["greedy"] = seq2seq.generate(io["input_ids"], attention_mask=io["attention_mask"], max_new_tokens=5, num_beams=1)
out["beam"] = seq2seq.generate(io["input_ids"], attention_mask=io["attention_mask"], max_new_tokens=5, num_beams=2)
classifier = AutoModelForSequenceClassification.from_pretrained({cls!r}, trust_remote_code=True)
torch.manual_seed(0)
out["cls_logits"] = classifier(input_ids=io["input_ids"], attention_mask=io["attention_mask"]).logits
save_file({{k: v.contiguous() for k, v in out.items()}}, {result!r})
"""


def test_export_round_trip_without_lsgzoo(tmp_path):
    seq2seq_dir = export_model(FIXTURES / "s2s_norm", tmp_path / "s2s")
    cls_dir = export_model(FIXTURES / "cls_norm", tmp_path / "cls")
    files = {p.name for p in seq2seq_dir.iterdir()}
    assert {"config.json", "model.safetensors", "modeling_lsg_bart.py", "README.md"} <= files
    config = json.loads((seq2seq_dir / "config.json").read_text())
    assert config["auto_map"]["AutoModelForSeq2SeqLM"] == "modeling_lsg_bart.LSGBartForConditionalGeneration"
    card = (seq2seq_dir / "README.md").read_text()
    assert card.startswith("---\n") and "pipeline_tag: summarization" in card and "trust_remote_code=True" in card

    io_path = FIXTURES / "s2s_norm" / "io.safetensors"
    script = EXPORT_CHECK.format(src=REPO_SRC, io=str(io_path),
                                 seq2seq=str(seq2seq_dir), cls=str(cls_dir), result=str(tmp_path / "out.safetensors"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_HOME"] = str(tmp_path / "hf")
    result = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    remote = load_file(tmp_path / "out.safetensors")

    io = load_file(io_path)
    local = load_model(FIXTURES / "s2s_norm").eval()
    classifier = load_model(FIXTURES / "cls_norm").eval()
    with torch.no_grad():
        logits = local(input_ids=io["input_ids"], attention_mask=io["attention_mask"],
                       decoder_input_ids=io["decoder_input_ids"]).logits
        cls_logits = classifier(input_ids=io["input_ids"], attention_mask=io["attention_mask"]).logits
    torch.testing.assert_close(remote["logits"], logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(remote["cls_logits"], cls_logits, atol=1e-5, rtol=0)
    greedy = local.generate(io["input_ids"], attention_mask=io["attention_mask"], max_new_tokens=5, num_beams=1)
    beam = local.generate(io["input_ids"], attention_mask=io["attention_mask"], max_new_tokens=5, num_beams=2)
    assert torch.equal(remote["greedy"], greedy) and torch.equal(remote["beam"], beam)


def test_export_is_atomic_and_never_overwrites_by_accident(tmp_path, monkeypatch):
    model = load_model(FIXTURES / "s2s_norm")
    out = tmp_path / "export"

    def broken(*family):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export_module, "model_code", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_hub_folder(model, out)
    assert list(tmp_path.iterdir()) == []  # no half folder, no staging left behind
    monkeypatch.undo()
    write_hub_folder(model, out)
    with pytest.raises(FileExistsError, match="overwrite"):
        write_hub_folder(model, out)
    marker = out / "README.md"
    before = marker.read_text()
    monkeypatch.setattr(export_module, "model_code", broken)
    with pytest.raises(RuntimeError):
        write_hub_folder(model, out, overwrite=True)
    assert marker.read_text() == before  # a failed overwrite keeps the previous export intact


def test_generated_code_is_self_contained():
    code = export_module.model_code()
    import re

    assert not re.search(r"^\s*(from|import) lsgzoo", code, re.M)
    # the model classes are built by `define_bart_like` (heads from the row, `define_lsg_heads`);
    # test_single_source imports the file and finds them
    for name in ('define_bart_like(globals(), "Bart", modeling_bart', "def define_bart_like", "def define_lsg_heads",
                 "def define_lsg_config", "class NormSelector", "def sparse_window_index"):
        assert name in code


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "lsgzoo", *args], capture_output=True, text=True, env=env)


def test_cli_help_is_helpful_and_light():
    for args in ([], ["convert"], ["export"]):
        result = run_cli(*args, "--help")
        assert result.returncode == 0 and "usage: lsgzoo" in result.stdout
    assert "--max-length" in run_cli("convert", "--help").stdout
    probe = "import sys, lsgzoo.cli; lsgzoo.cli.build_parser(); print(sorted(m for m in ('torch', 'lightning', 'transformers') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "[]"


@pytest.mark.parametrize("args,message", [
    (["convert", str(SOURCE), "OUT", "--max-length", "0"], "must be a positive integer"),
    (["convert", str(SOURCE), "OUT", "--sparsity-factor", "3"], "sparsity_factor"),
    (["convert", str(SOURCE), "OUT", "--sparsity-type", "nrom"], "registered selector"),
    (["convert", str(SOURCE), "OUT", "--architecture", "BertModel"], "cannot be converted"),
    (["convert", str(SOURCE), "OUT", "--num-global-tokens", "-1"], "num_global_tokens=-1 is out of range: it must "
                                                                   "be an integer in [1, 512]"),
    (["export", "does/not/exist", "OUT"], "does/not/exist: no such folder"),
    (["export", str(SOURCE), "OUT"], "not an LSG-BART checkpoint"),
])
def test_cli_bad_arguments_fail_clearly(tmp_path, args, message):
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    result = run_cli(*args)
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_convert_then_export(tmp_path):
    converted = tmp_path / "lsg"
    assert run_cli("convert", str(SOURCE), str(converted), "--max-length", "2048", "--block-size", "64",
                   "--sparsity-type", "pooling", "--sparsity-factor", "4").returncode == 0
    config = json.loads((converted / "config.json").read_text())
    assert (config["block_size"], config["sparsity_type"], config["sparsity_factor"]) == (64, "pooling", 4)
    assert json.loads((converted / "tokenizer_config.json").read_text())["model_max_length"] == 2048
    result = run_cli("export", str(converted), str(tmp_path / "hub"), "--task", "base")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "hub" / "config.json").read_text())["architectures"] == ["LSGBartModel"]
