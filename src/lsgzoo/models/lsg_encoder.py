"""The LSG-encoder steps every family shares (spec §2.2): padding, global tokens, output trim, loading.

A family's encoder (`models/modeling_lsg_<name>.py`) embeds its tokens its own way and runs its
own layer class with `self_attn` swapped for LSG attention; around that it uses these steps:

* `padded_input_length` / `right_pad` / `pad_inputs`: adaptive right-padding to a multiple of
  block_size (ids with pad_token_id, embeddings and hidden states with 0, mask with 0).
* `prepend_global_tokens`: the first g rows of the (512, d) global table in front of the sequence.
* `trim_encoder_output`: keep the globals in front (pass_global_tokens_to_decoder), or pool global 0
  into token 0 (pool_with_global) and drop them; padded rows are dropped either way.
* `first_token_masked`, `lsg_cross_attention_mask`: the 2-D mask under `mask_first_token`, and
  the mask a seq2seq decoder's cross-attention sees.
* `LSGEmbeddingsMixin`: a family's embeddings with the g learned global tokens in front.
* `lsg_encode`: pad, (project,) run the layers, trim: an encoder's forward on (n, g + t, ·) inputs.
* `LSGBaseModelMixin`: a family's base model (its embeddings and encoder classes; forward: embeddings →
  `lsg_encode` → pooler).
* `LSGHeadMixin`: a transformers head class whose base model is swapped for the LSG one.
* `define_lsg_heads`: a family's head classes, built from its row of `models.families`.
* `LSGLoadingMixin`: `from_pretrained` warning about randomly initialised weights
  (`LSGMissingWeightsWarning`) and naming an unreadable safetensors file.
"""

import sys
import warnings

import torch
import transformers
from transformers.modeling_outputs import BaseModelOutput, BaseModelOutputWithPoolingAndCrossAttentions

from lsgzoo.attention.config import MAX_GLOBAL_TOKENS
from lsgzoo.attention.layout import padded_length
from lsgzoo.models.lsg_config import define_class


def padded_input_length(config, length: int, max_positions: int | None = None) -> int:
    """tp for an input of `length` tokens (spec §2.2 step 3); ValueError past `max_positions`."""
    padded = padded_length(length, config.block_size, config.adaptive)  # raises for adaptive=False, bad length
    if max_positions is not None and padded > max_positions:
        raise ValueError(
            f"encoder input of {length} tokens (padded to {padded}, a multiple of block_size={config.block_size}) is "
            f"longer than max_position_embeddings={max_positions}; truncate the input or convert the "
            "checkpoint to a longer maximum length"
        )
    return padded


def right_pad(x, extra: int, value=0):
    """x (n, t, ...) → (n, t + extra, ...), new rows filled with `value`."""
    if extra == 0:
        return x
    return torch.cat([x, x.new_full((x.shape[0], extra, *x.shape[2:]), value)], dim=1)


def padding_mask_for(attention_mask, source):
    """The given 2-D mask, or ones (n, t) in the input's float dtype (long for ids)."""
    if attention_mask is not None:
        return attention_mask
    dtype = source.dtype if source.is_floating_point() else torch.long
    return torch.ones(source.shape[:2], dtype=dtype, device=source.device)


def pad_inputs(config, input_ids, attention_mask, inputs_embeds, max_positions: int | None = None):
    """Adaptive right-padding of the inputs to tp: ids with pad_token_id, embeds with 0, mask with 0.

    Returns (input_ids, attention_mask, inputs_embeds); unchanged (mask may stay None) when tp == t.
    """
    source = input_ids if input_ids is not None else inputs_embeds
    extra = padded_input_length(config, source.shape[1], max_positions) - source.shape[1]
    if extra == 0:
        return input_ids, attention_mask, inputs_embeds
    attention_mask = right_pad(padding_mask_for(attention_mask, source), extra, 0)  # (n, tp)
    if input_ids is not None:
        return right_pad(input_ids, extra, config.pad_token_id), attention_mask, inputs_embeds
    return input_ids, attention_mask, right_pad(inputs_embeds, extra, 0.0)


