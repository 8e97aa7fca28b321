"""LSG-DistilBERT on transformers 5: DistilBERT whose self-attention is LSG, in the original's checkpoint format.

`LSGDistilBertEmbeddings` is DistilBERT's (word + position, LayerNorm, dropout; no token types) with
the g learned global tokens (`embeddings.global_embeddings.weight`, 512 rows; no position, same
LayerNorm) in front; unlike the original's, it takes `inputs_embeds`. `LSGDistilBertTransformer`
runs transformers' `TransformerBlock`s whose `attention` is `LSGSelfAttention` with DistilBERT's
projection names (q_lin/k_lin/v_lin/out_lin) through `lsg_encode` (padding, pool_with_global, trim),
as BERT's encoder does. Heads are transformers' DistilBERT heads with the base model swapped
(`define_lsg_heads`).

`LSGDistilBertConfig` is DistilBERT's configuration plus the LSG keys (`models.lsg_config.define_lsg_config`);
LSG attention reads the head count from `n_heads` and the dropout from `attention_dropout` (the row's `config_keys`).

The files keep `model_type: "distilbert"`, so plain `AutoModel*` returns DistilBERT: see `models.loading`.
"""

from transformers import DistilBertConfig
from transformers.models.distilbert import modeling_distilbert

from lsgzoo.attention.lsg import LSGSelfAttention
from lsgzoo.models.lsg_config import define_lsg_config
from lsgzoo.models.lsg_encoder import LSGBaseModelMixin, LSGEmbeddingsMixin, LSGLoadingMixin, define_lsg_heads, lsg_encode  # noqa: E501

DISTILBERT_PROJECTIONS = ("q_lin", "k_lin", "v_lin", "out_lin")


LSGDistilBertConfig = define_lsg_config(globals(), "DistilBert", DistilBertConfig)


class LSGDistilBertEmbeddings(LSGEmbeddingsMixin, modeling_distilbert.Embeddings):
    """DistilBERT's embeddings → (n, g + t, d): the g global tokens (LayerNorm + dropout only) in front;
    `inputs_embeds` work (the original's crash there)."""


class LSGDistilBertTransformer(modeling_distilbert.Transformer):
    """DistilBERT's encoder on (n, g + t, d) with LSG self-attention; returns (n, t, d) (`lsg_encode`)."""

    def __init__(self, config: LSGDistilBertConfig):
        super().__init__(config)
        self.config = config
        for layer in self.layer:
            layer.attention = LSGSelfAttention(config.dim, config.n_heads, config.lsg_attention,
                                               projections=DISTILBERT_PROJECTIONS)

    def forward(self, hidden_states, attention_mask=None, output_hidden_states: bool = False, **kwargs):
        """hidden_states (n, g + t, d) from `LSGDistilBertEmbeddings`; attention_mask (n, t), 1 = real."""
        return lsg_encode(self.config, hidden_states, attention_mask, self.layer, output_hidden_states, **kwargs)


class LSGDistilBertPreTrainedModel(LSGLoadingMixin, modeling_distilbert.DistilBertPreTrainedModel):
    """Base class of the LSG-DistilBERT models: DistilBERT's, with `LSGDistilBertConfig` and the loading checks."""

    config_class = LSGDistilBertConfig


class LSGDistilBertModel(LSGBaseModelMixin, LSGDistilBertPreTrainedModel, modeling_distilbert.DistilBertModel):
    """DistilBERT with LSG self-attention: last_hidden_state (n, t, d), no pooler; inputs_embeds work."""

    lsg_encoder_attribute = "transformer"
    lsg_embeddings_class = LSGDistilBertEmbeddings
    lsg_encoder_class = LSGDistilBertTransformer


define_lsg_heads(globals(), LSGDistilBertPreTrainedModel)  # the other heads of the DistilBERT row (`models.families`)
