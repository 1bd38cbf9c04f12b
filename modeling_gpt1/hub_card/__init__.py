"""The model card of a GPT-1 run: YAML metadata the Hub understands (pipeline tag, tags, license, base model, data
sets, a `model-index` with the evaluation results) and a body that describes the architecture, the input format of
each task family, how to load the model, its limitations and the citation.

The card is rendered with `huggingface_hub.ModelCard.from_template` from `template.md` next to this file; the
numbers come from the folder's `config.json` and, for the parameter count, from its safetensors headers.

    card = render_model_card("runs/rte", results=[{"dataset": "nyu-mll/glue", "config": "rte", "split": "validation",
                                                   "metric": "accuracy", "value": 0.56}], base_model="me/gpt1")
    write_model_card("runs/rte", results=...)   # writes runs/rte/README.md
"""

import json
import math
import numbers
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from safetensors import safe_open

from ..configuration_gpt1 import SPECIAL_TOKEN_IDS


@dataclass(frozen=True)
class Head:
    """What the Hub and users need to know about one model class."""

    pipeline_tag: str
    auto_class: str
    tag: str
    description: str


HEADS = {
    "GPT1LMHeadModel": Head(
        "text-generation", "AutoModelForCausalLM", "causal-lm", "its language-model head (tied to the embeddings)"
    ),
    "GPT1ForSequenceClassification": Head(
        "text-classification",
        "AutoModelForSequenceClassification",
        "text-classification",
        "a classification head: a linear layer on the final `_classify_` state (classification, entailment)",
    ),
    "GPT1ForSimilarity": Head(
        "text-classification",
        "AutoModelForSequenceClassification",
        "text-classification",
        "a similarity head: a linear layer on the summed `_classify_` states of both orderings of a pair",
    ),
    "GPT1ForMultipleChoice": Head(
        "multiple-choice",
        "AutoModelForMultipleChoice",
        "multiple-choice",
        "a multiple-choice head: one score per answer from its `_classify_` state, softmax over the answers",
    ),
    "GPT1Model": Head("feature-extraction", "AutoModel", "feature-extraction", "no head (it returns hidden states)"),
}

# Keys of one evaluation result, and the `EvalResult` field each fills.
RESULT_FIELDS = {
    "task": "task_type",
    "task_name": "task_name",
    "dataset": "dataset_type",
    "dataset_name": "dataset_name",
    "config": "dataset_config",
    "split": "dataset_split",
    "metric": "metric_type",
    "metric_name": "metric_name",
    "value": "metric_value",
}
REQUIRED_RESULT_FIELDS = ("dataset", "metric", "value")

BASE_TAGS = ["gpt1", "openai-gpt", "custom_code"]


def infer_pipeline_tag(architectures: list[str] | None) -> str:
    """The Hub pipeline tag of a config's `architectures` (e.g. `["GPT1LMHeadModel"]` -> `"text-generation"`)."""
    return HEADS[_architecture(architectures)].pipeline_tag


def render_model_card(
    model_dir_or_config: str | os.PathLike | dict | Any,
    *,
    results: list[dict] | None = None,
    base_model: str | None = None,
    datasets: list[str] | str | None = None,
    pipeline_tag: str | None = None,
    training_summary: dict | None = None,
    model_name: str | None = None,
    repo_id: str | None = None,
    num_parameters: int | None = None,
    license: str = "apache-2.0",
    language: str | list[str] | None = "en",
) -> ModelCard:
    """Render the card of a saved GPT-1 model.

    Args:
        model_dir_or_config: the model folder (or its `config.json`), a config dict, or a `PreTrainedConfig`.
        results: evaluation results, one dict each with `dataset` (Hub id), `metric` (e.g. `"accuracy"`), `value`, and
            optionally `task` (defaults to the pipeline tag), `task_name`, `dataset_name`, `config`, `split`,
            `metric_name`. They become the card's `model-index` and its results table.
        base_model: Hub id of the pre-trained model this one was fine-tuned from.
        datasets: Hub ids of the training data sets.
        pipeline_tag: overrides the Hub pipeline tag inferred from `config.architectures`.
        training_summary: what this run did (e.g. `{"learning_rate": 6.25e-5, "epochs": 3}`), listed in the card.
        model_name: title of the card and name in the `model-index`; defaults to the folder's name.
        repo_id: the Hub repository, for the loading example; defaults to `model_name`.
        num_parameters: shown in the card; defaults to the count in the folder's safetensors files.

    Raises:
        FileNotFoundError: the folder does not exist, or holds no `config.json`.
        ValueError: the config is not a GPT-1 one or names no known head; a malformed evaluation result.
        TypeError: an evaluation result that is not a dict, or whose value is not a number.
    """
    config, folder = _read_config(model_dir_or_config)
    architecture = _architecture(config.get("architectures"))
    head = HEADS[architecture]
    pipeline_tag = pipeline_tag or head.pipeline_tag
    model_name = model_name or (folder.resolve().name if folder is not None else "gpt1")
    if num_parameters is None and folder is not None:
        num_parameters = count_parameters(folder)
    eval_results = [_eval_result(result, pipeline_tag) for result in results or []]

    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag=pipeline_tag,
        license=license,
        language=language,
        tags=[*BASE_TAGS, head.tag],
        datasets=[datasets] if isinstance(datasets, str) else datasets,
        base_model=base_model,
        metrics=sorted({result.metric_type for result in eval_results}) or None,
        model_name=model_name,
        eval_results=eval_results or None,
    )
    return ModelCard.from_template(
        card_data,
        template_str=resources.files(__name__).joinpath("template.md").read_text(encoding="utf-8"),
        model_name=model_name,
        repo_id=repo_id or model_name,
        architecture=architecture,
        head=head,
        shape=_shape(config),
        labels=_labels(config),
        num_parameters=f"{num_parameters:,}" if num_parameters else None,
        tokenizer_missing=folder is not None and not (folder / "tokenizer_config.json").is_file(),
        tokenizer_template=_saved_task_template(folder),
        training_summary=training_summary or {},
        results=eval_results,
    )


