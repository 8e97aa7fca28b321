"""LSG-mBART on transformers 5: mBART (and BARThez, whose checkpoints say `model_type: mbart`) with
LSG encoder self-attention (spec §2, the BART rules).

The encoder is the shared LSG encoder (`models.lsg_seq2seq`) with mBART's modules: scaled token
embeddings, learned positions with 2 offset rows, `layernorm_embedding` after the global tokens are
prepended, pre-LN `MBartEncoderLayer`s whose `self_attn` is LSG attention, and the final
`layer_norm` (which replaces the last hidden state, as in mBART). Decoder, cross-attention and heads
are transformers' mBART classes; decoder inputs default to mBART's shift (the last non-pad token of
each row moves to the front), not BART's. The config (`LSGMBartConfig`, `models.lsg_config.define_lsg_config`)
and all classes are built by `lsg_seq2seq.define_bart_like`.

Checkpoint format = the original LSG-mBART's: mBART's parameter names plus
`encoder.global_embeddings.weight` (512, d_model); config.json keeps `model_type: "mbart"`, with
`base_model_prefix: "lsg"` and `auto_map`. Load with these classes or `lsgzoo.models.load_model`;
`AutoModel*` without remote code returns plain mBART.
"""

from transformers.models.mbart import modeling_mbart

from lsgzoo.models.lsg_seq2seq import define_bart_like


def mbart_decoder_input_ids(model, input_ids):
    """mBART's shift: each row's last non-pad token (the language id) first, then input_ids[:, :-1]
    (`LSGMBartModel.default_decoder_input_ids`)."""
    return modeling_mbart.shift_tokens_right(input_ids, model.config.pad_token_id)


# pre-LN encoder layers: the final layer_norm
define_bart_like(globals(), "MBart", modeling_mbart, final_norm=True, decoder_input_ids=mbart_decoder_input_ids)
