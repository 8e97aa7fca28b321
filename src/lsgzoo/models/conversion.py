"""Convert a plain BART checkpoint (local folder or hub name) into LSG-BART (spec §6).

Position tables (encoder and decoder) are tiled from the source to the new
length, and the 512 global-token embeddings are initialised from the source
positions and token embeddings exactly as the original converter does, so the
result equals the original's on the same source. Unlike the original, lengths
whose tiling would come out short (e.g. 4097 from BART-large) get a complete table.
"""

import logging

import torch

from lsgzoo.attention.config import MAX_GLOBAL_TOKENS
from lsgzoo.models import LSG_BART_CLASSES, LSG_BART_HEADS, LSGBartConfig
from lsgzoo.models.heads import head_named

logger = logging.getLogger(__name__)

POSITION_OFFSET = 2  # BART's learned positions keep 2 extra rows in front
BART_ARCHITECTURES = tuple(head.base_class for head in LSG_BART_HEADS)


def lsg_architecture(requested: str | None, source_config) -> str:
    """The LSG class name for `requested` (or the source's own architecture, else seq2seq)."""
    name = requested or (getattr(source_config, "architectures", None) or ["BartForConditionalGeneration"])[0]
    try:
        return head_named(name).lsg_class
    except KeyError:
        raise ValueError(f"architecture={name.removeprefix('LSG')!r} cannot be converted; "
                         f"choose one of {list(BART_ARCHITECTURES)}") from None


def tile_positions(table: torch.Tensor, max_length: int) -> torch.Tensor:
    """(2 + n, d) learned positions → (2 + max_length, d): offset rows kept, then rows repeat with period n."""
    rows = table[POSITION_OFFSET:]
    index = torch.arange(max_length) % rows.shape[0]
    return torch.cat([table[:POSITION_OFFSET], rows[index]])


def global_positions(table: torch.Tensor, stride: int = 64, generator=None) -> torch.Tensor:
    """(2 + n, d) source positions → (512, d) position part of the global tokens.

    Brings the n rows to n' (a multiple of 512: truncated, or completed with rows drawn from a
    normal with the columns' mean/std when n < 512), keeps every f-th row (f = n'/512), then
    interleaves them with stride s = stride/f: row k = kept[(k mod r)·s + k // r], r = 512/s.
    """
    positions = table[POSITION_OFFSET:]
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


def global_embeddings(token_embeddings, position_table, bos_id: int, mask_id: int | None, *,
                      stride: int = 64, random_init: bool = False, generator=None) -> torch.Tensor:
    """(512, d) initial global tokens: positions + E[bos] for token 0, + E[<mask>] for the others.

    random_init: token parts drawn from a normal fitted to the embeddings (token 0 keeps E[bos]).
    """
    positions = global_positions(position_table, stride, generator)
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
    return positions + tokens


def _base_prefix(model) -> str:
    return model.base_model_prefix + "." if hasattr(model, model.base_model_prefix) else ""


def convert_bart_to_lsg(source, max_length: int = 4096, *, architecture: str | None = None,
                        random_global_init: bool = False, global_positional_stride: int = 64,
                        keep_first_global_token: bool = False, resize_lsg: bool = False, seed: int = 123,
                        **lsg_settings):
    """Build an LSG-BART model (and tokenizer) from a BART checkpoint folder or hub name.

    lsg_settings: LSG config keys (block_size, sparse_block_size, sparsity_factor, sparsity_type,
    num_global_tokens, ...); validated before any weight is loaded.
    Returns (model, tokenizer or None, report) where report lists copied/new/dropped weights.
    """
    import transformers
    from transformers import AutoConfig

    source = str(source)
    source_config = AutoConfig.from_pretrained(source)
    if source_config.model_type != "bart":
        raise ValueError(f"{source} is a {source_config.model_type!r} checkpoint; only BART can be converted")
    if max_length < 1:
        raise ValueError(f"max_length={max_length} must be positive")
    source_is_lsg = getattr(source_config, "base_model_prefix", None) == "lsg" or hasattr(source_config, "sparsity_type")
    target_name = lsg_architecture(architecture, source_config)
    settings = {k: v for k, v in source_config.to_dict().items() if k not in ("architectures", "auto_map")}
    settings.update(lsg_settings, max_position_embeddings=max_length, architectures=[target_name])
    config = LSGBartConfig(**settings)

    source_head = head_named((getattr(source_config, "architectures", None) or ["BartForConditionalGeneration"])[0])
    if source_is_lsg:
        source_model = LSG_BART_CLASSES[source_head.lsg_class].from_pretrained(source)
    else:
        source_model = getattr(transformers, source_head.base_class).from_pretrained(source)
    tokenizer = _load_tokenizer(source, max_length)

    torch.manual_seed(seed)
    target = LSG_BART_CLASSES[target_name](config)
    source_state, target_state = source_model.state_dict(), target.state_dict()
    source_prefix, target_prefix = _base_prefix(source_model), _base_prefix(target)
    new_state, dropped = {}, []
    for key, value in source_state.items():
        name = target_prefix + key[len(source_prefix):] if key.startswith(source_prefix) else key
        if name in target_state and target_state[name].shape == value.shape:
            new_state[name] = value
        elif "embed_positions" not in name and "global_embeddings" not in name:
            dropped.append(key)

    base = target_prefix
    for side in ("encoder", "decoder"):
        key = f"{base}{side}.embed_positions.weight"
        new_state[key] = tile_positions(source_state[f"{source_prefix}{side}.embed_positions.weight"], max_length)
    global_key = f"{base}encoder.global_embeddings.weight"
    if not (source_is_lsg and resize_lsg):
        bos_id = _bos_id(tokenizer, config)
        mask_id = getattr(tokenizer, "mask_token_id", None)
        generator = torch.Generator().manual_seed(seed)
        globals_ = global_embeddings(
            source_state[f"{source_prefix}shared.weight"],
            source_state[f"{source_prefix}encoder.embed_positions.weight"],
            bos_id, mask_id, stride=global_positional_stride, random_init=random_global_init, generator=generator,
        )
        if source_is_lsg and keep_first_global_token:
            globals_[0] = source_state[global_key.replace(base, source_prefix, 1)][0]
        new_state[global_key] = globals_
    missing, unexpected = target.load_state_dict(new_state, strict=False)
    tied = {k for k in missing if k.endswith(("embed_tokens.weight", "lm_head.weight"))}
    report = {"copied": sorted(new_state), "new": sorted(set(missing) - tied), "dropped": dropped}
    if report["new"]:
        logger.warning("weights not in the source, left at their initialisation: %s", report["new"])
    if dropped:
        logger.warning("source weights with no place in %s: %s", target_name, dropped)
    target.eval()
    return target, tokenizer, report


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
