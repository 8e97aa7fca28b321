"""LSG-ELECTRA on transformers 5: ELECTRA whose self-attention is LSG, in the original's checkpoint format.

ELECTRA is LSG-BERT's encoder (`modeling_lsg_bert`) under the shared base model (`LSGBaseModelMixin`)
with ELECTRA's embeddings, whose width is `embedding_size`: the 512 global tokens
(`embeddings.global_embeddings.weight`) have that width too, get the embeddings' LayerNorm, and
ELECTRA's `embeddings_project` maps tokens and globals to the hidden size when the two differ. No pooler;
the global tokens get the token-type row 0 at conversion (as BERT's).
Heads are transformers' ELECTRA heads with the base model swapped (`LSGHeadMixin`),
built from its row (`define_lsg_heads`).

config.json keeps `model_type: "electra"`: load with these classes or `lsgzoo.models.load_model`.
"""

from huggingface_hub.dataclasses import strict
from transformers import ElectraConfig
from transformers.models.electra.modeling_electra import ElectraEmbeddings, ElectraModel, ElectraPreTrainedModel

from lsgzoo.attention.keys import LSGKeys
from lsgzoo.models.lsg_config import LSGConfigMixin
from lsgzoo.models.lsg_encoder import LSGBaseModelMixin, LSGEmbeddingsMixin, LSGLoadingMixin, define_lsg_heads
from lsgzoo.models.modeling_lsg_bert import LSGBertEncoder


@strict
class LSGElectraConfig(LSGConfigMixin, ElectraConfig, LSGKeys):
    r"""ELECTRA configuration with LSG (Local + Sparse + Global) self-attention (keys: `attention.keys.LSGKeys`)."""


class LSGElectraEmbeddings(LSGEmbeddingsMixin, ElectraEmbeddings):
    """ELECTRA's embeddings (width embedding_size) with the global tokens in front."""


class LSGElectraPreTrainedModel(LSGLoadingMixin, ElectraPreTrainedModel):
    config_class = LSGElectraConfig


class LSGElectraModel(LSGBaseModelMixin, LSGElectraPreTrainedModel, ElectraModel):
    """ELECTRA with LSG self-attention (`LSGBaseModelMixin`, LSG-BERT's encoder): no pooler;
    `embeddings_project` (ELECTRA's own, when embedding_size differs from hidden_size) before the encoder."""

    lsg_embeddings_class = LSGElectraEmbeddings
    lsg_encoder_class = LSGBertEncoder
    lsg_projection_attribute = "embeddings_project"  # ElectraModel has it when embedding_size != hidden_size


define_lsg_heads(globals(), LSGElectraPreTrainedModel)  # the other heads of the ELECTRA row (`models.families`)
