"""`ModelHead`: one row of a family's head table (`models.families`), and lookups in such a table.

A row names the LSG class, the transformers class it extends (and converts from), the Auto class
its exported `auto_map` entry sits under, the Hub pipeline tag, and the task names `load_model`,
`lsgzoo convert --task` and training (`data.task`) accept. The family's model file declares the
base model (the first row) by hand; the other heads are built from these rows
(`lsg_encoder.define_lsg_heads`). Class names, not classes: the config modules use the tables
before the model classes exist. `encoder_heads` / `seq2seq_heads` build the
table of an encoder family whose heads are BERT's kinds, or of an encoder-decoder family whose heads
are BART's (LSG<Stem>For<Task> extends <Stem>For<Task>).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelHead:
    """One head of a family: lsg_class extends base_class; tasks are the names that select it.

    lsg_base: its base model is swapped for the family's LSG one (`LSGHeadMixin`); False for a
    decoder-only head (ForCausalLM: no encoder, so it only takes the LSG config).
    """

    lsg_class: str
    base_class: str
    auto_class: str
    pipeline_tag: str
    tasks: tuple[str, ...]
    lsg_base: bool = True


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


# The head kinds of the encoder-decoder families (BART's), in the same form.
SEQ2SEQ_HEAD_KINDS = (
    ("Model", "AutoModel", "feature-extraction", ("base", "feature-extraction")),
    ("ForConditionalGeneration", "AutoModelForSeq2SeqLM", "summarization",
     ("seq2seq-lm", "summarization", "text2text-generation", "seq2seq")),
    ("ForCausalLM", "AutoModelForCausalLM", "text-generation", ("causal-lm",)),
    ("ForQuestionAnswering", "AutoModelForQuestionAnswering", "question-answering", ("question-answering",)),
    ("ForSequenceClassification", "AutoModelForSequenceClassification", "text-classification",
     ("sequence-classification", "text-classification", "classification")),
)

DECODER_ONLY_KINDS = ("ForCausalLM",)  # heads without the encoder: `ModelHead.lsg_base` is False


def heads_of_kinds(stem: str, kinds, without: tuple[str, ...] = ()) -> tuple[ModelHead, ...]:
    """The head table of the family whose transformers classes are `<stem><kind>` ("Bert" → BertModel,
    BertForMaskedLM, ...) for the rows of `kinds`, base model first; `without`: kinds it lacks."""
    return tuple(ModelHead(f"LSG{stem}{kind}", f"{stem}{kind}", auto, tag, tasks, kind not in DECODER_ONLY_KINDS)
                 for kind, auto, tag, tasks in kinds if kind not in without)


def encoder_heads(stem: str, without: tuple[str, ...] = ()) -> tuple[ModelHead, ...]:
    """An encoder family's head table (`ENCODER_HEAD_KINDS`); `without`: kinds it lacks ("ForPreTraining")."""
    return heads_of_kinds(stem, ENCODER_HEAD_KINDS, without)


def seq2seq_heads(stem: str, without: tuple[str, ...] = ()) -> tuple[ModelHead, ...]:
    """An encoder-decoder family's head table (`SEQ2SEQ_HEAD_KINDS`); `without`: kinds it lacks."""
    return heads_of_kinds(stem, SEQ2SEQ_HEAD_KINDS, without)


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
