"""LSG-CamemBERT on transformers 5: CamemBERT whose self-attention is LSG, in the original's checkpoint format.

transformers' CamemBERT is RoBERTa under another name, and so is LSG-CamemBERT: LSG-BERT's encoder
(`modeling_lsg_bert`) under the shared base model (`LSGBaseModelMixin`) with CamemBERT's embeddings
(positions from `padding_idx + 1`: 2 offset rows in the position table, kept by conversion; config.json's
`max_position_embeddings` is the length + 2; the global tokens get no token-type row) and CamemBERT's heads
with the base model swapped (`LSGHeadMixin`), built from its row (`define_lsg_heads`).

config.json keeps `model_type: "camembert"`: load with these classes or `lsgzoo.models.load_model`.
"""

from huggingface_hub.dataclasses import strict
from transformers import CamembertConfig
from transformers.models.camembert.modeling_camembert import (
    CamembertEmbeddings,
    CamembertModel,
    CamembertPreTrainedModel,
)

from lsgzoo.attention.keys import LSGKeys
from lsgzoo.models.lsg_config import LSGConfigMixin
from lsgzoo.models.lsg_encoder import LSGBaseModelMixin, LSGEmbeddingsMixin, LSGLoadingMixin, define_lsg_heads
from lsgzoo.models.modeling_lsg_bert import LSGBertEncoder


@strict
class LSGCamembertConfig(LSGConfigMixin, CamembertConfig, LSGKeys):
    r"""CamemBERT configuration with LSG (Local + Sparse + Global) self-attention (keys: `attention.keys.LSGKeys`)."""


class LSGCamembertEmbeddings(LSGEmbeddingsMixin, CamembertEmbeddings):
    """CamemBERT's embeddings (positions from padding_idx + 1) with the global tokens in front."""


class LSGCamembertPreTrainedModel(LSGLoadingMixin, CamembertPreTrainedModel):
    config_class = LSGCamembertConfig


class LSGCamembertModel(LSGBaseModelMixin, LSGCamembertPreTrainedModel, CamembertModel):
    """CamemBERT with LSG self-attention (`LSGBaseModelMixin`; LSG-BERT's encoder)."""

    lsg_embeddings_class = LSGCamembertEmbeddings
    lsg_encoder_class = LSGBertEncoder


define_lsg_heads(globals(), LSGCamembertPreTrainedModel)  # the other heads of the CamemBERT row (`models.families`)
