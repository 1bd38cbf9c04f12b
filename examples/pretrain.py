"""Pre-train GPT-1 as a causal language model (Radford et al. 2018, section 3.1), Transformers-example style.

Text from a Hub data set or local files is tokenised and cut into contiguous blocks of `--block_size` tokens; the
model learns to predict every next token. The paper's optimisation is the default (Adam with max lr 2.5e-4, linear
warm-up over 2,000 steps then cosine decay to 0, weight decay 0.01, clipping 1, batches of 64 x 512 tokens); every
`TrainingArguments` flag overrides it.

    python examples/pretrain.py --train_file "books/*.txt" --output_dir gpt1-books \\
        --config_overrides n_layer=4,n_embd=256,n_head=4 --tokenizer_vocab_size 16000 --num_train_epochs 100
    accelerate launch examples/pretrain.py --dataset_name wikitext --dataset_config_name wikitext-103-raw-v1 ...

    python examples/pretrain.py --train_file "books/*.txt" --output_dir gpt1-small --preset cpu-small  # minutes on a CPU

The output folder holds the model, tokenizer, config and generation config (ready for `push_to_hub`),
`train_results.json`, `eval_results.json` (loss, perplexity and hidden-state spread), `all_results.json` and
`loss_curve.png`.

Every evaluation (at the end, and every `--eval_steps` with `--eval_strategy steps`) also logs `eval_perplexity` and
`eval_hidden_spread`: how much the final hidden states differ across the first evaluation blocks
(`modeling_gpt1.diagnostics`). A spread near 0 means the model collapsed (the same states, and the same next-token
guesses, for every input: a unigram model with a perplexity that can look fine); the script then warns, in words,
what to change (a longer warm-up, a lower learning rate).
"""

import argparse
import logging
import math
import os
import sys
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import datasets
from datasets import DatasetDict, IterableDatasetDict, load_dataset
from transformers import AutoTokenizer, Trainer, TrainingArguments, default_data_collator, set_seed

from modeling_gpt1 import GPT1Config, GPT1LMHeadModel
from modeling_gpt1.configuration_gpt1 import SPECIAL_TOKEN_IDS
from modeling_gpt1.diagnostics import add_collapse_callback
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
from modeling_gpt1.tokenization_gpt1 import train_gpt1_tokenizer
from modeling_gpt1.training import (
    ATTN_IMPLEMENTATION_HELP,
    PRETRAINING_DEFAULTS,
    add_special_tokens,
    check_attn_implementation,
    check_model_folders,
    parse_config_overrides,
    set_attn_implementation,
)


logger = logging.getLogger(__name__)

# `load_dataset` builders for local files, by extension.
FILE_BUILDERS = {"txt": "text", "text": "text", "csv": "csv", "json": "json", "jsonl": "json"}
PAPER_BLOCK_SIZE = 512
# Evaluation blocks compared by the collapse check at each evaluation (their first 64 tokens each).
COLLAPSE_CHECK_BLOCKS = 8

# `--preset NAME`: defaults for a whole run, below the flags given on the command line. `cpu-small` is the demo's
# pre-training (examples/demo.py), which learns on a 2-core CPU within the demo's ten minutes: 3 layers x 96,
# learning rate 1e-3 with 100 warm-up steps, 600 steps of 32 x 64 tokens.
PRESETS = {
    "cpu-small": {
        "config_overrides": "n_layer=3,n_embd=96,n_head=4,n_positions=64",
        "tokenizer_vocab_size": 3000,
        "block_size": 64,
        "learning_rate": 1e-3,
        "warmup_steps": 100,
        "max_steps": 600,
        "per_device_train_batch_size": 32,
        "per_device_eval_batch_size": 32,
    },
    # Measured on the Project Gutenberg books (examples/reproduce.py's CPU study, docs/reproduction.md): a 4 x 128
    # model with 128 positions learns without collapsing at 6e-4 after 300 warm-up steps (25 minutes on 2 cores).
    "cpu-books": {
        "config_overrides": "n_layer=4,n_embd=128,n_head=4,n_positions=128",
        "tokenizer_vocab_size": 8000,
        "block_size": 128,
        "learning_rate": 6e-4,
        "warmup_steps": 300,
        "max_steps": 1500,
        "per_device_train_batch_size": 32,
        "per_device_eval_batch_size": 32,
    },
}
# Preset fields that shape a new model: left out when --model_name_or_path continues an existing one.
NEW_MODEL_FIELDS = ("config_overrides", "tokenizer_vocab_size")


