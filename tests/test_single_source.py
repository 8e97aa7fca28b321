"""One source of truth: the LSG keys, the head table, and one validation per config.

The LSG keys are written once (`attention.keys.LSGKeys`); the model config, the attention config,
the Hydra schema, the model card and the exported code derive from it, and a scan of src/ and
conf/ fails if the key list is written out again. The model heads are one table
per family (`models.families`) that every head mapping derives from.
"""

import ast
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lsgzoo.attention import config as attention_config
from lsgzoo.attention.config import LSGAttentionConfig
from lsgzoo.attention.keys import LSG_KEYS, LSG_PATTERN_KEYS, LSGKeys
from lsgzoo.models import (FAMILIES, LSG_BART_CLASSES, LSG_BART_HEADS, LSG_BART_TASKS, LSGBartConfig,
                           LSGBartForConditionalGeneration)
from lsgzoo.models.configuration_lsg_bart import LSG_BART_AUTO_MAP

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "lsgzoo" / "attention" / "keys.py"
HOST_FIELDS = ("attention_dropout", "num_heads")


# ---------------------------------------------------------------- the key list is written once


def key_list_copies(path: Path, text: str) -> list[str]:
    """Places in a Python file that write the LSG key list out again (≥ 3 key names), as 'path:line what'."""
    keys = set(LSG_KEYS)
    found = []

    def names(nodes):
        return {n.value for n in nodes if isinstance(n, ast.Constant) and n.value in keys}

    for node in ast.walk(ast.parse(text)):
        where = f"{path}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(names(node.elts)) >= 3:
            found.append(f"{where} a sequence of key names")
        elif isinstance(node, ast.Dict) and len(names(node.keys)) >= 3:
            found.append(f"{where} a dict keyed by key names")
        elif isinstance(node, ast.ClassDef):
            declared = {s.target.id for s in node.body if isinstance(s, ast.AnnAssign)
                        and isinstance(s.target, ast.Name) and s.target.id in keys}
            if len(declared) >= 3:
                found.append(f"{where} class {node.name} declares the keys")
        elif isinstance(node, ast.Call):
            copied = [k.arg for k in node.keywords if k.arg in keys
                      and isinstance(k.value, ast.Attribute) and k.value.attr == k.arg]
            if len(copied) >= 5:
                found.append(f"{where} copies the keys attribute by attribute")
    return found


def test_the_key_list_appears_once_in_src():
    copies = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        if path != SOURCE:
            copies += key_list_copies(path.relative_to(ROOT), path.read_text())
    assert not copies, "the LSG key list is written out again; derive it from lsgzoo.attention.keys:\n" + "\n".join(
        copies)
    assert key_list_copies(SOURCE, SOURCE.read_text()), "the scan must see the source itself"


@pytest.mark.parametrize("snippet", [
    'KEYS = ("block_size", "sparsity_type", "num_global_tokens")',
    'DEFAULTS = {"block_size": 8, "sparse_block_size": 8, "sparsity_factor": 4}',
    "class Schema:\n    block_size: int = 8\n    sparsity_factor: int = 4\n    lsg_backend: str = 'auto'",
    "LSGAttentionConfig(block_size=c.block_size, sparse_block_size=c.sparse_block_size, sparsity_factor="
    "c.sparsity_factor, sparsity_type=c.sparsity_type, num_global_tokens=c.num_global_tokens)",
])
def test_the_scan_finds_each_kind_of_copy(snippet):
    assert key_list_copies(Path("x.py"), snippet)


def test_attention_yaml_files_override_values_only():
    """conf/attention/*.yaml set values that differ from the schema's (the dataclass's) defaults, nothing else."""
    defaults = {field.name: field.default for field in dataclasses.fields(LSGKeys)}
    for path in sorted((ROOT / "conf" / "attention").glob("*.yaml")):
        values = {k: v for k, v in yaml.safe_load(path.read_text()).items() if k != "defaults"}
        assert set(values) <= set(LSG_KEYS), f"{path.name}: {set(values) - set(LSG_KEYS)} are not LSG keys"
        repeated = [key for key, value in values.items() if value == defaults[key]]
        assert not repeated, f"{path.name} repeats the schema defaults of {repeated}: leave them to LSGKeys"


# ---------------------------------------------------------------- the others derive from it


def test_model_config_inherits_the_keys_unchanged():
    """LSGBartConfig's LSG fields are LSGKeys' own Field objects (same name, type, default), not redeclared."""
    model_fields = LSGBartConfig.__dataclass_fields__
    for field in dataclasses.fields(LSGKeys):
        assert model_fields[field.name] is field, f"LSGBartConfig redeclares {field.name}"
    defaults = LSGBartConfig()
    assert defaults.lsg_settings() == {field.name: field.default for field in dataclasses.fields(LSGKeys)}
    assert set(defaults.to_dict()) >= set(LSG_KEYS) and "_lsg_attention" not in defaults.to_dict()


