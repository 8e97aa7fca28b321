"""LSG-BERT on transformers 5: BERT whose self-attention is LSG, in the original's checkpoint format.

`LSGBertEmbeddings` is BERT's (word + token type + position, LayerNorm, dropout) with the g learned
global tokens (`embeddings.global_embeddings.weight`, 512 rows; no position, no token type, same
LayerNorm) in front. `LSGBertEncoder` right-pads the hidden states with zeros to a block multiple,
runs transformers' `BertLayer`s whose `attention.self` is `LSGSelfAttention` with BERT's projection
names (query/key/value; the output projection stays `BertSelfOutput`), then pools global 0 into
token 0 (pool_with_global) and drops the globals and padding (spec §2.2 step 9). Heads are
transformers' BERT heads with the base model swapped (`define_lsg_heads`); the pooler reads token 0.

The config, embeddings, pretrained and base model classes and the heads are built by `define_bert_like`,
which builds them for every family that is LSG-BERT's encoder under its own embeddings (RoBERTa, XLM-RoBERTa,
CamemBERT, ELECTRA). `pass_global_tokens_to_decoder` is unused (no decoder): the encoder always drops the globals.

config.json keeps `model_type: "bert"` (plus `base_model_prefix: "lsg"`, the LSG keys, `auto_map`):
load with these classes or `lsgzoo.models.load_model`; `AutoModel*` without remote code returns plain BERT.
"""

import functools

from transformers.models.bert import modeling_bert

from lsgzoo.attention.lsg import LSGSelfAttention
from lsgzoo.models.families import family_of_class
from lsgzoo.models.lsg_config import define_class, define_lsg_config
from lsgzoo.models.lsg_encoder import LSGBaseModelMixin, LSGEmbeddingsMixin, LSGLoadingMixin, define_lsg_heads, lsg_encode  # noqa: E501

BERT_PROJECTIONS = ("query", "key", "value", None)  # the output projection is BertSelfOutput.dense


class LSGBertEncoder(modeling_bert.BertEncoder):
    """BERT's encoder on (n, g + t, d) with LSG self-attention; returns (n, t, d) (spec §2.2 steps 3, 9).

    The hidden states are right-padded with zeros to a block multiple (as the original, after the
    embeddings), every layer's `attention.self` is `LSGSelfAttention` (query/key/value names) and gets
    the 2-D padding mask (n, tp) of the real positions; the output pools global 0 into token 0
    (pool_with_global) and keeps the t real rows. hidden_states (if asked) are untrimmed (n, g + tp, d).
    """

    def __init__(self, config):
        super().__init__(config)
        for layer in self.layer:
            layer.attention.self = LSGSelfAttention(config.hidden_size, config.num_attention_heads,
                                                    config.lsg_attention, projections=BERT_PROJECTIONS)

    def forward(self, hidden_states, attention_mask=None, output_hidden_states: bool = False, **kwargs):
        """hidden_states (n, g + t, d) from `LSGBertEmbeddings`; attention_mask (n, t), 1 = real."""
        return lsg_encode(self.config, hidden_states, attention_mask, self.layer, output_hidden_states, **kwargs)


def define_bert_like(namespace: dict, stem: str, modeling, **model_attributes) -> None:
    """Define in a family's model module (`namespace`: its `globals()`) the LSG classes of a family that is
    LSG-BERT's encoder under its own transformers embeddings, from transformers' `modeling` module (its
    `<stem>Config`, `<stem>Embeddings`, `<stem>PreTrainedModel`, `<stem>Model`): `LSG<stem>Config` (`define_lsg_config`),
    `LSG<stem>Embeddings`, `LSG<stem>PreTrainedModel`, `LSG<stem>Model` (`LSGBaseModelMixin` with `LSGBertEncoder`;
    `model_attributes` join its class attributes) and the heads of the family's row (`define_lsg_heads`)."""
    display = family_of_class(f"LSG{stem}Config").display_name
    define = functools.partial(define_class, namespace)  # define(name, bases, doc, **attributes)

    config = define_lsg_config(namespace, stem, getattr(modeling, f"{stem}Config"))
    embeddings = define(f"LSG{stem}Embeddings", (LSGEmbeddingsMixin, getattr(modeling, f"{stem}Embeddings")),
                        f"{display}'s embeddings with the global tokens in front (`LSGEmbeddingsMixin`).")
    pretrained = define(f"LSG{stem}PreTrainedModel", (LSGLoadingMixin, getattr(modeling, f"{stem}PreTrainedModel")),
                        f"Base class of the LSG-{display} models: {display}'s, with `{config.__name__}`.",
                        config_class=config)
    define(f"LSG{stem}Model", (LSGBaseModelMixin, pretrained, getattr(modeling, f"{stem}Model")),
           f"{display} with LSG self-attention (`LSGBaseModelMixin`; LSG-BERT's encoder).",
           lsg_embeddings_class=embeddings, lsg_encoder_class=LSGBertEncoder, **model_attributes)
    define_lsg_heads(namespace, pretrained)  # the other heads of the family's row (`models.families`)


define_bert_like(globals(), "Bert", modeling_bert)
