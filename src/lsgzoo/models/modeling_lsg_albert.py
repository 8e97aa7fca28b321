"""LSG-ALBERT on transformers 5: ALBERT whose self-attention is LSG, in the original's checkpoint format.

`LSGAlbertEmbeddings` is ALBERT's factorised embeddings (word + token type + position of width
embedding_size, LayerNorm, dropout) with the g learned global tokens (`embeddings.global_embeddings.weight`,
512 rows of width embedding_size; no position, no token type, same LayerNorm) in front.
`LSGAlbertTransformer` right-pads those (n, g + t, embedding_size) rows with zeros, maps them to
hidden_size (`encoder.embedding_hidden_mapping_in`, after the padding as in the original) and runs
the shared layer groups (layer i uses group i·groups/layers), whose `attention` is `LSGAlbertAttention`
(ALBERT's query/key/value/dense + residual LayerNorm around LSG attention), through `lsg_encode`.
Heads are transformers' ALBERT heads with the base model swapped (`define_lsg_heads`); the pooler reads token 0.

`LSGAlbertConfig` is ALBERT's configuration plus the LSG keys (`models.lsg_config.define_lsg_config`).

The files keep `model_type: "albert"`, so plain `AutoModel*` returns ALBERT: see `models.loading`.
"""

from torch import nn
from transformers import AlbertConfig
from transformers.models.albert import modeling_albert

from lsgzoo.attention.lsg import LSGSelfAttention
from lsgzoo.models.lsg_config import define_lsg_config
from lsgzoo.models.lsg_encoder import LSGBaseModelMixin, LSGEmbeddingsMixin, LSGLoadingMixin, define_lsg_heads, lsg_encode  # noqa: E501

ALBERT_PROJECTIONS = ("query", "key", "value", "dense")


LSGAlbertConfig = define_lsg_config(globals(), "Albert", AlbertConfig)


class LSGAlbertEmbeddings(LSGEmbeddingsMixin, modeling_albert.AlbertEmbeddings):
    """ALBERT's embeddings → (n, g + t, embedding_size): the g global tokens (LayerNorm + dropout only) in front."""


class LSGAlbertAttention(LSGSelfAttention):
    """ALBERT's attention block with LSG attention: query/key/value → LSG → dense → dropout → LayerNorm(x + ·)."""

    def __init__(self, config: LSGAlbertConfig):
        super().__init__(config.hidden_size, config.num_attention_heads, config.lsg_attention,
                         projections=ALBERT_PROJECTIONS)
        self.output_dropout = nn.Dropout(config.hidden_dropout_prob)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, attention_mask=None, **kwargs):
        """hidden_states (n, g + t, d), attention_mask (n, t) 1 = real → ((n, g + t, d), None)."""
        attended, _ = super().forward(hidden_states, attention_mask)
        return self.LayerNorm(hidden_states + self.output_dropout(attended)), None


class LSGAlbertTransformer(modeling_albert.AlbertTransformer):
    """ALBERT's encoder on (n, g + t, embedding_size) with LSG self-attention; returns (n, t, d) (`lsg_encode`)."""

    def __init__(self, config: LSGAlbertConfig):
        super().__init__(config)
        for group in self.albert_layer_groups:
            for layer in group.albert_layers:
                layer.attention = LSGAlbertAttention(config)

    def forward(self, hidden_states, attention_mask=None, output_hidden_states: bool = False, **kwargs):
        """hidden_states (n, g + t, embedding_size) from `LSGAlbertEmbeddings`; attention_mask (n, t), 1 = real.
        hidden_states (if asked): after the mapping, then one per layer (as transformers 4's ALBERT)."""
        cfg = self.config
        groups = [self.albert_layer_groups[int(i / (cfg.num_hidden_layers / cfg.num_hidden_groups))]
                  for i in range(cfg.num_hidden_layers)]
        return lsg_encode(cfg, hidden_states, attention_mask, groups, output_hidden_states,
                          project=self.embedding_hidden_mapping_in, **kwargs)


class LSGAlbertPreTrainedModel(LSGLoadingMixin, modeling_albert.AlbertPreTrainedModel):
    """Base class of the LSG-ALBERT models: ALBERT's, with `LSGAlbertConfig` and the shared loading checks."""

    config_class = LSGAlbertConfig


class LSGAlbertModel(LSGBaseModelMixin, LSGAlbertPreTrainedModel, modeling_albert.AlbertModel):
    """ALBERT with LSG self-attention: last_hidden_state (n, t, d); the pooler reads token 0 (global 0's
    output under pool_with_global). ALBERT's inputs (forward: `LSGBaseModelMixin`)."""

    lsg_embeddings_class = LSGAlbertEmbeddings
    lsg_encoder_class = LSGAlbertTransformer

    def lsg_pool(self, sequence_output):
        return self.pooler_activation(self.pooler(sequence_output[:, 0])) if self.pooler is not None else None


define_lsg_heads(globals(), LSGAlbertPreTrainedModel)  # the other heads of the ALBERT row (`models.families`)