def test_attention_config_is_the_keys_plus_the_host_values():
    names = [field.name for field in dataclasses.fields(LSGAttentionConfig)]
    assert names == [*LSG_KEYS, *HOST_FIELDS]
    assert all(LSGAttentionConfig.__dataclass_fields__[k] is LSGKeys.__dataclass_fields__[k] for k in LSG_KEYS)
    assert set(LSG_PATTERN_KEYS) < set(LSG_KEYS) and LSG_PATTERN_KEYS[0] == "sparsity_type"


def test_hydra_schema_is_the_key_dataclass_and_the_yaml_overrides_values():
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    from lsgzoo.training.config import attention_settings, compose_config, register_schemas

    register_schemas()
    node = ConfigStore.instance().load("attention/lsg_schema.yaml").node
    assert OmegaConf.to_container(node) == dataclasses.asdict(LSGKeys())
    cfg = compose_config()
    assert list(cfg.attention) == list(LSG_KEYS)
    settings = attention_settings(cfg)
    assert (settings["block_size"], settings["sparsity_type"]) == (8, "pooling")  # conf/attention/lsg.yaml
    assert settings["num_global_tokens"] == LSGKeys().num_global_tokens  # the model default, not a copy
    LSGBartConfig(**settings)  # every Hydra key is a model config key


def test_schema_import_does_not_load_torch():
    code = ("import sys; from lsgzoo.training.config import register_schemas; register_schemas(); "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


def test_model_card_and_exported_code_carry_the_keys_from_the_source():
    from lsgzoo.hub.export import model_card, model_code

    tree = ast.parse(model_code())
    # classes and module-level names (the config is `LSGBartConfig = define_lsg_config(...)`), in order
    defined = [name for node in tree.body
               for name in ([node.name] if isinstance(node, ast.ClassDef) else
                            [t.id for t in getattr(node, "targets", ()) if isinstance(t, ast.Name)])]
    assert defined.count("LSGKeys") == 1 and defined.index("LSGKeys") < defined.index("LSGBartConfig")
    model = LSGBartForConditionalGeneration(tiny_config())
    front = model_card(model).split("---")[1]
    for key in LSG_KEYS:
        assert f"\n  {key}: " in front, key


# ---------------------------------------------------------------- one backend key name


def test_the_backend_key_has_one_name():
    assert "lsg_backend" in LSG_KEYS and "backend" not in LSG_KEYS
    assert "backend" not in LSGAttentionConfig.__dataclass_fields__
    with pytest.raises(TypeError, match="backend"):
        LSGAttentionConfig(backend="eager")
    with pytest.raises(ValueError, match="lsg_backend='triton'"):
        LSGBartConfig(lsg_backend="triton")


# ---------------------------------------------------------------- validated once


def tiny_config(**overrides):
    settings = dict(vocab_size=64, d_model=16, encoder_layers=4, decoder_layers=1, encoder_attention_heads=2,
                    decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=256,
                    block_size=8, sparse_block_size=8, sparsity_factor=2, sparsity_type="norm")
    return LSGBartConfig(**{**settings, **overrides})


@pytest.fixture
def validations(monkeypatch):
    calls = []
    real = attention_config.validate_attention_settings

    def counting(cfg):
        calls.append(cfg)
        real(cfg)

    monkeypatch.setattr(attention_config, "validate_attention_settings", counting)
    return calls


@pytest.mark.parametrize("layers", [1, 4])
def test_a_model_validates_its_settings_once_and_shares_them(validations, layers):
    config = tiny_config(encoder_layers=layers)
    model = LSGBartForConditionalGeneration(config)
    assert len(validations) == 1
    shared = {id(layer.self_attn.attention.config) for layer in model.model.encoder.layers}
    assert shared == {id(config.lsg_attention)}  # selectors are built from that same object


def test_loading_validates_once(validations, tmp_path):
    LSGBartForConditionalGeneration(tiny_config()).save_pretrained(tmp_path)
    validations.clear()
    LSGBartForConditionalGeneration.from_pretrained(tmp_path, block_size=16, sparse_block_size=16)
    assert len(validations) == 1 and validations[0].block_size == 16


def test_assigning_a_key_validates_again_at_the_next_model(validations):
    config = tiny_config()
    config.sparsity_type = "pooling"
    assert len(validations) == 1
    model = LSGBartForConditionalGeneration(config)
    assert len(validations) == 2 and model.model.encoder.layers[0].self_attn.attention.config.sparsity_type == "pooling"
    config.block_size = 6
    with pytest.raises(ValueError, match="block_size"):
        LSGBartForConditionalGeneration(config)


def test_hydra_validates_once(validations):
    from lsgzoo.training.config import compose_config

    compose_config(["attention.block_size=16", "attention.sparse_block_size=16"])
    assert len(validations) == 1


def test_corrections_of_a_loaded_file_reach_the_model_config(tmp_path):
    tiny_config().save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**saved, "mask_first_token": True, "pool_with_global": False,
                                                      "num_global_tokens": 600}))
    with pytest.warns(UserWarning) as caught:
        config = LSGBartConfig.from_pretrained(tmp_path)
    assert {"pool_with_global=False", "num_global_tokens=600"} <= {
        part for warning in caught for part in ("pool_with_global=False", "num_global_tokens=600")
        if part in str(warning.message)}
    assert config.pool_with_global and config.lsg_attention.pool_with_global
    assert config.num_global_tokens == config.lsg_attention.num_global_tokens == 512


