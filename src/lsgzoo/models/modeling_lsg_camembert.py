"""LSG-CamemBERT on transformers 5: CamemBERT whose self-attention is LSG, in the original's checkpoint format.

transformers' CamemBERT is RoBERTa under another name, and so is LSG-CamemBERT: LSG-BERT's encoder
(`modeling_lsg_bert`) under the shared base model (`LSGBaseModelMixin`) with CamemBERT's embeddings
(positions from `padding_idx + 1`: 2 offset rows in the position table, kept by conversion; config.json's
`max_position_embeddings` is the length + 2; the global tokens get no token-type row) and CamemBERT's heads
with the base model swapped (`LSGHeadMixin`), built from its row (`define_lsg_heads`).
The classes (config, embeddings, pretrained and base model, heads) are built by
`modeling_lsg_bert.define_bert_like`, as for every family that is LSG-BERT's encoder under its own embeddings.

config.json keeps `model_type: "camembert"`: load with these classes or `lsgzoo.models.load_model`.
"""

from transformers.models.camembert import modeling_camembert

from lsgzoo.models.modeling_lsg_bert import define_bert_like

define_bert_like(globals(), "Camembert", modeling_camembert)
