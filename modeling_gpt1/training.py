"""The paper's optimisation settings as ready `TrainingArguments` values.

Weight decay: Trainer already decays every parameter except biases and LayerNorm gains, which is GPT-1's "all non
bias or gain weights" (the embeddings included), so no custom optimizer is needed.
"""

from pathlib import Path

from transformers import TrainingArguments
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .configuration_gpt1 import SPECIAL_TOKEN_IDS, GPT1Config
from .cpu_training import BLOCK_CAUSAL


# Section 4.1, "Fine-tuning details": lr 6.25e-5, batch 32, 3 epochs, linear schedule with warm-up over 0.2% of
# training, L2 weight decay 0.01, gradient clipping 1 (from the released code), Adam defaults otherwise.
FINETUNING_DEFAULTS = {
    "learning_rate": 6.25e-5,
    "per_device_train_batch_size": 32,
    "num_train_epochs": 3,
    "lr_scheduler_type": "linear",
    "warmup_steps": 0.002,  # a float below 1 is a fraction of the training steps
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
}

# Section 4.1, "Model specifications": Adam with max lr 2.5e-4, linear warm-up over 2,000 updates then cosine
# annealing to 0, minibatches of 64 contiguous 512-token windows, weight decay 0.01, clipping 1.
PRETRAINING_DEFAULTS = {
    "learning_rate": 2.5e-4,
    "per_device_train_batch_size": 64,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 2000,
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
}


def finetuning_args(output_dir: str, **overrides) -> TrainingArguments:
    """`TrainingArguments` with the paper's fine-tuning hyperparameters; keyword arguments override them."""
    return TrainingArguments(output_dir=output_dir, **{**FINETUNING_DEFAULTS, **overrides})


def pretraining_args(output_dir: str, **overrides) -> TrainingArguments:
    """`TrainingArguments` with the paper's pre-training hyperparameters; keyword arguments override them."""
    return TrainingArguments(output_dir=output_dir, **{**PRETRAINING_DEFAULTS, **overrides})


ATTN_IMPLEMENTATION_HELP = (
    f"Attention backend: sdpa (default), eager, {BLOCK_CAUSAL} (faster training with attention dropout on a CPU: "
    "modeling_gpt1.cpu_training), or another Transformers backend (flash_attention_2, flex_attention, ...)."
)


def check_attn_implementation(name: str | None) -> None:
    """A ValueError naming `--attn_implementation`'s choices unless `name` is None (the model's default) or an
    attention backend Transformers knows (its own and those registered, such as `block_causal`)."""
    choices = ["eager", *ALL_ATTENTION_FUNCTIONS.valid_keys()]
    if name is not None and name not in choices:
        raise ValueError(f"--attn_implementation {name!r} is not an attention backend; choose from {choices}")


# What a local folder must hold for each kind of script argument (any one of the files).
FOLDER_CONTENTS = {
    "model": ("config.json",),
    "config": ("config.json",),
    "tokenizer": ("tokenizer.json", "tokenizer_config.json"),
}


def check_model_folders(model_name_or_path: str | None, tokenizer_name: str | None, config_name: str | None) -> None:
    """`check_folder_contents` for a script's model, tokenizer (read from `model_name_or_path` when
    `tokenizer_name` is None) and config folders."""
    check_folder_contents("model_name_or_path", model_name_or_path, "model")
    tokenizer_flag = "tokenizer_name" if tokenizer_name else "model_name_or_path"  # where it is read from
    check_folder_contents(tokenizer_flag, tokenizer_name or model_name_or_path, "tokenizer")
    check_folder_contents("config_name", config_name, "config")


def check_folder_contents(flag: str, path: str | None, kind: str) -> None:
    """A FileNotFoundError naming `--flag` when `path` is an existing folder without the files a `kind` ("model",
    "config", "tokenizer") is read from: Transformers then reads a config folder as the class defaults (silently
    the 117M shape) and reports a tokenizer folder as a missing sentencepiece. Hub ids and other paths pass."""
    if (
        path is not None
        and Path(path).is_dir()
        and not any((Path(path) / name).is_file() for name in FOLDER_CONTENTS[kind])
    ):
        raise FileNotFoundError(f"--{flag} {path}: the folder has no {' or '.join(FOLDER_CONTENTS[kind])}")


