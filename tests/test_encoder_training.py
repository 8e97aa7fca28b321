"""Encoder-only families train through the same Lightning/Hydra path as LSG-BART: `model=tiny_encoder` from
scratch on the suite's classification tasks, a converted plain BERT folder with `model=pretrained`, and the
family checks (a folder of an unsupported model type, an encoder with a seq2seq task) as one-line config errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lsgzoo.training.config import ConfigError, compose_config
from lsgzoo.training.rundir import load_run_model, read_summary
from test_training import env_for_subprocess, metrics_rows

# An easy majority task: 62 symbols of 2 kinds, the winner 51 against 11 (+ <s> </s> = 64 tokens, 4 blocks).
EASY_MAJORITY = [
    "data=majority", "data.source.length=62", "data.source.num_symbols=2", "data.source.margin=40",
    "data.max_source_length=64", "data.source.num_train=256", "data.source.num_validation=32",
    "data.source.num_test=32", "data.batch_size=16", "data.eval_batch_size=32", "attention.block_size=16",
    "attention.sparse_block_size=16", "optim.warmup_steps=0", "trainer.log_every_n_steps=1", "logger=csv",
    "num_threads=1",
]
QUICK = ["trainer.max_steps=3", "trainer.val_check_interval=3", "data.source.num_train=48"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "s0", "s1", "s2", "s3", *[f"w{i}" for i in range(23)]]


def train(run_dir: Path, overrides: list[str]) -> float:
    from lsgzoo.training.run import run_training

    overrides = EASY_MAJORITY + overrides
    return run_training(compose_config(overrides), run_dir, overrides)


@pytest.fixture(scope="module")
def scratch_run(tmp_path_factory):
    """model=tiny_encoder: a random-init LSG-BERT with a word tokenizer trained on the data, 40 steps."""
    run_dir = tmp_path_factory.mktemp("encoder")
    train(run_dir, ["model=tiny_encoder", "trainer.max_steps=40", "trainer.val_check_interval=20", "optim.lr=3e-3"])
    return run_dir


def test_tiny_encoder_learns_an_easy_classification_task(scratch_run):
    losses = [float(r["train/loss"]) for r in metrics_rows(scratch_run) if r.get("train/loss")]
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < 0.3 * sum(losses[:5]) / 5, losses  # from ln 2 ≈ 0.69 to ≈ 0.01 in practice
    summary = read_summary(scratch_run)
    assert summary["status"] == "completed" and summary["task"] == "classification"
    assert summary["metrics"]["val/accuracy"] >= 0.9 and summary["metrics"]["test/accuracy"] >= 0.9
    config = json.loads((scratch_run / "model" / "config.json").read_text())
    assert config["architectures"] == ["LSGBertForSequenceClassification"] and config["model_type"] == "bert"
    assert (config["hidden_size"], config["num_hidden_layers"], len(config.get("id2label") or "01")) == (64, 2, 2)
    assert (config["hidden_dropout_prob"], config["attention_probs_dropout_prob"]) == (0.0, 0.0)
    assert "dropout" not in config, "BART's dropout name must not leak into a BERT config"
    assert config["block_size"] == 16 and config["pad_token_id"] == 1  # the trained tokenizer's <pad>


def test_tiny_encoder_run_exports_and_the_export_reloads(scratch_run, tmp_path):
    from lsgzoo.hub.export import export_model
    from lsgzoo.models import load_model

    model, tokenizer = load_run_model(scratch_run)
    out = export_model(scratch_run, tmp_path / "hub")
    assert (out / "modeling_lsg_bert.py").is_file()
    exported = load_model(out).eval()
    assert type(exported).__name__ == "LSGBertForSequenceClassification"
    inputs = tokenizer(["s0 " * 50 + "s1 " * 12, "s1 " * 50 + "s0 " * 12], return_tensors="pt")
    with torch.no_grad():
        expected = model(**inputs).logits
        assert torch.equal(exported(**inputs).logits, expected)
    assert expected.argmax(-1).tolist() == [0, 1] or expected.argmax(-1).tolist() == [1, 0]  # two distinct answers


def test_cli_trains_tiny_encoder_on_majority_and_writes_accuracy(tmp_path):
    run_dir = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "lsgzoo.train", "model=tiny_encoder", *EASY_MAJORITY, *QUICK,
                             f"hydra.run.dir={run_dir}"], capture_output=True, text=True, env=env_for_subprocess(),
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["global_step"] == 3 and summary["data"] == "majority"
    assert 0 <= summary["metrics"]["test/accuracy"] <= 1 and "test/macro_f1" in summary["metrics"]
    assert summary["monitor"] == "val/accuracy" and summary["best_checkpoint"] == "checkpoints/best.ckpt"


def plain_encoder_folder(folder: Path, config_name: str, model_name: str, **sizes) -> Path:
    """A tiny plain transformers classifier (random init, seed 0, 512 positions) with a word-piece tokenizer
    over VOCAB, written to `folder`."""
    import transformers
    from transformers import BertTokenizer

    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(0)
    config = getattr(transformers, config_name)(vocab_size=len(VOCAB), max_position_embeddings=512, pad_token_id=0,
                                                **sizes)
    getattr(transformers, model_name)(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def bert_folders(tmp_path_factory):
    """A tiny plain BertForSequenceClassification built here (512 positions, a vocabulary holding the task's
    symbols), and its LSG conversion to 128 tokens with `lsgzoo convert`."""
    from lsgzoo.cli import main as cli

    root = tmp_path_factory.mktemp("bert")
    plain = plain_encoder_folder(root / "plain", "BertConfig", "BertForSequenceClassification", hidden_size=32,
                                 num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    converted = root / "lsg"
    assert cli(["convert", str(plain), str(converted), "--max-length", "128", "--block-size", "16",
                "--sparse-block-size", "16"]) == 0
    return plain, converted


@pytest.mark.parametrize("source", ["converted", "plain"])
def test_pretrained_bert_folder_trains_on_majority_and_exports(bert_folders, tmp_path, source):
    """model=pretrained with a converted LSG-BERT folder, or a plain BERT folder converted on load."""
    from lsgzoo.hub.export import export_model
    from lsgzoo.models import load_model

    folder = bert_folders[1] if source == "converted" else bert_folders[0]
    run_dir = tmp_path / "run"
    train(run_dir, ["model=pretrained", f"model.name_or_path={folder}", "data.task=classification", *QUICK])
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["global_step"] == 3
    assert 0 <= summary["metrics"]["test/accuracy"] <= 1
    assert not (run_dir / "tokenizer").exists(), "the checkpoint's own tokenizer is used"
    config = json.loads((run_dir / "model" / "config.json").read_text())
    assert config["architectures"] == ["LSGBertForSequenceClassification"] and config["block_size"] == 16
    assert (config["hidden_dropout_prob"], config["attention_probs_dropout_prob"]) == (0.1, 0.1)  # model.dropout
    assert "dropout" not in config and "attention_dropout" not in config
    out = export_model(run_dir, tmp_path / "hub")
    exported = load_model(out).eval()
    trained, _ = load_run_model(run_dir)
    ids = torch.tensor([[2] + [5, 6] * 31 + [3]])
    with torch.no_grad():
        a, b = exported(input_ids=ids).logits, trained(input_ids=ids).logits
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)  # the same weights (differences of ~1e-9 seen: kernel order)


def test_model_dropout_reaches_the_bert_config_under_its_own_names(bert_folders):
    from lsgzoo.training.builders import build_model

    cfg = compose_config(EASY_MAJORITY + ["model=pretrained", f"model.name_or_path={bert_folders[1]}",
                                          "model.dropout=0.2", "model.attention_dropout=0.05"])
    model = build_model(cfg, tokenizer=None, num_labels=2)
    assert model.training and all(module.training for module in model.modules())
    assert (model.config.hidden_dropout_prob, model.config.attention_probs_dropout_prob) == (0.2, 0.05)
    assert model.config.lsg_attention.attention_dropout == 0.05


def test_an_unsupported_checkpoint_family_is_one_clear_cli_line(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = tmp_path / "gpt2"
    GPT2LMHeadModel(GPT2Config(n_embd=16, n_layer=1, n_head=2, vocab_size=64, n_positions=64)).save_pretrained(gpt2)
    from lsgzoo.models.families import supported_model_types

    supported = ", ".join(supported_model_types())  # albert, bart, bert, ...
    assert "bart, bert" in supported
    with pytest.raises(ConfigError, match=r"model\.name_or_path: .* 'gpt2' checkpoint.*supported model types: "
                                          + supported):
        compose_config(EASY_MAJORITY + ["model=pretrained", f"model.name_or_path={gpt2}"])
    run_dir = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "lsgzoo.train", "model=pretrained", f"model.name_or_path={gpt2}",
                             "data=majority", f"hydra.run.dir={run_dir}"], capture_output=True, text=True,
                            env=env_for_subprocess(), timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert lines[0].startswith("lsgzoo.train: error: model.name_or_path: ") and "supported model types: " in lines[0]
    assert "'gpt2'" in lines[0] and lines[0].endswith(f"supported model types: {supported} (traceback in "
                                                      f"{run_dir / 'summary.json'})")
    assert read_summary(run_dir)["status"] == "failed"


def test_an_encoder_without_a_seq2seq_head_is_refused_before_training():
    with pytest.raises(ConfigError, match=r"data\.task: model\.family=bert has no seq2seq head; .*data\.task="
                                          r"classification"):
        compose_config(["model=tiny_encoder"])  # the default data is the seq2seq synthetic task
    from lsgzoo.models import FAMILIES

    with pytest.raises(ConfigError, match=r"model\.family: 'gtp2' is unknown; choose one of "
                                          + ", ".join(f.name for f in FAMILIES)):
        compose_config(["model=tiny_encoder", "data=majority", "model.family=gtp2"])


def test_every_family_row_names_its_training_settings():
    """A new FAMILIES row maps dropout / attention_dropout / num_heads and its token ids to real config fields
    (transformers configs accept unknown keys silently, so a wrong name would train with the wrong dropout)."""
    import dataclasses

    from lsgzoo.models import FAMILIES
    from lsgzoo.models.loading import lsg_config_class

    for family in FAMILIES:
        config_class = lsg_config_class(family)
        fields = {field.name for field in dataclasses.fields(config_class)}
        assert family.config_key("attention_dropout") == config_class.lsg_dropout_key(), family.name
        assert family.config_key("num_heads") == config_class.lsg_heads_key(), family.name
        assert family.config_key("dropout") in fields, family.name
        assert {field for field, _ in family.token_ids} <= fields, family.name
        assert "pad_token_id" in dict(family.token_ids), family.name


PLAIN_ENCODERS = {  # family: (config class, classification class)
    "distilbert": ("DistilBertConfig", "DistilBertForSequenceClassification"),
    "albert": ("AlbertConfig", "AlbertForSequenceClassification"),
    "roberta": ("RobertaConfig", "RobertaForSequenceClassification"),
    "electra": ("ElectraConfig", "ElectraForSequenceClassification"),
}
BERT_LIKE_SIZES = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
SIZES = {"distilbert": dict(dim=32, n_layers=2, n_heads=4, hidden_dim=64),  # in each family's own names
         "albert": dict(embedding_size=16, **BERT_LIKE_SIZES),
         "roberta": BERT_LIKE_SIZES,
         "electra": dict(embedding_size=16, **BERT_LIKE_SIZES)}


@pytest.mark.parametrize("family", sorted(PLAIN_ENCODERS))
def test_other_encoder_families_train_from_a_plain_folder(family, tmp_path):
    """Every merged encoder row trains through model=pretrained, its dropout under its own config names."""
    from lsgzoo.models import family_named

    plain = plain_encoder_folder(tmp_path / "plain", *PLAIN_ENCODERS[family], **SIZES[family])
    run_dir = tmp_path / "run"
    train(run_dir, ["model=pretrained", f"model.name_or_path={plain}", "data.task=classification",
                    "model.dropout=0.2", "model.attention_dropout=0.05", *QUICK])
    assert read_summary(run_dir)["status"] == "completed"
    saved = json.loads((run_dir / "model" / "config.json").read_text())
    row = family_named(family)
    assert saved["architectures"] == [row.head_for_task("classification").lsg_class]
    assert (saved[row.config_key("dropout")], saved[row.config_key("attention_dropout")]) == (0.2, 0.05)
    model, _ = load_run_model(run_dir)
    assert type(model).__name__ == saved["architectures"][0]
