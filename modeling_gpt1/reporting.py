"""What the training scripts (`examples/pretrain.py`, `examples/finetune.py`) share around `Trainer`: their
command-line defaults, checkpoint resolution, and the end of a run: a loss-curve plot and a one-screen summary table.

The plot and the table read `trainer.state.log_history`, the list of dicts that `Trainer` logs (training entries carry
``loss``, the auxiliary-LM runs also ``task_loss`` and ``lm_loss``; evaluation entries carry ``eval_loss``), so they
work for any Trainer run, and on the ``log_history`` of a `trainer_state.json` read back from disk.
"""

import argparse
import contextlib
import logging
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import datasets
import torch
import transformers
from huggingface_hub.errors import StrictDataclassError
from transformers import HfArgumentParser, TrainerState
from transformers.integrations import is_tensorboard_available
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR


# ---------------------------------------------------------------------------------------------------------
# Command line

# Defaults of both scripts on top of the paper's hyperparameters: train then evaluate, log every 1% of training
# (a 100-point loss curve) and the first step, to TensorBoard when it is installed.
SCRIPT_DEFAULTS = {
    "do_train": True,
    "do_eval": True,
    "logging_steps": 0.01,
    "logging_first_step": True,
    "report_to": "tensorboard" if is_tensorboard_available() else "none",
}


USAGE_ERROR = 2  # exit status of a user error (bad arguments, files or folders), as argparse's
# What a user error raises: a missing or malformed file, a bad value, a config that fails validation (`@strict`).
USER_ERRORS = (OSError, ValueError, StrictDataclassError)


def exit_with_one_line(parser: argparse.ArgumentParser, message: str):
    """Print ``<prog>: error: <message>`` as one line on stderr and exit with `USAGE_ERROR`."""
    parser.exit(USAGE_ERROR, f"{parser.prog}: error: {' '.join(str(message).split())}\n")


class OneLineErrors:
    """Mix into an `argparse.ArgumentParser` (or `HfArgumentParser`): a usage error is one line and status 2, without
    argparse's usage block."""

    def error(self, message: str):
        exit_with_one_line(self, f"{message} (see --help)")


class ScriptArgumentParser(OneLineErrors, HfArgumentParser):
    """The training scripts' `HfArgumentParser`, with one-line usage errors."""


@contextlib.contextmanager
def user_errors_exit(parser: argparse.ArgumentParser, enabled: bool = True, errors=USER_ERRORS):
    """Inside the block, `errors` (a missing or malformed file, a bad value) become one line and exit status 2 when
    `enabled` (command-line use); otherwise they propagate (a script's `main` called from Python)."""
    try:
        yield
    except errors as error:
        if not enabled:
            raise
        exit_with_one_line(parser, str(error))


def device_precision() -> dict[str, bool]:
    """Mixed precision the GPU supports: bf16 where it can (Ampere and later), else fp16; none on CPU."""
    if not torch.cuda.is_available():
        return {}
    return {"bf16": True} if torch.cuda.is_bf16_supported() else {"fp16": True}


def set_script_defaults(parser: HfArgumentParser, argv: Sequence[str] | None, defaults: Mapping[str, Any]) -> None:
    """Make `defaults` (e.g. the paper's hyperparameters) and `SCRIPT_DEFAULTS` the parser's defaults in place of
    `TrainingArguments`' own; flags on the command line still win, and ``--help`` shows the defaults in effect.

    Mixed precision depends on `argv`: unless ``--bf16``/``--fp16`` or ``--use_cpu`` is given, the default is the
    precision the GPU supports (`device_precision`).
    """
    parser.set_defaults(**{**SCRIPT_DEFAULTS, **defaults}, bf16=None, fp16=None)
    given, _ = parser.parse_known_args(argv)  # None marks precision flags the user left out
    precision_given = given.bf16 is not None or given.fp16 is not None
    precision = {} if precision_given or given.use_cpu else device_precision()
    parser.set_defaults(**{"bf16": False, "fp16": False, **precision})


def parse_script_args(parser: HfArgumentParser, argv: Sequence[str] | None, defaults: Mapping[str, Any]) -> tuple:
    """Parse `argv` (None: ``sys.argv[1:]``) into the parser's dataclasses, with `set_script_defaults`. Raises
    ValueError for a batch size or accumulation count below 1 (Trainer fails on them deep inside its loaders)."""
    set_script_defaults(parser, argv, defaults)
    parsed = parser.parse_args_into_dataclasses(argv)
    for args in parsed:
        check_at_least_one(
            args, "per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps"
        )
    return parsed


