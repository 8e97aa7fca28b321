"""LSG-BERT, the first family added through the family table: conversion, export, loading, the Auto trap.

Parity of the forward and of the converter with the original was measured with tests/compat/bert_parity.py
(exact with lsg_backend="eager"); recorded fixtures of the original are tested elsewhere.
"""

import ast
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lsgzoo.cli import main as cli
from lsgzoo.hub import export_model
from lsgzoo.models import FAMILIES, assert_lsg_model, family_named, is_lsg_checkpoint, load_model
from lsgzoo.models.modeling_lsg_bert import LSGBertForMaskedLM, LSGBertForSequenceClassification

ROOT = Path(__file__).resolve().parents[1]
BERT = family_named("bert")
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *[f"w{i}" for i in range(55)]]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A tiny plain BertForMaskedLM (512 positions) converted with `lsgzoo convert` to 1024 tokens."""
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    root = tmp_path_factory.mktemp("bert")
    plain = root / "plain"
    plain.mkdir()
    (plain / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    BertTokenizer(str(plain / "vocab.txt")).save_pretrained(plain)
    torch.manual_seed(0)
    BertForMaskedLM(BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=64, max_position_embeddings=512)).save_pretrained(plain)
    out = root / "lsg"
    assert cli(["convert", str(plain), str(out), "--max-length", "1024", "--block-size", "32",
                "--sparse-block-size", "32", "--sparsity-type", "pooling"]) == 0
    return plain, out


def test_conversion_follows_the_bert_rules(converted):
    plain, out = converted
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "bert" and config["base_model_prefix"] == "lsg"
    assert config["architectures"] == ["LSGBertForMaskedLM"] and config["max_position_embeddings"] == 1024
    assert config["auto_map"]["AutoModelForMaskedLM"] == "modeling_lsg_bert.LSGBertForMaskedLM"
    source, state = load_file(plain / "model.safetensors"), load_file(out / "model.safetensors")
    positions = source["bert.embeddings.position_embeddings.weight"]  # (512, d), no offset rows
    tiled = state["bert.embeddings.position_embeddings.weight"]
    assert tiled.shape[0] == 1024 and torch.equal(tiled[:512], positions) and torch.equal(tiled[512:], positions)
    words = source["bert.embeddings.word_embeddings.weight"]
    token_type = source["bert.embeddings.token_type_embeddings.weight"][0]
    globals_ = state["bert.embeddings.global_embeddings.weight"]
    cls, mask = VOCAB.index("[CLS]"), VOCAB.index("[MASK]")  # no bos token: cls starts global 0
    assert torch.equal(globals_[0], positions[0] + words[cls] + token_type)
    for k, position in ((1, 64), (7, 448), (8, 1), (9, 65), (511, 511)):  # stride 64: row k = 64·(k mod 8) + k // 8
        assert torch.equal(globals_[k], positions[position] + words[mask] + token_type), k
    model = load_model(out).eval()
    assert type(model) is LSGBertForMaskedLM
    ids = torch.randint(5, 60, (2, 300))
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    assert logits.shape == (2, 300, 60) and torch.isfinite(logits).all()


def test_export_model_writes_the_bert_hub_folder(converted, tmp_path):
    """`export_model` from a CLI-converted folder (tokenizer included). That plain transformers loads a BERT
    export without lsgzoo, with lsgzoo's outputs, is test_family_fixtures' export test (its `bert` case)."""
    _, out = converted
    hub = export_model(out, tmp_path / "hub")
    assert (hub / "modeling_lsg_bert.py").is_file() and not (hub / "modeling_lsg_bart.py").exists()
    assert (hub / "tokenizer_config.json").is_file()  # the folder's tokenizer goes along
    card = (hub / "README.md").read_text()
    assert "pipeline_tag: fill-mask" in card and "- bert" in card and "plain BERT" in card and "BART" not in card
    ids = torch.randint(5, 60, (2, 100))
    mask = torch.ones_like(ids)
    mask[1, 80:] = 0
    with torch.no_grad():
        exported = load_model(hub).eval()(input_ids=ids, attention_mask=mask).logits
        converted_logits = load_model(out).eval()(input_ids=ids, attention_mask=mask).logits
    assert torch.equal(exported, converted_logits)


def test_the_auto_class_trap_is_caught(converted):
    from transformers import AutoModelForMaskedLM, BertForMaskedLM

    _, out = converted
    plain = AutoModelForMaskedLM.from_pretrained(out)  # the silent trap: plain BERT, globals dropped
    assert type(plain) is BertForMaskedLM
    with pytest.raises(TypeError, match="plain transformers BERT.*load_model"):
        assert_lsg_model(plain)
    assert is_lsg_checkpoint(out) and not is_lsg_checkpoint(converted[0])
    with pytest.raises(ValueError, match="not an LSG-BERT checkpoint"):
        load_model(converted[0])
    assert type(load_model(out, task="classification")) is LSGBertForSequenceClassification


def test_the_bert_row_is_the_only_place_its_heads_are_listed():
    """The BERT heads come from its row (`encoder_heads("Bert")` in models/families.py); no other source file
    names one as a string: modeling_lsg_bert.py builds them from the row (`define_lsg_heads`), loading,
    conversion, export and the CLI derive."""
    from lsgzoo.models.heads import encoder_heads

    assert BERT.heads == encoder_heads("Bert")
    names = set(BERT.lsg_classes) | set(BERT.base_classes)
    found = {}
    for path in sorted((ROOT / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                found.setdefault(node.value, []).append(path.name)
    assert all(set(places) == {"families.py"} for places in found.values()), found
    assert [family.name for family in FAMILIES].count("bert") == 1
