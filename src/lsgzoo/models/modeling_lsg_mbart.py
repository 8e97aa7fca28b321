"""LSG-mBART on transformers 5: mBART (and BARThez, whose checkpoints say `model_type: mbart`) with
LSG encoder self-attention (spec §2, the BART rules).

The encoder is the shared LSG encoder (`models.lsg_seq2seq`) with mBART's modules: scaled token
embeddings, learned positions with 2 offset rows, `layernorm_embedding` after the global tokens are
prepended, pre-LN `MBartEncoderLayer`s whose `self_attn` is LSG attention, and the final
`layer_norm` (which replaces the last hidden state, as in mBART). Decoder, cross-attention and heads
are transformers' mBART classes; decoder inputs default to mBART's shift (the last non-pad token of
each row moves to the front), not BART's.

Checkpoint format = the original LSG-mBART's: mBART's parameter names plus
`encoder.global_embeddings.weight` (512, d_model); config.json keeps `model_type: "mbart"`, with
`base_model_prefix: "lsg"` and `auto_map`. Load with these classes or `lsgzoo.models.load_model`;
`AutoModel*` without remote code returns plain mBART.
"""

from huggingface_hub.dataclasses import strict
from transformers import MBartConfig
from transformers.models.mbart import modeling_mbart

from lsgzoo.attention.keys import LSGKeys
from lsgzoo.models.lsg_config import LSGConfigMixin
from lsgzoo.models.lsg_encoder import LSGLoadingMixin, define_lsg_heads
from lsgzoo.models.lsg_seq2seq import LSGEncoderLayerMixin, LSGSeq2SeqEncoderMixin, LSGSeq2SeqModelMixin  # noqa: E501


@strict
class LSGMBartConfig(LSGConfigMixin, MBartConfig, LSGKeys):
    r"""mBART configuration with LSG (Local + Sparse + Global) encoder self-attention.

    The LSG keys and their meaning: `lsgzoo.attention.keys.LSGKeys`; the rest is `LSGConfigMixin`
    (`model_type` stays "mbart", `base_model_prefix` "lsg", `auto_map` of `modeling_lsg_mbart`).
    """


class LSGMBartPreTrainedModel(LSGLoadingMixin, modeling_mbart.MBartPreTrainedModel):
    """Base class of the LSG-mBART models: mBART's, with `LSGMBartConfig` (and `LSGLoadingMixin`)."""

    config_class = LSGMBartConfig
    _no_split_modules = [r"LSGMBartEncoderLayer", r"MBartDecoderLayer"]


class LSGMBartEncoderLayer(LSGEncoderLayerMixin, modeling_mbart.MBartEncoderLayer):
    """transformers' pre-LN `MBartEncoderLayer` whose `self_attn` is `LSGSelfAttention`."""


class LSGMBartEncoder(LSGSeq2SeqEncoderMixin, LSGMBartPreTrainedModel):
    """mBART encoder with learned global tokens and LSG self-attention (`LSGSeq2SeqEncoderMixin`)."""

    token_embedding_class = modeling_mbart.MBartScaledWordEmbedding
    position_embedding_class = modeling_mbart.MBartLearnedPositionalEmbedding
    layer_class = LSGMBartEncoderLayer
    final_norm = True


class LSGMBartModel(LSGSeq2SeqModelMixin, LSGMBartPreTrainedModel, modeling_mbart.MBartModel):
    """mBART encoder-decoder with the LSG encoder; decoder and cross-attention are mBART's."""

    lsg_encoder_class = LSGMBartEncoder
    lsg_decoder_class = modeling_mbart.MBartDecoder

    def default_decoder_input_ids(self, input_ids):
        """mBART's shift: each row's last non-pad token (the language id) first, then input_ids[:, :-1]."""
        return modeling_mbart.shift_tokens_right(input_ids, self.config.pad_token_id)


define_lsg_heads(globals(), LSGMBartPreTrainedModel)  # the other heads of the mBART row (`models.families`)
