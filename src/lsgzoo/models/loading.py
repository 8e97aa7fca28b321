"""Loading LSG-BART checkpoints: the class from config.json or a task name, and the plain-BART trap.

LSG-BART files say `"model_type": "bart"`, so transformers' Auto classes map them
to plain BART (with no error: only a load-report line about `global_embeddings`).
Load them by class, or with `load_model(path)`, which reads config.json and picks
the LSG class; `assert_lsg_model(model)` catches a plain BART object that was
loaded from an LSG checkpoint by mistake. Classes and task names come from the
head table (`models.heads`).
"""

import json
from pathlib import Path

from lsgzoo.attention.keys import LSG_KEYS
from lsgzoo.models import modeling_lsg_bart
from lsgzoo.models.heads import LSG_BART_HEADS, head_for_task, head_named
from lsgzoo.models.modeling_lsg_bart import LSGBartForConditionalGeneration, LSGBartPreTrainedModel

# class name → class, and task name (or Auto class name) → class, for every head of the table
LSG_BART_CLASSES = {head.lsg_class: getattr(modeling_lsg_bart, head.lsg_class) for head in LSG_BART_HEADS}
LSG_BART_TASKS = {task: LSG_BART_CLASSES[head.lsg_class]
                  for head in LSG_BART_HEADS for task in (*head.tasks, head.auto_class)}


def read_config_dict(path) -> dict:
    """config.json of a checkpoint folder (or the file itself) as a dict."""
    path = Path(path)
    file = path / "config.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"no config.json in {path}")
    return json.loads(file.read_text())


def has_global_embeddings(path) -> bool:
    """True when the folder's safetensors weights (or their index) hold `encoder.global_embeddings`."""
    path = Path(path)
    if not path.is_dir():
        return False
    index = path / "model.safetensors.index.json"
    if index.is_file():
        names = json.loads(index.read_text()).get("weight_map", {})
        return any(name.endswith("encoder.global_embeddings.weight") for name in names)
    weights = path / "model.safetensors"
    if weights.is_file():
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as handle:
            return any(name.endswith("encoder.global_embeddings.weight") for name in handle.keys())
    return False


def is_lsg_checkpoint(path) -> bool:
    """Whether a local folder holds an LSG-BART checkpoint.

    Signs, any of: `base_model_prefix == "lsg"`, an LSG architecture name, LSG
    config keys (a BART config carrying `num_global_tokens`/`block_size`/...), or a
    `global_embeddings` weight. The model type must be BART's.
    """
    config = read_config_dict(path)
    if config.get("model_type") != "bart":
        return False
    if config.get("base_model_prefix") == "lsg":
        return True
    if any(str(name) in LSG_BART_CLASSES for name in config.get("architectures") or ()):
        return True
    if any(key in config for key in LSG_KEYS if key != "adaptive"):
        return True
    return has_global_embeddings(path)


def lsg_class_for(path, task: str | None = None):
    """The LSG-BART class for `task` (a task or Auto class name of `LSG_BART_HEADS`), else from config.json's
    `architectures` (LSG or plain BART class names)."""
    if task is not None:
        return LSG_BART_CLASSES[head_for_task(task).lsg_class]
    for name in read_config_dict(path).get("architectures") or ():
        try:
            return LSG_BART_CLASSES[head_named(str(name)).lsg_class]
        except KeyError:
            continue
    return LSGBartForConditionalGeneration


def load_model(path, task: str | None = None, **kwargs):
    """Load an LSG-BART checkpoint folder with the right lsgzoo class (the documented path).

    task: e.g. "seq2seq-lm", "sequence-classification", "question-answering",
    "base", "causal-lm"; None takes the class named in config.json. kwargs go to
    `from_pretrained`. A plain BART folder raises (convert it first).
    """
    if not is_lsg_checkpoint(path):
        raise ValueError(
            f"{path} is not an LSG-BART checkpoint (no LSG config keys, no global_embeddings weight); "
            "convert a plain BART checkpoint first (lsgzoo convert), or load it with transformers' BART classes"
        )
    return lsg_class_for(path, task).from_pretrained(str(path), **kwargs)


def assert_lsg_model(model):
    """Return `model` if it is an lsgzoo LSG-BART model, else raise `TypeError` saying how to load it.

    Catches the silent trap `AutoModelForSeq2SeqLM.from_pretrained(lsg_folder)`,
    which returns plain BART (dense attention, globals dropped) without an error.
    """
    if isinstance(model, LSGBartPreTrainedModel):
        return model
    config = getattr(model, "config", None)
    looks_lsg = config is not None and (
        getattr(config, "base_model_prefix", None) == "lsg"
        or any(getattr(config, key, None) is not None for key in ("num_global_tokens", "sparsity_type"))
    )
    source = getattr(config, "_name_or_path", "") or "the checkpoint"
    if looks_lsg:
        raise TypeError(
            f"{type(model).__name__} is plain transformers BART, but {source} is an LSG-BART checkpoint: its "
            "global tokens and LSG attention are ignored and its outputs are wrong. transformers' Auto classes map "
            "'model_type: bart' to plain BART; load it with lsgzoo.models.load_model(path) or "
            "LSGBartForConditionalGeneration.from_pretrained(path) (or the classification/QA/base classes)."
        )
    raise TypeError(
        f"expected an lsgzoo LSG-BART model, got {type(model).__name__}; convert plain BART checkpoints first "
        "(lsgzoo convert) and load them with lsgzoo.models.load_model(path)"
    )
