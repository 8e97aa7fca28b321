"""`ModelHead`: one row of a family's head table (`models.families`), and lookups in such a table.

A row names the LSG class, the transformers class it extends (and converts from), the Auto class
its exported `auto_map` entry sits under, the Hub pipeline tag, and the task names `load_model`,
`lsgzoo convert --task` and training (`data.task`) accept. Class names, not classes: the config
modules use the tables before the model classes exist.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelHead:
    """One head of a family: lsg_class extends base_class; tasks are the names that select it."""

    lsg_class: str
    base_class: str
    auto_class: str
    pipeline_tag: str
    tasks: tuple[str, ...]


def head_named(name: str, heads) -> ModelHead:
    """The head whose LSG class, base class or Auto class is `name` (KeyError naming the choices)."""
    for head in heads:
        if name in (head.lsg_class, head.base_class, head.auto_class):
            return head
    raise KeyError(f"{name!r} is not a head of this family; choose one of {[h.lsg_class for h in heads]}")


def head_for_task(task: str, heads) -> ModelHead:
    """The head a task name (or an Auto class name) selects (ValueError naming the choices)."""
    for head in heads:
        if task in head.tasks or task == head.auto_class:
            return head
    choices = sorted(name for head in heads for name in (*head.tasks, head.auto_class))
    raise ValueError(f"unknown task {task!r}; choose one of {choices}")
