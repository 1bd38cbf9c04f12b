"""GPT-1 for Hugging Face Transformers. Importing this package registers the `gpt1` model type with the Auto classes."""

import transformers
from transformers import AutoConfig
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

from .auxiliary import AuxiliaryLossCallback, GPT1WithAuxiliaryLM, add_auxiliary_loss_logging
from .collators import GPT1DataCollator
from .configuration_gpt1 import GPT1Config
from .cpu_decoding import enable_cpu_decoding
from .cpu_training import BLOCK_CAUSAL
from .modeling_gpt1 import (
    GPT1ForMultipleChoice,
    GPT1ForSequenceClassification,
    GPT1ForSimilarity,
    GPT1LMHeadModel,
    GPT1Model,
    GPT1PreTrainedModel,
    GPT1TaskHeadModel,
)
from .pipelines import GPT1TextClassificationPipeline, register_pipeline
from .tokenization_gpt1 import GPT1Tokenizer, add_gpt1_special_tokens, train_gpt1_tokenizer
from .tokenization_gpt1 import register as register_tokenizer
from .training import finetuning_args, pretraining_args
from .transfer import load_with_transferred_layers
from .transforms import FAMILIES, InputTransform, SpecialTokenIds


__version__ = "0.1.0"  # the one source of the version: pyproject.toml reads it

# Each Auto class and the classes it resolves "gpt1" to. With two, Transformers picks the one named in
# config.architectures (a language model's checkpoint gets the first).
AUTO_CLASSES = {
    "AutoModel": (GPT1Model,),
    "AutoModelForCausalLM": (GPT1LMHeadModel,),
    "AutoModelForSequenceClassification": (GPT1ForSequenceClassification, GPT1ForSimilarity),
    "AutoModelForMultipleChoice": (GPT1ForMultipleChoice,),
}


def register_auto_classes() -> None:
    """Map model type "gpt1" to this package's classes in the Auto classes (done on import).

    Loading a folder with `trust_remote_code=True` in the same process replaces these mappings with the folder's copy
    of the classes, as Transformers does for any remote code; calling this again restores them."""
    AutoConfig.register("gpt1", GPT1Config, exist_ok=True)
    # save_pretrained writes `auto_map` and copies the defining files, so saved folders load with
    # trust_remote_code=True where this package is not installed.
    GPT1Config.register_for_auto_class()
    for auto_name, model_classes in AUTO_CLASSES.items():
        mapped = model_classes if len(model_classes) > 1 else model_classes[0]
        getattr(transformers, auto_name).register(GPT1Config, mapped, exist_ok=True)
        for model_class in model_classes:
            model_class.register_for_auto_class(auto_name)
    # Trainer's label smoother shifts the labels for the class names in this table alone (the library's causal LMs):
    # without the entry, `label_smoothing_factor` would score each position against its own token, not the next one.
    MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.setdefault("gpt1", GPT1LMHeadModel.__name__)
    register_tokenizer()
    # pipeline("text-classification") then feeds similarity models both orderings of a pair; it serves every other
    # model exactly as Transformers' own TextClassificationPipeline.
    register_pipeline()


register_auto_classes()

__all__ = [
    "__version__",
    "register_auto_classes",
    "GPT1Config",
    "GPT1Model",
    "GPT1LMHeadModel",
    "GPT1PreTrainedModel",
    "GPT1TaskHeadModel",
    "GPT1ForSequenceClassification",
    "GPT1ForSimilarity",
    "GPT1ForMultipleChoice",
    "GPT1Tokenizer",
    "add_gpt1_special_tokens",
    "train_gpt1_tokenizer",
    "GPT1WithAuxiliaryLM",
    "AuxiliaryLossCallback",
    "add_auxiliary_loss_logging",
    "GPT1DataCollator",
    "InputTransform",
    "SpecialTokenIds",
    "FAMILIES",
    "load_with_transferred_layers",
    "enable_cpu_decoding",
    "BLOCK_CAUSAL",
    "GPT1TextClassificationPipeline",
    "finetuning_args",
    "pretraining_args",
]
