"""Fine-tune a pre-trained GPT-1 on one of the paper's tasks (Radford et al. 2018, section 3.2), Transformers-example
style.

Each example is laid out as GPT's input transformation for the task's family (Figure 1): classification
``[start] text [extract]``, entailment ``[start] premise [delim] hypothesis [extract]``, similarity in both orders,
multiple choice one sequence per answer. A linear head reads the extract token's final state, and the auxiliary
language-modelling loss is added with weight `--aux_lm_coef` (0.5; 0 turns it off). The paper's hyperparameters are
the default (lr 6.25e-5, batch 32, 3 epochs, linear schedule with 0.2% warm-up, weight decay 0.01, clipping 1); every
`TrainingArguments` flag overrides them.

    python examples/finetune.py --task rte --data_dir glue_data/RTE --model_name_or_path gpt1-books --output_dir rte
    python examples/finetune.py --task sst2 --model_name_or_path gpt1-books --output_dir sst2   # data from the Hub
    accelerate launch examples/finetune.py --task race --data_dir RACE --model_name_or_path gpt1-books ...

The output folder holds the fine-tuned model (it reloads with `AutoModelForSequenceClassification` or
`AutoModelForMultipleChoice`), its tokenizer, `eval_results.json`, `all_results.json`, `loss_curve.png`, and
`predict_results_<task>.txt` (index and prediction per test example) when the task has a test split.
"""

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
from transformers import AutoConfig, AutoTokenizer, Trainer, TrainingArguments, set_seed

from modeling_gpt1 import (
    GPT1Config,
    GPT1DataCollator,
    GPT1ForMultipleChoice,
    GPT1ForSequenceClassification,
    GPT1ForSimilarity,
    GPT1WithAuxiliaryLM,
    InputTransform,
    add_auxiliary_loss_logging,
)
from modeling_gpt1.auxiliary import check_aux_lm_coef
from modeling_gpt1.configuration_gpt1 import SPECIAL_TOKEN_IDS
from modeling_gpt1.hub import publish_run
from modeling_gpt1.reporting import (
    ScriptArgumentParser,
    check_at_least_one,
    configure_logging,
    parse_script_args,
    report_run,
    resolve_checkpoint,
    user_errors_exit,
)
from modeling_gpt1.tasks import TASKS, get_task, load_task_dataset, metric_fn
from modeling_gpt1.tokenization_gpt1 import add_gpt1_special_tokens
from modeling_gpt1.training import (
    ATTN_IMPLEMENTATION_HELP,
    FINETUNING_DEFAULTS,
    add_special_tokens,
    check_attn_implementation,
    check_model_folders,
    parse_config_overrides,
    set_attn_implementation,
)
from modeling_gpt1.transfer import load_with_transferred_layers
from modeling_gpt1.transforms import TRUNCATIONS


logger = logging.getLogger(__name__)

HEADS = {
    "classification": GPT1ForSequenceClassification,
    "entailment": GPT1ForSequenceClassification,
    "similarity": GPT1ForSimilarity,
    "multiple_choice": GPT1ForMultipleChoice,
}
# Families whose inputs are one sequence: the saved tokenizer writes their layout itself, so that
# `pipeline("text-classification")` works on plain text.
SINGLE_SEQUENCE_FAMILIES = ("classification", "entailment")
# Parts of the auxiliary-LM wrapper's output that are not predictions.
LOSS_PARTS = ["task_loss", "lm_loss"]


