"""What every generated task shares: the `GeneratedTask` protocol and `TaskSource`, its data source.

A task is a frozen dataclass of knobs with `example(seed, index) -> dict`, a pure function of
(knobs, seed, index). Records hold `source` (whitespace-separated words) and `target` (text, for
seq2seq) and/or `label` (int in [0, num_labels), for classification). `TaskSource` turns a task
into the train/validation/test `DatasetDict` the data module reads; `conf/data/<task>.yaml`
instantiates one through `_target_`, with every task knob a key under `data.source`.
"""

import random

SPLITS = ("train", "validation", "test")


class GeneratedTask:
    """Base of the task dataclasses. Subclasses define `example` and `vocabulary`.

    num_labels: the class count of the `label` column, or None when records carry no label.
    """

    num_labels: int | None = None

    def example(self, seed: int, index: int) -> dict:
        raise NotImplementedError

    def vocabulary(self) -> list[str]:
        """Every word the generator itself can write (real-text haystacks excluded)."""
        raise NotImplementedError

    def split(self, seed: int, size: int) -> list[dict]:
        """Examples 0..size-1 of `seed`, in order."""
        return [self.example(seed, index) for index in range(size)]

    def for_split(self, split: str) -> "GeneratedTask":
        """The task as used for one split (a real-text task draws its haystacks from that split's documents)."""
        return self

    @staticmethod
    def rng(seed: int, index: int) -> random.Random:
        """The example's private random stream: a function of (seed, index) only."""
        return random.Random(f"{seed}:{index}")


def require(condition: bool, message: str) -> None:
    """Raise ValueError(message) unless `condition`: messages name the knob and the fix."""
    if not condition:
        raise ValueError(message)


class TaskSource:
    """A generated task as a data source: `load()` → DatasetDict(train, validation, test).

    Subclasses set `task_class`; keyword arguments beyond the split sizes and the seed are the task's
    knobs. Split `s` (0, 1, 2) of run seed `seed` is generated with seed 3·seed + s, so splits never share
    a generator seed, within a run or across run seeds. The `label` column is a `datasets.ClassLabel`
    with `task.num_labels` classes, so the class count does not depend on which labels a split happens
    to contain.
    """

    task_class: type[GeneratedTask]

    def __init__(self, num_train: int = 4000, num_validation: int = 200, num_test: int = 200, seed: int = 0,
                 **task_settings):
        for name, value in (("num_train", num_train), ("num_validation", num_validation), ("num_test", num_test)):
            require(value >= 1, f"data.source.{name}={value} must be ≥ 1")
        self.sizes = {"train": num_train, "validation": num_validation, "test": num_test}
        self.seed = seed
        self.task = self.task_class(**task_settings)

    def split_seed(self, split: str) -> int:
        return len(SPLITS) * self.seed + SPLITS.index(split)

    def records(self, split: str) -> list[dict]:
        return self.task.for_split(split).split(self.split_seed(split), self.sizes[split])

    def load(self):
        import datasets

        return datasets.DatasetDict({split: self.dataset(self.records(split)) for split in SPLITS})

    def dataset(self, rows: list[dict]):
        import datasets

        features = {"source": datasets.Value("string")}
        if "target" in rows[0]:
            features["target"] = datasets.Value("string")
        if "label" in rows[0]:
            features["label"] = datasets.ClassLabel(num_classes=self.task.num_labels)
        return datasets.Dataset.from_list(rows, features=datasets.Features(features))

    def tokenizer_corpus(self) -> list[str]:
        """Text that gives every generated word a vocabulary entry, even in a small train split."""
        return [" ".join(self.task.vocabulary())]
