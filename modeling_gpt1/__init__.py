"""GPT-1 for Hugging Face Transformers. Importing this package registers the `gpt1` model type with the Auto classes."""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
)

from .configuration_gpt1 import GPT1Config
from .modeling_gpt1 import GPT1LMHeadModel, GPT1Model, GPT1PreTrainedModel

AutoConfig.register("gpt1", GPT1Config, exist_ok=True)
AutoModel.register(GPT1Config, GPT1Model, exist_ok=True)
AutoModelForCausalLM.register(GPT1Config, GPT1LMHeadModel, exist_ok=True)

# save_pretrained writes `auto_map` and copies the defining files, so folders load with trust_remote_code=True.
GPT1Config.register_for_auto_class()
GPT1Model.register_for_auto_class("AutoModel")
GPT1LMHeadModel.register_for_auto_class("AutoModelForCausalLM")

__all__ = ["GPT1Config", "GPT1Model", "GPT1LMHeadModel", "GPT1PreTrainedModel"]