@dataclass
class ModelArguments:
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "A GPT-1 LM (folder or Hub id) to train further; leave out for a new model."}
    )
    config_name: str | None = field(
        default=None,
        metadata={"help": "Config (folder or Hub id) of a new model; default: GPT1Config()'s 117M shape."},
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Comma-separated GPT1Config fields of a new model, e.g. n_layer=4,n_embd=256,n_head=4."},
    )
    tokenizer_name: str | None = field(
        default=None,
        metadata={
            "help": "A tokenizer (folder or Hub id); default: the model's, or one trained on the training text."
        },
    )
    tokenizer_vocab_size: int = field(
        default=40478, metadata={"help": "BPE vocabulary of a tokenizer trained here (the paper's 40,478)."}
    )
    tokenizer_min_frequency: int = field(default=2, metadata={"help": "Rarer pairs are never merged."})
    attn_implementation: str | None = field(default=None, metadata={"help": ATTN_IMPLEMENTATION_HELP})
    cache_dir: str | None = field(default=None, metadata={"help": "Cache of data sets and models from the Hub."})
    preset: str | None = field(
        default=None,
        metadata={
            "help": "Defaults for a whole run, below any flag given: cpu-small = a 3 x 96 model, lr 1e-3, 100 warm-up "
            "steps, 600 steps of 32 x 64 tokens (the demo's pre-training; minutes on a CPU); cpu-books = a 4 x 128 "
            "model with 128 positions, lr 6e-4, 300 warm-up steps, 1,500 steps of 32 x 128 tokens (25 minutes on two "
            "cores; learns on novels, where cpu-small drifts toward collapse).",
            "choices": sorted(PRESETS),
        },
    )

    def __post_init__(self):
        if self.config_overrides and self.model_name_or_path:
            raise ValueError("--config_overrides shapes a new model; it cannot change --model_name_or_path's")
        self.overrides = parse_config_overrides(self.config_overrides or "")  # bad fields fail here, at once
        check_attn_implementation(self.attn_implementation)
        check_model_folders(self.model_name_or_path, self.tokenizer_name, self.config_name)


