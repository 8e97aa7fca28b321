"""Data sources, locally trained tokenizers and the data module's batching."""

import json

import pytest
import torch

from lsgzoo.data.checks import DataError
from lsgzoo.data.datamodule import TextDataModule, length_statistics
from lsgzoo.data.sources import AclSumSource, FileSource, SyntheticSource
from lsgzoo.data.tokenization import train_tokenizer

ARTICLES = [
    {"article": "the cat sat on the mat . " * (5 + i), "abstract": f"cat {i} sat .", "label": i % 3}
    for i in range(12)
]


def write_split_files(tmp_path, fmt: str) -> dict:
    import datasets

    paths = {}
    for split, rows in (("train", ARTICLES[:8]), ("validation", ARTICLES[8:10]), ("test", ARTICLES[10:])):
        path = tmp_path / f"{split}.{fmt}"
        table = datasets.Dataset.from_list(rows)
        if fmt == "jsonl":
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        elif fmt == "csv":
            table.to_csv(str(path), index=False)
        else:
            table.to_parquet(str(path))
        paths[split] = str(path)
    return paths


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_file_source_reads_local_files_with_configured_columns(tmp_path, fmt):
    paths = write_split_files(tmp_path, fmt)
    data = FileSource(**paths, text_column="article", target_column="abstract").load()
    assert {k: len(v) for k, v in data.items()} == {"train": 8, "validation": 2, "test": 2}
    assert data["train"].column_names == ["source", "target"]
    assert data["validation"][0] == {"source": ARTICLES[8]["article"], "target": ARTICLES[8]["abstract"]}
    labels = FileSource(**paths, text_column="article", target_column=None, label_column="label").load()
    assert labels["test"]["label"] == [ARTICLES[10]["label"], ARTICLES[11]["label"]]


def test_file_source_errors_name_the_field(tmp_path):
    paths = write_split_files(tmp_path, "jsonl")
    with pytest.raises(ValueError, match="data.source.text_column: column 'body'"):
        FileSource(**paths, text_column="body").load()
    with pytest.raises(DataError, match="data.source.train"):
        FileSource(train=str(tmp_path / "missing.jsonl"), validation=paths["validation"])
    with pytest.raises(ValueError, match="exactly one of"):
        FileSource(**paths, target_column="abstract", label_column="label")


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_trained_tokenizer_keeps_bart_special_ids_and_round_trips(kind):
    texts = [r["article"] for r in ARTICLES]
    tokenizer = train_tokenizer(texts, kind, vocab_size=300)
    assert [tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id] == [0, 1, 2, 3]
    ids = tokenizer("the cat sat")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2
    assert tokenizer.decode(ids, skip_special_tokens=True) == "the cat sat"


def test_datamodule_pads_to_block_multiple_and_masks_labels():
    source = SyntheticSource(num_train=6, num_validation=3, num_test=3, length=200, num_pairs=2, min_distance=10,
                             max_distance=20)
    raw = source.load()
    tokenizer = train_tokenizer(list(raw["train"]["source"]) + source.tokenizer_corpus(), "word", 500)
    data = TextDataModule(source, tokenizer, batch_size=4, max_source_length=192, max_target_length=8,
                          pad_to_multiple_of=16, datasets=raw)
    data.setup()
    batch = next(iter(data.train_dataloader()))
    assert batch["input_ids"].shape == (4, 192) and batch["input_ids"].shape[1] % 16 == 0
    assert batch["input_ids"][:, -1].eq(tokenizer.eos_token_id).all(), "truncation keeps </s>"
    assert (batch["labels"][:, : 4] >= 0).all()
    stats = data.statistics["train"]["source_tokens"]
    assert stats["max"] == 202 and stats["truncated_fraction"] == 1.0
    texts = tokenizer.batch_decode(batch["labels"].clamp(min=0), skip_special_tokens=True)
    assert all(len(t.split()) == 2 for t in texts) and batch["target"] == texts


def test_length_statistics():
    stats = length_statistics([10, 20, 30, 40], max_length=25)
    assert stats["mean"] == 25 and stats["min"] == 10 and stats["max"] == 40 and stats["truncated_fraction"] == 0.5


def test_aclsum_source_has_real_long_papers():
    pytest.importorskip("aclsum")
    data = AclSumSource(target="abstract", max_documents=6).load()
    assert {k: len(v) for k, v in data.items()} == {"train": 6, "validation": 6, "test": 6}
    tokenizer = train_tokenizer(list(data["train"]["source"]), "bpe", vocab_size=2000)
    lengths = [len(tokenizer(text)["input_ids"]) for text in data["train"]["source"]]
    assert sorted(lengths)[len(lengths) // 2] >= 4096, lengths
    assert all(20 < len(t.split()) < 600 for t in data["train"]["target"])
    aspect = AclSumSource(target="outcome", max_documents=2).load()
    assert aspect["train"][0]["source"] == data["train"][0]["source"]
    assert aspect["train"][0]["target"] != data["train"][0]["target"]
    with pytest.raises(ValueError, match="data.source.target"):
        AclSumSource(target="title")
