"""Zero-shot evaluation of pre-trained GPT-1 language models with the paper's heuristics (Radford et al. 2018,
section 5, Figure 2 right): no fine-tuning, the language model's log-probabilities only.

    python examples/zero_shot.py gpt1-books --task sst2 cola --data_dir glue/SST-2 glue/CoLA
    python examples/zero_shot.py gpt1-books/checkpoint-* --task rocstories --data_dir rocstories/ --output_file z.json
    python examples/zero_shot.py gpt1-books --task dprd --data_dir dprd.jsonl

Each model folder (a `GPT1LMHeadModel` saved with its tokenizer, e.g. by `examples/pretrain.py`, or its
checkpoints) is scored on each task's labelled split (`--split`, default validation; `--split "train[-1000:]"`
scores the last 1,000 training examples, for data with a training file only; one split for all tasks or one each):

- sst2: "<sentence> very" followed by "positive" or "negative", the likelier word wins (accuracy);
- cola: average token log-probability above a threshold = acceptable (Matthews correlation); the threshold is fitted
  on the training split (`--cola_threshold fit`, the default), the median score (`median`), or a number;
- rocstories, race, race_middle, race_high: the ending / answer with the highest average token log-probability
  after the context (accuracy);
- dprd: the candidate which, put in place of the pronoun, gives the rest of the sentence the highest average
  log-probability (accuracy); `--data_dir` is then a JSON-lines file (see `modeling_gpt1.zero_shot.read_pronoun_file`).

The table gives each score beside random guessing, the majority class (a constant predictor's score), the number of
different answers predicted (1: a constant predictor, whatever its score) and, normalised as in the paper's Figure 2,
the score between chance (0) and a supervised reference (1; by default the paper's fine-tuned GPT-1, `--supervised`
to change). Task data is read by `modeling_gpt1.tasks` (GLUE-format folders, the Story Cloze CSVs, RACE folders) or,
without `--data_dir`, from the Hub.
Each model's hidden states are first compared across a few task texts (`modeling_gpt1.diagnostics`): a collapsed
model, whose zero-shot scores can only be chance or a constant prediction, is warned about on stderr. A user error
(missing folder or file, bad value) is one line on stderr and exit status 2.
"""

import argparse
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import modeling_gpt1  # noqa: F401  (registers the gpt1 model type with the Auto classes)
from modeling_gpt1.diagnostics import hidden_state_spread
from modeling_gpt1.reporting import OneLineErrors, user_errors_exit
from modeling_gpt1.tasks import TASKS, constant_baseline, load_task_dataset
from modeling_gpt1.zero_shot import (
    CHANCE,
    HEURISTICS,
    acceptability,
    evaluate_zero_shot,
    fit_threshold,
    read_pronoun_file,
)


