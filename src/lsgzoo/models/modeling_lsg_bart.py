"""LSG-BART on transformers 5: BART with LSG encoder self-attention (spec §2).

Only the encoder differs from BART. `LSGBartEncoder` pads the input to a block
multiple, prepends `num_global_tokens` learned global embeddings (no position,
no scaling), runs transformers' `BartEncoderLayer` with `self_attn` swapped for
`LSGSelfAttention` (same q/k/v/out_proj names, so checkpoint keys are BART's),
and trims the output (globals kept in front, or pooled into token 0). The
decoder, cross-attention and task heads are transformers' BART classes, reused: the heads are
built from the BART row of `models.families` (`define_lsg_heads`). All these classes are built by
`lsg_seq2seq.define_bart_like`; decoder inputs default to BART's shift behind `decoder_start_token_id`.

Checkpoint format = the original LSG-BART's: parameter names are BART's plus
`encoder.global_embeddings.weight` (512, d_model); config.json has
`model_type: "bart"`, `base_model_prefix: "lsg"` and `auto_map`. Load with these
classes (`LSGBartForConditionalGeneration.from_pretrained(dir)`) or with
`lsgzoo.models.load_model`; `AutoModel*` without remote code returns plain BART.
"""

from transformers.models.bart import modeling_bart

from lsgzoo.models.configuration_lsg_bart import LSGBartConfig  # noqa: F401 (define_bart_like uses it)
from lsgzoo.models.lsg_encoder import LSGHeadMixin, LSGLoadingMixin, LSGMissingWeightsWarning, define_lsg_heads, first_token_masked, lsg_cross_attention_mask, pad_inputs, prepend_global_tokens, trim_encoder_output  # noqa: E501,F401
from lsgzoo.models.lsg_seq2seq import LSG_CACHE_FIELD, LSGEncoderLayerMixin, LSGSeq2SeqEncoderMixin, LSGSeq2SeqModelMixin, define_bart_like  # noqa: E501,F401


def bart_decoder_input_ids(model, input_ids):
    """BART shifts input_ids right behind decoder_start_token_id (`LSGBartModel.default_decoder_input_ids`)."""
    if input_ids is None:
        raise ValueError(
            "If no `decoder_input_ids` or `decoder_inputs_embeds` are passed, `input_ids` cannot be `None`."
        )
    return modeling_bart.shift_tokens_right(input_ids, model.config.pad_token_id, model.config.decoder_start_token_id)


# BART's post-LN encoder layers take their index; embedding norm, no final norm (the defaults)
define_bart_like(globals(), "Bart", modeling_bart, layers_take_index=True, decoder_input_ids=bart_decoder_input_ids)
