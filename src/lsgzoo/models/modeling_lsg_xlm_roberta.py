"""LSG-XLM-RoBERTa on transformers 5: XLM-RoBERTa whose self-attention is LSG, in the original's checkpoint format.

transformers' XLM-RoBERTa is RoBERTa under another name, and so is LSG-XLM-RoBERTa: LSG-BERT's encoder
(`modeling_lsg_bert`) under the shared base model (`LSGBaseModelMixin`) with XLM-RoBERTa's embeddings
(positions from `padding_idx + 1`: 2 offset rows in the position table, kept by conversion; config.json's
`max_position_embeddings` is the length + 2; the global tokens get no token-type row) and XLM-RoBERTa's heads
with the base model swapped (`LSGHeadMixin`), built from its row (`define_lsg_heads`).
The classes (config, embeddings, pretrained and base model, heads) are built by
`modeling_lsg_bert.define_bert_like`, as for every family that is LSG-BERT's encoder under its own embeddings.

config.json keeps `model_type: "xlm-roberta"`: load with these classes or `lsgzoo.models.load_model`.
"""

from transformers.models.xlm_roberta import modeling_xlm_roberta

from lsgzoo.models.modeling_lsg_bert import define_bert_like

define_bert_like(globals(), "XLMRoberta", modeling_xlm_roberta)
