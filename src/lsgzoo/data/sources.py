"""Text sources: each `load()` returns a `datasets.DatasetDict` with splits train/validation/test
and columns `source` plus `target` (text, seq2seq) or `label` (int, classification).

Hydra configs under `conf/data/` instantiate these classes through `_target_`. Bad settings or data
raise `data.checks.DataError` naming the key (and the file and line) and the fix.
"""

import json
from pathlib import Path

from lsgzoo.data.checks import DataError, check_json_records, check_label_column, check_text_column
from lsgzoo.data.synthetic import LinkedPairsTask

SPLITS = ("train", "validation", "test")


class SyntheticSource:
    """The embedded default: `LinkedPairsTask` documents, deterministic from `seed`.

    Splits use disjoint seeds (seed, seed + 1, seed + 2), so no document repeats across splits.
    """


    def __init__(self, num_train: int = 4000, num_validation: int = 200, num_test: int = 200, seed: int = 0,
                 **task_settings):
        for name, value in (("num_train", num_train), ("num_validation", num_validation), ("num_test", num_test)):
            if value < 1:
                raise DataError(f"data.source.{name}={value} must be ≥ 1")
        self.sizes = {"train": num_train, "validation": num_validation, "test": num_test}
        self.seed = seed
        self.task = LinkedPairsTask(**task_settings)

    def load(self):
        import datasets

        return datasets.DatasetDict({
            split: datasets.Dataset.from_list(self.task.split(self.seed + offset, self.sizes[split]))
            for offset, split in enumerate(SPLITS)
        })

    def tokenizer_corpus(self):
        """Extra text that guarantees every task word is in a word-level vocabulary."""
        return [" ".join(self.task.vocabulary())]


class AclSumSource:
    """ACLSum (the `aclsum` PyPI package): full ACL papers with abstracts and aspect summaries.

    target="abstract": source = the paper body from its S2ORC JSON (every body paragraph), target = the
    paper's abstract. target="challenge" | "approach" | "outcome": the same body, target = that
    aspect summary. Splits are the package's train/val/test (100/50/100 papers).
    """

    TARGETS = ("abstract", "challenge", "approach", "outcome")

    def __init__(self, target: str = "abstract", data_dir: str | None = None, max_documents: int | None = None):
        if target not in self.TARGETS:
            raise DataError(f"data.source.target={target!r} is unknown; choose one of {', '.join(self.TARGETS)}")
        if data_dir and not Path(data_dir).is_dir():
            raise DataError(f"data.source.data_dir={data_dir!r} is not a folder; give the aclsum dataset folder "
                            "(holding train.jsonl, val.jsonl, test.jsonl and paper_jsons/) or null for the package's")
        if max_documents is not None and (isinstance(max_documents, bool) or not isinstance(max_documents, int)
                                          or max_documents < 1):
            raise DataError(f"data.source.max_documents={max_documents!r} must be null (all) or an integer ≥ 1")
        self.target = target
        self.data_dir = Path(data_dir) if data_dir else None
        self.max_documents = max_documents

    def dataset_dir(self) -> Path:
        if self.data_dir is not None:
            return self.data_dir
        try:
            import aclsum
        except ImportError:
            raise DataError("data=aclsum needs the `aclsum` package: pip install aclsum (or set "
                            "data.source.data_dir)") from None
        return Path(aclsum.__file__).parent / "dataset"

    def records(self, split_file: str) -> list[dict]:
        root = self.dataset_dir()
        split_path = root / f"{split_file}.jsonl"
        if not split_path.is_file():
            raise DataError(f"data.source.data_dir: {root} has no {split_path.name}; give the aclsum dataset folder")
        check_json_records(split_path, "data.source.data_dir")
        rows = []
        with open(split_path) as handle:
            for line in filter(str.strip, handle):
                entry = json.loads(line)
                paper_path = root / "paper_jsons" / f"{entry.get('id')}.json"
                if not paper_path.is_file():
                    raise DataError(f"data.source.data_dir: {split_path.name} names paper {entry.get('id')!r}, but "
                                    f"{paper_path} does not exist")
                paper = json.loads(paper_path.read_text())
                body = "\n".join(p["text"] for p in paper["pdf_parse"]["body_text"])
                if self.target == "abstract":
                    target = " ".join(p["text"] for p in paper["pdf_parse"]["abstract"]) or paper.get("abstract", "")
                else:
                    target = entry["summary"][self.target]
                rows.append({"source": body, "target": target, "id": entry["id"]})
                if self.max_documents and len(rows) >= self.max_documents:
                    break
        return rows

    def load(self):
        import datasets

        files = {"train": "train", "validation": "val", "test": "test"}
        return datasets.DatasetDict({split: datasets.Dataset.from_list(self.records(name))
                                     for split, name in files.items()})


