"""The LSG keys: the one place that names them and gives their types and model defaults.

`LSGKeys` is the single source. Everything else derives from its fields: `LSGAttentionConfig`
(adds the host model's values and validates), `LSGBartConfig` (inherits the fields, so they are
read from and written to config.json under these names), the Hydra schema of `conf/attention`
(this dataclass, whose yaml files override values only), the model card and checkpoint detection.
A key added here is a checkpoint field, a Hydra key and a sweepable setting at once; the keys that
shape the pattern are also `lsgzoo convert` flags and the first columns of sweep tables.

Defaults are the original LSG-BART's (block 128, sparse block 128, factor 2, "norm"). This
module imports nothing heavy, so the Hydra entry point builds its schema without torch.
"""

from dataclasses import dataclass, field, fields

AUTO_BACKEND = "auto"


def _pattern(default, flag_help: str):
    """A key that shapes the attention pattern: a core column of sweep tables and a `lsgzoo convert` flag."""
    return field(default=default, metadata={"pattern": True, "help": flag_help})


@dataclass(kw_only=True)
class LSGKeys:
    """The LSG settings a checkpoint, a Hydra run and an attention module share.

    sparsity_type: registered selector name (None / "none": local + global only).
    block_size: local block length `bs`; each query block sees 3·bs local keys.
    sparse_block_size: `sbs`, compressed sparse keys on each side of the local window (0/None: none).
    sparsity_factor: `sf`, compression ratio of the sparse selector (≤ 0: no sparse keys).
    num_global_tokens: `g` learned global tokens prepended to the encoder input, in [1, 512].
    lsh_num_pre_rounds: pre-hashing rounds of the "lsh" selector.
    mask_first_token: hide real token 0 as a key (and, in LSG-BART, from cross-attention).
    adaptive: right-pad inputs longer than 2·bs to a multiple of bs.
    lsg_backend: how LSG attention is computed: "auto" (the fastest for the device), "fused", "flex",
        "sdpa" or "eager" (the readable reference); see `attention.backends`. Not an original key:
        files without it get the default.
    pass_global_tokens_to_decoder: the encoder keeps the global outputs in front of its output.
    pool_with_global: when globals are not passed, real token 0 takes global 0's output.

    The last two are encoder-level (what the encoder hands the decoder), not attention-level; they
    live here so that a config has one key list and one validation (`mask_first_token` needs
    `pool_with_global`), and the attention ignores them.
    """

    sparsity_type: str | None = _pattern("norm", "sparse selector: none, norm, pooling, lsh, stride, block_stride, "
                                                 "bos_pooling, ...")
    block_size: int = _pattern(128, "local block size")
    sparse_block_size: int | None = _pattern(128, "sparse block size, 0 = none")
    sparsity_factor: int = _pattern(2, "sparse compression factor")
    num_global_tokens: int = _pattern(1, "global tokens, 1-512")
    lsh_num_pre_rounds: int = 1
    mask_first_token: bool = False
    adaptive: bool = True
    lsg_backend: str = AUTO_BACKEND
    pass_global_tokens_to_decoder: bool = True
    pool_with_global: bool = True


LSG_KEYS = tuple(key.name for key in fields(LSGKeys))
PATTERN_FIELDS = tuple(key for key in fields(LSGKeys) if key.metadata.get("pattern"))
LSG_PATTERN_KEYS = tuple(key.name for key in PATTERN_FIELDS)


def lsg_key_values(source) -> dict:
    """{key: value} of the LSG keys of any object carrying them (a model config, an attention config)."""
    return {key: getattr(source, key) for key in LSG_KEYS}
