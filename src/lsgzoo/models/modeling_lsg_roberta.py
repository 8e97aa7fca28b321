"""LSG-RoBERTa on transformers 5: RoBERTa whose self-attention is LSG, in the original's checkpoint format.

RoBERTa is LSG-BERT's encoder (`modeling_lsg_bert`) under the shared base model (`LSGBaseModelMixin`)
with RoBERTa's embeddings: positions count from `padding_idx + 1` over the non-pad tokens
(`create_position_ids_from_input_ids`), so the position table has 2 offset rows in front (conversion keeps
them and tiles the rest; config.json's `max_position_embeddings` is the length + 2), and one token-type
row, which the global tokens do not get. RoBERTa's pooler reads token 0.
Heads are transformers' RoBERTa heads with the base model swapped (`LSGHeadMixin`),
built from its row (`define_lsg_heads`).

config.json keeps `model_type: "roberta"`: load with these classes or `lsgzoo.models.load_model`.
"""

from huggingface_hub.dataclasses import strict
from transformers import RobertaConfig
from transformers.models.roberta.modeling_roberta import RobertaEmbeddings, RobertaModel, RobertaPreTrainedModel

from lsgzoo.attention.keys import LSGKeys
from lsgzoo.models.lsg_config import LSGConfigMixin
from lsgzoo.models.lsg_encoder import LSGBaseModelMixin, LSGEmbeddingsMixin, LSGLoadingMixin, define_lsg_heads
from lsgzoo.models.modeling_lsg_bert import LSGBertEncoder


@strict
class LSGRobertaConfig(LSGConfigMixin, RobertaConfig, LSGKeys):
    r"""RoBERTa configuration with LSG (Local + Sparse + Global) self-attention (keys: `attention.keys.LSGKeys`)."""


class LSGRobertaEmbeddings(LSGEmbeddingsMixin, RobertaEmbeddings):
    """RoBERTa's embeddings (positions from padding_idx + 1) with the global tokens in front."""


class LSGRobertaPreTrainedModel(LSGLoadingMixin, RobertaPreTrainedModel):
    config_class = LSGRobertaConfig


class LSGRobertaModel(LSGBaseModelMixin, LSGRobertaPreTrainedModel, RobertaModel):
    """RoBERTa with LSG self-attention (`LSGBaseModelMixin`; LSG-BERT's encoder)."""

    lsg_embeddings_class = LSGRobertaEmbeddings
    lsg_encoder_class = LSGBertEncoder


define_lsg_heads(globals(), LSGRobertaPreTrainedModel)  # the other heads of the RoBERTa row (`models.families`)
