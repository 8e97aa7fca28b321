"""What the encoder-decoder families (BART, mBART, Pegasus) share: LSG encoder layers, the encoder
forward and the model forward (cross-attention mask).

A family's model file (`models/modeling_lsg_<name>.py`) is one call of `define_bart_like`, which builds
its classes from transformers' module of the family (token and position embeddings, encoder layer,
decoder, heads: BART's names with the family's stem), given what differs: the encoder's class
attributes, how its encoder embeds tokens if not as BART (`token_embeddings`, `embed`, in a mixin) and
its decoder inputs by default; everything else is here, written once:

* `LSGEncoderLayerMixin`: the family's encoder layer with `self_attn` swapped for `LSGSelfAttention`
  (same q/k/v/out_proj names, so checkpoint keys are the family's).
* `LSGSeq2SeqEncoderMixin` (spec §2.2): the encoder's modules from class attributes, and `forward`: pad to a block multiple, embed (`embed`), prepend
  the global tokens (no position, no scaling), the optional `layernorm_embedding` (BART, mBART),
  dropout, the layers, the optional final `layer_norm` (pre-LN families: mBART, Pegasus; it replaces
  the last hidden state, as in those families), trim.
* `LSGSeq2SeqModelMixin`: `__init__` (shared embeddings, LSG encoder, the family's decoder) and
  `forward`, whose decoder cross-attention sees `lsg_cross_attention_mask`; decoder inputs default
  to `default_decoder_input_ids(input_ids)` (the family's shift, or none).

Heads are transformers' head classes with the base model swapped (`lsg_encoder.LSGHeadMixin`, as for
the encoder families).
"""

import dataclasses
import functools
import math

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutput, Seq2SeqModelOutput
from transformers.modeling_utils import PreTrainedModel
from transformers.utils import can_return_tuple

from lsgzoo.attention.config import MAX_GLOBAL_TOKENS
from lsgzoo.attention.lsg import LSGSelfAttention
from lsgzoo.models.families import family_of_class
from lsgzoo.models.lsg_config import define_class, define_lsg_config
from lsgzoo.models.lsg_encoder import LSGLoadingMixin, define_lsg_heads, first_token_masked, lsg_cross_attention_mask, pad_inputs, prepend_global_tokens, trim_encoder_output  # noqa: E501

# transformers renamed the decoder cache from `past_key_values` to `cache` (argument and output field) during 5.x.
LSG_CACHE_FIELD = "cache" if "cache" in {f.name for f in dataclasses.fields(Seq2SeqModelOutput)} else "past_key_values"


class LSGEncoderLayerMixin:
    """Put first in the bases of a family's encoder layer: `self_attn` becomes `LSGSelfAttention`.

    The attention receives the 2-D padding mask (n, tp) of the real positions (1 = real, globals
    excluded) as `attention_mask`. Every layer shares the config's one validated
    `LSGAttentionConfig` (`config.lsg_attention`): no per-layer validation.
    """

    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.self_attn = LSGSelfAttention(config.d_model, config.encoder_attention_heads, config.lsg_attention)


