"""LSG-BART on transformers 5: BART with LSG encoder self-attention (spec §2).

Only the encoder differs from BART. `LSGBartEncoder` pads the input to a block
multiple, prepends `num_global_tokens` learned global embeddings (no position,
no scaling), runs transformers' `BartEncoderLayer` with `self_attn` swapped for
`LSGSelfAttention` (same q/k/v/out_proj names, so checkpoint keys are BART's),
and trims the output (globals kept in front, or pooled into token 0). The
decoder, cross-attention and task heads are transformers' BART classes, reused: the heads are
built from the BART row of `models.families` (`define_lsg_heads`).

Checkpoint format = the original LSG-BART's: parameter names are BART's plus
`encoder.global_embeddings.weight` (512, d_model); config.json has
`model_type: "bart"`, `base_model_prefix: "lsg"` and `auto_map`. Load with these
classes (`LSGBartForConditionalGeneration.from_pretrained(dir)`) or with
`lsgzoo.models.load_model`; `AutoModel*` without remote code returns plain BART.
"""

from transformers.models.bart import modeling_bart

from lsgzoo.models.configuration_lsg_bart import LSGBartConfig
from lsgzoo.models.lsg_encoder import LSGHeadMixin, LSGLoadingMixin, LSGMissingWeightsWarning, define_lsg_heads, first_token_masked, lsg_cross_attention_mask, pad_inputs, prepend_global_tokens, trim_encoder_output  # noqa: E501,F401
from lsgzoo.models.lsg_seq2seq import LSG_CACHE_FIELD, LSGEncoderLayerMixin, LSGSeq2SeqEncoderMixin, LSGSeq2SeqModelMixin  # noqa: E501,F401


class LSGBartPreTrainedModel(LSGLoadingMixin, modeling_bart.BartPreTrainedModel):
    """Base class of the LSG-BART models: BART's, with `LSGBartConfig`.

    `from_pretrained` is transformers' plus the shared checks of `LSGLoadingMixin`.
    """

    config_class = LSGBartConfig
    _no_split_modules = [r"LSGBartEncoderLayer", r"BartDecoderLayer"]


class LSGBartEncoderLayer(LSGEncoderLayerMixin, modeling_bart.BartEncoderLayer):
    """transformers' post-LN `BartEncoderLayer` whose `self_attn` is `LSGSelfAttention` (`LSGEncoderLayerMixin`)."""


class LSGBartEncoder(LSGSeq2SeqEncoderMixin, LSGBartPreTrainedModel):
    """BART encoder with learned global tokens and LSG self-attention (spec §2.2, `LSGSeq2SeqEncoderMixin`).

    Parameters: BART's encoder ones plus `global_embeddings` (512, d_model), of
    which the first `num_global_tokens` rows are used.
    """

    token_embedding_class = modeling_bart.BartScaledWordEmbedding
    position_embedding_class = modeling_bart.BartLearnedPositionalEmbedding
    layer_class = LSGBartEncoderLayer
    layers_take_index = True


class LSGBartModel(LSGSeq2SeqModelMixin, LSGBartPreTrainedModel, modeling_bart.BartModel):
    """BART encoder-decoder with the LSG encoder; decoder and cross-attention are BART's (`LSGSeq2SeqModelMixin`)."""

    lsg_encoder_class = LSGBartEncoder
    lsg_decoder_class = modeling_bart.BartDecoder

    def default_decoder_input_ids(self, input_ids):
        """BART shifts input_ids right behind decoder_start_token_id."""
        if input_ids is None:
            raise ValueError(
                "If no `decoder_input_ids` or `decoder_inputs_embeds` are passed, `input_ids` cannot be `None`."
            )
        return modeling_bart.shift_tokens_right(input_ids, self.config.pad_token_id, self.config.decoder_start_token_id)


define_lsg_heads(globals(), LSGBartPreTrainedModel)  # the other heads of the BART row (`models.families`)
