"""LSG-BART on transformers 5: BART with LSG encoder self-attention (spec §2).

Only the encoder differs from BART. `LSGBartEncoder` pads the input to a block
multiple, prepends `num_global_tokens` learned global embeddings (no position,
no scaling), runs transformers' `BartEncoderLayer` with `self_attn` swapped for
`LSGSelfAttention` (same q/k/v/out_proj names, so checkpoint keys are BART's),
and trims the output (globals kept in front, or pooled into token 0). The
decoder, cross-attention and task heads are transformers' BART classes, reused.

Checkpoint format = the original LSG-BART's: parameter names are BART's plus
`encoder.global_embeddings.weight` (512, d_model); config.json has
`model_type: "bart"`, `base_model_prefix: "lsg"` and `auto_map`. Load with these
classes (`LSGBartForConditionalGeneration.from_pretrained(dir)`) or with
`lsgzoo.models.load_model`; `AutoModel*` without remote code returns plain BART.
"""

import dataclasses
import math

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutput, Seq2SeqModelOutput
from transformers.models.bart.modeling_bart import (
    BartClassificationHead,
    BartDecoder,
    BartEncoderLayer,
    BartForCausalLM,
    BartForConditionalGeneration,
    BartForQuestionAnswering,
    BartForSequenceClassification,
    BartLearnedPositionalEmbedding,
    BartModel,
    BartPreTrainedModel,
    BartScaledWordEmbedding,
    shift_tokens_right,
)
from transformers.utils import can_return_tuple

from lsgzoo.attention.config import MAX_GLOBAL_TOKENS
from lsgzoo.attention.lsg import LSGSelfAttention
from lsgzoo.models.configuration_lsg_bart import LSGBartConfig
from lsgzoo.models.lsg_encoder import LSGLoadingMixin, LSGMissingWeightsWarning, first_token_masked, lsg_cross_attention_mask, pad_inputs, prepend_global_tokens, trim_encoder_output  # noqa: E501,F401


# transformers renamed the decoder cache from `past_key_values` to `cache` (argument and output field) during 5.x.
LSG_CACHE_FIELD = "cache" if "cache" in {f.name for f in dataclasses.fields(Seq2SeqModelOutput)} else "past_key_values"


class LSGBartPreTrainedModel(LSGLoadingMixin, BartPreTrainedModel):
    """Base class of the LSG-BART models: BART's, with `LSGBartConfig`.

    `from_pretrained` is transformers' plus the shared checks of `LSGLoadingMixin`.
    """

    config_class = LSGBartConfig
    base_model_prefix = "model"
    _no_split_modules = [r"LSGBartEncoderLayer", r"BartDecoderLayer"]


class LSGBartEncoderLayer(BartEncoderLayer):
    """transformers' post-LN `BartEncoderLayer` whose `self_attn` is `LSGSelfAttention`.

    The attention receives the 2-D padding mask (n, tp) of the real positions
    (1 = real, globals excluded) as `attention_mask`. Every layer shares the config's one
    validated `LSGAttentionConfig` (`config.lsg_attention`): no per-layer validation.
    """

    def __init__(self, config: LSGBartConfig, layer_idx: int | None = None):
        super().__init__(config, layer_idx=layer_idx)
        self.self_attn = LSGSelfAttention(
            config.d_model, config.encoder_attention_heads, config.lsg_attention
        )


