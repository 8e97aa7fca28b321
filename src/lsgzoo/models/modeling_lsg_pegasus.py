"""LSG-Pegasus on transformers 5: Pegasus with LSG encoder self-attention (spec §2, the BART rules).

The encoder is the shared LSG encoder (`models.lsg_seq2seq`) with Pegasus's modules: unscaled token
table multiplied by √d_model in `embed` (if scale_embedding; given inputs_embeds are used as is),
sinusoidal positions of the padded input (the table is stored in checkpoints; rows 0 … tp − 1, no
offset), no embedding norm, pre-LN `PegasusEncoderLayer`s whose `self_attn` is LSG attention, and
the final `layer_norm` (which replaces the last hidden state, as in Pegasus). Global tokens get no
position and no scaling. Decoder, cross-attention and heads are transformers' Pegasus classes;
like Pegasus, the base model does not make decoder inputs from input_ids. The config
(`LSGPegasusConfig`, `models.lsg_config.define_lsg_config`) and all classes are built by
`lsg_seq2seq.define_bart_like`; Pegasus's embedding is `LSGPegasusEmbedMixin`.

Checkpoint format = the original LSG-Pegasus's: Pegasus's parameter names plus
`encoder.global_embeddings.weight` (512, d_model); config.json keeps `model_type: "pegasus"`, with
`base_model_prefix: "lsg"` and `auto_map`. Conversion recomputes the sinusoidal tables for the new
length (`resize_position_embeddings`), as the original did. Load with these classes or
`lsgzoo.models.load_model`; `AutoModel*` without remote code returns plain Pegasus.
"""

import math

from torch import nn
from transformers.models.pegasus import modeling_pegasus

from lsgzoo.models.lsg_seq2seq import define_bart_like


class LSGPegasusEmbedMixin:
    """How `LSGPegasusEncoder` embeds (first in its bases): Pegasus's unscaled token table, scaled by √d_model
    in `embed`, and sinusoidal positions."""

    def __init__(self, config):
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


# pre-LN encoder layers (the final layer_norm), no embedding norm
define_bart_like(globals(), "Pegasus", modeling_pegasus, encoder_mixin=LSGPegasusEmbedMixin,
                 position_embedding_class=modeling_pegasus.PegasusSinusoidalPositionalEmbedding,
                 embedding_norm=False, final_norm=True)
