"""Convert a plain checkpoint of any family (local folder or hub name) into its LSG model (spec §6).

The family comes from the source's config.json (`models.families`); its row says which position
tables are tiled to the new length, where the 512 global-token embeddings live and which token
embeddings (and token-type row) start them, so the result equals the original converter's on the
same source. Unlike the original, lengths whose tiling would come out short (e.g. 4097 from
BART-large) get a complete table.
"""

import logging

import torch

from lsgzoo.attention.config import MAX_GLOBAL_TOKENS
from lsgzoo.models.families import Family, family_of_class, family_of_config
from lsgzoo.models.loading import lsg_classes, lsg_config_class

logger = logging.getLogger(__name__)


def lsg_architecture(requested: str | None, source_config, family: Family | None = None) -> str:
    """The LSG class name for `requested` (or the source's own architecture, else the family's default)."""
    if family is None:
        family = family_of_config(source_config.to_dict()) if source_config is not None else family_of_class(requested)
    name = requested or (getattr(source_config, "architectures", None) or [family.default_architecture])[0]
    try:
        return family.head_named(name).lsg_class
    except KeyError:
        raise ValueError(f"architecture={name.removeprefix('LSG')!r} cannot be converted; "
                         f"choose one of {list(family.base_classes)}") from None


def tile_positions(table: torch.Tensor, max_length: int, offset: int = 0) -> torch.Tensor:
    """(offset + n, d) learned positions → (offset + max_length, d): offset rows kept, then rows repeat
    with period n."""
    rows = table[offset:]
    index = torch.arange(max_length) % rows.shape[0]
    return torch.cat([table[:offset], rows[index]])


def new_positions(family: Family, source_table: torch.Tensor, target_table: torch.Tensor, max_length: int):
    """A position table of the converted model, by the family's `position_rule`: "tile" the source's
    learned rows (`tile_positions`), or "recompute" (formula tables: the target's own, built for the new length)."""
    if family.position_rule == "tile":
        return tile_positions(source_table, max_length, family.position_offset)
    if family.position_rule == "recompute":
        return target_table.clone()
    raise ValueError(f"family {family.name!r}: unknown position_rule {family.position_rule!r}")