class LSGSeq2SeqEncoderMixin:
    """The LSG encoder (spec §2.2); put first in the bases of a family's encoder.

    Modules, built from the class attributes: `embed_tokens` (`token_embeddings`, by default a
    `token_embedding_class(vocab, d_model, pad, embed_scale=...)`), `embed_positions`
    (`position_embedding_class(max_position_embeddings, d_model)`), `global_embeddings` (512, d_model),
    `layers` (`layer_class`, given `layer_idx` when `layers_take_index`), `layernorm_embedding` if
    `embedding_norm` (applied after the globals are prepended) and `layer_norm` if `final_norm`
    (applied after the last layer). `embed` is BART's (scaled tokens + learned positions); a family
    with other embeddings overrides `token_embeddings` and `embed`.
    """

    token_embedding_class = None
    position_embedding_class = None
    layer_class = None
    layers_take_index = False
    embedding_norm = True
    final_norm = False

    def __init__(self, config):
        super().__init__(config)
        self.dropout = config.dropout
        self.layerdrop = config.encoder_layerdrop
        embed_dim = config.d_model
        self.padding_idx = config.pad_token_id
        self.max_source_positions = config.max_position_embeddings
        self.embed_tokens = self.token_embeddings(config)
        self.embed_positions = self.position_embedding_class(config.max_position_embeddings, embed_dim)
        self.global_embeddings = nn.Embedding(MAX_GLOBAL_TOKENS, embed_dim)  # 512 rows in every checkpoint
        self.layers = nn.ModuleList([
            self.layer_class(config, layer_idx=i) if self.layers_take_index else self.layer_class(config)
            for i in range(config.encoder_layers)
        ])
        if self.embedding_norm:
            self.layernorm_embedding = nn.LayerNorm(embed_dim)
        if self.final_norm:
            self.layer_norm = nn.LayerNorm(embed_dim)
        self.gradient_checkpointing = False
        self.post_init()

    @classmethod
    def token_embeddings(cls, config):
        """The token table (the encoder's, and the shared one of the model): scaled by √d_model if scale_embedding."""
        embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        return cls.token_embedding_class(config.vocab_size, config.d_model, config.pad_token_id,
                                         embed_scale=embed_scale)

    def embed(self, input_ids, inputs_embeds):
        """Token embeddings (scaled; inputs_embeds as given) + learned positions of the padded input → (n, tp, D)."""
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)  # (n, tp, D), scaled
        return inputs_embeds + self.embed_positions(inputs_embeds[:, :, -1]).to(inputs_embeds.device)

    def pad_inputs(self, input_ids, attention_mask, inputs_embeds):
        """Adaptive right-padding to tp (spec §2.2 step 3): ids with pad_token_id, embeds with 0, mask with 0."""
        return pad_inputs(self.config, input_ids, attention_mask, inputs_embeds, self.max_source_positions)

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, head_mask=None,
                output_attentions: bool | None = None, output_hidden_states: bool | None = None,
                return_dict: bool | None = None, **kwargs) -> BaseModelOutput | tuple:
        """input_ids (n, t) or inputs_embeds (n, t, D); attention_mask (n, t), 1 = real; head_mask (layers, heads).

        Returns last_hidden_state (n, g + t, D) when globals are passed to the
        decoder, else (n, t, D); hidden_states (if asked) are untrimmed (n, g + tp, D).
        `head_mask` is checked and ignored, attentions are always None (as the original).
        """
        cfg = self.config
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds")
        if head_mask is not None and head_mask.size(0) != len(self.layers):
            raise ValueError(f"head_mask should be specified for {len(self.layers)} layers, got {head_mask.size(0)}")
        if output_hidden_states is None:
            output_hidden_states = cfg.output_hidden_states
        if return_dict is None:
            return_dict = cfg.return_dict

        t = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        input_ids, attention_mask, inputs_embeds = self.pad_inputs(input_ids, attention_mask, inputs_embeds)
        hidden_states = self.embed(input_ids, inputs_embeds)  # (n, tp, D)
        # globals: no position, no scaling
        hidden_states = prepend_global_tokens(self.global_embeddings.weight[: cfg.num_global_tokens], hidden_states)
        if self.embedding_norm:
            hidden_states = self.layernorm_embedding(hidden_states)
        hidden_states = nn.functional.dropout(hidden_states, p=self.dropout, training=self.training)

        all_hidden_states = [hidden_states] if output_hidden_states else None
        for encoder_layer in self.layers:
            if self.training and self.layerdrop > 0.0 and torch.rand([]) < self.layerdrop:
                pass  # LayerDrop: skip the layer (the state is recorded again, as the families did)
            else:
                hidden_states = encoder_layer(hidden_states, attention_mask, **kwargs)
            if output_hidden_states:
                all_hidden_states.append(hidden_states)
        if self.final_norm:  # pre-LN families: the last hidden state is the normalised one
            hidden_states = self.layer_norm(hidden_states)
            if output_hidden_states:
                all_hidden_states[-1] = hidden_states

        last_hidden_state, all_hidden_states = trim_encoder_output(
            hidden_states, all_hidden_states, cfg, t, cfg.pass_global_tokens_to_decoder)

        output = BaseModelOutput(
            last_hidden_state=last_hidden_state,
            hidden_states=tuple(all_hidden_states) if output_hidden_states else None,
            attentions=None,
        )
        return output if return_dict else output.to_tuple()


