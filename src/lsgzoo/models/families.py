"""The model families: one table (`FAMILIES`), one row per family, from which everything generic derives.

A `Family` row says what differs between LSG-BART, LSG-BERT, ...: the source `model_type`(s) it
converts and loads, its config class and exported code module, its heads (`ModelHead` rows), and
the conversion facts (which weights hold the position tables, the global tokens and the token
embeddings). Loading (`models.loading`), conversion (`models.conversion`), export (`hub.export`),
the CLI and training read this table and never branch on a family name.

Adding a family = one model file (`models/modeling_lsg_<name>.py`: its config class and models,
built from the shared `models.lsg_config` and `models.lsg_encoder`; its heads come from the row,
`lsg_encoder.define_lsg_heads`) plus one row here. Names, not
classes: this module is part of the exported code and is imported before any model class exists.
"""

from dataclasses import dataclass

from lsgzoo.models.heads import ModelHead, encoder_heads, head_for_task, head_named, seq2seq_heads


@dataclass(frozen=True)
class Family:
    """What one family of LSG models is made of. Weight keys are relative to the base model.

    name: short name ("bart"); display_name: how cards and messages call it ("BART").
    model_types: `model_type` values of its plain and LSG config.json files (the first is written).
    config_class: the LSG config class; code_module: the module of `lsgzoo.models` holding the config
        and model classes, also the exported file name (`<code_module>.py`) and `auto_map` module.
    code_files: files under `lsgzoo/` exported after the shared model code, in dependency order.
    heads: the head table; default_architecture: the base class converted when neither the user nor
        the source's config.json names one.
    description: one sentence for the model card.
    position_keys: learned position tables tiled to the new length (the first gives the global
        tokens their position part); position_offset: extra rows in front of those tables (BART: 2);
        config_position_offset: what the converted config's `max_position_embeddings` adds to the new
        length (BART: 0, the original's rule per family).
    global_embeddings_key: the (512, d) global-token table; token_embeddings_key: the token
        embeddings whose bos / mask rows start the global tokens.
    token_type_key: a token-type table whose row 0 is added to every global token (BERT-like
        embeddings; the original's `use_token_ids`), or None.
    position_rule: how conversion brings `position_keys` to the new length: "tile" (learned tables,
        rows repeated) or "recompute" (tables computed by formula, e.g. Pegasus's sinusoidal ones: the
        converted model's own table of the new length, as the original's `resize_position_embeddings`).
    The conversion facts default to the BERT-like encoders' `embeddings` module (no offset rows).
    config_keys: what training's family-neutral model settings are called in this family's config
        (`model.dropout`, `model.attention_dropout`, the encoder head count `num_heads`, its FFN width `ffn_dim`), as
        (training name, config field) pairs; the default is BERT's names. The LSG config reads LSG
        attention's dropout and head count from "attention_dropout" and "num_heads" (`LSGConfigMixin.lsg_host_keys`).
    token_ids: the config's special-token ids a from-scratch model takes from its tokenizer, as
        (config field, tokenizer attribute) pairs; the default is the padding id only.
    """

    name: str
    display_name: str
    model_types: tuple[str, ...]
    config_class: str
    code_module: str
    code_files: tuple[str, ...]
    heads: tuple[ModelHead, ...]
    default_architecture: str
    description: str
    position_keys: tuple[str, ...] = ("embeddings.position_embeddings.weight",)
    position_offset: int = 0
    config_position_offset: int = 0
    global_embeddings_key: str = "embeddings.global_embeddings.weight"
    token_embeddings_key: str = "embeddings.word_embeddings.weight"
    token_type_key: str | None = None
    position_rule: str = "tile"
    config_keys: tuple[tuple[str, str], ...] = (
        ("dropout", "hidden_dropout_prob"), ("attention_dropout", "attention_probs_dropout_prob"),
        ("num_heads", "num_attention_heads"), ("ffn_dim", "intermediate_size"))
    token_ids: tuple[tuple[str, str], ...] = (("pad_token_id", "pad_token_id"),)

    def config_key(self, name: str) -> str:
        """The config field behind a family-neutral name ("dropout", "attention_dropout", "num_heads", "ffn_dim")."""
        keys = dict(self.config_keys)
        if name not in keys:
            raise KeyError(f"the {self.display_name} row of FAMILIES maps no {name!r}; it maps {sorted(keys)}")
        return keys[name]

    def training_overrides(self, **settings) -> dict:
        """Training names (dropout=..., attention_dropout=...) → this family's config fields."""
        return {self.config_key(name): value for name, value in settings.items()}

    def token_id_settings(self, tokenizer) -> dict:
        """The config's special-token ids read from `tokenizer` (those it has)."""
        return {field: getattr(tokenizer, attribute) for field, attribute in self.token_ids
                if getattr(tokenizer, attribute, None) is not None}

    def auto_map(self) -> dict:
        """`auto_map` of a checkpoint: AutoConfig and every head's Auto class → the shipped code module."""
        entries = {"AutoConfig": self.config_class, **{head.auto_class: head.lsg_class for head in self.heads}}
        return {auto: f"{self.code_module}.{name}" for auto, name in entries.items()}

    def head_named(self, name: str) -> ModelHead:
        """The head whose LSG, base or Auto class is `name` (KeyError naming the choices)."""
        return head_named(name, self.heads)

    def head_for_task(self, task: str) -> ModelHead:
        """The head a task name (or Auto class name) selects (ValueError naming the choices)."""
        return head_for_task(task, self.heads)

    @property
    def base_classes(self) -> tuple[str, ...]:
        """The transformers classes this family converts from (one per head)."""
        return tuple(head.base_class for head in self.heads)

    @property
    def lsg_classes(self) -> tuple[str, ...]:
        return tuple(head.lsg_class for head in self.heads)