class _Parser(OneLineErrors, argparse.ArgumentParser):
    """Usage errors are one line and exit status 2."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = _Parser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="Folders of saved GPT-1 language models (with their tokenizers).")
    parser.add_argument("--task", nargs="+", required=True, choices=sorted(HEURISTICS), help="Tasks to score.")
    parser.add_argument(
        "--data_dir",
        nargs="+",
        help="One per task, in the same order: the task's folder of official files (dprd: a JSON-lines file). "
        "Leave out to load the Hub copies.",
    )
    parser.add_argument(
        "--split",
        nargs="+",
        default=["validation"],
        help="The labelled split to score (default validation), optionally sliced: train[-1000:] scores the last "
        "1,000 training examples (for folders with a training file only; CoLA's threshold is then fitted on the rest). "
        "One for every task, or one per task.",
    )
    parser.add_argument("--max_examples", type=int, help="Score only the first N examples of each task.")
    parser.add_argument(
        "--cola_threshold",
        default="fit",
        help="'fit' (on up to --max_fit_examples of the training split; the median where there is none), "
        "'median' (of the scored sentences), or a number (nats per token).",
    )
    parser.add_argument("--max_fit_examples", type=int, default=2000, help="CoLA training sentences for 'fit'.")
    parser.add_argument(
        "--supervised",
        type=float,
        nargs="+",
        help="One per task: the supervised score that normalises to 1 (default: the paper's fine-tuned GPT-1).",
    )
    parser.add_argument("--batch_size", type=int, default=16, help="Sequences per forward pass.")
    parser.add_argument("--output_file", help="Also write every result as JSON here.")
    args = parser.parse_args(argv)
    for name in ("data_dir", "supervised"):
        values = getattr(args, name)
        if values is not None and len(values) != len(args.task):
            parser.error(f"--{name} takes one value per --task ({len(args.task)}), got {len(values)}")
    for task, supervised in zip(args.task, args.supervised or []):
        if not math.isfinite(supervised) or supervised == CHANCE[task]:
            parser.error(
                f"--supervised {supervised} for {task}: the reference must be a finite score other than chance's "
                f"({CHANCE[task]})"
            )
    if args.max_examples is not None and args.max_examples < 1:
        parser.error(f"--max_examples must be at least 1, got {args.max_examples}")
    if args.batch_size < 1:
        parser.error(f"--batch_size must be at least 1, got {args.batch_size}")
    if len(args.split) not in (1, len(args.task)):
        parser.error(
            f"--split takes one split for every task or one per --task ({len(args.task)}), got {len(args.split)}"
        )
    args.split = args.split * len(args.task) if len(args.split) == 1 else args.split
    for split in args.split:
        try:
            parse_split(split)
        except ValueError as error:
            parser.error(str(error))
    if args.cola_threshold not in ("fit", "median"):
        try:
            float(args.cola_threshold)
        except ValueError:
            parser.error(f"--cola_threshold must be 'fit', 'median' or a number, got {args.cola_threshold!r}")
    return args


def first(columns, n: int | None):
    """The first `n` examples of a `datasets.Dataset` or a dict of column lists (all when `n` is None)."""
    if n is None:
        return columns
    if hasattr(columns, "select"):
        return columns.select(range(min(n, len(columns))))
    return {name: values[:n] for name, values in columns.items()}


def parse_split(text: str) -> tuple[str, slice | None]:
    """`"validation"` -> `("validation", None)`; `"train[-1000:]"` -> `("train", slice(-1000, None))` (Python slice
    bounds over the split's examples). Raises ValueError for anything else."""
    match = re.fullmatch(r"(\w+)(?:\[(-?\d*):(-?\d*)\])?", text)
    if match is None:
        raise ValueError(f"--split must be a split name, optionally sliced (e.g. train[-1000:]), got {text!r}")
    name, start, stop = match.groups()
    if start is None:
        return name, None
    return name, slice(int(start) if start else None, int(stop) if stop else None)


def split_indices(n: int, part: slice | None) -> list[int]:
    return list(range(n)) if part is None else list(range(n))[part]


def load_examples(task: str, data_dir: str | None, split: str, max_examples: int | None):
    """The labelled examples of `task` in `split` (a name, optionally sliced: `parse_split`), the first
    `max_examples` of them (normalised columns; dprd: `read_pronoun_file`'s, the split ignored but its slice kept)."""
    name, part = parse_split(split)
    if task == "dprd":
        if data_dir is None:
            raise ValueError("dprd has no Hub copy here: give its JSON-lines file as --data_dir")
        if not Path(data_dir).is_file():
            raise FileNotFoundError(f"dprd: {data_dir} is not a file (expected JSON lines)")
        columns = read_pronoun_file(data_dir)
        keep = split_indices(len(columns["label"]), part)
        return first({key: [values[i] for i in keep] for key, values in columns.items()}, max_examples)
    dataset = load_task_dataset(task, data_dir, splits=[name])[name]
    if len(dataset) and min(dataset["label"]) < 0:
        raise ValueError(f"{task}: the {name} split has no labels; score a labelled split (--split)")
    dataset = dataset.select(split_indices(len(dataset), part))
    if len(dataset) == 0:
        raise ValueError(f"{task}: --split {split} selects no example")
    return first(dataset, max_examples)


def cola_threshold(args, model, tokenizer, data_dir: str | None, split: str) -> float | None:
    """The CoLA threshold the arguments ask for (None: the median of the scored sentences). `fit` fits it on the
    training split, less the examples scored when they come from it too (`--split train[-1000:]`)."""
    if args.cola_threshold == "median":
        return None
    if args.cola_threshold != "fit":
        return float(args.cola_threshold)
    try:
        train = load_task_dataset("cola", data_dir, splits=["train"])["train"]
    except (FileNotFoundError, ValueError):
        print("cola: no training split to fit the threshold on; using the median score", file=sys.stderr)
        return None
    name, part = parse_split(split)
    if name == "train":
        scored = split_indices(len(train), part)
        if args.max_examples is not None:
            scored = scored[: args.max_examples]
        scored = set(scored)
        train = train.select([i for i in range(len(train)) if i not in scored])
        if len(train) == 0:
            print("cola: every training sentence is scored; using the median score", file=sys.stderr)
            return None
    train = first(train, args.max_fit_examples)
    scores = acceptability(model, tokenizer, train["sentence"], batch_size=args.batch_size).scores
    return fit_threshold(scores, train["label"])


def main(argv: list[str] | None = None, *, command_line: bool = False) -> list[dict]:
    """Score every model on every task; print the table and return one dict per (model, task)."""
    with user_errors_exit(argparse.ArgumentParser(prog=Path(sys.argv[0]).name), enabled=command_line):
        args = parse_args(argv)
        data_dirs = args.data_dir or [None] * len(args.task)
        examples = {
            task: load_examples(task, data_dir, split, args.max_examples)
            for task, data_dir, split in zip(args.task, data_dirs, args.split)
        }
        for folder in args.models:
            if not (Path(folder) / "config.json").is_file():
                raise FileNotFoundError(f"{folder}: no saved model there (config.json is missing)")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    for folder in args.models:
        with user_errors_exit(argparse.ArgumentParser(prog=Path(sys.argv[0]).name), enabled=command_line):
            model = AutoModelForCausalLM.from_pretrained(folder).to(device).eval()
            tokenizer = AutoTokenizer.from_pretrained(folder)
        spread = collapse_check(model, tokenizer, examples, folder)
        for i, task in enumerate(args.task):
            threshold = cola_threshold(args, model, tokenizer, data_dirs[i], args.split[i]) if task == "cola" else None
            supervised = args.supervised[i] if args.supervised else None
            report = evaluate_zero_shot(
                model,
                tokenizer,
                task,
                examples[task],
                threshold=threshold,
                supervised=supervised,
                batch_size=args.batch_size,
            )
            result = report.pop("result")
            report["model"] = str(folder)
            report["split"] = args.split[i]
            report["majority"] = _majority(task, examples[task]["label"])
            report["predicted_classes"] = int(len(np.unique(result.predictions)))
            report["hidden_spread"] = spread
            rows.append(report)
    print(format_table(rows))
    if args.output_file:
        Path(args.output_file).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return rows


def texts_of(examples: dict) -> list[str]:
    """Up to 8 texts from the tasks' examples, for the collapse check."""
    texts = []
    for columns in examples.values():
        column = next(name for name in ("sentence", "sentence1", "article") if name in _column_names(columns))
        texts.extend(list(columns[column][:8]))
    return [text for text in texts if text.strip()][:8]


def _column_names(columns) -> list[str]:
    return list(columns.column_names) if hasattr(columns, "column_names") else list(columns)


def collapse_check(model, tokenizer, examples: dict, folder) -> float | None:
    """The model's `hidden_state_spread` on a few task texts; a collapsed model is warned about on stderr (its
    zero-shot scores can only be chance or a constant prediction). None when fewer than two texts have tokens."""
    rows = [
        ids
        for ids in tokenizer(texts_of(examples), add_special_tokens=False, verbose=False)["input_ids"]
        if len(ids) > 1
    ]
    if len(rows) < 2:
        return None
    report = hidden_state_spread(model, rows, tokenizer, max_length=32)
    if report.collapsed:
        print(f"WARNING: {folder}: {report.warning}", file=sys.stderr)
    return report.spread


def _majority(task: str, labels) -> float:
    """The score of the best constant predictor (`constant_baseline`; CoLA: correlation 0; dprd, not a registry
    task: the most frequent candidate's share)."""
    if task in TASKS:
        return constant_baseline(task, labels) if len(labels) else float("nan")
    labels = np.asarray(labels)
    return float(np.bincount(labels).max() / len(labels)) if len(labels) else float("nan")


def format_table(rows: list[dict]) -> str:
    header = (
        "model",
        "task",
        "heuristic",
        "metric",
        "score",
        "chance",
        "majority",
        "normalised",
        "examples",
        "classes",
    )
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    for row in rows:
        normalised = "-" if row["normalized"] is None else f"{row['normalized']:.3f}"
        lines.append(
            " | ".join(
                (
                    row["model"],
                    row["task"],
                    row["heuristic"],
                    row["metric"],
                    f"{row['score']:.3f}",
                    f"{row['chance']:.2f}",
                    f"{row['majority']:.3f}",
                    normalised,
                    str(row["examples"]),
                    str(row["predicted_classes"]),  # 1: a constant predictor, whatever its score
                )
            )
        )
    return "\n".join(lines)


def cli(argv: list[str] | None = None) -> None:
    main(argv, command_line=True)


if __name__ == "__main__":
    cli()