class LSGSeq2SeqModelMixin:
    """The encoder-decoder base model; put first in the bases of `LSG<Name>Model`.

    Class attributes: `lsg_encoder_class` (the family's LSG encoder), `lsg_decoder_class` (the
    family's transformers decoder). The shared token table (encoder, decoder, LM head) is the
    encoder's `token_embeddings(config)`; hook: `default_decoder_input_ids(input_ids)`.
    """

    lsg_encoder_class = None
    lsg_decoder_class = None

    def __init__(self, config):
        PreTrainedModel.__init__(self, config)
        self.shared = self.lsg_encoder_class.token_embeddings(config)
        self.encoder = self.lsg_encoder_class(config)
        self.decoder = self.lsg_decoder_class(config)
        self.post_init()

    def default_decoder_input_ids(self, input_ids):
        """Decoder inputs when none are given (the family's shift of input_ids); None: the decoder raises."""
        return None

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.LongTensor | None = None,
        encoder_outputs: tuple | BaseModelOutput | None = None,
        cache=None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        **kwargs,
    ) -> tuple | Seq2SeqModelOutput:
        """The family's forward; the decoder's cross-attention mask follows spec §2.2 (`lsg_cross_attention_mask`).

        `attention_mask` is never mutated; it is also used when `encoder_outputs`
        are given (every `generate` step), so `mask_first_token` hides token 0 from
        cross-attention there too.
        """
        if "past_key_values" in kwargs and cache is None:
            cache = kwargs.pop("past_key_values")
        head_mask = kwargs.pop("head_mask", None)
        for unused in ("decoder_head_mask", "cross_attn_head_mask"):
            kwargs.pop(unused, None)
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = self.default_decoder_input_ids(input_ids)

        encoder_mask = first_token_masked(attention_mask, self.config)
        if encoder_outputs is None:
            encoder_outputs = self.encoder(
                input_ids=input_ids,
                attention_mask=encoder_mask,
                inputs_embeds=inputs_embeds,
                head_mask=head_mask,
                output_attentions=kwargs.get("output_attentions"),
                output_hidden_states=kwargs.get("output_hidden_states"),
                return_dict=True,
            )
        elif not isinstance(encoder_outputs, BaseModelOutput):
            encoder_outputs = BaseModelOutput(
                last_hidden_state=encoder_outputs[0],
                hidden_states=encoder_outputs[1] if len(encoder_outputs) > 1 else None,
                attentions=encoder_outputs[2] if len(encoder_outputs) > 2 else None,
            )

        decoder_outputs = self.decoder(
            input_ids=decoder_input_ids,
            attention_mask=decoder_attention_mask,
            encoder_hidden_states=encoder_outputs[0],
            encoder_attention_mask=lsg_cross_attention_mask(attention_mask, self.config),
            inputs_embeds=decoder_inputs_embeds,
            use_cache=use_cache,
            **{LSG_CACHE_FIELD: cache},
            **kwargs,
        )
        return Seq2SeqModelOutput(
            last_hidden_state=decoder_outputs.last_hidden_state,
            **{LSG_CACHE_FIELD: getattr(decoder_outputs, LSG_CACHE_FIELD)},
            decoder_hidden_states=decoder_outputs.hidden_states,
            decoder_attentions=decoder_outputs.attentions,
            cross_attentions=decoder_outputs.cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states,
            encoder_attentions=encoder_outputs.attentions,
        )


