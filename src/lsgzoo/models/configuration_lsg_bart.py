"""`LSGBartConfig`: BART's configuration plus the LSG attention keys (spec §1).

The file format is the original LSG-BART one: `model_type` stays "bart", the
instance attribute `base_model_prefix` is "lsg" (it marks a checkpoint as LSG),
and `auto_map` always points at the six classes of module `modeling_lsg_bart`.
Because `model_type` is "bart", this config cannot be registered with
`AutoConfig` (the slot belongs to plain BART): load LSG checkpoints by class, or
with `lsgzoo.models.load_model`, which reads config.json and picks the LSG class.

Validation runs on every construction, so also on `from_pretrained`:
`validate_attention_settings` raises `ValueError` for unknown selectors and
combinations that would crash at forward time, and clamps `num_global_tokens`
to [1, 512] with a warning (as the original did); `mask_first_token` without
`pool_with_global` is corrected to `pool_with_global=True` with a warning.
"""

import warnings

from huggingface_hub.dataclasses import strict
from transformers import BartConfig

from lsgzoo.attention.backends import DEFAULT_BACKEND
from lsgzoo.attention.config import validate_attention_settings

LSG_BART_AUTO_MAP = {
    "AutoConfig": "modeling_lsg_bart.LSGBartConfig",
    "AutoModel": "modeling_lsg_bart.LSGBartModel",
    "AutoModelForCausalLM": "modeling_lsg_bart.LSGBartForCausalLM",
    "AutoModelForQuestionAnswering": "modeling_lsg_bart.LSGBartForQuestionAnswering",
    "AutoModelForSeq2SeqLM": "modeling_lsg_bart.LSGBartForConditionalGeneration",
    "AutoModelForSequenceClassification": "modeling_lsg_bart.LSGBartForSequenceClassification",
}

# The config keys LSG adds to BART (all serialised); `base_model_prefix` and `auto_map` are format markers.
LSG_BART_CONFIG_KEYS = (
    "adaptive",
    "block_size",
    "lsg_backend",
    "lsh_num_pre_rounds",
    "mask_first_token",
    "num_global_tokens",
    "pass_global_tokens_to_decoder",
    "pool_with_global",
    "sparse_block_size",
    "sparsity_factor",
    "sparsity_type",
)


@strict
class LSGBartConfig(BartConfig):
    r"""BART configuration with LSG (Local + Sparse + Global) encoder self-attention.

    adaptive: right-pad encoder inputs longer than 2·block_size to a multiple of block_size.
    base_model_prefix: always "lsg" in files (marks the checkpoint as LSG; model classes use prefix "model").
    block_size: local block length; each query block sees 3·block_size local keys.
    lsg_backend: how the encoder computes LSG attention: "auto" (default: the fastest for the device), "fused",
        "flex", "sdpa" or "eager" (the readable reference); same outputs within 1e-5 in fp32.
        Not an original LSG key (files without it get the default).
    lsh_num_pre_rounds: pre-hashing rounds of the "lsh" selector.
    mask_first_token: hide real token 0 as a key (encoder) and from cross-attention.
    num_global_tokens: learned global tokens prepended to the encoder input, in [1, 512].
    pass_global_tokens_to_decoder: keep the global outputs in front of the encoder output.
    pool_with_global: when globals are not passed, real token 0 takes global 0's output.
    sparse_block_size: compressed sparse keys on each side of the local window (0/None: no sparse keys).
    sparsity_factor: compression ratio of the sparse selector (≤ 0: no sparse keys).
    sparsity_type: registered selector name (None / "none": local + global only).
    """

    adaptive: bool = True
    base_model_prefix: str = "lsg"
    block_size: int = 128
    lsg_backend: str = DEFAULT_BACKEND
    lsh_num_pre_rounds: int = 1
    mask_first_token: bool = False
    num_global_tokens: int = 1
    pass_global_tokens_to_decoder: bool = True
    pool_with_global: bool = True
    sparse_block_size: int | None = 128
    sparsity_factor: int = 2
    sparsity_type: str | None = "norm"
    auto_map: dict | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self.base_model_prefix = "lsg"
        self.auto_map = dict(LSG_BART_AUTO_MAP)
        validate_attention_settings(self)
        if self.mask_first_token and not self.pool_with_global:
            warnings.warn(
                "mask_first_token=True requires pool_with_global=True (token 0 is hidden, so it takes the "
                "first global token's output): setting pool_with_global=True",
                stacklevel=2,
            )
            self.pool_with_global = True
        misspelled = getattr(self, "lsg_num_pre_rounds", None)
        if misspelled is not None and misspelled != self.lsh_num_pre_rounds:
            warnings.warn(
                f"config key 'lsg_num_pre_rounds'={misspelled} is not used (the LSH key is "
                f"'lsh_num_pre_rounds', here {self.lsh_num_pre_rounds})",
                stacklevel=2,
            )

    def lsg_settings(self) -> dict:
        """The LSG keys and their values."""
        return {key: getattr(self, key) for key in LSG_BART_CONFIG_KEYS}

