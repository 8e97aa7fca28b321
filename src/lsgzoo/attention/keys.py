"""The LSG keys: the one place that names them and gives their types and model defaults.

`LSGKeys` is the single source. Everything else derives from its fields: `LSGAttentionConfig`
(adds the host model's values and validates), `LSGBartConfig` (inherits the fields, so they are
read from and written to config.json under these names), the Hydra schema of `conf/attention`
(this dataclass, whose yaml files override values only), the model card and checkpoint detection.
A key added here is a checkpoint field, a Hydra key and a sweepable setting at once; the keys that
shape the pattern are also `lsgzoo convert` flags and the first columns of sweep tables.

Each key's valid range is part of its field (`KeyRange`, in the field's metadata): `key_problem`
checks a value against it, and `LSGAttentionConfig`'s validation, the model configs, the Hydra run's
`ConfigError`, the `lsgzoo convert` flags and docs/user-errors.md all read it from there. Names that a
registry owns (selectors, backends) are checked against that registry by `attention.config`.

Defaults are the original LSG-BART's (block 128, sparse block 128, factor 2, "norm"). This
module imports nothing heavy, so the Hydra entry point builds its schema without torch.
"""

from dataclasses import dataclass, field, fields

AUTO_BACKEND = "auto"


@dataclass(frozen=True)
class KeyRange:
    """The values an LSG key accepts: `kind` (int, bool or str), an inclusive [minimum, maximum] for ints
    (None: unbounded), whether None is allowed, and for names the registry that owns them (text only)."""

    kind: type
    minimum: int | None = None
    maximum: int | None = None
    allow_none: bool = False
    registry: str | None = None

    def text(self) -> str:
        """The range in words, e.g. "an integer in [1, 512]" (what error messages and the docs show)."""
        if self.kind is bool:
            words = "true or false"
        elif self.kind is str:
            words = f"a name {self.registry}"
        elif self.minimum is not None and self.maximum is not None:
            words = f"an integer in [{self.minimum}, {self.maximum}]"
        elif self.minimum is not None:
            words = f"an integer >= {self.minimum}"
        else:
            words = "an integer"
        return f"{words} or null" if self.allow_none else words

    def contains(self, value) -> bool:
        if value is None:
            return self.allow_none
        if self.kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            return False
        if not isinstance(value, self.kind):
            return False
        return ((self.minimum is None or value >= self.minimum)
                and (self.maximum is None or value <= self.maximum))


def _key(default, valid: KeyRange, fix: str, flag_help: str | None = None):
    """An LSG key: its default, valid range and the fix an error suggests; `flag_help` marks a key that
    shapes the attention pattern (a core column of sweep tables and a `lsgzoo convert` flag)."""
    metadata = {"range": valid, "fix": fix}
    if flag_help is not None:
        metadata.update(pattern=True, help=flag_help)
    return field(default=default, metadata=metadata)


MAX_GLOBAL_TOKENS = 512


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
    causal: a query never sees a later position (decoder-only models): block w sees its own block
        causally and block w − 1, sparse tokens of blocks ≤ w − 2 only, and the globals (docs/causal.md).
        Not an original key: files without it get the default (False, the encoder's pattern).
    pass_global_tokens_to_decoder: the encoder keeps the global outputs in front of its output.
    pool_with_global: when globals are not passed, real token 0 takes global 0's output.

    The last two are encoder-level (what the encoder hands the decoder), not attention-level; they
    live here so that a config has one key list and one validation (`mask_first_token` needs
    `pool_with_global`), and the attention ignores them.
    """

    sparsity_type: str | None = _key(
        "norm", KeyRange(str, allow_none=True, registry="of the selector registry (none: local + global only)"),
        "use a registered selector such as norm, pooling or none",
        "sparse selector: none, norm, pooling, lsh, stride, block_stride, bos_pooling, ...")
    block_size: int = _key(128, KeyRange(int, minimum=1), "use a positive block length such as 64 or 128",
                           "local block size")
    sparse_block_size: int | None = _key(128, KeyRange(int, minimum=0, allow_none=True),
                                         "use 0 (or null) to disable sparse keys, else e.g. 128",
                                         "sparse block size, 0 = none")
    sparsity_factor: int = _key(2, KeyRange(int), "use an integer such as 2, 4 or 8 (<= 0 disables sparse keys)",
                                "sparse compression factor")
    num_global_tokens: int = _key(1, KeyRange(int, minimum=1, maximum=MAX_GLOBAL_TOKENS),
                                  f"use between 1 and {MAX_GLOBAL_TOKENS} global tokens (the format needs one)",
                                  f"global tokens, 1-{MAX_GLOBAL_TOKENS}")
    lsh_num_pre_rounds: int = _key(1, KeyRange(int, minimum=0), "use 0 or more pre-hashing rounds (default 1)")
    mask_first_token: bool = _key(False, KeyRange(bool), "use true or false")
    adaptive: bool = _key(True, KeyRange(bool), "use true or false")
    lsg_backend: str = _key(AUTO_BACKEND, KeyRange(str, registry="of attention.backends"),
                            "use auto (the fastest for the device) or a backend named in attention.backends")
    causal: bool = _key(False, KeyRange(bool), "use true (decoder-only, no look-ahead) or false (encoder)")
    pass_global_tokens_to_decoder: bool = _key(True, KeyRange(bool), "use true or false")
    pool_with_global: bool = _key(True, KeyRange(bool), "use true or false")

LSG_KEYS = tuple(key.name for key in fields(LSGKeys))
PATTERN_FIELDS = tuple(key for key in fields(LSGKeys) if key.metadata.get("pattern"))
LSG_PATTERN_KEYS = tuple(key.name for key in PATTERN_FIELDS)


KEY_FIELDS = {key.name: key for key in fields(LSGKeys)}


def key_range(name: str) -> KeyRange:
    """The valid range of LSG key `name`."""
    return KEY_FIELDS[name].metadata["range"]


def key_problem(name: str, value) -> str | None:
    """None when `value` is in key `name`'s range, else the one-line error: key, value, range and fix."""
    valid = key_range(name)
    if valid.contains(value):
        return None
    return f"{name}={value!r} is out of range: it must be {valid.text()}; {KEY_FIELDS[name].metadata['fix']}"


def lsg_key_values(source) -> dict:
    """{key: value} of the LSG keys of any object carrying them (a model config, an attention config)."""
    return {key: getattr(source, key) for key in LSG_KEYS}
