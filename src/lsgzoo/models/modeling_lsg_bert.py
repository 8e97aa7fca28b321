"""LSG-BERT on transformers 5: BERT whose self-attention is LSG, in the original's checkpoint format.

`LSGBertEmbeddings` is BERT's (word + token type + position, LayerNorm, dropout) with the g learned
global tokens (`embeddings.global_embeddings.weight`, 512 rows; no position, no token type, same
LayerNorm) in front. `LSGBertEncoder` right-pads the hidden states with zeros to a block multiple,
runs transformers' `BertLayer`s whose `attention.self` is `LSGSelfAttention` with BERT's projection
names (query/key/value; the output projection stays `BertSelfOutput`), then pools global 0 into
token 0 (pool_with_global) and drops the globals and padding (spec §2.2 step 9). Heads are
transformers' BERT heads with the base model swapped (`LSGHeadMixin`); the pooler reads token 0.

config.json keeps `model_type: "bert"` (plus `base_model_prefix: "lsg"`, the LSG keys, `auto_map`):
load with these classes or `lsgzoo.models.load_model`; `AutoModel*` without remote code returns plain BERT.
"""

from torch import nn
from huggingface_hub.dataclasses import strict
from transformers import BertConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput, BaseModelOutputWithPoolingAndCrossAttentions
from transformers.models.bert.modeling_bert import (
    BertEmbeddings,
    BertEncoder,
    BertForMaskedLM,
    BertForMultipleChoice,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    BertPooler,
    BertPreTrainedModel,
)

from lsgzoo.attention.config import MAX_GLOBAL_TOKENS
from lsgzoo.attention.keys import LSGKeys
from lsgzoo.attention.lsg import LSGSelfAttention
from lsgzoo.models.lsg_config import LSGConfigMixin
from lsgzoo.models.lsg_encoder import LSGHeadMixin, LSGLoadingMixin, padded_input_length, padding_mask_for, prepend_global_tokens, right_pad, trim_encoder_output  # noqa: E501

BERT_PROJECTIONS = ("query", "key", "value", None)  # the output projection is BertSelfOutput.dense


@strict
class LSGBertConfig(LSGConfigMixin, BertConfig, LSGKeys):
    r"""BERT configuration with LSG (Local + Sparse + Global) self-attention (keys: `attention.keys.LSGKeys`).

    base_model_prefix: always "lsg" in files; auto_map: always the classes of `modeling_lsg_bert`.
    `pass_global_tokens_to_decoder` is unused (no decoder): the encoder always drops the globals.
    """

    base_model_prefix: str = "lsg"
    auto_map: dict | None = None


class LSGEmbeddingsMixin:
    """A BERT-like embeddings class → (n, g + t, w): its token rows with the g learned global tokens in front.

    `class LSG<Name>Embeddings(LSGEmbeddingsMixin, <Name>Embeddings)`: the family's own forward embeds the
    tokens (word + token type + position, LayerNorm, dropout: each family's position rule stays its own);
    the globals (`global_embeddings.weight`, 512 rows of the word-embedding width w) get the same LayerNorm
    and dropout only (no position, no token type).
    """

    def __init__(self, config):
        super().__init__(config)
        self.num_global_tokens = config.num_global_tokens
        width = self.word_embeddings.embedding_dim  # hidden size, or ELECTRA's embedding_size
        self.global_embeddings = nn.Embedding(MAX_GLOBAL_TOKENS, width)  # 512 rows in every checkpoint

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None, **kwargs):
        tokens = super().forward(input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids,
                                 inputs_embeds=inputs_embeds, **kwargs)  # (n, t, w)
        # LayerNorm and dropout act per row: applying them to the globals apart equals the original's
        # LayerNorm of the concatenation
        globals_ = self.dropout(self.LayerNorm(self.global_embeddings.weight[: self.num_global_tokens]))  # (g, w)
        return prepend_global_tokens(globals_, tokens)  # (n, g + t, w)


class LSGBertEmbeddings(LSGEmbeddingsMixin, BertEmbeddings):
    """BERT's embeddings (word + token type + position, LayerNorm, dropout) with the global tokens in front."""