@dataclass
class ModelArguments:
    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "The pre-trained GPT-1 LM (folder or Hub id) to fine-tune. Without it the model is trained from "
            "scratch (the paper's 'no pre-training' row): give --tokenizer_name, and --config_name and/or "
            "--config_overrides for its shape."
        },
    )
    tokenizer_name: str | None = field(default=None, metadata={"help": "Tokenizer, if not the model's."})
    config_name: str | None = field(
        default=None, metadata={"help": "Config (folder or Hub id) of a model trained from scratch."}
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Fields of a model trained from scratch, e.g. n_layer=3,n_embd=96,n_head=4,n_positions=64."},
    )
    aux_lm_coef: float = field(
        default=0.5, metadata={"help": "Weight lambda of the auxiliary LM loss (L3 = L2 + lambda L1); 0 disables it."}
    )
    num_transferred_layers: int | None = field(
        default=None,
        metadata={"help": "Keep only the first k pre-trained blocks, re-initialise the rest (all: None)."},
    )
    attn_implementation: str | None = field(default=None, metadata={"help": ATTN_IMPLEMENTATION_HELP})
    ignore_mismatched_sizes: bool = field(
        default=False,
        metadata={"help": "Initialise afresh the weights whose shapes differ (a head trained with other labels)."},
    )
    cache_dir: str | None = field(default=None, metadata={"help": "Cache of data sets and models from the Hub."})

    def __post_init__(self):
        try:
            check_aux_lm_coef(self.aux_lm_coef)
        except ValueError as error:
            raise ValueError(f"--{error}") from None
        from_scratch = self.config_name is not None or self.config_overrides is not None
        if self.model_name_or_path is None and not (from_scratch and self.tokenizer_name):
            raise ValueError(
                "give --model_name_or_path (a pre-trained model), or --tokenizer_name with --config_name and/or "
                "--config_overrides (a model trained from scratch)"
            )
        if self.model_name_or_path is not None and from_scratch:
            raise ValueError(
                "--config_name and --config_overrides shape a model trained from scratch: drop them, or "
                "--model_name_or_path"
            )
        self.overrides = parse_config_overrides(self.config_overrides or "")  # bad fields fail here, at once
        check_attn_implementation(self.attn_implementation)
        if self.num_transferred_layers is not None and self.model_name_or_path is None:
            raise ValueError("--num_transferred_layers needs --model_name_or_path (the layers to transfer)")
        for flag in ("model_name_or_path", "tokenizer_name", "config_name"):
            path = getattr(self, flag)
            if path is not None and _is_missing_folder(path):
                raise FileNotFoundError(f"--{flag} {path}: no such folder (nor a Hub id 'name' or 'owner/name')")
        check_model_folders(self.model_name_or_path, self.tokenizer_name, self.config_name)


def _is_missing_folder(path: str) -> bool:
    """A path that can only mean a local folder (absolute, ./ or ../, or more than one '/') and is not there."""
    local = os.path.isabs(path) or path.startswith(("./", "../")) or path.count("/") > 1
    return local and not os.path.isdir(path)