def global_positions(positions: torch.Tensor, stride: int = 64, generator=None) -> torch.Tensor:
    """(n, d) source positions (offset rows removed) → (512, d) position part of the global tokens.

    Brings the n rows to n' (a multiple of 512: truncated, or completed with rows drawn from a
    normal with the columns' mean/std when n < 512), keeps every f-th row (f = n'/512), then
    interleaves them with stride s = stride/f: row k = kept[(k mod r)·s + k // r], r = 512/s.
    """
    n, width = positions.shape
    if n % MAX_GLOBAL_TOKENS:
        if n > MAX_GLOBAL_TOKENS:
            positions = positions[: MAX_GLOBAL_TOKENS * (n // MAX_GLOBAL_TOKENS)]
        else:
            mean, std = positions.mean(0), positions.std(0)
            extra = torch.randn(MAX_GLOBAL_TOKENS - n, width, generator=generator, dtype=positions.dtype)
            positions = torch.cat([positions, mean + std * extra])
    factor = positions.shape[0] // MAX_GLOBAL_TOKENS
    kept = positions[::factor]
    step = stride // factor
    if step < 1 or MAX_GLOBAL_TOKENS % step:
        raise ValueError(f"global_positional_stride={stride} must be a multiple of {factor} dividing 512·{factor}")
    per_round = MAX_GLOBAL_TOKENS // step
    k = torch.arange(MAX_GLOBAL_TOKENS)
    return kept[(k % per_round) * step + k // per_round]


def global_embeddings(token_embeddings, positions, bos_id: int, mask_id: int | None, *, token_type=None,
                      stride: int = 64, random_init: bool = False, generator=None) -> torch.Tensor:
    """(512, d) initial global tokens: positions + E[bos] for token 0, + E[<mask>] for the others,
    + the token-type row `token_type` (d,) if given.

    positions: the source's (n, d) position rows (offset rows removed).
    random_init: token parts drawn from a normal fitted to the embeddings (token 0 keeps E[bos]).
    """
    positions = global_positions(positions, stride, generator)
    if random_init:
        mean = token_embeddings.mean(0)
        covariance = torch.cov(token_embeddings.T) + 1e-6 * torch.eye(token_embeddings.shape[1])
        normal = torch.distributions.MultivariateNormal(mean.double(), covariance_matrix=covariance.double())
        tokens = normal.sample((MAX_GLOBAL_TOKENS,)).to(token_embeddings.dtype)
    else:
        if mask_id is None:
            raise ValueError("the tokenizer has no mask token: pass random_global_init=True")
        tokens = token_embeddings[mask_id].expand(MAX_GLOBAL_TOKENS, -1).clone()
    tokens[0] = token_embeddings[bos_id]
    if token_type is None:
        return positions + tokens
    if random_init:  # the original adds the token type to the positions and again to draw 0
        tokens[0] = tokens[0] + token_type
        return tokens + (positions + token_type)
    return positions + tokens + token_type


def base_prefix(model) -> str:
    """The key prefix of the base model's weights in `model`'s state dict ("model." for a BART head, "" for the
    base model itself): position and global-token keys of `Family` are relative to it."""
    return model.base_model_prefix + "." if hasattr(model, model.base_model_prefix) else ""


def convert_to_lsg(source, max_length: int = 4096, *, architecture: str | None = None,
                   random_global_init: bool = False, global_positional_stride: int = 64,
                   keep_first_global_token: bool = False, resize_lsg: bool = False, use_token_ids: bool = True,
                   seed: int = 123, **lsg_settings):
    """Build the LSG model (and tokenizer) of a checkpoint folder or hub name of any family in `FAMILIES`.

    lsg_settings: LSG config keys (block_size, sparse_block_size, sparsity_factor, sparsity_type,
    num_global_tokens, ...); validated before any weight is loaded. use_token_ids: add the token-type
    row 0 to the global tokens (families with a token-type table, as the original).
    Returns (model, tokenizer or None, report) where report lists copied/new/dropped weights.
    """
    import transformers
    from transformers import AutoConfig

    source = str(source)
    source_config = AutoConfig.from_pretrained(source)
    family = family_of_config(source_config.to_dict())
    if max_length < 1:
        raise ValueError(f"max_length={max_length} must be positive")
    classes = lsg_classes(family)
    source_is_lsg = (getattr(source_config, "base_model_prefix", None) == "lsg"
                     or hasattr(source_config, "sparsity_type"))
    target_name = lsg_architecture(architecture, source_config, family)
    settings = {k: v for k, v in source_config.to_dict().items() if k not in ("architectures", "auto_map")}
    settings.update(lsg_settings, max_position_embeddings=max_length + family.config_position_offset,
                    architectures=[target_name])
    config = lsg_config_class(family)(**settings)

    source_head = family.head_named((getattr(source_config, "architectures", None) or [family.default_architecture])[0])
    if source_is_lsg:
        source_model = classes[source_head.lsg_class].from_pretrained(source)
    else:
        source_model = getattr(transformers, source_head.base_class).from_pretrained(source)
    tokenizer = _load_tokenizer(source, max_length)

    torch.manual_seed(seed)
    target = classes[target_name](config)
    source_state, target_state = source_model.state_dict(), target.state_dict()
    source_prefix, target_prefix = base_prefix(source_model), base_prefix(target)
    new_state, dropped = {}, []
    for key, value in source_state.items():
        name = target_prefix + key[len(source_prefix):] if key.startswith(source_prefix) else key
        if name in target_state and target_state[name].shape == value.shape:
            new_state[name] = value
        elif not name.endswith((*family.position_keys, family.global_embeddings_key)):
            dropped.append(key)

    offset = family.position_offset
    for key in family.position_keys:
        new_state[target_prefix + key] = new_positions(family, source_state[source_prefix + key],
                                                       target_state[target_prefix + key], max_length)
    global_key = target_prefix + family.global_embeddings_key
    if not (source_is_lsg and resize_lsg):
        token_type = None
        if family.token_type_key is not None and use_token_ids:
            token_type = source_state[source_prefix + family.token_type_key][0]
        generator = torch.Generator().manual_seed(seed)
        globals_ = global_embeddings(
            source_state[source_prefix + family.token_embeddings_key],
            source_state[source_prefix + family.position_keys[0]][offset:],
            _bos_id(tokenizer, config), getattr(tokenizer, "mask_token_id", None), token_type=token_type,
            stride=global_positional_stride, random_init=random_global_init, generator=generator,
        )
        if source_is_lsg and keep_first_global_token:
            globals_[0] = source_state[source_prefix + family.global_embeddings_key][0]
        new_state[global_key] = globals_
    missing, unexpected = target.load_state_dict(new_state, strict=False)
    tied = {k for k in missing if k.endswith(("embed_tokens.weight", "lm_head.weight", "decoder.weight"))}
    report = {"copied": sorted(new_state), "new": sorted(set(missing) - tied), "dropped": dropped}
    if report["new"]:
        logger.warning("weights not in the source, left at their initialisation: %s", report["new"])
    if dropped:
        logger.warning("source weights with no place in %s: %s", target_name, dropped)
    target.eval()
    return target, tokenizer, report


convert_bart_to_lsg = convert_to_lsg  # the name of the BART-only era; converts every family


def _load_tokenizer(source: str, max_length: int):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as error:
        logger.warning("no tokenizer loaded from %s (%s); the output will have none", source, error)
        return None
    tokenizer.model_max_length = max_length
    return tokenizer


def _bos_id(tokenizer, config) -> int:
    for name in ("bos_token_id", "cls_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            return value
    return config.bos_token_id
