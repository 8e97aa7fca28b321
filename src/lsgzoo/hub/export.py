"""Write a Hub-format folder that plain `transformers` loads with `trust_remote_code=True`.

The folder holds config.json (with `auto_map`), model.safetensors, the tokenizer,
a model card and the family's code file (`modeling_lsg_bart.py`, `modeling_lsg_bert.py`, ...):
lsgzoo's own model code (selectors, attention, the shared model modules, then the family's
files, as its row of `models.families` lists them) concatenated into one file, so it never
drifts from the package and needs no lsgzoo to import. Writing is atomic: everything goes to
a temporary sibling folder that is renamed into place only when complete.
"""

import ast
import json
import re
import shutil
import tempfile
from pathlib import Path

import lsgzoo
from lsgzoo.attention.keys import lsg_key_values
from lsgzoo.models.families import FAMILIES, Family, family_of_model

# Model-code modules every family ships, in dependency order (each imports only earlier ones);
# the family's own files (`Family.code_files`) follow them.
MODEL_CODE_MODULES = (
    "selectors/registry.py",
    "selectors/base.py",
    "selectors/none.py",
    "selectors/norm.py",
    "selectors/pooling.py",
    "selectors/stride.py",
    "selectors/block_stride.py",
    "selectors/bos_pooling.py",
    "selectors/bos_pooling_masked.py",
    "selectors/lsh.py",
    "attention/keys.py",
    "attention/layout.py",
    "attention/fused.py",
    "attention/flex.py",
    "attention/backends.py",
    "attention/config.py",
    "attention/lsg.py",
    "models/heads.py",
    "models/families.py",
    "models/lsg_config.py",
    "models/lsg_encoder.py",
)
LSGZOO_IMPORT = re.compile(r"^\s*(from lsgzoo[\w.]* import .*|import lsgzoo.*)$")


def model_code(family: Family = FAMILIES[0]) -> str:
    """One self-contained module with lsgzoo's model code for `family` (lsgzoo imports stripped)."""
    root = Path(lsgzoo.__file__).parent
    parts = [f'"""LSG-{family.display_name} model code generated from lsgzoo {lsgzoo.__version__}; do not edit."""\n']
    seen: dict[str, str] = {}
    for relative in (*MODEL_CODE_MODULES, *family.code_files):
        source = (root / relative).read_text()
        for node in ast.parse(source).body:
            for name in _defined_names(node):
                if name in seen:
                    raise RuntimeError(f"{relative} redefines {name!r} from {seen[name]}: rename one")
                seen[name] = relative
        kept = [line for line in source.splitlines() if not LSGZOO_IMPORT.match(line)]
        parts.append(f"\n# ---- lsgzoo/{relative} ----\n" + "\n".join(kept) + "\n")
    code = "".join(parts)
    ast.parse(code)
    return code


def _defined_names(node) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    return []


def model_card(model, extra: dict | None = None) -> str:
    """README.md with YAML front matter (tags, pipeline tag, LSG parameters) and loading instructions."""
    architecture = type(model).__name__
    family = family_of_model(model)
    head = family.head_named(architecture)
    config = model.config
    lsg = lsg_key_values(config)
    front = ["---", "library_name: transformers", f"pipeline_tag: {head.pipeline_tag}",
             "tags:", "- lsg", "- long-context", f"- {family.name}", "- lsgzoo", "lsg:"]
    front += [f"  {key}: {json.dumps(value)}" for key, value in lsg.items()]
    front += [f"max_position_embeddings: {config.max_position_embeddings}", "---", ""]
    auto = head.auto_class
    body = [
        f"# {architecture} (LSG attention, up to {config.max_position_embeddings} tokens)", "",
        f"{family.description} Exported by lsgzoo. "
        f"The model code ships in this folder (`{family.code_module}.py`); lsgzoo is not needed to load it.", "",
        "```python",
        f"from transformers import AutoTokenizer, {auto}",
        f'model = {auto}.from_pretrained("PATH_OR_REPO", trust_remote_code=True)',
        'tokenizer = AutoTokenizer.from_pretrained("PATH_OR_REPO")',
        "```", "",
        f"Without `trust_remote_code=True`, transformers loads plain {family.display_name} from this folder (the "
        f"config says `model_type: {config.model_type}`) and silently drops the global tokens: always pass it.", "",
        "## LSG parameters", "", "| key | value |", "|---|---|",
        *[f"| `{key}` | `{value}` |" for key, value in lsg.items()], "",
    ]
    for title, content in (extra or {}).items():
        body += [f"## {title}", "", "```json" if not isinstance(content, str) else "",
                 content if isinstance(content, str) else json.dumps(content, indent=2, default=str),
                 "```" if not isinstance(content, str) else "", ""]
    return "\n".join(front + body)


def write_hub_folder(model, out, tokenizer=None, card_sections: dict | None = None, overwrite: bool = False) -> Path:
    """Atomically write `model` (+ tokenizer) as a Hub folder at `out`; returns the path."""
    from lsgzoo.models import assert_lsg_model

    assert_lsg_model(model)
    family = family_of_model(model)
    from lsgzoo.selectors.registry import get_selector_class

    sparsity_type = model.config.sparsity_type
    if sparsity_type is not None and get_selector_class(sparsity_type).__module__.split(".")[0] != "lsgzoo":
        raise ValueError(f"sparsity_type={sparsity_type!r} is a selector defined outside lsgzoo; the exported "
                         "code only carries the built-in selectors")
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; choose a new folder or pass overwrite=True (--overwrite)")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model.config.auto_map = family.auto_map()
        model.config.architectures = [type(model).__name__]
        model.save_pretrained(staging, safe_serialization=True)  # writes auto_map into config.json
        for stray in staging.glob("*.py"):
            stray.unlink()
        (staging / f"{family.code_module}.py").write_text(model_code(family))
        if tokenizer is not None:
            tokenizer.save_pretrained(staging)
        (staging / "README.md").write_text(model_card(model, card_sections))
        if out.exists():
            backup = out.with_name(f".{out.name}.old")
            out.rename(backup)
            staging.rename(out)
            shutil.rmtree(backup)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def export_model(source, out, task: str | None = None, overwrite: bool = False,
                 card_sections: dict | None = None) -> Path:
    """Export `source` to a Hub folder `out`.

    source: an LSG checkpoint folder (any family), or a training run dir (its best checkpoint, whose
    summary and attention settings go into the model card).
    """
    from lsgzoo.training.rundir import is_run_dir, load_run_model, read_summary

    if is_run_dir(source):
        if task is not None:
            raise ValueError(f"task={task!r}: a run dir exports the model class it was trained with; omit --task")
        model, tokenizer = load_run_model(source, "best")
        summary = read_summary(source) or {}
        run_card = {key: summary[key] for key in ("data", "monitor", "best_score", "global_step", "attention")
                    if key in summary}
        card_sections = {"Training run": {"run_dir": str(source), **run_card}, **(card_sections or {})}
        return write_hub_folder(model, out, tokenizer, card_sections, overwrite)
    from lsgzoo.models import load_model

    model = load_model(source, task)
    tokenizer = None
    if any((Path(source) / name).exists() for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json")):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(source))
    return write_hub_folder(model, out, tokenizer, card_sections, overwrite)