class _ColumnSource:
    """Shared column renaming for table-like sources (`datasets` hub names and local files)."""


    def __init__(self, text_column: str = "article", target_column: str | None = "abstract",
                 label_column: str | None = None, max_documents: int | None = None):
        if (target_column is None) == (label_column is None):
            raise DataError("data.source: set exactly one of data.source.target_column (seq2seq) and data.source.label_column "
                             "(classification)")
        self.text_column, self.target_column, self.label_column = text_column, target_column, label_column
        self.max_documents = max_documents

    def standardize(self, dataset_dict):
        """Rename the configured columns to source/target|label, drop the rest, keep train/validation/test."""
        import datasets

        out_column = "target" if self.target_column else "label"
        in_column = self.target_column or self.label_column
        result = {}
        for split in SPLITS:
            name = _find_split(dataset_dict, split)
            dataset = dataset_dict[name]
            missing = [c for c in (self.text_column, in_column) if c not in dataset.column_names]
            text_key = "data.source.text_column"
            in_key = "data.source.target_column" if self.target_column else "data.source.label_column"
            if missing:
                raise DataError(f"{text_key if self.text_column in missing else in_key}: column {missing[0]!r} is not "
                                f"in {self.describe(name)}; its columns are {dataset.column_names}")
            check_text_column(dataset, self.text_column, text_key, self.describe(name))
            if self.target_column:
                check_text_column(dataset, in_column, in_key, self.describe(name))
            else:
                check_label_column(dataset, in_column, in_key, self.describe(name))
            if self.max_documents:
                dataset = dataset.select(range(min(self.max_documents, len(dataset))))
            dataset = dataset.select_columns([self.text_column, in_column])
            renames = {self.text_column: "source", in_column: out_column}
            result[split] = dataset.rename_columns({k: v for k, v in renames.items() if k != v})
        return datasets.DatasetDict(result)

    def describe(self, split: str) -> str:
        """How messages name split `split` of this source."""
        return f"split {split!r}"


def _find_split(dataset_dict, split: str) -> str:
    aliases = {"validation": ("validation", "val", "valid", "dev"), "train": ("train",), "test": ("test",)}
    for name in aliases[split]:
        if name in dataset_dict:
            return name
    raise DataError(f"data.source: the dataset has no {split!r} split (found {list(dataset_dict)}); provide one")


class HFSource(_ColumnSource):
    """Any `datasets` dataset by name (e.g. ccdv/arxiv-summarization: article → abstract)."""

    def __init__(self, name: str, config_name: str | None = None, **columns):
        super().__init__(**columns)
        self.name, self.config_name = name, config_name

    def load(self):
        import datasets

        try:
            loaded = datasets.load_dataset(self.name, self.config_name)
        except (FileNotFoundError, ValueError, ConnectionError) as error:  # unknown name, config or no network
            raise DataError(f"data.source.name: the dataset {self.name!r} (config {self.config_name!r}) cannot be "
                            f"loaded: {type(error).__name__}: {error}; check the name, data.source.config_name and "
                            "that it is in the local cache or the hub is reachable") from None
        return self.standardize(loaded)


class FileSource(_ColumnSource):
    """Local jsonl / json / csv / parquet files, one per split (format from the extension)."""

    FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}

    def __init__(self, train: str, validation: str, test: str | None = None, **columns):
        super().__init__(**columns)
        self.files = {"train": train, "validation": validation, "test": test or validation}
        for split, path in self.files.items():
            if Path(path).suffix not in self.FORMATS:
                raise DataError(f"data.source.{split}={path!r}: unsupported extension; use one of "
                                f"{', '.join(self.FORMATS)}")
            if not Path(path).is_file():
                raise DataError(f"data.source.{split}={path!r} does not exist (or is not a file); give the path of "
                                f"the {split} file")
        if len({self.FORMATS[Path(p).suffix] for p in self.files.values()}) > 1:
            raise DataError(f"data.source: all split files must share one format, got {self.files}")

    def load(self):
        import datasets

        return self.standardize(datasets.DatasetDict({split: self.read(split) for split in SPLITS}))

    def read(self, split: str):
        """The `datasets.Dataset` of one split's file; a file that cannot be read raises `DataError`."""
        import datasets

        path, key = self.files[split], f"data.source.{split}"
        builder = self.FORMATS[Path(path).suffix]
        if builder == "json":
            check_json_records(path, key)
        try:
            dataset = datasets.load_dataset(builder, data_files={split: path}, split=split)
        except Exception as error:  # datasets wraps every parser error in its own generic one
            cause = error.__cause__ or error
            raise DataError(f"{key}: {Path(path).name} cannot be read as {builder}: {type(cause).__name__}: "
                            f"{cause}") from None
        if len(dataset) == 0:
            raise DataError(f"{key}: {Path(path).name} holds no examples; give it at least one record")
        return dataset

    def describe(self, split: str) -> str:
        return f"{Path(self.files[split]).name} ({split})"
