"""LSG models: the family table, the configurations and models (transformers 5), loading helpers.

`models.families.FAMILIES` is the one table of families (one row each: model types, config class,
code module, heads, conversion facts); loading (`models.loading`), conversion (`models.conversion`)
and export derive from it. The LSG keys come from `lsgzoo.attention.keys`. LSG files keep their base
family's `model_type` ("bart", ...): load them by class or with `load_model(path)`, never through
transformers' Auto classes.
"""

from lsgzoo.models.configuration_lsg_bart import LSGBartConfig
from lsgzoo.models.families import FAMILIES, Family, family_for_model_type, family_named, family_of_class, family_of_config, family_of_model  # noqa: E501
from lsgzoo.models.heads import ModelHead
from lsgzoo.models.loading import (
    assert_lsg_model,
    has_global_embeddings,
    is_lsg_checkpoint,
    load_model,
    lsg_class_for,
    lsg_classes,
    lsg_config_class,
    lsg_tasks,
    read_config_dict,
)
from lsgzoo.models.lsg_encoder import LSGMissingWeightsWarning
from lsgzoo.models.modeling_lsg_bart import LSGBartEncoder, LSGBartForCausalLM, LSGBartForConditionalGeneration, LSGBartForQuestionAnswering, LSGBartForSequenceClassification, LSGBartModel, LSGBartPreTrainedModel  # noqa: E501

BART = family_named("bart")


def __getattr__(name: str):
    """Every family's config and model classes, by name (`from lsgzoo.models import LSGMBartModel`), found
    through the family table (`models.families`) and imported on first use."""
    family = family_of_class(name)
    if family is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return lsg_config_class(family) if name == family.config_class else lsg_classes(family)[name]


LSG_BART_HEADS = BART.heads
LSG_BART_CLASSES = lsg_classes(BART)
LSG_BART_TASKS = lsg_tasks(BART)

__all__ = [
    "BART",
    "FAMILIES",
    "Family",
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
    "family_for_model_type",
    "family_named",
    "family_of_config",
    "family_of_model",
    "has_global_embeddings",
    "is_lsg_checkpoint",
    "lsg_class_for",
    "lsg_classes",
    "lsg_tasks",
    "load_model",
    "read_config_dict",
]