def prepend_global_tokens(global_rows, hidden_states):
    """global_rows (g, D), hidden_states (n, t, D) → (n, g + t, D) with the global rows in front."""
    global_tokens = global_rows.unsqueeze(0).expand(hidden_states.shape[0], -1, -1)  # (n, g, D)
    return torch.cat([global_tokens.to(hidden_states.dtype), hidden_states], dim=1)


def trim_encoder_output(hidden_states, all_hidden_states, config, length: int, pass_global_tokens: bool):
    """The encoder output of `length` real tokens from the layers' (n, g + tp, D) (spec §2.2 step 9).

    pass_global_tokens: keep the first g + t rows → (n, g + t, D). Otherwise, with pool_with_global,
    token 0 takes global 0's output (the original's in-place `out[:, g] = out[:, 0]`, as values; the
    last entry of `all_hidden_states`, aliased with the output in the original, shows it too), then
    the globals are dropped → (n, t, D). Returns (last_hidden_state, all_hidden_states).
    """
    g = config.num_global_tokens
    if pass_global_tokens:
        return hidden_states[:, : g + length], all_hidden_states  # (n, g + t, D)
    if config.pool_with_global:
        hidden_states = torch.cat([hidden_states[:, :g], hidden_states[:, :1], hidden_states[:, g + 1:]], 1)
        if all_hidden_states:
            all_hidden_states[-1] = hidden_states
    return hidden_states[:, g: g + length], all_hidden_states  # (n, t, D)


def first_token_masked(attention_mask, config):
    """Under mask_first_token, a copy of the 2-D mask with column 0 zeroed (the caller's is never mutated)."""
    if not config.mask_first_token or attention_mask is None:
        return attention_mask
    attention_mask = attention_mask.clone()
    attention_mask[:, 0] = 0
    return attention_mask


def lsg_cross_attention_mask(attention_mask, config):
    """The 2-D encoder mask as a seq2seq decoder must see it (spec §2.2 decoder side, §7).

    Never mutates `attention_mask`. mask_first_token: column 0 of a copy is zeroed
    (the original zeroed it in place, so cross-attention hid token 0 too).
    pass_global_tokens_to_decoder: left-pad with g ones (globals always visible).
    None stays None (unmasked cross-attention, as in the original).
    """
    if attention_mask is None:
        return None
    attention_mask = first_token_masked(attention_mask, config)
    if config.pass_global_tokens_to_decoder:
        ones = attention_mask.new_ones(attention_mask.shape[0], config.num_global_tokens)
        attention_mask = torch.cat([ones, attention_mask], dim=1)  # (n, g + t)
    return attention_mask


class LSGEmbeddingsMixin:
    """A transformers embeddings class → (n, g + t, e) with the g learned global tokens in front.

    `class LSG<Name>Embeddings(LSGEmbeddingsMixin, <Name>Embeddings)`: the host embeds the tokens its own way
    (called with keywords); the globals (`global_embeddings.weight`, 512 rows as wide as the word embeddings:
    embedding_size for ALBERT) get no position or token type, only the host's LayerNorm and dropout. Both act
    per row, so applying them to the globals apart equals the original's LayerNorm of the concatenation.
    """

    def __init__(self, config):
        super().__init__(config)
        self.num_global_tokens = config.num_global_tokens
        self.global_embeddings = torch.nn.Embedding(MAX_GLOBAL_TOKENS, self.word_embeddings.embedding_dim)

    def forward(self, **inputs):
        tokens = super().forward(**inputs)  # (n, t, e)
        globals_ = self.dropout(self.LayerNorm(self.global_embeddings.weight[: self.num_global_tokens]))  # (g, e)
        return prepend_global_tokens(globals_, tokens)  # (n, g + t, e)


