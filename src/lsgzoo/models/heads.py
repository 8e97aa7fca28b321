"""The model heads of each family: one table, from which every head mapping derives.

A row names the LSG class, the transformers class it extends (and converts from), the Auto class
its exported `auto_map` entry sits under, the Hub pipeline tag, and the task names `load_model`,
`lsgzoo convert --task` and training (`data.task`) accept. The config's `auto_map`, the model
card, the loaders, the converter and the training builders read this table, so a head (or a
family: one model file plus one table) is added in one place. Class names, not classes: the
config module uses the table before the model classes exist.
"""

from dataclasses import dataclass

REMOTE_CODE_MODULE = "modeling_lsg_bart"


@dataclass(frozen=True)
class ModelHead:
    """One head of a family: lsg_class extends base_class; tasks are the names that select it."""

    lsg_class: str
    base_class: str
    auto_class: str
    pipeline_tag: str
    tasks: tuple[str, ...]


LSG_BART_HEADS = (
    ModelHead("LSGBartModel", "BartModel", "AutoModel", "feature-extraction", ("base", "feature-extraction")),
    ModelHead("LSGBartForConditionalGeneration", "BartForConditionalGeneration", "AutoModelForSeq2SeqLM",
              "summarization", ("seq2seq-lm", "summarization", "text2text-generation", "seq2seq")),
    ModelHead("LSGBartForCausalLM", "BartForCausalLM", "AutoModelForCausalLM", "text-generation", ("causal-lm",)),
    ModelHead("LSGBartForQuestionAnswering", "BartForQuestionAnswering", "AutoModelForQuestionAnswering",
              "question-answering", ("question-answering",)),
    ModelHead("LSGBartForSequenceClassification", "BartForSequenceClassification",
              "AutoModelForSequenceClassification", "text-classification",
              ("sequence-classification", "text-classification", "classification")),
)


def head_named(name: str, heads=LSG_BART_HEADS) -> ModelHead:
    """The head whose LSG class, base class or Auto class is `name` (KeyError naming the choices)."""
    for head in heads:
        if name in (head.lsg_class, head.base_class, head.auto_class):
            return head
    raise KeyError(f"{name!r} is not a head of this family; choose one of {[h.lsg_class for h in heads]}")


def head_for_task(task: str, heads=LSG_BART_HEADS) -> ModelHead:
    """The head a task name (or an Auto class name) selects (ValueError naming the choices)."""
    for head in heads:
        if task in head.tasks or task == head.auto_class:
            return head
    choices = sorted(name for head in heads for name in (*head.tasks, head.auto_class))
    raise ValueError(f"unknown task {task!r}; choose one of {choices}")


def remote_code_auto_map(config_class: str, heads=LSG_BART_HEADS) -> dict:
    """`auto_map` of an exported folder: AutoConfig and every head's Auto class → the shipped code."""
    entries = {"AutoConfig": config_class, **{head.auto_class: head.lsg_class for head in heads}}
    return {auto: f"{REMOTE_CODE_MODULE}.{name}" for auto, name in entries.items()}