def check_at_least_one(args, *flags: str) -> None:
    """ValueError naming `--flag` for each of `args`' `flags` that is set (not None) and below 1: a count or size, for
    which 0 must not stand for a default either."""
    for flag in flags:
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise ValueError(f"--{flag} must be at least 1, got {value}")


def configure_logging(training_args, logger: logging.Logger) -> None:
    """Log to stdout: the script's `logger` at INFO on the main process; Transformers and Datasets at
    ``--log_level`` (``--log_level_replica`` on the other processes), by default their own WARNING."""
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%m/%d/%Y %H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    level = training_args.get_process_log_level()
    transformers.utils.logging.set_verbosity(level)
    datasets.utils.logging.set_verbosity(level)
    logger.setLevel(logging.INFO if training_args.should_log else level)


def last_complete_checkpoint(output_dir: str) -> str | None:
    """The newest ``checkpoint-<step>`` folder of `output_dir` whose save finished, or None.

    Trainer writes a checkpoint's ``trainer_state.json`` last, so a folder without it, or with one that does not parse
    (a kill while it was written), is one that a crash (or a full disk) left half-written: it is skipped with a
    warning, and training resumes from the one before."""
    steps = []
    for name in os.listdir(output_dir):
        match = re.fullmatch(rf"{PREFIX_CHECKPOINT_DIR}-(\d+)", name)
        if match and os.path.isdir(os.path.join(output_dir, name)):
            steps.append((int(match.group(1)), os.path.join(output_dir, name)))
    for _, folder in sorted(steps, reverse=True):
        problem = _trainer_state_problem(folder)
        if problem is None:
            return folder
        logging.getLogger(__name__).warning(f"{folder} is incomplete ({problem}): skipping it")
    return None


