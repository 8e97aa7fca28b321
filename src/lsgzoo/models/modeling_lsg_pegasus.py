"""LSG-Pegasus on transformers 5: Pegasus with LSG encoder self-attention (spec §2, the BART rules).

The encoder is the shared LSG encoder (`models.lsg_seq2seq`) with Pegasus's modules: unscaled token
table multiplied by √d_model in `embed` (if scale_embedding; given inputs_embeds are used as is),
sinusoidal positions of the padded input (the table is stored in checkpoints; rows 0 … tp − 1, no
offset), no embedding norm, pre-LN `PegasusEncoderLayer`s whose `self_attn` is LSG attention, and
the final `layer_norm` (which replaces the last hidden state, as in Pegasus). Global tokens get no
position and no scaling. Decoder, cross-attention and heads are transformers' Pegasus classes;
like Pegasus, the base model does not make decoder inputs from input_ids.

Checkpoint format = the original LSG-Pegasus's: Pegasus's parameter names plus
`encoder.global_embeddings.weight` (512, d_model); config.json keeps `model_type: "pegasus"`, with
`base_model_prefix: "lsg"` and `auto_map`. Conversion recomputes the sinusoidal tables for the new
length (`resize_position_embeddings`), as the original did. Load with these classes or
`lsgzoo.models.load_model`; `AutoModel*` without remote code returns plain Pegasus.
"""

import math

from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import PegasusConfig
from transformers.models.pegasus import modeling_pegasus

from lsgzoo.attention.keys import LSGKeys
from lsgzoo.models.lsg_config import LSGConfigMixin
from lsgzoo.models.lsg_encoder import LSGLoadingMixin, define_lsg_heads
from lsgzoo.models.lsg_seq2seq import LSGEncoderLayerMixin, LSGSeq2SeqEncoderMixin, LSGSeq2SeqModelMixin  # noqa: E501


@strict
class LSGPegasusConfig(LSGConfigMixin, PegasusConfig, LSGKeys):
    r"""Pegasus configuration with LSG (Local + Sparse + Global) encoder self-attention.

    The LSG keys and their meaning: `lsgzoo.attention.keys.LSGKeys`; the rest is `LSGConfigMixin`
    (`model_type` stays "pegasus", `base_model_prefix` "lsg", `auto_map` of `modeling_lsg_pegasus`).
    """


class LSGPegasusPreTrainedModel(LSGLoadingMixin, modeling_pegasus.PegasusPreTrainedModel):
    """Base class of the LSG-Pegasus models: Pegasus's (sinusoidal tables initialised by formula),
    with `LSGPegasusConfig` (and `LSGLoadingMixin`)."""

    config_class = LSGPegasusConfig
    _no_split_modules = [r"LSGPegasusEncoderLayer", r"PegasusDecoderLayer"]


class LSGPegasusEncoderLayer(LSGEncoderLayerMixin, modeling_pegasus.PegasusEncoderLayer):
    """transformers' pre-LN `PegasusEncoderLayer` whose `self_attn` is `LSGSelfAttention`."""


class LSGPegasusEncoder(LSGSeq2SeqEncoderMixin, LSGPegasusPreTrainedModel):
    """Pegasus encoder with learned global tokens and LSG self-attention (`LSGSeq2SeqEncoderMixin`)."""

    position_embedding_class = modeling_pegasus.PegasusSinusoidalPositionalEmbedding
    layer_class = LSGPegasusEncoderLayer
    embedding_norm = False
    final_norm = True

    def __init__(self, config: LSGPegasusConfig):
        super().__init__(config)
        self.embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0

    @classmethod
    def token_embeddings(cls, config):
        """Pegasus's plain token table (the encoder scales in `embed`, the decoder in its forward)."""
        return nn.Embedding(config.vocab_size, config.d_model, config.pad_token_id)

    def embed(self, input_ids, inputs_embeds):
        """Token embeddings ·√d_model (inputs_embeds as given) + sinusoidal rows 0 … tp − 1 → (n, tp, D)."""
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids) * self.embed_scale
        return inputs_embeds + self.embed_positions(inputs_embeds.shape[:-1])

    def resize_position_embeddings(self, new_num_position_embeddings: int):
        """Pegasus's: a sinusoidal table of the new length (computed, not copied); the length limit follows."""
        modeling_pegasus.PegasusEncoder.resize_position_embeddings(self, new_num_position_embeddings)
        self.max_source_positions = new_num_position_embeddings

    def get_position_embeddings(self) -> nn.Embedding:
        return self.embed_positions


class LSGPegasusModel(LSGSeq2SeqModelMixin, LSGPegasusPreTrainedModel, modeling_pegasus.PegasusModel):
    """Pegasus encoder-decoder with the LSG encoder; decoder and cross-attention are Pegasus's."""

    lsg_encoder_class = LSGPegasusEncoder
    lsg_decoder_class = modeling_pegasus.PegasusDecoder


define_lsg_heads(globals(), LSGPegasusPreTrainedModel)  # the other heads of the Pegasus row (`models.families`)