def set_attn_implementation(model, name: str | None) -> None:
    """`model.set_attn_implementation(name)` (nothing for None), its failures as one-line ValueErrors naming
    `--attn_implementation`: a backend not installed here (flash attention), or one that cannot apply the model's
    attention dropout in training (flex attention)."""
    if name is None:
        return
    if name == "flex_attention" and model.config.attn_pdrop > 0:
        raise ValueError(
            f"--attn_implementation flex_attention cannot train with attention dropout (attn_pdrop="
            f"{model.config.attn_pdrop}); choose another backend or set attn_pdrop=0.0"
        )
    try:
        model.set_attn_implementation(name)
    except (ImportError, ValueError) as error:
        raise ValueError(f"--attn_implementation {name}: {str(error).strip().splitlines()[0]}") from error


def decay_parameter_names(model) -> list[str]:
    """The parameters GPT-1 decays: tensors of rank > 1 (weight matrices and embeddings), not biases or gains.
    Trainer's own split (`Trainer.get_decay_parameter_names`) gives the same set for GPT-1 models."""
    return [name for name, parameter in model.named_parameters() if parameter.dim() > 1]


def add_special_tokens(model, tokenizer) -> int:
    """Give a pre-trained model and its tokenizer GPT's fine-tuning tokens (`_start_`, `_delimiter_`, `_classify_`,
    `<pad>`) where they lack them, as the paper did for the released model, and grow the model's embeddings to the
    tokenizer's size (the scripts' one rule for new rows, also when pre-training continues with a larger tokenizer).

    New embedding rows are drawn like the others, N(0, initializer_range), rather than from the mean of the trained
    rows (Transformers' default), the output layer stays tied, and the config records the tokenizer's ids.
    Returns the number of tokens added to the tokenizer."""
    from .tokenization_gpt1 import add_gpt1_special_tokens

    added = add_gpt1_special_tokens(tokenizer)
    if len(tokenizer) > model.config.vocab_size:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    for name in SPECIAL_TOKEN_IDS:
        setattr(model.config, name, getattr(tokenizer, name))
    return added


def parse_config_overrides(overrides: str, config_class=GPT1Config) -> dict:
    """``"n_layer=4,n_embd=256,resid_pdrop=0.0"`` -> ``{"n_layer": 4, "n_embd": 256, "resid_pdrop": 0.0}``.

    Each value gets the type of the field's default (int, float, bool, str; ``None`` for none); an unknown field or a
    value of the wrong type is a ValueError naming it. The config's own checks then judge the values.
    """
    defaults = config_class().to_dict()
    parsed = {}
    for item in filter(None, (part.strip() for part in overrides.split(","))):
        key, equals, text = (part.strip() for part in item.partition("="))
        if not equals:
            raise ValueError(f"--config_overrides: expected key=value, got {item!r}")
        if key not in defaults:
            fields = ", ".join(sorted(k for k in defaults if not k.startswith("_")))
            raise ValueError(f"--config_overrides: {config_class.__name__} has no field {key!r}; its fields: {fields}")
        parsed[key] = _parse_value(key, text, defaults[key])
    return parsed


def _parse_value(key: str, text: str, default):
    if text == "None":
        return None
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        if isinstance(default, (int, float)):
            return type(default)(text)
        if default is None:  # an optional field left unset (e.g. n_inner): a number if it reads as one
            return int(text) if text.lstrip("-").isdigit() else float(text)
    except ValueError:
        kind = {bool: "true/false", int: "an integer", float: "a number"}.get(type(default), "a number")
        raise ValueError(f"--config_overrides: {key}={text!r} is not {kind}") from None
    return text