def write_model_card(folder: str | os.PathLike, **kwargs) -> Path:
    """Render the card of the model in `folder` (see `render_model_card`, whose errors it raises) and save it as
    `folder/README.md`, replacing any card there (the command line keeps an existing card unless `--overwrite`)."""
    path = Path(folder) / "README.md"
    render_model_card(folder, **kwargs).save(path)
    return path


def count_parameters(folder: str | os.PathLike) -> int | None:
    """Number of parameters stored in the folder's safetensors files (read from their headers; tied weights are
    stored once), or None when there are none."""
    total = 0
    files = sorted(Path(folder).glob("*.safetensors"))
    for path in files:
        with safe_open(path, framework="numpy") as weights:
            total += sum(math.prod(weights.get_slice(name).get_shape()) for name in weights.keys())  # noqa: SIM118 (safe_open is not iterable)
    return total if files else None


def _read_config(source) -> tuple[dict, Path | None]:
    """The config as a dict, and the model folder when the source is one."""
    folder = None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"Model folder not found: {path}")
        folder, config_path = (path, path / "config.json") if path.is_dir() else (path.parent, path)
        if not config_path.is_file():
            raise FileNotFoundError(f"No config.json in {folder}: save the model there with save_pretrained first")
        config = json.loads(config_path.read_text(encoding="utf-8"))
    elif isinstance(source, dict):
        config = dict(source)
    elif hasattr(source, "to_dict"):
        config = source.to_dict()
    else:
        raise TypeError(f"Expected a model folder, a config dict or a PreTrainedConfig, got {type(source).__name__}")
    missing = [key for key in ("n_layer", "n_embd", "n_head", "n_positions", "vocab_size") if key not in config]
    if missing:
        raise ValueError(f"The config lacks {missing}: is it a GPT-1 config?")
    return config, folder


def _architecture(architectures: list[str] | None) -> str:
    """The first of a config's architectures that this card knows."""
    if not architectures:
        raise ValueError(
            "The config has no `architectures`, so the model's head is unknown: render the card from a folder "
            "written by the model's save_pretrained, which records it"
        )
    known = [name for name in architectures if name in HEADS]
    if not known:
        raise ValueError(f"Unknown architectures {architectures}: a GPT-1 card describes one of {sorted(HEADS)}")
    return known[0]


def _eval_result(result: dict, default_task: str) -> EvalResult:
    if not isinstance(result, dict):
        raise TypeError(f"Each evaluation result must be a dict, got {type(result).__name__}: {result!r}")
    unknown = sorted(set(result) - set(RESULT_FIELDS))
    missing = [key for key in REQUIRED_RESULT_FIELDS if result.get(key) is None]
    if unknown:
        raise ValueError(f"Evaluation result {result!r} has unknown keys {unknown}; allowed: {list(RESULT_FIELDS)}")
    if missing:
        raise ValueError(f"Evaluation result {result!r} lacks {missing}; required: {list(REQUIRED_RESULT_FIELDS)}")
    value = result["value"]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Evaluation result {result!r}: value must be a number, got {type(value).__name__}")
    fields = {RESULT_FIELDS[key]: value for key, value in result.items() if value is not None}
    fields.setdefault("task_type", default_task)
    fields.setdefault("dataset_name", result["dataset"])
    # numpy scalars (what metrics return) do not serialise to YAML: keep plain Python numbers.
    fields["metric_value"] = int(value) if isinstance(value, numbers.Integral) else float(value)
    return EvalResult(**fields)


def _shape(config: dict) -> dict:
    """The numbers the card quotes, read from the config."""
    names = ("n_layer", "n_embd", "n_head", "n_positions", "vocab_size", "afn")
    return {
        **{name: config.get(name) for name in names + SPECIAL_TOKEN_IDS},
        "n_inner": config.get("n_inner") or 4 * config["n_embd"],
        "head_dim": config["n_embd"] // config["n_head"],
    }


def _labels(config: dict) -> list[tuple[int, str]]:
    """Class names of a classification head, when the config names them (not the default LABEL_0, LABEL_1...)."""
    id2label = {int(i): str(label) for i, label in (config.get("id2label") or {}).items()}
    if all(label == f"LABEL_{i}" for i, label in id2label.items()):
        return []
    return sorted(id2label.items())


def _saved_task_template(folder: Path | None) -> str | None:
    """The task template of the tokenizer saved in the folder, if any (`"classification"` adds GPT's tokens)."""
    path = folder / "tokenizer_config.json" if folder is not None else None
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("task_template")


__all__ = ["HEADS", "infer_pipeline_tag", "render_model_card", "write_model_card", "count_parameters"]