def _trainer_state_problem(folder: str) -> str | None:
    """Why `folder`'s ``trainer_state.json`` cannot be resumed from, or None when it reads as Trainer's state."""
    path = os.path.join(folder, "trainer_state.json")
    if not os.path.isfile(path):
        return "no trainer_state.json"
    try:
        TrainerState.load_from_json(path)
    except (ValueError, TypeError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
        return f"trainer_state.json does not parse: {error}"
    return None


def resolve_checkpoint(training_args) -> str | None:
    """The folder ``--resume_from_checkpoint`` names: a checkpoint path, or ``last`` for the latest complete checkpoint
    in ``--output_dir``. Raises FileNotFoundError before any training when there is none, or when the named folder
    is not a complete checkpoint (no ``trainer_state.json``, or one that does not parse)."""
    checkpoint = training_args.resume_from_checkpoint
    if checkpoint is None:
        return None
    if checkpoint.lower() in ("last", "true"):
        output_dir = training_args.output_dir
        last = last_complete_checkpoint(output_dir) if os.path.isdir(output_dir) else None
        if last is None:
            raise FileNotFoundError(
                f"--resume_from_checkpoint {checkpoint}: no complete checkpoint-* folder in {output_dir}"
            )
        return last
    problem = _trainer_state_problem(checkpoint) if os.path.isdir(checkpoint) else "no such folder"
    if problem is not None:
        raise FileNotFoundError(f"--resume_from_checkpoint {checkpoint}: not a complete checkpoint ({problem})")
    return checkpoint


# ---------------------------------------------------------------------------------------------------------
# End of a run

# Training-log keys drawn as curves, with their legend labels; evaluation losses (``eval_loss``,
# ``eval_mismatched_loss``, ...) are found by their ``eval`` prefix.
TRAINING_CURVES = {"loss": "training loss", "task_loss": "task loss", "lm_loss": "LM loss (auxiliary)"}


def loss_series(log_history: Sequence[Mapping[str, Any]]) -> dict[str, tuple[list[int], list[float]]]:
    """The losses of a run, ``name -> (steps, values)``, in the order `Trainer` logged them.

    Training curves come from the training-log keys (`TRAINING_CURVES`), evaluation curves from every
    ``eval_*loss`` key. Entries without a ``step`` (none in Trainer's logs) and non-finite values are skipped.
    """
    series: dict[str, tuple[list[int], list[float]]] = {}
    for entry in log_history:
        if "step" not in entry:
            continue
        for key, value in entry.items():
            is_loss = key in TRAINING_CURVES or (key.startswith("eval_") and key.endswith("loss"))
            if is_loss and isinstance(value, (int, float)) and math.isfinite(value):
                steps, values = series.setdefault(key, ([], []))
                steps.append(entry["step"])
                values.append(float(value))
    return series


def plot_loss_curve(
    log_history: Sequence[Mapping[str, Any]], path: str | Path, title: str | None = None
) -> Path | None:
    """Draw every loss of `loss_series` against the optimisation step and save the figure to `path` (PNG).

    Uses Matplotlib's Agg canvas directly (no pyplot), so it needs no display and leaves pyplot's global state
    alone. Returns the path, or None when the run logged no loss (nothing to draw).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = loss_series(log_history)
    if not series:
        return None
    figure = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for key, (steps, values) in series.items():
        label = TRAINING_CURVES.get(key) or key.replace("_", " ")
        if key == "loss" and "task_loss" in series:
            label = "training loss (task + λ LM)"
        # Evaluation usually runs a few times only: markers keep single points visible.
        axes.plot(steps, values, label=label, marker="o" if key.startswith("eval_") or len(steps) == 1 else None)
    axes.set_xlabel("step")
    axes.set_ylabel("loss (nats per token)" if "task_loss" not in series else "loss")
    axes.grid(alpha=0.3)
    axes.legend()
    if title:
        axes.set_title(title)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path


def last_logged(log_history: Sequence[Mapping[str, Any]], key: str) -> float | None:
    """The last value logged under `key`, or None."""
    for entry in reversed(log_history):
        if key in entry:
            return entry[key]
    return None


def format_summary(rows: Mapping[str, Any], title: str = "Summary") -> str:
    """A two-column text table of `rows` (``name -> value``); None values are left out, floats get 4 significant
    digits, so that the end of a run fits one screen."""

    def show(value) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        if isinstance(value, Mapping):
            return ", ".join(f"{key} {show(item)}" for key, item in value.items())
        return str(value)

    cells = [(str(name), show(value)) for name, value in rows.items() if value is not None]
    name_width = max([len(name) for name, _ in cells] + [len(title)])
    value_width = max([len(value) for _, value in cells] + [0])
    rule = "+" + "-" * (name_width + 2) + "+" + "-" * (value_width + 2) + "+"
    lines = [rule, f"| {title:<{name_width + value_width + 3}} |", rule]
    lines += [f"| {name:<{name_width}} | {value:<{value_width}} |" for name, value in cells]
    lines.append(rule)
    return "\n".join(lines)


def run_summary(trainer, task: str, model: str, metrics: Mapping[str, float], output_dir: str | Path) -> dict:
    """The rows of the end-of-run table: task, model, steps, final losses, the given metrics, output folder.

    `metrics` are the evaluation (and test) results to show, e.g. ``{"eval_accuracy": 0.71}``; their losses are
    shown under "losses" with the training ones.
    """
    history = trainer.state.log_history
    losses = {
        "train": last_logged(history, "loss"),
        "task": last_logged(history, "task_loss"),
        "LM": last_logged(history, "lm_loss"),
        **{key.removesuffix("_loss"): value for key, value in metrics.items() if key.endswith("_loss")},
    }
    steps = f"{trainer.state.global_step}"
    if trainer.state.max_steps:
        steps += f" / {trainer.state.max_steps}"
    return {
        "task": task,
        "model": model,
        "steps": steps,
        "losses": {name: value for name, value in losses.items() if value is not None} or None,
        **{key: value for key, value in metrics.items() if not key.endswith("_loss") and _is_score(key)},
        "output": str(output_dir),
    }


def _is_score(key: str) -> bool:
    """Metric keys worth a row: not Trainer's timing and throughput entries."""
    return not key.endswith(("_runtime", "_per_second", "_samples")) and key != "epoch"


def report_run(trainer, task: str, model: str, metrics: Mapping[str, float], output_dir: str | Path) -> str:
    """End a run: save ``loss_curve.png`` in `output_dir`, print the summary table and return it.

    Only the main process writes and prints (under ``accelerate launch`` every process runs the script)."""
    if not trainer.is_world_process_zero():
        return ""
    plot = plot_loss_curve(trainer.state.log_history, Path(output_dir) / "loss_curve.png", title=f"{task}: {model}")
    rows = run_summary(trainer, task, model, metrics, output_dir)
    rows["loss curve"] = str(plot) if plot else "not drawn (no loss was logged)"
    table = format_summary(rows, title=f"GPT-1 {task}")
    print(table)
    return table


__all__ = [
    "SCRIPT_DEFAULTS",
    "USAGE_ERROR",
    "exit_with_one_line",
    "OneLineErrors",
    "ScriptArgumentParser",
    "user_errors_exit",
    "device_precision",
    "set_script_defaults",
    "parse_script_args",
    "configure_logging",
    "resolve_checkpoint",
    "loss_series",
    "plot_loss_curve",
    "last_logged",
    "format_summary",
    "run_summary",
    "report_run",
]
