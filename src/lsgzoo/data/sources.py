"""Text sources: each `load()` returns a `datasets.DatasetDict` with splits train/validation/test
and columns `source` plus `target` (text, seq2seq) or `label` (int, classification).

Hydra configs under `conf/data/` instantiate these classes through `_target_`.
"""

import json
from pathlib import Path

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
                raise ValueError(f"data.source.{name}={value} must be ≥ 1")
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
            raise ValueError(f"data.source.target={target!r} is unknown; choose one of {', '.join(self.TARGETS)}")
        self.target = target
        self.data_dir = Path(data_dir) if data_dir else None
        self.max_documents = max_documents

    def dataset_dir(self) -> Path:
        if self.data_dir is not None:
            return self.data_dir
        try:
            import aclsum
        except ImportError as error:
            raise ImportError("data=aclsum needs the `aclsum` package: pip install aclsum") from error
        return Path(aclsum.__file__).parent / "dataset"

    def records(self, split_file: str) -> list[dict]:
        root = self.dataset_dir()
        rows = []
        with open(root / f"{split_file}.jsonl") as handle:
            for line in handle:
                entry = json.loads(line)
                paper = json.loads((root / "paper_jsons" / f"{entry['id']}.json").read_text())
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
            raise ValueError("set exactly one of data.source.target_column (seq2seq) and data.source.label_column "
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
            if missing:
                field = "text_column" if self.text_column in missing else ("target_column" if self.target_column
                                                                            else "label_column")
                raise ValueError(f"data.source.{field}: column {missing[0]!r} is not in split {name!r}; "
                                 f"its columns are {dataset.column_names}")
            if self.max_documents:
                dataset = dataset.select(range(min(self.max_documents, len(dataset))))
            dataset = dataset.select_columns([self.text_column, in_column])
            renames = {self.text_column: "source", in_column: out_column}
            result[split] = dataset.rename_columns({k: v for k, v in renames.items() if k != v})
        return datasets.DatasetDict(result)


def _find_split(dataset_dict, split: str) -> str:
    aliases = {"validation": ("validation", "val", "valid", "dev"), "train": ("train",), "test": ("test",)}
    for name in aliases[split]:
        if name in dataset_dict:
            return name
    raise ValueError(f"the dataset has no {split!r} split (found {list(dataset_dict)}); provide one")


class HFSource(_ColumnSource):
    """Any `datasets` dataset by name (e.g. ccdv/arxiv-summarization: article → abstract)."""

    def __init__(self, name: str, config_name: str | None = None, **columns):
        super().__init__(**columns)
        self.name, self.config_name = name, config_name

    def load(self):
        import datasets

        return self.standardize(datasets.load_dataset(self.name, self.config_name))


class FileSource(_ColumnSource):
    """Local jsonl / json / csv / parquet files, one per split (format from the extension)."""

    FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}

    def __init__(self, train: str, validation: str, test: str | None = None, **columns):
        super().__init__(**columns)
        self.files = {"train": train, "validation": validation, "test": test or validation}
        for split, path in self.files.items():
            if Path(path).suffix not in self.FORMATS:
                raise ValueError(f"data.source.{split}={path!r}: unsupported extension; use one of "
                                 f"{', '.join(self.FORMATS)}")
            if not Path(path).exists():
                raise FileNotFoundError(f"data.source.{split}={path!r} does not exist")
        if len({self.FORMATS[Path(p).suffix] for p in self.files.values()}) > 1:
            raise ValueError(f"data.source: all split files must share one format, got {self.files}")

    def load(self):
        import datasets

        builder = self.FORMATS[Path(self.files["train"]).suffix]
        return self.standardize(datasets.load_dataset(builder, data_files=self.files))
