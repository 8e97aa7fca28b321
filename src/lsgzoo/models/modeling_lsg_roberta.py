"""LSG-RoBERTa on transformers 5: RoBERTa whose self-attention is LSG, in the original's checkpoint format.

RoBERTa is LSG-BERT's encoder (`modeling_lsg_bert`) under the shared base model (`LSGBaseModelMixin`)
with RoBERTa's embeddings: positions count from `padding_idx + 1` over the non-pad tokens
(`create_position_ids_from_input_ids`), so the position table has 2 offset rows in front (conversion keeps
them and tiles the rest; config.json's `max_position_embeddings` is the length + 2), and one token-type
row, which the global tokens do not get. RoBERTa's pooler reads token 0.
Heads are transformers' RoBERTa heads with the base model swapped (`LSGHeadMixin`),
built from its row (`define_lsg_heads`).
The classes (config, embeddings, pretrained and base model, heads) are built by
`modeling_lsg_bert.define_bert_like`, as for every family that is LSG-BERT's encoder under its own embeddings.

config.json keeps `model_type: "roberta"`: load with these classes or `lsgzoo.models.load_model`.
"""

from transformers.models.roberta import modeling_roberta

from lsgzoo.models.modeling_lsg_bert import define_bert_like

define_bert_like(globals(), "Roberta", modeling_roberta)