@dataclass
class DataArguments:
    dataset_name: str | None = field(default=None, metadata={"help": "A data set on the Hub (load_dataset)."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "Its configuration name."})
    dataset_label: str | None = field(
        default=None,
        metadata={"help": "The data set's name on the model card; default: the Hub name, or 'local text'."},
    )
    train_file: str | None = field(
        default=None, metadata={"help": "Training text: .txt (one example a line), .csv or .json(l); globs allowed."}
    )
    validation_file: str | None = field(default=None, metadata={"help": "Validation text, same formats."})
    text_column_name: str | None = field(
        default=None, metadata={"help": "Column holding the text; default: 'text', else the first column."}
    )
    validation_split_percentage: int = field(
        default=5, metadata={"help": "Percentage of the training data held out when there is no validation split."}
    )
    block_size: int | None = field(
        default=None, metadata={"help": "Tokens per training window; default min(512, n_positions)."}
    )
    streaming: bool = field(default=False, metadata={"help": "Stream the data (IterableDataset); needs --max_steps."})
    keep_linebreaks: bool = field(default=True, metadata={"help": "Keep line breaks of .txt files in the text."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only this many training blocks."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Use only this many evaluation blocks."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for tokenisation."})

    def __post_init__(self):
        if self.dataset_name is None and self.train_file is None and self.validation_file is None:
            raise ValueError("give --dataset_name, or --train_file (and --validation_file)")
        for flag in ("train_file", "validation_file"):
            path = getattr(self, flag)
            if path is not None and _extension(path) not in FILE_BUILDERS:
                raise ValueError(f"{path}: use .txt, .csv, .json or .jsonl files")
            if path is not None and os.path.isfile(path) and os.path.getsize(path) == 0:
                raise ValueError(f"--{flag} {path}: the file is empty")
        # 0 is no default: it meant min(512, n_positions), or every block
        check_at_least_one(self, "block_size", "max_train_samples", "max_eval_samples")
        if not 0 < self.validation_split_percentage < 100:
            raise ValueError(
                f"--validation_split_percentage must lie in 1..99, got {self.validation_split_percentage}"
            )


def _extension(path: str) -> str:
    return path.rsplit(".", 1)[-1].lower()


def load_raw_data(data_args: DataArguments, cache_dir: str | None):
    """The text as a `DatasetDict` (an `IterableDatasetDict` when streaming) with train and validation splits."""
    if data_args.dataset_name is not None:
        raw = load_dataset(
            data_args.dataset_name, data_args.dataset_config_name, cache_dir=cache_dir, streaming=data_args.streaming
        )
    else:
        files = {"train": data_args.train_file, "validation": data_args.validation_file}
        files = {split: path for split, path in files.items() if path is not None}
        builder = FILE_BUILDERS[_extension(next(iter(files.values())))]
        options = {"keep_linebreaks": data_args.keep_linebreaks} if builder == "text" else {}
        if builder in ("text", "csv"):
            options["encoding"] = "utf-8-sig"  # a byte-order mark (Gutenberg files have one) is no text to learn
        raw = load_dataset(builder, data_files=files, cache_dir=cache_dir, streaming=data_args.streaming, **options)
    if "validation" not in raw and "train" in raw:
        raw = hold_out_validation(raw["train"], data_args.validation_split_percentage)
    return raw


def hold_out_validation(train, percentage: int):
    """Split `percentage`% of the training examples off as validation: the last ones of a `Dataset` (contiguous
    text stays together), every example whose index modulo 100 is below `percentage` of a stream."""
    if isinstance(train, datasets.IterableDataset):
        return IterableDatasetDict(
            train=train.filter(lambda _, i: i % 100 >= percentage, with_indices=True),
            validation=train.filter(lambda _, i: i % 100 < percentage, with_indices=True),
        )
    if len(train) < 2:
        raise ValueError(
            f"the training text has {len(train)} example(s) (lines of a .txt file): too few to hold {percentage}% "
            "out for validation; give a longer text or --validation_file"
        )
    split = train.train_test_split(test_size=percentage / 100, shuffle=False)
    return DatasetDict(train=split["train"], validation=split["test"])


def load_tokenizer(model_args: ModelArguments, raw, text_column: str, checkpoint: str | None, training_args):
    """The named tokenizer, the model's, the one saved with the checkpoint being resumed, or a new one trained on the
    training text (saved to the output folder at once, so that later processes and resumed runs read the same)."""
    source = model_args.tokenizer_name or model_args.model_name_or_path or checkpoint
    if source is not None:
        return AutoTokenizer.from_pretrained(source, cache_dir=model_args.cache_dir)
    if isinstance(raw["train"], datasets.IterableDataset):
        raise ValueError(
            "--streaming cannot train a tokenizer on the fly: train one first "
            "(python -m modeling_gpt1.tokenization_gpt1 --dataset ... --output_dir tok/) and pass --tokenizer_name tok/"
        )
    with training_args.main_process_first(desc="training the tokenizer"):
        if training_args.local_process_index != 0:
            return AutoTokenizer.from_pretrained(training_args.output_dir)
        texts = (batch[text_column] for batch in raw["train"].select_columns([text_column]).iter(batch_size=1000))
        tokenizer = train_gpt1_tokenizer(
            texts,
            vocab_size=model_args.tokenizer_vocab_size,
            min_frequency=model_args.tokenizer_min_frequency,
            length=math.ceil(len(raw["train"]) / 1000),
        )
        tokenizer.save_pretrained(training_args.output_dir)
        logger.info(f"Trained a tokenizer of {len(tokenizer)} tokens, saved to {training_args.output_dir}")
        return tokenizer


def build_model(model_args: ModelArguments, tokenizer, checkpoint: str | None = None) -> GPT1LMHeadModel:
    """The pre-trained LM to continue training, or a new one shaped by --config_name / --config_overrides whose
    vocabulary and special-token ids are the tokenizer's. A run resumed from `checkpoint` builds a new model from the
    checkpoint's own config (Trainer then loads its weights), so the original shape flags need not be repeated.

    Raises:
        ValueError: --config_name / --config_overrides contradict the config of the checkpoint being resumed.
    """
    if model_args.model_name_or_path:
        model = GPT1LMHeadModel.from_pretrained(model_args.model_name_or_path, cache_dir=model_args.cache_dir)
        add_special_tokens(model, tokenizer)  # grows the embeddings to a larger tokenizer, records its special ids
        return model
    base = GPT1Config.from_pretrained(model_args.config_name).to_diff_dict() if model_args.config_name else {}
    base = {key: value for key, value in base.items() if key not in ("model_type", "transformers_version")}
    if checkpoint is not None:
        return resumed_model(checkpoint, {**base, **model_args.overrides})
    tokens = {name: getattr(tokenizer, name) for name in SPECIAL_TOKEN_IDS}
    tokens = {name: value for name, value in tokens.items() if value is not None}
    tokens["vocab_size"] = len(tokenizer)
    config = GPT1Config(**{**base, **model_args.overrides, **tokens})
    model = GPT1LMHeadModel(config)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info(f"New GPT-1 model, {n_params / 1e6:.2f}M parameters: {config.to_diff_dict()}")
    return model


def resumed_model(checkpoint: str, requested: dict) -> GPT1LMHeadModel:
    """A model of the checkpoint's config (its weights are Trainer's to load); `requested` config fields that differ
    from the checkpoint's are a ValueError naming them."""
    config = GPT1Config.from_pretrained(checkpoint)
    conflicts = {key: value for key, value in requested.items() if getattr(config, key, None) != value}
    if conflicts:
        differences = ", ".join(
            f"{key}={value!r} (checkpoint: {getattr(config, key, None)!r})" for key, value in conflicts.items()
        )
        raise ValueError(
            f"--resume_from_checkpoint {checkpoint}: --config_name/--config_overrides ask for {differences}; a resumed "
            "run keeps the checkpoint's shape: leave them out"
        )
    logger.info(f"Resuming the GPT-1 model of {checkpoint} ({_shape(config)})")
    return GPT1LMHeadModel(config)


def column_names(raw) -> list[str]:
    """The data's columns (a stream whose features are unknown is read up to its first example)."""
    dataset = raw["train"] if "train" in raw else raw["validation"]
    return dataset.column_names or list(next(iter(dataset)))


def lm_blocks(raw, tokenizer, text_column: str, block_size: int, data_args: DataArguments, training_args):
    """Tokenise the text and cut the concatenated ids of every 1,000 examples into `block_size` windows (the rest of
    each group is dropped); `labels` are the inputs, which the model shifts."""

    def tokenize(batch):
        return tokenizer(batch[text_column], verbose=False)  # long texts are cut into blocks below

    def group_texts(batch):
        concatenated = {key: list(chain(*batch[key])) for key in batch}
        length = len(concatenated["input_ids"]) // block_size * block_size
        starts = range(0, length, block_size)
        blocks = {key: [ids[i : i + block_size] for i in starts] for key, ids in concatenated.items()}
        blocks["labels"] = blocks["input_ids"].copy()
        return blocks

    options = {} if data_args.streaming else {"num_proc": data_args.preprocessing_num_workers}
    with training_args.main_process_first(desc="tokenising and grouping"):
        tokenized = raw.map(tokenize, batched=True, remove_columns=column_names(raw), **options)
        return tokenized.map(group_texts, batched=True, **options)


def first_examples(dataset, n: int | None):
    """The first `n` examples (all when `n` is None)."""
    if n is None:
        return dataset
    if isinstance(dataset, datasets.IterableDataset):
        return dataset.take(n)
    return dataset.select(range(min(n, len(dataset))))


def preset_defaults(argv: list[str] | None) -> dict:
    """The defaults of the `--preset` named in `argv` ({} for none; an unknown name is left to the parser to refuse).
    With --model_name_or_path the preset's new-model fields (`NEW_MODEL_FIELDS`) are left out."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset")
    pre.add_argument("--model_name_or_path")
    known, _ = pre.parse_known_args(argv)
    preset = dict(PRESETS.get(known.preset, {}))
    if known.model_name_or_path:
        preset = {key: value for key, value in preset.items() if key not in NEW_MODEL_FIELDS}
    return preset


def warmup_warning(training_args, train_dataset) -> str | None:
    """A warning when the linear warm-up does not end before the run does (the learning rate then never reaches
    `--learning_rate`), else None. A fractional `--warmup_steps` (below 1) always ends in time."""
    warmup = training_args.warmup_steps
    if warmup < 1:
        return None
    if training_args.max_steps > 0:
        total = training_args.max_steps
    elif isinstance(train_dataset, datasets.Dataset):  # Trainer's count: batches per epoch, then accumulation
        batches = math.ceil(len(train_dataset) / (training_args.train_batch_size * training_args.world_size))
        per_epoch = max(batches // training_args.gradient_accumulation_steps, 1)
        total = math.ceil(training_args.num_train_epochs * per_epoch)
    else:
        return None
    if warmup < total:
        return None
    peak = training_args.learning_rate * total / warmup
    return (
        f"--warmup_steps {warmup:g} is not below the run's {total} optimisation steps: the learning rate rises for the "
        f"whole run and peaks at {peak:.2g} instead of --learning_rate {training_args.learning_rate:g}. Give fewer "
        "--warmup_steps (e.g. a tenth of the steps, or a fraction such as 0.1), more steps, or --preset cpu-small."
    )


@dataclass
class PreparedRun:
    """Everything a run needs before training starts: arguments, the checkpoint to resume, tokenizer, model, data."""

    model_args: ModelArguments
    data_args: DataArguments
    training_args: TrainingArguments
    checkpoint: str | None
    tokenizer: object
    model: GPT1LMHeadModel
    block_size: int
    train_dataset: object
    eval_dataset: object


def parse_args(argv: list[str] | None = None) -> tuple:
    """`(ModelArguments, DataArguments, TrainingArguments)` from the command line: the paper's pre-training defaults,
    under those of `--preset` (if given), under the flags given."""
    parser = ScriptArgumentParser((ModelArguments, DataArguments, TrainingArguments))  # one-line usage errors
    return parse_script_args(parser, argv, {**PRETRAINING_DEFAULTS, **preset_defaults(argv)})


def prepare(argv: list[str] | None = None) -> PreparedRun:
    """Arguments, data, tokenizer and model, checked before any training.

    Raises:
        ValueError: a bad argument or argument combination, data without the needed split or column, text shorter
            than one block, a --block_size beyond the model's context, a shape contradicting the resumed checkpoint.
        FileNotFoundError: a missing data file or checkpoint.
    """
    model_args, data_args, training_args = parse_args(argv)
    configure_logging(training_args, logger)
    if data_args.streaming and training_args.max_steps <= 0:
        raise ValueError("--streaming needs --max_steps: a stream has no length to count epochs in")
    checkpoint = resolve_checkpoint(training_args)
    set_seed(training_args.seed)

    raw = load_raw_data(data_args, model_args.cache_dir)
    if training_args.do_train and "train" not in raw:
        raise ValueError(f"no training text (the data has {list(raw)}): give --train_file, or --do_train False")
    columns = column_names(raw)
    text_column = data_args.text_column_name or ("text" if "text" in columns else columns[0])
    if text_column not in columns:
        raise ValueError(f"--text_column_name {text_column!r} is not a column of the data ({columns})")

    tokenizer = load_tokenizer(model_args, raw, text_column, checkpoint, training_args)
    model = build_model(model_args, tokenizer, checkpoint)
    set_attn_implementation(model, model_args.attn_implementation)
    n_positions = model.config.n_positions
    block_size = min(PAPER_BLOCK_SIZE, n_positions) if data_args.block_size is None else data_args.block_size
    if block_size > n_positions:
        raise ValueError(f"--block_size {block_size} exceeds the model's context (n_positions={n_positions})")
    tokenizer.model_max_length = min(tokenizer.model_max_length, n_positions)  # pipelines truncate to the context
    model.generation_config.pad_token_id = tokenizer.pad_token_id

    blocks = lm_blocks(raw, tokenizer, text_column, block_size, data_args, training_args)
    train_dataset = first_examples(blocks["train"], data_args.max_train_samples) if training_args.do_train else None
    eval_dataset = first_examples(blocks["validation"], data_args.max_eval_samples) if training_args.do_eval else None
    for name, dataset in (("training", train_dataset), ("validation", eval_dataset)):
        if isinstance(dataset, datasets.Dataset) and len(dataset) == 0:
            raise ValueError(f"the {name} text holds fewer than --block_size={block_size} tokens: no block to use")

    if training_args.do_train and (warning := warmup_warning(training_args, train_dataset)):
        logger.warning(warning)
    return PreparedRun(
        model_args, data_args, training_args, checkpoint, tokenizer, model, block_size, train_dataset, eval_dataset
    )


def main(argv: list[str] | None = None) -> dict:
    """Run pre-training from command-line arguments (`argv`, default ``sys.argv[1:]``); returns all results. Raises
    what `prepare` raises before training starts."""
    return train(prepare(argv))


def train(run: PreparedRun) -> dict:
    """Train and/or evaluate a prepared run, write the output folder; returns all results."""
    model_args, data_args, training_args = run.model_args, run.data_args, run.training_args
    model, tokenizer, checkpoint, block_size = run.model, run.tokenizer, run.checkpoint, run.block_size
    train_dataset, eval_dataset = run.train_dataset, run.eval_dataset
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        data_collator=default_data_collator,
    )
    collapse_check = watch_for_collapse(trainer, eval_dataset, tokenizer)

    results = {}
    if training_args.do_train:
        train_result = trainer.train(resume_from_checkpoint=checkpoint)
        trainer.save_model()  # model, config, generation config and tokenizer
        metrics = {**train_result.metrics, **_count("train_samples", train_dataset, data_args.max_train_samples)}
        trainer.log_metrics("train", metrics)
        trainer.save_metrics("train", metrics)
        trainer.save_state()
        results.update(metrics)

    if training_args.do_eval:
        metrics = trainer.evaluate()
        metrics["eval_perplexity"] = perplexity(metrics["eval_loss"])
        metrics.update(_count("eval_samples", eval_dataset, data_args.max_eval_samples))
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)
        results.update(metrics)

    dataset = data_args.dataset_label or (
        " ".join(filter(None, (data_args.dataset_name, data_args.dataset_config_name))) or "local text"
    )
    # An evaluation-only run saves no model: no card to write, nothing to push; only the main process writes it.
    if training_args.do_train and trainer.is_world_process_zero():
        publish_run(
            training_args,
            results,
            dataset=dataset,
            task="text-generation",
            base_model=model_args.model_name_or_path,
            training_summary={
                "block_size": block_size,
                "learning_rate": training_args.learning_rate,
                "steps": trainer.state.global_step,
            },
        )

    model_name = model_args.model_name_or_path or f"new GPT-1 ({_shape(model.config)})"
    report_run(
        trainer,
        "pre-training",
        model_name,
        {k: v for k, v in results.items() if k.startswith("eval_")},
        training_args.output_dir,
    )
    report = collapse_check.last_report if collapse_check is not None else None
    if report is not None and report.collapsed and trainer.is_world_process_zero():
        print(f"\nWARNING: {report.warning}", file=sys.stderr)  # after the table, where a user reads the outcome
    return results


def collapse_check_inputs(eval_dataset, n: int = COLLAPSE_CHECK_BLOCKS) -> list[list[int]] | None:
    """The token ids of the first `n` evaluation blocks (a stream is read that far), or None with fewer than two."""
    if eval_dataset is None:
        return None
    rows = [example["input_ids"] for example in first_examples(eval_dataset, n)]
    return rows if len(rows) >= 2 else None


def watch_for_collapse(trainer, eval_dataset, tokenizer):
    """Make every evaluation of `trainer` log `eval_perplexity` and `eval_hidden_spread` and warn when the model has
    collapsed (`modeling_gpt1.diagnostics.CollapseCallback`, on the first evaluation blocks). Returns the callback, or
    None without evaluation blocks to compare."""
    inputs = collapse_check_inputs(eval_dataset)
    if inputs is None:
        return None
    return add_collapse_callback(trainer, inputs, tokenizer)


def perplexity(loss: float) -> float:
    """exp(mean next-token cross-entropy in nats): the paper's token-level perplexity."""
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf


def _count(key: str, dataset, requested: int | None) -> dict:
    """``{key: number of blocks}``; a stream counts only when capped with --max_*_samples."""
    if isinstance(dataset, datasets.IterableDataset):
        return {} if requested is None else {key: requested}
    return {key: len(dataset)}


def _shape(config: GPT1Config) -> str:
    return f"{config.n_layer} layers, {config.n_embd} wide, {config.n_head} heads, vocabulary {config.vocab_size}"


def cli(argv: list[str] | None = None) -> None:
    """The command line: a user error found before training (see `prepare`) is one line on stderr and exit status 2
    (SystemExit), as are usage errors."""
    with user_errors_exit(argparse.ArgumentParser(prog=Path(sys.argv[0]).name)):
        run = prepare(argv)
    train(run)


if __name__ == "__main__":
    cli()