def roberta_like(name: str, display_name: str, stem: str, model_type: str | None = None) -> Family:
    """The row of a family that is RoBERTa under another name in transformers (`<stem>Model`, ...): LSG-BERT's
    encoder (its code file ships too), the family's embeddings, whose positions count from padding_idx + 1
    (2 offset rows), and its heads (no pre-training head); model_type defaults to `name`."""
    return Family(
        name=name, display_name=display_name, model_types=(model_type or name,), config_class=f"LSG{stem}Config",
        code_module=f"modeling_lsg_{name}",
        code_files=("models/modeling_lsg_bert.py", f"models/modeling_lsg_{name}.py"),
        heads=encoder_heads(stem, without=("ForPreTraining",)),
        default_architecture=f"{stem}ForMaskedLM",
        description=f"{display_name} whose self-attention is LSG (Local + Sparse + Global); embeddings and heads are "
                    f"{display_name}'s.",
        position_offset=2, config_position_offset=2,
    )


# BART's names for training's model settings, and the special-token ids its from-scratch config takes from the
# tokenizer (decoder start and forced end: eos); mBART's and Pegasus's config fields are BART's.
SEQ2SEQ_CONFIG_KEYS = (("dropout", "dropout"), ("attention_dropout", "attention_dropout"),
                       ("num_heads", "encoder_attention_heads"), ("ffn_dim", "encoder_ffn_dim"))
SEQ2SEQ_TOKEN_IDS = (("pad_token_id", "pad_token_id"), ("bos_token_id", "bos_token_id"),
                     ("eos_token_id", "eos_token_id"), ("decoder_start_token_id", "eos_token_id"),
                     ("forced_eos_token_id", "eos_token_id"))


def bart_like(name: str, display_name: str, stem: str, code_files: tuple[str, ...] | None = None,
              without: tuple[str, ...] = (), description: str | None = None, **facts) -> Family:
    """The row of an encoder-decoder family laid out as BART (`<stem>Model`, `<stem>ForConditionalGeneration`,
    ...): `lsg_seq2seq` plus its model file shipped, `seq2seq_heads`, the shared token table, encoder and
    decoder position tables, the encoder's global tokens, BART's config names for training and special-token
    ids (`SEQ2SEQ_TOKEN_IDS`); `facts`: its other fields (offset rows, position rule, token ids)."""
    facts = {"config_keys": SEQ2SEQ_CONFIG_KEYS, "token_ids": SEQ2SEQ_TOKEN_IDS, **facts}
    return Family(
        name=name, display_name=display_name, model_types=(name,), config_class=f"LSG{stem}Config",
        code_module=f"modeling_lsg_{name}",
        code_files=code_files or ("models/lsg_seq2seq.py", f"models/modeling_lsg_{name}.py"),
        heads=seq2seq_heads(stem, without),
        default_architecture=f"{stem}ForConditionalGeneration",
        description=description or f"{display_name} whose encoder self-attention is LSG (Local + Sparse + Global); "
                                   f"decoder and heads are {display_name}'s.",
        position_keys=("encoder.embed_positions.weight", "decoder.embed_positions.weight"),
        global_embeddings_key="encoder.global_embeddings.weight", token_embeddings_key="shared.weight", **facts,
    )


