"""`ModelHead`: one row of a family's head table (`models.families`), and lookups in such a table.

A row names the LSG class, the transformers class it extends (and converts from), the Auto class
its exported `auto_map` entry sits under, the Hub pipeline tag, and the task names `load_model`,
`lsgzoo convert --task` and training (`data.task`) accept. Class names, not classes: the config
modules use the tables before the model classes exist. `encoder_heads` builds the table of an
encoder family whose heads are BERT's kinds (LSG<Stem>For<Task> extends <Stem>For<Task>).
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


# The head kinds of the encoder families: class-name suffix, Auto class, pipeline tag, task names.
ENCODER_HEAD_KINDS = (
    ("Model", "AutoModel", "feature-extraction", ("base", "feature-extraction")),
    ("ForPreTraining", "AutoModelForPreTraining", "fill-mask", ("pretraining",)),
    ("ForMaskedLM", "AutoModelForMaskedLM", "fill-mask", ("masked-lm", "fill-mask", "mlm")),
    ("ForSequenceClassification", "AutoModelForSequenceClassification", "text-classification",
     ("sequence-classification", "text-classification", "classification")),
    ("ForTokenClassification", "AutoModelForTokenClassification", "token-classification", ("token-classification",)),
    ("ForQuestionAnswering", "AutoModelForQuestionAnswering", "question-answering", ("question-answering",)),
    ("ForMultipleChoice", "AutoModelForMultipleChoice", "multiple-choice", ("multiple-choice",)),
)


def encoder_heads(stem: str, without: tuple[str, ...] = ()) -> tuple[ModelHead, ...]:
    """The head table of the encoder family whose transformers classes are `<stem><kind>` ("Bert" →
    BertModel, BertForMaskedLM, ...), base model first; `without`: kinds it lacks ("ForPreTraining")."""
    return tuple(ModelHead(f"LSG{stem}{kind}", f"{stem}{kind}", auto, tag, tasks)
                 for kind, auto, tag, tasks in ENCODER_HEAD_KINDS if kind not in without)


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
