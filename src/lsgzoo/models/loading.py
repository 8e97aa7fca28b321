"""Loading LSG checkpoints of any family: the class from config.json or a task name, and the Auto-class trap.

LSG files keep their base family's `model_type` ("bart", "bert", ...), so transformers' Auto
classes map them to the plain model (with no error: only a load-report line about
`global_embeddings`). Load them by class, or with `load_model(path)`, which reads config.json, finds
the family (`models.families`) and picks the LSG class; `assert_lsg_model(model)` catches a plain
model that was loaded from an LSG checkpoint by mistake. Classes and task names come from the
family's head table.
"""

import importlib
import json
from pathlib import Path

from lsgzoo.attention.keys import LSG_KEYS
from lsgzoo.models.families import FAMILIES, Family, family_of_config, family_of_model
from lsgzoo.models.lsg_encoder import LSGLoadingMixin


def family_module(family: Family):
    """The family's model module (`lsgzoo.models.<code_module>`), imported on first use."""
    return importlib.import_module(f"lsgzoo.models.{family.code_module}")


def lsg_classes(family: Family) -> dict:
    """class name → class of every head of `family` (imports its model module)."""
    module = family_module(family)
    return {head.lsg_class: getattr(module, head.lsg_class) for head in family.heads}


def lsg_tasks(family: Family) -> dict:
    """task name (or Auto class name) → class, for every head of `family`."""
    classes = lsg_classes(family)
    return {task: classes[head.lsg_class] for head in family.heads for task in (*head.tasks, head.auto_class)}


def lsg_config_class(family: Family):
    return getattr(family_module(family), family.config_class)


def read_config_dict(path) -> dict:
    """config.json of a checkpoint folder (or the file itself) as a dict."""
    path = Path(path)
    file = path / "config.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"no config.json in {path}")
    return json.loads(file.read_text())


def weight_names(path) -> list[str]:
    """Parameter names of a folder's safetensors weights (or their index); [] when there are none."""
    path = Path(path)
    if not path.is_dir():
        return []
    index = path / "model.safetensors.index.json"
    if index.is_file():
        return list(json.loads(index.read_text()).get("weight_map", {}))
    weights = path / "model.safetensors"
    if weights.is_file():
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as handle:
            return list(handle.keys())
    return []


def has_global_embeddings(path, family: Family | None = None) -> bool:
    """True when the folder's safetensors weights (or their index) hold the family's global-token table."""
    family = family or family_of_config(read_config_dict(path))
    return any(name.endswith(family.global_embeddings_key) for name in weight_names(path))


def checkpoint_family(path) -> Family:
    """The family of a checkpoint folder (ValueError when lsgzoo has none for its model_type)."""
    return family_of_config(read_config_dict(path))


def is_lsg_checkpoint(path) -> bool:
    """Whether a local folder holds an LSG checkpoint of one of the families.

    Signs, any of: `base_model_prefix == "lsg"`, an LSG architecture name, LSG config keys (a
    config carrying `num_global_tokens`/`block_size`/...), or a `global_embeddings` weight. The
    model type must be one of the families'.
    """
    config = read_config_dict(path)
    try:
        family = family_of_config(config)
    except ValueError:
        return False
    if config.get("model_type") not in family.model_types:
        return False
    if config.get("base_model_prefix") == "lsg":
        return True
    if any(str(name) in family.lsg_classes for name in config.get("architectures") or ()):
        return True
    if any(key in config for key in LSG_KEYS if key != "adaptive"):
        return True
    return has_global_embeddings(path, family)


def lsg_class_for(path, task: str | None = None):
    """The LSG class of the checkpoint's family for `task` (a task or Auto class name of its heads), else
    from config.json's `architectures` (LSG or plain class names), else the family's default."""
    config = read_config_dict(path)
    family = family_of_config(config)
    classes = lsg_classes(family)
    if task is not None:
        return classes[family.head_for_task(task).lsg_class]
    for name in config.get("architectures") or ():
        try:
            return classes[family.head_named(str(name)).lsg_class]
        except KeyError:
            continue
    return classes[family.head_named(family.default_architecture).lsg_class]


def load_model(path, task: str | None = None, **kwargs):
    """Load an LSG checkpoint folder with the right lsgzoo class (the documented path).

    task: a task name of the family's heads (e.g. "seq2seq-lm", "sequence-classification",
    "question-answering", "base", "masked-lm"); None takes the class named in config.json.
    kwargs go to `from_pretrained`. A plain (unconverted) folder raises (convert it first).
    """
    if not is_lsg_checkpoint(path):
        name = checkpoint_family(path).display_name
        raise ValueError(
            f"{path} is not an LSG-{name} checkpoint (no LSG config keys, no global_embeddings weight); "
            f"convert a plain {name} checkpoint first (lsgzoo convert), or load it with transformers' {name} classes"
        )
    return lsg_class_for(path, task).from_pretrained(str(path), **kwargs)


def assert_lsg_model(model):
    """Return `model` if it is an lsgzoo LSG model, else raise `TypeError` saying how to load it.

    Catches the silent trap `AutoModel*.from_pretrained(lsg_folder)`, which returns the plain
    model (dense attention, globals dropped) without an error.
    """
    if isinstance(model, LSGLoadingMixin):
        return model
    config = getattr(model, "config", None)
    looks_lsg = config is not None and (
        getattr(config, "base_model_prefix", None) == "lsg"
        or any(getattr(config, key, None) is not None for key in ("num_global_tokens", "sparsity_type"))
    )
    source = getattr(config, "_name_or_path", "") or "the checkpoint"
    try:
        family = family_of_model(model)
    except (ValueError, AttributeError):
        family = None
    if looks_lsg:
        name = family.display_name if family else "base-family"
        example = f"{family.heads[0].lsg_class}.from_pretrained(path)" if family else "its LSG class"
        raise TypeError(
            f"{type(model).__name__} is plain transformers {name}, but {source} is an LSG-{name} checkpoint: its "
            f"global tokens and LSG attention are ignored and its outputs are wrong. transformers' Auto classes map "
            f"'model_type: {config.model_type}' to plain {name}; load it with lsgzoo.models.load_model(path) or "
            f"{example} (or the family's other head classes)."
        )
    plain = f"plain {family.display_name}" if family else "plain"
    raise TypeError(
        f"expected an lsgzoo LSG model, got {type(model).__name__}; convert {plain} checkpoints first "
        "(lsgzoo convert) and load them with lsgzoo.models.load_model(path)"
    )


__all__ = ["FAMILIES", "assert_lsg_model", "has_global_embeddings", "is_lsg_checkpoint", "load_model",
           "lsg_class_for", "lsg_classes", "lsg_tasks", "read_config_dict"]