class LSGBertEncoder(BertEncoder):
    """BERT's encoder on (n, g + t, d) with LSG self-attention; returns (n, t, d) (spec §2.2 steps 3, 9).

    The hidden states are right-padded with zeros to a block multiple (as the original, after the
    embeddings), every layer's `attention.self` is `LSGSelfAttention` (query/key/value names) and gets
    the 2-D padding mask (n, tp) of the real positions; the output pools global 0 into token 0
    (pool_with_global) and keeps the t real rows. hidden_states (if asked) are untrimmed (n, g + tp, d).
    """

    def __init__(self, config: LSGBertConfig):
        super().__init__(config)
        for layer in self.layer:
            layer.attention.self = LSGSelfAttention(config.hidden_size, config.num_attention_heads,
                                                    config.lsg_attention, projections=BERT_PROJECTIONS)

    def forward(self, hidden_states, attention_mask=None, output_hidden_states: bool = False, **kwargs):
        """hidden_states (n, g + t, d) from `LSGBertEmbeddings`; attention_mask (n, t), 1 = real."""
        cfg = self.config
        g = cfg.num_global_tokens
        t = hidden_states.shape[1] - g
        extra = padded_input_length(cfg, t) - t
        if extra or attention_mask is not None:
            attention_mask = right_pad(padding_mask_for(attention_mask, hidden_states[:, g:]), extra, 0)  # (n, tp)
        hidden_states = right_pad(hidden_states, extra, 0.0)  # (n, g + tp, d)
        all_hidden_states = [hidden_states] if output_hidden_states else None
        for layer in self.layer:
            hidden_states = layer(hidden_states, attention_mask, **kwargs)
            if output_hidden_states:
                all_hidden_states.append(hidden_states)
        last_hidden_state, all_hidden_states = trim_encoder_output(hidden_states, all_hidden_states, cfg, t, False)
        return BaseModelOutput(last_hidden_state=last_hidden_state,
                               hidden_states=tuple(all_hidden_states) if output_hidden_states else None)


class LSGBertPreTrainedModel(LSGLoadingMixin, BertPreTrainedModel):
    """Base class of the LSG-BERT models: BERT's, with `LSGBertConfig` and the shared loading checks."""

    config_class = LSGBertConfig


class LSGEncoderModelMixin:
    """The base model of a BERT-like LSG family: the family's embeddings (`embeddings_class`, with
    `LSGEmbeddingsMixin`), `LSGBertEncoder`, and BERT's pooler on token 0 (global 0's output under
    pool_with_global) unless `pooler_class` is None. When the word embeddings are narrower than the hidden
    size (ELECTRA's embedding_size), `embeddings_project` maps the embeddings, globals included, to it.

    `class LSG<Name>Model(LSGEncoderModelMixin, LSG<Name>PreTrainedModel, <Name>Model)`: last_hidden_state
    (n, t, d); the transformers model's own `__init__` is skipped.
    """

    embeddings_class = LSGBertEmbeddings
    pooler_class = BertPooler

    def __init__(self, config, add_pooling_layer: bool = True):
        PreTrainedModel.__init__(self, config)
        self.gradient_checkpointing = False
        self.embeddings = self.embeddings_class(config)
        width = self.embeddings.word_embeddings.embedding_dim
        if width != config.hidden_size:
            self.embeddings_project = nn.Linear(width, config.hidden_size)
        self.encoder = LSGBertEncoder(config)
        self.pooler = self.pooler_class(config) if add_pooling_layer and self.pooler_class is not None else None
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, output_hidden_states: bool | None = None, return_dict: bool | None = None,
                **kwargs):
        """BERT's inputs; `head_mask`, cross-attention and cache arguments are not supported (as the original's
        encoder, attentions are None)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds")
        for unused in ("encoder_hidden_states", "encoder_attention_mask", "head_mask", "output_attentions",
                       "use_cache", "cache", "past_key_values"):
            kwargs.pop(unused, None)
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        embeddings = self.embeddings(input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids,
                                     inputs_embeds=inputs_embeds)  # (n, g + t, w)
        if hasattr(self, "embeddings_project"):
            embeddings = self.embeddings_project(embeddings)  # (n, g + t, d)
        encoded = self.encoder(embeddings, attention_mask, output_hidden_states=output_hidden_states, **kwargs)
        sequence_output = encoded.last_hidden_state  # (n, t, d)
        output = BaseModelOutputWithPoolingAndCrossAttentions(
            last_hidden_state=sequence_output,
            pooler_output=self.pooler(sequence_output) if self.pooler is not None else None,
            hidden_states=encoded.hidden_states,
        )
        return output if return_dict is not False else output.to_tuple()


class LSGBertModel(LSGEncoderModelMixin, LSGBertPreTrainedModel, BertModel):
    """BERT with LSG self-attention: last_hidden_state (n, t, d); the pooler reads token 0 (global 0's
    output under pool_with_global)."""


class LSGBertForPreTraining(LSGHeadMixin, LSGBertPreTrainedModel, BertForPreTraining):
    """BERT's pre-training heads (masked LM + next sentence) on LSG-BERT."""


class LSGBertForMaskedLM(LSGHeadMixin, LSGBertPreTrainedModel, BertForMaskedLM):
    """BERT's masked-LM head on LSG-BERT (decoder tied to the word embeddings)."""


class LSGBertForSequenceClassification(LSGHeadMixin, LSGBertPreTrainedModel, BertForSequenceClassification):
    """BERT's classification head on the pooled output of LSG-BERT."""


class LSGBertForTokenClassification(LSGHeadMixin, LSGBertPreTrainedModel, BertForTokenClassification):
    """BERT's token classification head on LSG-BERT."""


class LSGBertForQuestionAnswering(LSGHeadMixin, LSGBertPreTrainedModel, BertForQuestionAnswering):
    """BERT's span-extraction head on LSG-BERT."""


class LSGBertForMultipleChoice(LSGHeadMixin, LSGBertPreTrainedModel, BertForMultipleChoice):
    """BERT's multiple-choice head on LSG-BERT (choices flattened into the batch)."""
