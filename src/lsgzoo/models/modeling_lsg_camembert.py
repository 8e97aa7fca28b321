"""LSG-CamemBERT on transformers 5: CamemBERT whose self-attention is LSG, in the original's checkpoint format.

transformers' CamemBERT is RoBERTa under another name, and so is LSG-CamemBERT: LSG-BERT's encoder
(`modeling_lsg_bert`) under the shared base model (`LSGBaseModelMixin`) with CamemBERT's embeddings
(positions from `padding_idx + 1`: 2 offset rows in the position table, kept by conversion; config.json's
`max_position_embeddings` is the length + 2; the global tokens get no token-type row) and CamemBERT's heads
with the base model swapped (`LSGHeadMixin`).

config.json keeps `model_type: "camembert"`: load with these classes or `lsgzoo.models.load_model`.
"""

from huggingface_hub.dataclasses import strict
from transformers import CamembertConfig
from transformers.models.camembert.modeling_camembert import (
    CamembertEmbeddings,
    CamembertForMaskedLM,
    CamembertForMultipleChoice,
    CamembertForQuestionAnswering,
    CamembertForSequenceClassification,
    CamembertForTokenClassification,
    CamembertModel,
    CamembertPreTrainedModel,
)

from lsgzoo.attention.keys import LSGKeys
from lsgzoo.models.lsg_config import LSGConfigMixin
from lsgzoo.models.lsg_encoder import LSGBaseModelMixin, LSGEmbeddingsMixin, LSGHeadMixin, LSGLoadingMixin
from lsgzoo.models.modeling_lsg_bert import LSGBertEncoder


@strict
class LSGCamembertConfig(LSGConfigMixin, CamembertConfig, LSGKeys):
    r"""CamemBERT configuration with LSG (Local + Sparse + Global) self-attention (keys: `attention.keys.LSGKeys`)."""

    base_model_prefix: str = "lsg"
    auto_map: dict | None = None


class LSGCamembertEmbeddings(LSGEmbeddingsMixin, CamembertEmbeddings):
    """CamemBERT's embeddings (positions from padding_idx + 1) with the global tokens in front."""


class LSGCamembertPreTrainedModel(LSGLoadingMixin, CamembertPreTrainedModel):
    config_class = LSGCamembertConfig


class LSGCamembertModel(LSGBaseModelMixin, LSGCamembertPreTrainedModel, CamembertModel):
    """CamemBERT with LSG self-attention (`LSGBaseModelMixin`; LSG-BERT's encoder)."""

    lsg_embeddings_class = LSGCamembertEmbeddings
    lsg_encoder_class = LSGBertEncoder


class LSGCamembertForMaskedLM(LSGHeadMixin, LSGCamembertPreTrainedModel, CamembertForMaskedLM):
    """CamemBERT's masked-LM head on LSG-CamemBERT."""


class LSGCamembertForSequenceClassification(LSGHeadMixin, LSGCamembertPreTrainedModel,
                                            CamembertForSequenceClassification):
    """CamemBERT's classification head (on token 0) on LSG-CamemBERT."""


class LSGCamembertForTokenClassification(LSGHeadMixin, LSGCamembertPreTrainedModel, CamembertForTokenClassification):
    """CamemBERT's token classification head on LSG-CamemBERT."""


class LSGCamembertForQuestionAnswering(LSGHeadMixin, LSGCamembertPreTrainedModel, CamembertForQuestionAnswering):
    """CamemBERT's span-extraction head on LSG-CamemBERT."""


class LSGCamembertForMultipleChoice(LSGHeadMixin, LSGCamembertPreTrainedModel, CamembertForMultipleChoice):
    """CamemBERT's multiple-choice head on LSG-CamemBERT (choices flattened into the batch)."""