FAMILIES = (
    bart_like("bart", "BART", "Bart", position_offset=2,
              code_files=("models/lsg_seq2seq.py", "models/configuration_lsg_bart.py", "models/modeling_lsg_bart.py")),
    bart_like("mbart", "mBART", "MBart", position_offset=2,
              description="mBART (or BARThez) whose encoder self-attention is LSG (Local + Sparse + Global); decoder "
                          "and heads are mBART's."),
    bart_like("pegasus", "Pegasus", "Pegasus", without=("ForQuestionAnswering", "ForSequenceClassification"),
              position_rule="recompute",  # sinusoidal tables; the decoder starts with the padding id, no bos
              token_ids=(("pad_token_id", "pad_token_id"), ("eos_token_id", "eos_token_id"),
                         ("decoder_start_token_id", "pad_token_id"), ("forced_eos_token_id", "eos_token_id"))),
    Family(
        name="bert", display_name="BERT", model_types=("bert",), config_class="LSGBertConfig",
        code_module="modeling_lsg_bert", code_files=("models/modeling_lsg_bert.py",),
        heads=encoder_heads("Bert"),
        default_architecture="BertForPreTraining",
        description="BERT whose self-attention is LSG (Local + Sparse + Global); embeddings and heads are BERT's.",
        token_type_key="embeddings.token_type_embeddings.weight",
    ),
    Family(
        name="distilbert", display_name="DistilBERT", model_types=("distilbert",), config_class="LSGDistilBertConfig",
        code_module="modeling_lsg_distilbert", code_files=("models/modeling_lsg_distilbert.py",),
        heads=encoder_heads("DistilBert", without=("ForPreTraining",)),
        default_architecture="DistilBertForMaskedLM",
        config_keys=(("dropout", "dropout"), ("attention_dropout", "attention_dropout"), ("num_heads", "n_heads"),
                     ("ffn_dim", "hidden_dim")),
        description="DistilBERT whose self-attention is LSG (Local + Sparse + Global); embeddings and heads are "
                    "DistilBERT's.",
    ),
    Family(
        name="albert", display_name="ALBERT", model_types=("albert",), config_class="LSGAlbertConfig",
        code_module="modeling_lsg_albert", code_files=("models/modeling_lsg_albert.py",),
        heads=encoder_heads("Albert"),
        default_architecture="AlbertForPreTraining",
        description="ALBERT whose self-attention is LSG (Local + Sparse + Global); factorised embeddings, shared "
                    "layers and heads are ALBERT's.",
        token_type_key="embeddings.token_type_embeddings.weight",
    ),
    roberta_like("roberta", "RoBERTa", "Roberta"),
    roberta_like("xlm_roberta", "XLM-RoBERTa", "XLMRoberta", model_type="xlm-roberta"),
    roberta_like("camembert", "CamemBERT", "Camembert"),
    Family(
        name="electra", display_name="ELECTRA", model_types=("electra",), config_class="LSGElectraConfig",
        code_module="modeling_lsg_electra",
        code_files=("models/modeling_lsg_bert.py", "models/modeling_lsg_electra.py"),
        heads=encoder_heads("Electra"),
        default_architecture="ElectraForPreTraining",
        description="ELECTRA whose self-attention is LSG (Local + Sparse + Global); embeddings and heads are "
                    "ELECTRA's.",
        token_type_key="embeddings.token_type_embeddings.weight",
    ),
)


def family_named(name: str) -> Family:
    """The row called `name` (ValueError listing the families)."""
    for family in FAMILIES:
        if family.name == name:
            return family
    raise ValueError(f"unknown model family {name!r}; lsgzoo knows {[f.name for f in FAMILIES]}")


def supported_model_types() -> list[str]:
    """Every `model_type` some family converts and loads, sorted."""
    return sorted(t for family in FAMILIES for t in family.model_types)


def family_for_model_type(model_type: str) -> Family:
    """The family converting/loading config.json files with this `model_type` (ValueError listing them)."""
    for family in FAMILIES:
        if model_type in family.model_types:
            return family
    raise ValueError(f"model_type {model_type!r} has no LSG family in lsgzoo; supported model types: "
                     f"{supported_model_types()}")


def family_of_class(name: str) -> Family | None:
    """The family one of whose heads is the LSG or base class `name`, else None."""
    for family in FAMILIES:
        if name in family.lsg_classes or name in family.base_classes or name == family.config_class:
            return family
    return None


def family_of_config(config: dict) -> Family:
    """The family of a config.json dict: its `auto_map` module, else its architectures, else its model_type."""
    modules = {str(target).rsplit(".", 1)[0].split("--")[-1] for target in (config.get("auto_map") or {}).values()}
    for family in FAMILIES:
        if family.code_module in modules:
            return family
    for name in config.get("architectures") or ():
        family = family_of_class(str(name))
        if family is not None:
            return family
    return family_for_model_type(str(config.get("model_type")))


def family_of_model(model) -> Family:
    """The family of a model object (LSG or plain transformers): its class, else its config."""
    for cls in type(model).__mro__:
        family = family_of_class(cls.__name__)
        if family is not None:
            return family
    return family_of_config(model.config.to_dict())
