"""LSG-BART: configuration, models (transformers 5), the head table and loading helpers.

The LSG keys come from `lsgzoo.attention.keys`, the heads from `models.heads`, the loading
helpers live in `models.loading` (re-exported here). LSG-BART files say `"model_type": "bart"`:
load them by class or with `load_model(path)`, never through transformers' Auto classes.
"""

from lsgzoo.models.configuration_lsg_bart import LSGBartConfig
from lsgzoo.models.heads import LSG_BART_HEADS, ModelHead
from lsgzoo.models.loading import (
    LSG_BART_CLASSES,
    LSG_BART_TASKS,
    assert_lsg_model,
    has_global_embeddings,
    is_lsg_checkpoint,
    load_model,
    lsg_class_for,
    read_config_dict,
)
from lsgzoo.models.modeling_lsg_bart import LSGBartEncoder, LSGBartForCausalLM, LSGBartForConditionalGeneration, LSGBartForQuestionAnswering, LSGBartForSequenceClassification, LSGBartModel, LSGBartPreTrainedModel, LSGMissingWeightsWarning  # noqa: E501

__all__ = [
    "LSGBartConfig",
    "LSGBartEncoder",
    "LSGBartForCausalLM",
    "LSGBartForConditionalGeneration",
    "LSGBartForQuestionAnswering",
    "LSGBartForSequenceClassification",
    "LSGBartModel",
    "LSGBartPreTrainedModel",
    "LSGMissingWeightsWarning",
    "LSG_BART_CLASSES",
    "LSG_BART_HEADS",
    "LSG_BART_TASKS",
    "ModelHead",
    "assert_lsg_model",
    "has_global_embeddings",
    "is_lsg_checkpoint",
    "lsg_class_for",
    "load_model",
    "read_config_dict",
]