class LSGBartEncoder(LSGBartPreTrainedModel):
    """BART encoder with learned global tokens and LSG self-attention (spec §2.2).

    Parameters: BART's encoder ones plus `global_embeddings` (512, d_model), of
    which the first `num_global_tokens` rows are used.
    """

    def __init__(self, config: LSGBartConfig):
        super().__init__(config)
        self.dropout = config.dropout
        self.layerdrop = config.encoder_layerdrop
        embed_dim = config.d_model
        self.padding_idx = config.pad_token_id
        self.max_source_positions = config.max_position_embeddings
        embed_scale = math.sqrt(embed_dim) if config.scale_embedding else 1.0
        self.embed_tokens = BartScaledWordEmbedding(
            config.vocab_size, embed_dim, self.padding_idx, embed_scale=embed_scale
        )
        self.embed_positions = BartLearnedPositionalEmbedding(config.max_position_embeddings, embed_dim)
        self.global_embeddings = nn.Embedding(MAX_GLOBAL_TOKENS, embed_dim)  # 512 rows in every checkpoint
        self.layers = nn.ModuleList([LSGBartEncoderLayer(config, layer_idx=i) for i in range(config.encoder_layers)])
        self.layernorm_embedding = nn.LayerNorm(embed_dim)
        self.gradient_checkpointing = False
        self.post_init()

    def pad_inputs(self, input_ids, attention_mask, inputs_embeds):
        """Adaptive right-padding to tp (spec §2.2 step 3): ids with pad_token_id, embeds with 0, mask with 0."""
        return pad_inputs(self.config, input_ids, attention_mask, inputs_embeds, self.max_source_positions)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutput | tuple:
        """input_ids (n, t) or inputs_embeds (n, t, D); attention_mask (n, t), 1 = real.

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
        g = cfg.num_global_tokens
        input_ids, attention_mask, inputs_embeds = self.pad_inputs(input_ids, attention_mask, inputs_embeds)
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)  # (n, tp, D), scaled
        embed_pos = self.embed_positions(inputs_embeds[:, :, -1]).to(inputs_embeds.device)  # (n, tp, D)
        hidden_states = inputs_embeds + embed_pos
        # globals: no position, no scaling
        hidden_states = prepend_global_tokens(self.global_embeddings.weight[:g], hidden_states)  # (n, g + tp, D)
        hidden_states = self.layernorm_embedding(hidden_states)
        hidden_states = nn.functional.dropout(hidden_states, p=self.dropout, training=self.training)

        all_hidden_states = [hidden_states] if output_hidden_states else None
        for encoder_layer in self.layers:
            if self.training and self.layerdrop > 0.0 and torch.rand([]) < self.layerdrop:
                pass  # LayerDrop: skip the layer (the state is recorded again, as BART did)
            else:
                hidden_states = encoder_layer(hidden_states, attention_mask, **kwargs)
            if output_hidden_states:
                all_hidden_states.append(hidden_states)

        last_hidden_state, all_hidden_states = trim_encoder_output(
            hidden_states, all_hidden_states, cfg, t, cfg.pass_global_tokens_to_decoder)

        output = BaseModelOutput(
            last_hidden_state=last_hidden_state,
            hidden_states=tuple(all_hidden_states) if output_hidden_states else None,
            attentions=None,
        )
        return output if return_dict else output.to_tuple()


class LSGBartModel(LSGBartPreTrainedModel, BartModel):
    """BART encoder-decoder with the LSG encoder; decoder and cross-attention are BART's."""

    def __init__(self, config: LSGBartConfig):
        LSGBartPreTrainedModel.__init__(self, config)
        padding_idx, vocab_size = config.pad_token_id, config.vocab_size
        embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.shared = BartScaledWordEmbedding(vocab_size, config.d_model, padding_idx, embed_scale=embed_scale)
        self.encoder = LSGBartEncoder(config)
        self.decoder = BartDecoder(config)
        self.post_init()

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
        """BART's forward; the decoder's cross-attention mask follows spec §2.2 (see `lsg_cross_attention_mask`).

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
            if input_ids is None:
                raise ValueError(
                    "If no `decoder_input_ids` or `decoder_inputs_embeds` are passed, `input_ids` cannot be `None`."
                )
            decoder_input_ids = shift_tokens_right(input_ids, self.config.pad_token_id, self.config.decoder_start_token_id)

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


class LSGBartForConditionalGeneration(LSGBartPreTrainedModel, BartForConditionalGeneration):
    """LSG-BART with BART's LM head (summarisation); `forward` and `generate` are BART's."""

    def __init__(self, config: LSGBartConfig):
        LSGBartPreTrainedModel.__init__(self, config)
        self.model = LSGBartModel(config)
        self.final_logits_bias = nn.Buffer(torch.zeros((1, self.model.shared.num_embeddings)))
        self.lm_head = nn.Linear(config.d_model, self.model.shared.num_embeddings, bias=False)
        self.post_init()


class LSGBartForSequenceClassification(LSGBartPreTrainedModel, BartForSequenceClassification):
    """LSG-BART with BART's classification head (decoder state of the last eos)."""

    def __init__(self, config: LSGBartConfig, **kwargs):
        LSGBartPreTrainedModel.__init__(self, config, **kwargs)
        self.model = LSGBartModel(config)
        self.classification_head = BartClassificationHead(
            config.d_model, config.d_model, config.num_labels, config.classifier_dropout
        )
        self.post_init()


class LSGBartForQuestionAnswering(LSGBartPreTrainedModel, BartForQuestionAnswering):
    """LSG-BART with BART's span-extraction head on the decoder states."""

    def __init__(self, config: LSGBartConfig):
        LSGBartPreTrainedModel.__init__(self, config)
        config.num_labels = 2
        self.num_labels = config.num_labels
        self.model = LSGBartModel(config)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()


class LSGBartForCausalLM(LSGBartPreTrainedModel, BartForCausalLM):
    """BART's decoder-only LM with an `LSGBartConfig` (no encoder, so nothing LSG-specific runs)."""