def lsg_encode(config, hidden_states, attention_mask, layers, output_hidden_states: bool = False, project=None,
               **kwargs) -> BaseModelOutput:
    """An LSG encoder's forward (spec §2.2 steps 3, 9) on embeddings (n, g + t, e), g global rows first.

    The embeddings are right-padded with zeros to a block multiple (as the original, before `project`,
    ALBERT's embedding → hidden mapping, if given), each of `layers` (callables (hidden, mask, **kwargs)
    → hidden, the LSG self-attention inside) gets the 2-D padding mask (n, tp) of the real positions
    (attention_mask (n, t), 1 = real, or None); the output pools global 0 into token 0 (pool_with_global)
    and keeps the t real rows → (n, t, d). hidden_states (if asked) are untrimmed (n, g + tp, d), the
    first one after `project`.
    """
    g = config.num_global_tokens
    t = hidden_states.shape[1] - g
    extra = padded_input_length(config, t) - t
    if extra or attention_mask is not None:
        attention_mask = right_pad(padding_mask_for(attention_mask, hidden_states[:, g:]), extra, 0)  # (n, tp)
    hidden_states = right_pad(hidden_states, extra, 0.0)  # (n, g + tp, e)
    if project is not None:
        hidden_states = project(hidden_states)  # (n, g + tp, d)
    all_hidden_states = [hidden_states] if output_hidden_states else None
    for layer in layers:
        hidden_states = layer(hidden_states, attention_mask, **kwargs)
        if output_hidden_states:
            all_hidden_states.append(hidden_states)
    last_hidden_state, all_hidden_states = trim_encoder_output(hidden_states, all_hidden_states, config, t, False)
    return BaseModelOutput(last_hidden_state=last_hidden_state,
                           hidden_states=tuple(all_hidden_states) if output_hidden_states else None)


UNUSED_ENCODER_ARGUMENTS = ("encoder_hidden_states", "encoder_attention_mask", "head_mask", "output_attentions",
                            "use_cache", "cache", "past_key_values")


class LSGBaseModelMixin:
    """An encoder family's LSG base model: `embeddings` (the g globals in front) → its encoder (attribute
    `lsg_encoder_attribute`, whose forward is `lsg_encode`) → (n, t, d) and `lsg_pool`'s output.

    `class LSG<Name>Model(LSGBaseModelMixin, LSG<Name>PreTrainedModel, <Name>Model)` names
    `lsg_embeddings_class` and `lsg_encoder_class`: the transformers model's own `__init__` builds the rest
    (pooler, ELECTRA's `embeddings_project`), then its embeddings and encoder are replaced by those.
    `lsg_projection_attribute`: a module, where the model has one, mapping the embeddings (n, g + t, e) to
    the hidden size before the encoder pads them (ELECTRA's `embeddings_project`, present when embedding_size
    differs from hidden_size). Inputs are the family's (token_type_ids only where it has token types);
    `head_mask`, cross-attention and cache arguments are not supported (as the original's encoder, attentions
    are None).
    """

    lsg_embeddings_class = None
    lsg_encoder_class = None
    lsg_encoder_attribute = "encoder"
    lsg_projection_attribute = None

    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)  # the transformers base model, whose parts are replaced:
        self.embeddings = self.lsg_embeddings_class(config)
        setattr(self, self.lsg_encoder_attribute, self.lsg_encoder_class(config))
        self.post_init()

    def lsg_pool(self, sequence_output):
        """The pooled output of (n, t, d): the family's pooler on token 0 (global 0's output under
        pool_with_global), or None (no pooler, or switched off)."""
        pooler = getattr(self, "pooler", None)
        return pooler(sequence_output) if pooler is not None else None

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, output_hidden_states: bool | None = None, return_dict: bool | None = None,
                **kwargs):
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds")
        for unused in UNUSED_ENCODER_ARGUMENTS:
            kwargs.pop(unused, None)
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        embedded = {"input_ids": input_ids, "position_ids": position_ids, "inputs_embeds": inputs_embeds}
        if token_type_ids is not None:
            embedded["token_type_ids"] = token_type_ids
        embeddings = self.embeddings(**embedded)  # (n, g + t, e)
        project = getattr(self, self.lsg_projection_attribute, None) if self.lsg_projection_attribute else None
        if project is not None:
            embeddings = project(embeddings)  # (n, g + t, d)
        encoder = getattr(self, self.lsg_encoder_attribute)
        encoded = encoder(embeddings, attention_mask, output_hidden_states=output_hidden_states, **kwargs)
        sequence_output = encoded.last_hidden_state  # (n, t, d)
        output = BaseModelOutputWithPoolingAndCrossAttentions(
            last_hidden_state=sequence_output, pooler_output=self.lsg_pool(sequence_output),
            hidden_states=encoded.hidden_states,
        )
        return output if return_dict is not False else output.to_tuple()