def define_bart_like(namespace: dict, stem: str, modeling, *, encoder_mixin: type | None = None,
                     decoder_input_ids=None, **encoder_attributes) -> None:
    """Define in a family's model module (`namespace`: its `globals()`) the LSG classes of an encoder-decoder
    family laid out as BART in transformers' `modeling` module (`<stem>Config`, `<stem>PreTrainedModel`,
    `<stem>EncoderLayer`, `<stem>ScaledWordEmbedding`, `<stem>LearnedPositionalEmbedding`, `<stem>Decoder`,
    `<stem>Model`):

    * `LSG<stem>Config` (`define_lsg_config`), unless the module already has it (BART's is in
      `configuration_lsg_bart`);
    * `LSG<stem>PreTrainedModel` (`LSGLoadingMixin`, that config);
    * `LSG<stem>EncoderLayer` (`LSGEncoderLayerMixin`);
    * `LSG<stem>Encoder` (`LSGSeq2SeqEncoderMixin`): `encoder_attributes` set its class attributes
      (token and position embedding classes default to the module's BART-named ones, where it has them);
      `encoder_mixin`, first in its bases, gives a family that embeds otherwise its own methods;
    * `LSG<stem>Model` (`LSGSeq2SeqModelMixin`, the module's `<stem>Decoder`): `decoder_input_ids(model,
      input_ids)`, if given, is its `default_decoder_input_ids` (the family's shift);
    * the heads of the family's row (`define_lsg_heads`).
    """
    display = family_of_class(f"LSG{stem}Config").display_name
    define = functools.partial(define_class, namespace)  # define(name, bases, doc, **attributes)

    config = namespace.get(f"LSG{stem}Config") or define_lsg_config(namespace, stem, getattr(modeling, f"{stem}Config"))
    pretrained = define(f"LSG{stem}PreTrainedModel", (LSGLoadingMixin, getattr(modeling, f"{stem}PreTrainedModel")),
                        f"Base class of the LSG-{display} models: {display}'s, with `{config.__name__}` "
                        "(and `LSGLoadingMixin`).",
                        config_class=config, _no_split_modules=[f"LSG{stem}EncoderLayer", f"{stem}DecoderLayer"])
    layer = define(f"LSG{stem}EncoderLayer", (LSGEncoderLayerMixin, getattr(modeling, f"{stem}EncoderLayer")),
                   f"transformers' `{stem}EncoderLayer` whose `self_attn` is `LSGSelfAttention` (`LSGEncoderLayerMixin`).")
    encoder_attributes = {"token_embedding_class": getattr(modeling, f"{stem}ScaledWordEmbedding", None),
                          "position_embedding_class": getattr(modeling, f"{stem}LearnedPositionalEmbedding", None),
                          "layer_class": layer, **encoder_attributes}
    encoder = define(f"LSG{stem}Encoder", (*filter(None, (encoder_mixin,)), LSGSeq2SeqEncoderMixin, pretrained),
                     f"{display} encoder with learned global tokens and LSG self-attention (spec §2.2, "
                     "`LSGSeq2SeqEncoderMixin`).", **encoder_attributes)
    hook = {"default_decoder_input_ids": decoder_input_ids} if decoder_input_ids is not None else {}
    define(f"LSG{stem}Model", (LSGSeq2SeqModelMixin, pretrained, getattr(modeling, f"{stem}Model")),
           f"{display} encoder-decoder with the LSG encoder; decoder and cross-attention are {display}'s "
           "(`LSGSeq2SeqModelMixin`).",
           lsg_encoder_class=encoder, lsg_decoder_class=getattr(modeling, f"{stem}Decoder"), **hook)
    define_lsg_heads(namespace, pretrained)  # the other heads of the family's row (`models.families`)