def test_constructed_configs_are_refused_not_corrected():
    with pytest.raises(ValueError, match="pool_with_global=True"):
        tiny_config(mask_first_token=True, pool_with_global=False)
    with pytest.raises(ValueError, match=r"num_global_tokens=600 is out of range: it must be an integer in \[1, 512\]"):
        tiny_config(num_global_tokens=600)


# ---------------------------------------------------------------- one head table


def test_every_head_mapping_derives_from_the_table():
    from lsgzoo.hub.export import model_card

    assert set(LSG_BART_CLASSES) == {head.lsg_class for head in LSG_BART_HEADS}
    assert set(LSG_BART_AUTO_MAP) == {"AutoConfig", *(head.auto_class for head in LSG_BART_HEADS)}
    assert LSG_BART_TASKS["seq2seq"] is LSGBartForConditionalGeneration  # data.task names are task names
    card = model_card(LSGBartForConditionalGeneration(tiny_config()))
    assert "pipeline_tag: summarization" in card and "AutoModelForSeq2SeqLM" in card


@pytest.mark.parametrize("family", FAMILIES, ids=lambda family: family.name)
def test_each_family_derives_its_mappings_from_its_row(family):
    import transformers

    import lsgzoo.models as models
    from lsgzoo.models.conversion import lsg_architecture
    from lsgzoo.models.loading import lsg_classes, lsg_config_class, lsg_tasks

    classes, tasks, auto_map = lsg_classes(family), lsg_tasks(family), family.auto_map()
    config_class = lsg_config_class(family)
    assert config_class().auto_map == auto_map and config_class.lsg_family() is family
    assert set(auto_map) == {"AutoConfig", *(head.auto_class for head in family.heads)}
    assert getattr(models, family.config_class) is config_class
    for head in family.heads:
        cls = classes[head.lsg_class]
        assert issubclass(cls, getattr(transformers, head.base_class)) and cls.config_class is config_class
        assert auto_map[head.auto_class] == f"{family.code_module}.{head.lsg_class}"
        assert all(tasks[task] is cls for task in (*head.tasks, head.auto_class))
        assert lsg_architecture(head.base_class, None) == head.lsg_class
        assert getattr(models, head.lsg_class) is cls  # importable from lsgzoo.models, resolved by the table


def head_list_copies(path: Path, text: str) -> list[str]:
    """Places in a Python file that list a family's head classes again (≥ 3 LSG class names of one family;
    `__all__` export lists do not count)."""
    found = []
    tree = ast.parse(text)
    exports = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Assign)
               and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)) and id(node) not in exports:
            elements = node.keys if isinstance(node, ast.Dict) else node.elts
            names = {n.value for n in elements if isinstance(n, ast.Constant)}
            for family in FAMILIES:
                if len(names & set(family.lsg_classes)) >= 3:
                    found.append(f"{path}:{node.lineno} lists {family.name}'s heads")
    return found


def test_the_head_lists_appear_once_in_src():
    table = ROOT / "src" / "lsgzoo" / "models" / "families.py"
    # lsgzoo/__init__.py names BART's classes for `__all__` without importing torch (other families'
    # classes resolve through the table on first use)
    exempt = {table, ROOT / "src" / "lsgzoo" / "__init__.py"}
    copies = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        if path not in exempt:
            copies += head_list_copies(path.relative_to(ROOT), path.read_text())
    assert not copies, "a family's heads are listed outside models/families.py:\n" + "\n".join(copies)
    assert head_list_copies(table, table.read_text()) == []  # rows hold ModelHead calls, not name lists
    assert head_list_copies(Path("x.py"), 'X = ("LSGMBartModel", "LSGMBartForCausalLM", "LSGMBartForQuestionAnswering")')


def test_loading_helpers_live_in_their_module_and_stay_importable():
    import lsgzoo.models as models
    from lsgzoo.models import loading

    for name in ("load_model", "is_lsg_checkpoint", "assert_lsg_model", "lsg_class_for", "read_config_dict"):
        assert getattr(models, name) is getattr(loading, name)
        assert getattr(loading, name).__module__ == "lsgzoo.models.loading"


@pytest.mark.parametrize("family", FAMILIES, ids=lambda family: family.name)
def test_the_exported_code_binds_every_auto_map_class(family, tmp_path):
    """The heads are built from the row (`define_lsg_heads`), so the export's AST check cannot see them: import
    the generated file on its own and look up every `auto_map` class, as transformers' remote code does."""
    import importlib.util

    from lsgzoo.hub.export import model_code

    path = tmp_path / f"{family.code_module}.py"
    path.write_text(model_code(family))
    spec = importlib.util.spec_from_file_location(f"exported_{family.code_module}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        for target in family.auto_map().values():
            cls = getattr(module, target.split(".")[-1])
            assert cls.__module__ == spec.name and cls.__qualname__ == target.split(".")[-1]
    finally:
        del sys.modules[spec.name]