class LSGMissingWeightsWarning(UserWarning):
    """Weights absent from a checkpoint were randomly initialised (e.g. a plain checkpoint loaded into an LSG class)."""


def warn_missing_weights(missing_keys, source) -> None:
    """Warn (Python warning, not only a log line) when loading left parameters randomly initialised."""
    missing = sorted(key for key in missing_keys if not key.endswith("final_logits_bias"))
    if not missing:
        return
    hint = ""
    if any("global_embeddings" in key for key in missing):
        hint = (
            " `global_embeddings` is missing: this looks like a plain (non-LSG) checkpoint, whose outputs "
            "are meaningless under LSG attention until it is converted (lsgzoo convert)."
        )
    warnings.warn(
        f"{len(missing)} weight(s) missing from {source} were randomly initialised: {missing[:8]}"
        f"{' ...' if len(missing) > 8 else ''}.{hint}",
        LSGMissingWeightsWarning,
        stacklevel=3,
    )


class LSGLoadingMixin:
    """`from_pretrained` of the LSG models: transformers' (weights_only `.bin` loading, tied weights,
    loading report) plus an `LSGMissingWeightsWarning` for weights left randomly initialised and an
    `OSError` naming the path of an unreadable safetensors file. Put it first in the bases."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        want_info = kwargs.pop("output_loading_info", False)
        try:
            model, info = super().from_pretrained(
                pretrained_model_name_or_path, *model_args, output_loading_info=True, **kwargs
            )
        except Exception as error:
            if type(error).__name__ != "SafetensorError":
                raise
            raise OSError(
                f"cannot read the safetensors weights of {pretrained_model_name_or_path}: {error} "
                "(truncated or corrupted file? save or download it again)"
            ) from error
        warn_missing_weights(info.get("missing_keys", ()), pretrained_model_name_or_path)
        return (model, info) if want_info else model


class LSGHeadMixin:
    """A head class built by its transformers head's own `__init__`, whose base model is then swapped for
    the family's LSG base model (the first head of its `models.families` row, same pooling layer choice).

    `LSG<Name>For<Task>(LSGHeadMixin, LSG<Name>PreTrainedModel, <Name>For<Task>)`, built by `define_lsg_heads`:
    the head layers, tied weights and `forward` stay transformers'; only the base model is LSG.
    """

    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        prefix = self.base_model_prefix
        plain = getattr(self, prefix)
        base_class = getattr(sys.modules[type(self).__module__], config.lsg_family().heads[0].lsg_class)
        pooling = {"add_pooling_layer": plain.pooler is not None} if hasattr(plain, "pooler") else {}
        setattr(self, prefix, base_class(config, **pooling))
        self.post_init()


def define_lsg_heads(namespace: dict, pretrained_class) -> None:
    """Define a family's head classes in its model module (`namespace`: the module's `globals()`) from its row
    of `models.families` (the row is the one list of heads): `LSG<Name>For<Task>(LSGHeadMixin,
    pretrained_class, <Name>For<Task>)`, without `LSGHeadMixin` for a decoder-only head (`ModelHead.lsg_base`).
    Heads the module already defines (its base model, declared by hand) are left as they are."""
    family = pretrained_class.config_class.lsg_family()
    base_model = family.heads[0].lsg_class
    for head in family.heads:
        if head.lsg_class in namespace:
            continue
        if head.lsg_base:
            bases, doc = (LSGHeadMixin,), f"transformers' `{head.base_class}` on `{base_model}` (`LSGHeadMixin`)."
        else:
            bases, doc = (), f"transformers' `{head.base_class}` with the LSG config (decoder only: nothing LSG runs)."
        bases = (*bases, pretrained_class, getattr(transformers, head.base_class))
        define_class(namespace, head.lsg_class, bases, doc)