@dataclass
class DataArguments:
    task: str = field(metadata={"help": f"The task: {', '.join(TASKS)}."})
    data_dir: str | None = field(
        default=None, metadata={"help": "Folder with the task's official files; default: the Hub copy."}
    )
    dataset_label: str | None = field(
        default=None, metadata={"help": "The data set's name on the model card; default: the task's Hub data set."}
    )
    max_seq_length: int | None = field(
        default=None, metadata={"help": "Longest input sequence in tokens; default: the model's n_positions."}
    )
    truncation: str = field(
        default="longest_first",
        metadata={
            "help": "Shorten the longest segment first, or cap each one (the released code).",
            "choices": list(TRUNCATIONS),
        },
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only this many training examples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use only this many evaluation examples."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Predict only this many test examples."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for tokenisation."})

    def __post_init__(self):
        self.spec = get_task(self.task)  # an unknown name fails here, naming the tasks
        # 0 is no default: it meant n_positions, or every example
        check_at_least_one(self, "max_seq_length", "max_train_samples", "max_eval_samples", "max_predict_samples")


def check_label_smoothing(factor: float, spec) -> None:
    """`--label_smoothing_factor` must be in [0, 1) and smooths class labels only (Trainer's label smoother fails
    deep inside on a regression task's float scores)."""
    if not 0.0 <= factor < 1.0:
        raise ValueError(f"--label_smoothing_factor must be in [0, 1), got {factor}")
    if factor > 0 and spec.is_regression:
        raise ValueError(f"--label_smoothing_factor smooths class labels; {spec.name} is a regression task")


def load_splits(spec, data_args: DataArguments, training_args, cache_dir: str | None):
    """The splits to train and evaluate on (a missing file is an error naming it) and the test splits (optional:
    without their files there are no predictions)."""
    evaluation = [split for split in spec.splits if split.startswith("validation")]
    test = [split for split in spec.splits if split.startswith("test")]
    needed = ["train"] * training_args.do_train + evaluation * training_args.do_eval
    hub = {} if data_args.data_dir else {"cache_dir": cache_dir}
    data = load_task_dataset(spec, data_args.data_dir, splits=needed, **hub) if needed else datasets.DatasetDict()
    if training_args.do_predict:
        try:
            data.update(load_task_dataset(spec, data_args.data_dir, splits=test, **hub))
        except FileNotFoundError as error:
            logger.warning(f"No test predictions: {error}")
    return data, evaluation, [split for split in test if split in data]


def is_labelled(dataset) -> bool:
    """Test files without labels are read with label -1 everywhere."""
    return bool(np.any(np.asarray(dataset["label"]) != -1))


def encode(data, spec, tokenizer, data_args: DataArguments, max_length: int, training_args):
    """GPT's input transformation of every split: ``input_ids`` (and ``labels`` where the split has them)."""
    limits = {
        "train": data_args.max_train_samples,
        "validation": data_args.max_eval_samples,
        "test": data_args.max_predict_samples,
    }
    encoded = datasets.DatasetDict()
    with training_args.main_process_first(desc="input transformation"):
        for split, dataset in data.items():
            limit = limits[split.split("_")[0]]
            if limit is not None:
                dataset = dataset.select(range(min(limit, len(dataset))))
            transform = InputTransform(
                tokenizer,
                spec.family,
                spec.text_fields,
                spec.answer_fields,
                max_length=max_length,
                truncation=data_args.truncation,
                label_field="label" if is_labelled(dataset) else None,
            )
            encoded[split] = dataset.map(
                transform,
                batched=True,
                remove_columns=dataset.column_names,
                num_proc=data_args.preprocessing_num_workers,
                desc=f"Input transformation ({split})",
            )
            filled = sum(longest(ids) >= max_length for ids in encoded[split]["input_ids"])
            if filled:
                logger.info(
                    f"{split}: {filled} of {len(encoded[split])} examples fill max_length={max_length} tokens (longer "
                    "ones were truncated to fit, never cutting a special token)"
                )
    return encoded


def longest(ids) -> int:
    """Length of an example's longest sequence (`[length]` or `[n_sequences][length]` ids)."""
    return max(map(len, ids)) if ids and isinstance(ids[0], list) else len(ids)


def model_config(model_args: ModelArguments, tokenizer, **fields) -> GPT1Config:
    """The pre-trained model's config, or for a model trained from scratch `--config_name`'s (GPT-1's defaults
    without it) with `--config_overrides`, sized to the tokenizer's vocabulary and special tokens."""
    if model_args.model_name_or_path is not None:
        return AutoConfig.from_pretrained(model_args.model_name_or_path, cache_dir=model_args.cache_dir, **fields)
    base = {}
    if model_args.config_name is not None:
        base = AutoConfig.from_pretrained(model_args.config_name, cache_dir=model_args.cache_dir).to_diff_dict()
    special = {name: getattr(tokenizer, name, None) for name in SPECIAL_TOKEN_IDS}
    return GPT1Config(**{**base, **model_args.overrides, "vocab_size": len(tokenizer), **special, **fields})


def load_head(spec, model_args: ModelArguments, tokenizer):
    """The task head on the pre-trained decoder (or a new one trained from scratch), with the task's labels in its
    config and the tokenizer's special tokens (the embeddings grow when the tokenizer has new ones)."""
    labels = (
        {}
        if spec.is_regression
        else {
            "id2label": dict(enumerate(spec.label_names)),
            "label2id": {name: i for i, name in enumerate(spec.label_names)},
        }
    )
    config = model_config(
        model_args,
        tokenizer,
        num_labels=spec.num_labels,
        problem_type="regression" if spec.is_regression else None,
        **labels,
    )
    head_class = HEADS[spec.family]
    if model_args.model_name_or_path is None:
        model = head_class(config)  # every weight new: the "no pre-training" row of the paper's Table 5
    elif model_args.num_transferred_layers is None:
        model = from_pretrained_with_new_head(
            head_class,
            model_args.model_name_or_path,
            ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
            config=config,
            cache_dir=model_args.cache_dir,
        )
    else:
        model = load_with_transferred_layers(
            head_class,
            model_args.model_name_or_path,
            model_args.num_transferred_layers,
            ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
            config=config,
            cache_dir=model_args.cache_dir,
        )
    add_special_tokens(model, tokenizer)
    return model


class HoldLoadReports(logging.Filter):
    """Holds back Transformers' "LOAD REPORT" tables (kept in `held`) and lets every other record through."""

    def __init__(self):
        super().__init__()
        self.held = []

    def filter(self, record):
        if "LOAD REPORT" in record.getMessage():
            self.held.append(record)
            return False
        return True


def from_pretrained_with_new_head(head_class, path, ignore_mismatched_sizes: bool = False, **kwargs):
    """`head_class.from_pretrained(path, **kwargs)`, where a new task head is expected: the linear layer
    (`classifier.*`) missing from a language model's folder and its `lm_head.*` left unused are said in one line,
    and Transformers' load report is shown only when anything else is missing, unused or of another shape.

    Raises ValueError naming the weights whose shapes differ from the head's (a head fine-tuned for a task with
    another number of labels) unless `ignore_mismatched_sizes`, which initialises them afresh."""
    transformers_logger = logging.getLogger("transformers.modeling_utils")
    hold = HoldLoadReports()
    transformers_logger.addFilter(hold)
    try:  # mismatches are checked below, where they can be named in one line
        model, info = head_class.from_pretrained(
            path, output_loading_info=True, ignore_mismatched_sizes=True, **kwargs
        )
    finally:
        transformers_logger.removeFilter(hold)
    mismatched = sorted(info["mismatched_keys"])
    if mismatched and not ignore_mismatched_sizes:
        shapes = ", ".join(
            f"{key} {tuple(saved)} (the head needs {tuple(needed)})" for key, saved, needed in mismatched
        )
        raise ValueError(
            f"--model_name_or_path {path}: {shapes}; pass --ignore_mismatched_sizes to initialise them afresh"
        )
    surprises = [key for key in info["missing_keys"] if not key.startswith("classifier.")]
    surprises += [key for key in info["unexpected_keys"] if not key.startswith("lm_head.")]
    surprises += [key for key, _, _ in mismatched if not key.startswith("classifier.")]
    for record in hold.held if surprises else []:
        transformers_logger.handle(record)
    new = sorted(set(info["missing_keys"]) | {key for key, _, _ in mismatched})
    if new and not surprises:
        logger.info(f"New task head initialised: {', '.join(new)}")
    return model


def write_predictions(path: Path, logits, spec) -> None:
    """GLUE's submission layout: a header, then index and prediction (the label name, or the score) per example."""
    logits = logits[0] if isinstance(logits, tuple) else logits
    with open(path, "w") as writer:
        writer.write("index\tprediction\n")
        if spec.is_regression:
            for index, score in enumerate(np.asarray(logits).reshape(-1)):
                writer.write(f"{index}\t{score:3.3f}\n")
        else:
            for index, label in enumerate(np.asarray(logits).argmax(-1)):
                writer.write(f"{index}\t{spec.label_names[label]}\n")


def main(argv: list[str] | None = None, exit_on_user_error: bool = False) -> dict:
    """Run fine-tuning from command-line arguments (`argv`, default ``sys.argv[1:]``); returns all results.

    Bad arguments, data files or model folders raise (FileNotFoundError, ValueError, OSError) before any training; with
    `exit_on_user_error` (the command line) they print one line and exit with status 2 instead. Evaluation or
    prediction alone (``--do_train False``) writes its results and no model card (no model is saved)."""
    parser = ScriptArgumentParser((ModelArguments, DataArguments, TrainingArguments), prog="finetune.py")
    with user_errors_exit(parser, enabled=exit_on_user_error):
        model_args, data_args, training_args = parse_script_args(
            parser, argv, {**FINETUNING_DEFAULTS, "do_predict": True, "label_names": ["labels"]}
        )
        configure_logging(training_args, logger)
        spec = data_args.spec
        check_label_smoothing(training_args.label_smoothing_factor, spec)
        checkpoint = resolve_checkpoint(training_args)

        # Data, tokenizer and inputs first: bad files or arguments fail before a model is loaded.
        data, eval_splits, test_splits = load_splits(spec, data_args, training_args, model_args.cache_dir)
        tokenizer = AutoTokenizer.from_pretrained(
            model_args.tokenizer_name or model_args.model_name_or_path, cache_dir=model_args.cache_dir
        )
        add_gpt1_special_tokens(tokenizer)
        if spec.family in SINGLE_SEQUENCE_FAMILIES and hasattr(tokenizer, "set_task_template"):
            tokenizer.set_task_template("classification")
        config = model_config(model_args, tokenizer)
        max_length = config.n_positions if data_args.max_seq_length is None else data_args.max_seq_length
        if max_length > config.n_positions:
            raise ValueError(
                f"--max_seq_length {max_length} exceeds the model's context (n_positions={config.n_positions})"
            )
        encoded = encode(data, spec, tokenizer, data_args, max_length, training_args)
        set_seed(training_args.seed)  # the new linear layer is random
        model = load_head(spec, model_args, tokenizer)
        set_attn_implementation(model, model_args.attn_implementation)

    aux = model_args.aux_lm_coef > 0
    if aux:
        smoothing = training_args.label_smoothing_factor
        model = GPT1WithAuxiliaryLM(model, aux_lm_coef=model_args.aux_lm_coef, label_smoothing=smoothing)
    collator = GPT1DataCollator.from_tokenizer(
        tokenizer,
        max_length=max_length,
        return_lm_labels=aux,
        pad_to_multiple_of=8 if training_args.bf16 or training_args.fp16 else None,
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=encoded.get("train") if training_args.do_train else None,
        eval_dataset=encoded[eval_splits[0]] if training_args.do_eval else None,
        processing_class=tokenizer,
        data_collator=collator,
        compute_metrics=metric_fn(spec),
    )
    if aux:
        add_auxiliary_loss_logging(trainer)  # task_loss and lm_loss in the logs, TensorBoard and the plot
        trainer.label_smoother = None  # the wrapper smooths its task loss (Trainer's would drop the LM term)

    results = {}
    if training_args.do_train:
        train_result = trainer.train(resume_from_checkpoint=checkpoint, ignore_keys_for_eval=LOSS_PARTS)
        trainer.save_model()  # the head checkpoint (config with id2label) and the tokenizer
        metrics = {**train_result.metrics, "train_samples": len(encoded["train"])}
        trainer.log_metrics("train", metrics)
        trainer.save_metrics("train", metrics)
        trainer.save_state()
        results.update(metrics)

    if training_args.do_eval:
        metrics = {}
        for i, split in enumerate(eval_splits):  # MNLI: matched, then mismatched
            prefix = "eval" if i == 0 else f"eval_{split.removeprefix('validation_')}"
            metrics.update(trainer.evaluate(encoded[split], ignore_keys=LOSS_PARTS, metric_key_prefix=prefix))
            metrics[f"{prefix}_samples"] = len(encoded[split])
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)
        results.update(metrics)

    for i, split in enumerate(test_splits):
        suffix = "" if i == 0 else f"_{split.removeprefix('test_')}"
        output = trainer.predict(encoded[split], ignore_keys=LOSS_PARTS, metric_key_prefix=f"test{suffix}")
        if trainer.is_world_process_zero():
            write_predictions(
                Path(training_args.output_dir) / f"predict_results_{spec.name}{suffix}.txt", output.predictions, spec
            )
        if "labels" in encoded[split].column_names:  # a labelled test split (SNLI, SciTail, RACE): its scores too
            trainer.log_metrics("test", output.metrics)
            trainer.save_metrics("test", output.metrics)
            results.update(output.metrics)

    # The card describes a saved model: only a training run saves one, and only the main process writes (and pushes).
    if training_args.do_train and trainer.is_world_process_zero():
        _publish(training_args, results, spec, data_args, model_args)

    shown = {key: value for key, value in results.items() if key.startswith(("eval_", "test_"))}
    report_run(
        trainer, spec.name, model_args.model_name_or_path or "trained from scratch", shown, training_args.output_dir
    )
    return results


def _publish(training_args, results: dict, spec, data_args: DataArguments, model_args: ModelArguments) -> None:
    publish_run(
        training_args,
        results,
        dataset=data_args.dataset_label or "/".join(filter(None, spec.hub_dataset)),
        task="multiple-choice" if spec.family == "multiple_choice" else "text-classification",
        base_model=model_args.model_name_or_path,
        training_summary={
            "task": spec.name,
            "transformation": spec.family,
            "aux_lm_coef": model_args.aux_lm_coef,
            "learning_rate": training_args.learning_rate,
            "epochs": training_args.num_train_epochs,
        },
    )


if __name__ == "__main__":
    main(exit_on_user_error=True)
