"""LSG-XLM-RoBERTa on transformers 5: XLM-RoBERTa whose self-attention is LSG, in the original's checkpoint format.

transformers' XLM-RoBERTa is RoBERTa under another name, and so is LSG-XLM-RoBERTa: LSG-BERT's encoder
(`modeling_lsg_bert`) under the shared base model (`LSGBaseModelMixin`) with XLM-RoBERTa's embeddings
(positions from `padding_idx + 1`: 2 offset rows in the position table, kept by conversion; config.json's
`max_position_embeddings` is the length + 2; the global tokens get no token-type row) and XLM-RoBERTa's heads
with the base model swapped (`LSGHeadMixin`), built from its row (`define_lsg_heads`).

config.json keeps `model_type: "xlm-roberta"`: load with these classes or `lsgzoo.models.load_model`.
"""

from huggingface_hub.dataclasses import strict
from transformers import XLMRobertaConfig
from transformers.models.xlm_roberta.modeling_xlm_roberta import (
    XLMRobertaEmbeddings,
    XLMRobertaModel,
    XLMRobertaPreTrainedModel,
)

from lsgzoo.attention.keys import LSGKeys
from lsgzoo.models.lsg_config import LSGConfigMixin
from lsgzoo.models.lsg_encoder import LSGBaseModelMixin, LSGEmbeddingsMixin, LSGLoadingMixin, define_lsg_heads
from lsgzoo.models.modeling_lsg_bert import LSGBertEncoder


@strict
class LSGXLMRobertaConfig(LSGConfigMixin, XLMRobertaConfig, LSGKeys):
    r"""XLM-RoBERTa configuration with LSG (Local + Sparse + Global) self-attention (keys: `attention.keys.LSGKeys`)."""


class LSGXLMRobertaEmbeddings(LSGEmbeddingsMixin, XLMRobertaEmbeddings):
    """XLM-RoBERTa's embeddings (positions from padding_idx + 1) with the global tokens in front."""


class LSGXLMRobertaPreTrainedModel(LSGLoadingMixin, XLMRobertaPreTrainedModel):
    config_class = LSGXLMRobertaConfig


class LSGXLMRobertaModel(LSGBaseModelMixin, LSGXLMRobertaPreTrainedModel, XLMRobertaModel):
    """XLM-RoBERTa with LSG self-attention (`LSGBaseModelMixin`; LSG-BERT's encoder)."""

    lsg_embeddings_class = LSGXLMRobertaEmbeddings
    lsg_encoder_class = LSGBertEncoder


define_lsg_heads(globals(), LSGXLMRobertaPreTrainedModel)  # the other heads of the XLM-RoBERTa row (`models.families`)
