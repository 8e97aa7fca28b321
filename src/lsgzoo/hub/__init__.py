"""Export LSG-BART models as self-contained Hugging Face Hub folders."""

from lsgzoo.hub.export import export_model, model_code, write_hub_folder

__all__ = ["export_model", "model_code", "write_hub_folder"]
