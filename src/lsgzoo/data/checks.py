"""Data errors: what a source or its data got wrong, said in one line before any model is built.

`DataError` is a user error like `training.config.ConfigError` (the entry point prints it as one line and
exits with status 2); its message starts with the key to change (`data.source.train: line 3 of
train.jsonl is not JSON: ...`). `check_json_records` reads a JSON / JSON-lines file line by line so a
malformed line is named; `check_text_column` and `check_splits` check what a loaded source holds.
"""

import json
from pathlib import Path

TEXT_TYPES = ("string", "large_string")


class DataError(ValueError):
    """Bad data or data settings; the message names the key (and file and line) and the fix."""


def check_json_records(path, key: str) -> int:
    """Raise `DataError` unless `path` is JSON lines (or one JSON array) of objects; returns the record count.

    key: the config key that named the file (e.g. "data.source.train"), the start of every message.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{key}: {path.name} is not UTF-8 text (byte {error.start}): {error.reason}") from None
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(f"{key}: line {error.lineno} of {path.name} is not JSON: {error.msg}") from None
        numbered = list(enumerate(records, start=1))
        place = "item"
    else:
        numbered = []
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                numbered.append((number, json.loads(line)))
            except json.JSONDecodeError as error:
                raise DataError(f"{key}: line {number} of {path.name} is not JSON: {error.msg}") from None
        place = "line"
    for number, record in numbered:
        if not isinstance(record, dict):
            raise DataError(f"{key}: {place} {number} of {path.name} is a JSON {type(record).__name__}, not an object "
                            "with one field per column")
    if not numbered:
        raise DataError(f"{key}: {path.name} holds no examples; give it at least one record")
    return len(numbered)


def check_text_column(dataset, column: str, key: str, where: str) -> None:
    """Raise `DataError` unless `column` of `dataset` holds text in every row (`key`: the config key naming
    the column, `where`: the split or file, for the message)."""
    feature = dataset.features[column]
    dtype = getattr(feature, "dtype", type(feature).__name__)
    if dtype not in TEXT_TYPES:
        raise DataError(f"{key}: column {column!r} of {where} holds {dtype} values, not text; name a text column "
                        "or convert the values to strings")
    nulls = dataset.data.column(column).null_count
    if nulls:
        first = dataset.data.column(column).to_pylist().index(None) + 1
        raise DataError(f"{key}: column {column!r} of {where} has {nulls} empty (null) values, the first in example "
                        f"{first}; fill or drop those examples")


def check_label_column(dataset, column: str, key: str, where: str) -> None:
    """Raise `DataError` unless `column` holds integer class ids (or is a `ClassLabel`) with no nulls."""
    feature = dataset.features[column]
    dtype = getattr(feature, "dtype", "")
    if not hasattr(feature, "num_classes") and not str(dtype).startswith(("int", "uint")):
        raise DataError(f"{key}: column {column!r} of {where} holds {dtype or type(feature).__name__} values, not "
                        "integer class ids; map the labels to 0..n-1")
    if dataset.data.column(column).null_count:
        raise DataError(f"{key}: column {column!r} of {where} has empty (null) labels; fill or drop those examples")


def check_splits(splits, batch_size: int) -> None:
    """Raise `DataError` for an empty split or a train split smaller than one batch (`data.batch_size`)."""
    for name, dataset in splits.items():
        if len(dataset) == 0:
            raise DataError(f"data.source: the {name} split has no examples; give it at least one")
    train = len(splits["train"])
    if train < batch_size:
        raise DataError(f"data.batch_size: the train split has {train} examples, fewer than one batch of "
                        f"{batch_size}; lower data.batch_size or add training examples")
