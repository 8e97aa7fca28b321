"""LSG-ELECTRA on transformers 5: ELECTRA whose self-attention is LSG, in the original's checkpoint format.

ELECTRA is LSG-BERT's encoder (`modeling_lsg_bert`) under the shared base model (`LSGBaseModelMixin`)
with ELECTRA's embeddings, whose width is `embedding_size`: the 512 global tokens
(`embeddings.global_embeddings.weight`) have that width too, get the embeddings' LayerNorm, and
ELECTRA's `embeddings_project` maps tokens and globals to the hidden size when the two differ. No pooler;
the global tokens get the token-type row 0 at conversion (as BERT's).
Heads are transformers' ELECTRA heads with the base model swapped (`LSGHeadMixin`),
built from its row (`define_lsg_heads`).
The classes (config, embeddings, pretrained and base model, heads) are built by
`modeling_lsg_bert.define_bert_like`, as for every family that is LSG-BERT's encoder under its own embeddings.

config.json keeps `model_type: "electra"`: load with these classes or `lsgzoo.models.load_model`.
"""

from transformers.models.electra import modeling_electra

from lsgzoo.models.modeling_lsg_bert import define_bert_like

# ElectraModel has `embeddings_project` when embedding_size != hidden_size
define_bert_like(globals(), "Electra", modeling_electra, lsg_projection_attribute="embeddings_project")
