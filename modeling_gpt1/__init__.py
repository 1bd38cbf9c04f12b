"""GPT-1 for Hugging Face Transformers. Importing this package registers the `gpt1` model type with the Auto classes."""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMultipleChoice,
    AutoModelForSequenceClassification,
)

from .auxiliary import AuxiliaryLossCallback, GPT1WithAuxiliaryLM, add_auxiliary_loss_logging
from .collators import GPT1DataCollator
from .configuration_gpt1 import GPT1Config
from .modeling_gpt1 import (
    GPT1ForMultipleChoice,
    GPT1ForSequenceClassification,
    GPT1ForSimilarity,
    GPT1LMHeadModel,
    GPT1Model,
    GPT1PreTrainedModel,
    GPT1TaskHeadModel,
)
from .tokenization_gpt1 import GPT1Tokenizer, add_gpt1_special_tokens, train_gpt1_tokenizer
from .tokenization_gpt1 import register as register_tokenizer
from .training import finetuning_args, pretraining_args
from .transfer import load_with_transferred_layers
from .transforms import FAMILIES, InputTransform, SpecialTokenIds


def register_auto_classes() -> None:
    """Map model type "gpt1" to this package's classes in the Auto classes (done on import).

    Loading a folder with `trust_remote_code=True` in the same process replaces these mappings with the folder's copy
    of the classes, as Transformers does for any remote code; calling this again restores them."""
    AutoConfig.register("gpt1", GPT1Config, exist_ok=True)
    for auto_class, model_class in (
        (AutoModel, GPT1Model),
        (AutoModelForCausalLM, GPT1LMHeadModel),
        # Two classes: Transformers picks the one named in config.architectures (an LM checkpoint gets the first).
        (AutoModelForSequenceClassification, (GPT1ForSequenceClassification, GPT1ForSimilarity)),
        (AutoModelForMultipleChoice, GPT1ForMultipleChoice),
    ):
        auto_class.register(GPT1Config, model_class, exist_ok=True)
    register_tokenizer()

    # save_pretrained writes `auto_map` and copies the defining files, so saved folders load with
    # trust_remote_code=True where this package is not installed.
    GPT1Config.register_for_auto_class()
    GPT1Model.register_for_auto_class("AutoModel")
    GPT1LMHeadModel.register_for_auto_class("AutoModelForCausalLM")
    GPT1ForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")
    GPT1ForSimilarity.register_for_auto_class("AutoModelForSequenceClassification")
    GPT1ForMultipleChoice.register_for_auto_class("AutoModelForMultipleChoice")


register_auto_classes()

__all__ = [
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
    "finetuning_args",
    "pretraining_args",
]
