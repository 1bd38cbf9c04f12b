"""Reproduce the paper's findings (Radford et al. 2018, Table 5 and Figure 2) with this package, at a chosen scale.

One command, resumable: every finished part (the pre-training, each fine-tuning run, each zero-shot score) is kept
under `--output_dir` and skipped when the command is run again; an interrupted pre-training resumes from its last
checkpoint. Stages, each with a progress bar:

1. data: the corpus (Project Gutenberg licence headers and footers cut off), and for each task a held-out
   validation part of its training file when the folder has no `dev.tsv` (GLUE-format folders);
2. pre-training (`examples/pretrain.py`), keeping `checkpoints` checkpoints along the way;
3. Table 5: fine-tuning (`examples/finetune.py`) on each task, from the pre-trained model with the auxiliary LM
   (`full`), without it (`no_aux_lm`), and from random weights (`no_pretraining`), each with every seed;
4. Figure 2, left: fine-tuning with only the first k pre-trained blocks transferred, k = 0 .. n_layer;
5. Figure 2, right: the zero-shot heuristics (`examples/zero_shot.py`, section 5) on an untrained model and on
   every pre-training checkpoint;
6. the report: `report.md` (tables, each score beside the best constant predictor's), `table5.png`,
   `figure2_left.png`, `figure2_right.png` and `results.json`.

    # this machine's study (about 1.75 hours on two CPU cores)
    python examples/reproduce.py --corpus "books/*.txt" --glue_dir glue/ --story_cloze_dir rocstories/
    # the paper's scale on GPUs: its 117M model, Hub data sets, official validation splits
    accelerate launch examples/reproduce.py --scale paper --dataset_name <a BookCorpus copy> \\
        --story_cloze_dir rocstories/ --output_dir outputs/reproduce-paper
    python examples/reproduce.py --report_only --output_dir outputs/reproduce   # the report of what is finished

Without `--glue_dir` the GLUE tasks come from the Hub (`nyu-mll/glue`) and are validated on their official
validation splits; the Story Cloze Test has no Hub copy (`--story_cloze_dir`, split 1,497 / 374 as the released
code did; without it the task is left out). A user error is one line on stderr and exit status 2.
"""

import argparse
import glob
import json
import logging
import os
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch


sys.path.insert(0, str(Path(__file__).resolve().parent))

import finetune  # noqa: E402
import pretrain  # noqa: E402
import zero_shot  # noqa: E402
from accelerate import PartialState  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402
from transformers import AutoConfig, AutoTokenizer, set_seed  # noqa: E402

from modeling_gpt1 import GPT1LMHeadModel  # noqa: E402
from modeling_gpt1.reporting import OneLineErrors, last_complete_checkpoint, user_errors_exit  # noqa: E402
from modeling_gpt1.tasks import constant_baseline, get_task, load_task_dataset  # noqa: E402
from modeling_gpt1.training import FINETUNING_DEFAULTS, PRETRAINING_DEFAULTS  # noqa: E402
from modeling_gpt1.zero_shot import HEURISTICS  # noqa: E402


logger = logging.getLogger("reproduce")

# The tasks studied: GLUE's single-sentence, similarity and entailment tasks that fit a small study, and the
# Story Cloze Test (multiple choice). GLUE folder names as in GLUE's own download.
GLUE_FOLDERS = {"sst2": "SST-2", "cola": "CoLA", "mrpc": "MRPC", "stsb": "STS-B", "rte": "RTE"}
TASKS = (*GLUE_FOLDERS, "rocstories")

# Table 5's rows: (pre-trained start, lambda of the auxiliary LM loss). "no_pretraining" keeps the auxiliary LM,
# so that each row changes one thing from "full".
VARIANTS = {"full": (True, 0.5), "no_aux_lm": (True, 0.0), "no_pretraining": (False, 0.5)}

# The paper's Table 5 (GLUE dev; Matthews x100 for CoLA, accuracy for SST-2 and RTE, F1 for MRPC, Pearson for STS-B)
# and its full model's Story Cloze test accuracy (Table 3; Story Cloze is not in Table 5).
PAPER_TABLE5 = {
    "full": {"cola": 45.4, "sst2": 91.3, "mrpc": 82.3, "stsb": 82.0, "rte": 56.0, "rocstories": 86.5},
    "no_aux_lm": {"cola": 47.9, "sst2": 92.0, "mrpc": 84.9, "stsb": 83.2, "rte": 54.4},
    "no_pretraining": {"cola": 18.9, "sst2": 84.0, "mrpc": 79.4, "stsb": 30.9, "rte": 53.8},
}

COMMON_FLAGS = ["--report_to", "none", "--log_level", "warning"]
# The held-out validation part of a GLUE training file is drawn with this seed, whatever the runs' seeds.
HOLD_OUT_SEED = 1234


@dataclass(frozen=True)
class Scale:
    """The sizes of one study. Fine-tuning learning rates for small models from small data are higher than the
    paper's 6.25e-5 (which suits its 117M model)."""

    model: str  # GPT1Config overrides of the pre-trained model ("" = the paper's 117M shape)
    vocab_size: int
    block_size: int
    pretrain_batch: int
    pretrain_lr: float
    warmup_steps: int
    pretrain_steps: int | None  # None: `pretrain_epochs` epochs
    pretrain_epochs: float
    checkpoints: int  # checkpoints kept along the pre-training (Figure 2, right)
    eval_blocks: int  # validation blocks per pre-training evaluation
    validation_examples: int | None  # held out of a training file without a dev file; cap of the validation split
    train_examples: int | None  # fine-tuning examples per task (None: all)
    max_seq_length: int | None  # fine-tuning sequences are cut to this many tokens (None: n_positions)
    finetune_epochs: float
    finetune_lr: float
    finetune_batch: int
    finetune_warmup: float  # a fraction of the steps
    zero_shot_examples: int | None
    transfer_tasks: tuple[str, ...]


# The pre-training of the CPU study: `pretrain.py --preset cpu-books`.
_BOOKS = pretrain.PRESETS["cpu-books"]
SCALES = {
    # Two CPU cores, about 1.75 hours: 25 minutes of pre-training, then 66 fine-tuning runs of about a minute.
    "cpu": Scale(
        model=_BOOKS["config_overrides"],
        vocab_size=_BOOKS["tokenizer_vocab_size"],
        block_size=_BOOKS["block_size"],
        pretrain_batch=_BOOKS["per_device_train_batch_size"],
        pretrain_lr=_BOOKS["learning_rate"],
        warmup_steps=_BOOKS["warmup_steps"],
        pretrain_steps=_BOOKS["max_steps"],
        pretrain_epochs=1,
        checkpoints=6,
        eval_blocks=256,
        validation_examples=500,
        train_examples=1000,
        max_seq_length=64,
        finetune_epochs=3,
        finetune_lr=3e-4,
        finetune_batch=16,
        finetune_warmup=0.1,
        zero_shot_examples=500,
        transfer_tasks=("rocstories",),
    ),
    # The paper's settings (section 4.1; the scripts' defaults, `modeling_gpt1.training`): the 117M model, 40,478 merges, 64 x 512 tokens, 2,000 warm-up steps,
    # 100 epochs; fine-tuning at 6.25e-5, batch 32, 3 epochs, 0.2% warm-up, every example.
    "paper": Scale(
        model="",
        vocab_size=40478,
        block_size=pretrain.PAPER_BLOCK_SIZE,
        pretrain_batch=PRETRAINING_DEFAULTS["per_device_train_batch_size"],
        pretrain_lr=PRETRAINING_DEFAULTS["learning_rate"],
        warmup_steps=PRETRAINING_DEFAULTS["warmup_steps"],
        pretrain_steps=None,
        pretrain_epochs=100,
        checkpoints=10,
        eval_blocks=1024,
        validation_examples=None,
        train_examples=None,
        max_seq_length=None,
        finetune_epochs=FINETUNING_DEFAULTS["num_train_epochs"],
        finetune_lr=FINETUNING_DEFAULTS["learning_rate"],
        finetune_batch=FINETUNING_DEFAULTS["per_device_train_batch_size"],
        finetune_warmup=FINETUNING_DEFAULTS["warmup_steps"],
        zero_shot_examples=None,
        transfer_tasks=("rte", "rocstories"),
    ),
    # A smoke run of every stage (the tests): minutes on a CPU, numbers meaningless.
    "quick": Scale(
        model="n_layer=2,n_embd=32,n_head=2,n_positions=64",
        vocab_size=400,
        block_size=64,
        pretrain_batch=8,
        pretrain_lr=1e-3,
        warmup_steps=2,
        pretrain_steps=12,
        pretrain_epochs=1,
        checkpoints=2,
        eval_blocks=16,
        validation_examples=40,
        train_examples=48,
        max_seq_length=None,
        finetune_epochs=1,
        finetune_lr=1e-3,
        finetune_batch=16,
        finetune_warmup=0.1,
        zero_shot_examples=40,
        transfer_tasks=("sst2",),
    ),
}


def _processes_on_cpus() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()


def distributed_state() -> PartialState:
    """The processes' shared state (one process, or those of `accelerate launch` / `torchrun`), set up as `Trainer`
    sets it up: processes on CPUs communicate with gloo (a plain `PartialState()` would take each for the only one)."""
    return PartialState(cpu=True, backend="gloo") if _processes_on_cpus() else PartialState()


def wait_for_everyone() -> None:
    """A barrier over the processes of the run (none with one process), on torch's own process group, which the
    runs' Trainer may have set up after `distributed_state`."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def common_flags() -> list[str]:
    """Flags of every pre-training and fine-tuning run: no logging service, warnings only, and gloo between
    processes on CPUs (Trainer's default there would leave each process alone)."""
    return [*COMMON_FLAGS, *(["--ddp_backend", "gloo"] if _processes_on_cpus() else [])]


class _Parser(OneLineErrors, argparse.ArgumentParser):
    """Usage errors are one line and exit status 2."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = _Parser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    corpus = parser.add_mutually_exclusive_group()
    corpus.add_argument("--corpus", help="Pre-training text: .txt files (a glob), e.g. Project Gutenberg books.")
    corpus.add_argument("--dataset_name", help="Or a Hub data set for pre-training (with --dataset_config_name).")
    parser.add_argument("--dataset_config_name")
    parser.add_argument("--glue_dir", help="A folder with GLUE's task folders (SST-2, CoLA, ...); default: the Hub.")
    parser.add_argument("--story_cloze_dir", help="The folder with the Story Cloze CSVs; without it, no Story Cloze.")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS), help="Tasks to study.")
    parser.add_argument("--scale", choices=sorted(SCALES), default="cpu", help="The study's sizes (see SCALES).")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="Fine-tuning seeds of every run.")
    parser.add_argument("--output_dir", default="outputs/reproduce")
    parser.add_argument("--report_only", action="store_true", help="Only write the report of the finished runs.")
    args = parser.parse_args(argv)
    if not args.report_only and not (args.corpus or args.dataset_name):
        parser.error("give the pre-training text: --corpus FILES or --dataset_name NAME")
    if args.corpus and not glob.glob(args.corpus):
        parser.error(f"--corpus {args.corpus}: no such file")
    for flag in ("glue_dir", "story_cloze_dir"):
        folder = getattr(args, flag)
        if folder is not None and not Path(folder).is_dir():
            parser.error(f"--{flag} {folder}: no such folder")
    if "rocstories" in args.tasks and args.story_cloze_dir is None:
        args.tasks.remove("rocstories")
        if not args.report_only:
            print("No --story_cloze_dir: the Story Cloze Test is left out (it has no Hub copy).", file=sys.stderr)
    if not args.tasks and not args.report_only:
        parser.error("no task left to study")
    return args


# ---------------------------------------------------------------------------------------------------------
# Stage 1: data


def strip_gutenberg(text: str) -> str:
    """The text between a Project Gutenberg file's ``*** START OF`` and ``*** END OF`` lines (the licence header and
    footer cut off), without blank lines; a text without both markers is kept whole, less its blank lines."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("*** START OF")]
    ends = [i for i, line in enumerate(lines) if line.startswith("*** END OF")]
    if starts and ends and starts[0] < ends[-1]:
        lines = lines[starts[0] + 1 : ends[-1]]
    return "\n".join(line for line in lines if line.strip()) + "\n"


def prepare_corpus(pattern: str, folder: Path) -> str:
    """Write each corpus file, Gutenberg markers stripped, to `folder`; returns the glob of the copies. Raises
    ValueError when the files hold no text."""
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in map(Path, sorted(glob.glob(pattern))):
        target = folder / f"{path.stem}.txt"
        if not target.exists():
            write_atomically(target, strip_gutenberg(path.read_text(encoding="utf-8-sig", errors="replace")))
        copies.append(target)
    if not any(copy.read_text(encoding="utf-8").strip() for copy in copies):
        raise ValueError(f"--corpus {pattern}: the files hold no text (Project Gutenberg's header and footer cut off)")
    return str(folder / "*.txt")


def hold_out(task: str, source: Path, folder: Path, size: int) -> Path:
    """A copy of the GLUE folder `source` whose ``dev.tsv`` is `size` lines of its ``train.tsv`` drawn at random
    (`HOLD_OUT_SEED`) and whose ``train.tsv`` is the rest: validation on data the model never trained on."""
    spec = get_task(task)
    train_name, dev_name = spec.local.files["train"][0], spec.local.files["validation"][0]
    if (source / dev_name).is_file() or (folder / dev_name).is_file():  # a real dev file, or already made
        return source if (source / dev_name).is_file() else folder
    lines = (source / train_name).read_text(encoding="utf-8-sig").splitlines(keepends=True)
    header = [] if train_name in spec.local.headerless else lines[:1]
    rows = lines[len(header) :]
    if size >= len(rows):
        raise ValueError(f"{source / train_name}: {len(rows)} rows, too few to hold out {size} for validation")
    order = list(range(len(rows)))
    random.Random(HOLD_OUT_SEED).shuffle(order)
    held = set(order[:size])
    folder.mkdir(parents=True, exist_ok=True)
    # dev.tsv marks the folder as made: written last, so that an interrupted copy is made again.
    write_atomically(folder / train_name, "".join(header + [row for i, row in enumerate(rows) if i not in held]))
    write_atomically(folder / dev_name, "".join(header + [rows[i] for i in sorted(held)]))
    return folder


def task_folders(args, scale: Scale, out: Path) -> dict[str, Path | None]:
    """Per task, the folder its runs read (None: the Hub)."""
    folders = {}
    for task in args.tasks:
        if task == "rocstories":
            folders[task] = Path(args.story_cloze_dir)
        elif args.glue_dir is None:
            folders[task] = None
        else:
            source = Path(args.glue_dir) / GLUE_FOLDERS[task]
            if not (source / "train.tsv").is_file():
                raise FileNotFoundError(f"--glue_dir: {source / 'train.tsv'} is missing")
            folders[task] = hold_out(task, source, out / "data" / GLUE_FOLDERS[task], scale.validation_examples or 500)
    return folders


# What a study's finished parts depend on: resuming with other values would mix two studies in one report.
STUDY_KEYS = ("corpus", "dataset_name", "dataset_config_name", "glue_dir", "story_cloze_dir", "scale")


def check_same_study(args, scale: Scale, out: Path) -> None:
    """Raise ValueError when `out` holds a study made with other data or sizes (`--tasks` and `--seeds` may grow)."""
    study = out / "study.json"
    if not study.is_file():
        return
    before = json.loads(study.read_text())
    changed = [key for key in STUDY_KEYS if before["args"].get(key) != vars(args).get(key)]
    changed += ["scale's sizes"] if before["scale"] != json.loads(json.dumps(asdict(scale))) else []
    if changed:
        raise ValueError(
            f"--output_dir {out} holds a study made with another {', '.join(changed)}: resume it with the same "
            "arguments, or give another --output_dir"
        )


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file, so that an interrupted run never leaves half a file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


# ---------------------------------------------------------------------------------------------------------
# Stage 2: pre-training


def per_device(batch: int) -> str:
    """The per-process batch that makes `batch` examples a step over all processes (`accelerate launch`)."""
    processes = distributed_state().num_processes
    if batch % processes:
        raise ValueError(f"the study's batch of {batch} does not split evenly over {processes} processes")
    return str(batch // processes)


def pretrain_stage(args, scale: Scale, text_source: list[str], out: Path) -> Path:
    """Pre-train (or resume, or skip when finished) the study's model; returns its folder."""
    folder = out / "pretrain"
    if (folder / "eval_results.json").is_file():
        return folder
    checkpoint = last_complete_checkpoint(str(folder)) if folder.is_dir() else None
    every = 1 / scale.checkpoints
    length = ["--max_steps", str(scale.pretrain_steps)] if scale.pretrain_steps else []
    pretrain.main(
        [
            *text_source,
            *(["--config_overrides", scale.model] if scale.model else []),
            "--tokenizer_vocab_size",
            str(scale.vocab_size),
            "--block_size",
            str(scale.block_size),
            *length,
            "--num_train_epochs",
            str(scale.pretrain_epochs),
            "--per_device_train_batch_size",
            per_device(scale.pretrain_batch),
            "--per_device_eval_batch_size",
            per_device(scale.pretrain_batch),
            "--learning_rate",
            str(scale.pretrain_lr),
            "--warmup_steps",
            str(scale.warmup_steps),
            "--validation_split_percentage",
            "2",
            "--max_eval_samples",
            str(scale.eval_blocks),
            "--eval_strategy",
            "steps",
            "--eval_steps",
            str(every),
            "--save_strategy",
            "steps",
            "--save_steps",
            str(every),
            "--logging_steps",
            "0.01",
            "--seed",
            "0",
            "--output_dir",
            str(folder),
            *(["--resume_from_checkpoint", checkpoint] if checkpoint else []),
            *common_flags(),
        ]
    )
    return folder


def untrained_lm(pretrained: Path, out: Path) -> Path:
    """A language model of the pre-trained one's shape and tokenizer with random weights (seed 0): the zero-shot
    scores at step 0."""
    folder = out / "untrained"
    if not folder.is_dir():  # written whole under another name, then renamed: never half there
        partial = out / "untrained.partial"
        shutil.rmtree(partial, ignore_errors=True)
        set_seed(0)
        GPT1LMHeadModel(AutoConfig.from_pretrained(pretrained)).save_pretrained(partial)
        AutoTokenizer.from_pretrained(pretrained).save_pretrained(partial)
        partial.rename(folder)
    return folder


def checkpoint_steps(pretrained: Path) -> list[tuple[int, Path]]:
    """The pre-training's checkpoints, ``(step, folder)`` in step order."""
    found = [(int(path.name.split("-")[1]), path) for path in pretrained.glob("checkpoint-*") if path.is_dir()]
    return sorted(found)


# ---------------------------------------------------------------------------------------------------------
# Stages 3 and 4: fine-tuning runs


@dataclass(frozen=True)
class Run:
    """One fine-tuning run: `task` from the pre-trained model (`pretrained`) or from random weights, with
    `transferred` pre-trained blocks (None: all) and the auxiliary LM weight `aux_lm_coef`."""

    task: str
    name: str  # the Table 5 variant, or "transfer_<k>"
    seed: int
    pretrained: bool
    aux_lm_coef: float
    transferred: int | None = None

    @property
    def folder(self) -> str:
        return f"runs/{self.task}/{self.name}-seed{self.seed}"


def table5_runs(args) -> list[Run]:
    return [
        Run(task, variant, seed, pretrained, aux)
        for task in args.tasks
        for seed in args.seeds
        for variant, (pretrained, aux) in VARIANTS.items()
    ]


def transfer_runs(args, scale: Scale, n_layer: int) -> list[Run]:
    """Figure 2, left: k = 0 .. n_layer - 1 transferred blocks (k = n_layer is Table 5's `full` run)."""
    tasks = [task for task in scale.transfer_tasks if task in args.tasks]
    if not tasks:
        print(
            f"Figure 2 (left) is left out: none of its tasks ({', '.join(scale.transfer_tasks)}) is studied.",
            file=sys.stderr,
        )
    return [
        Run(task, f"transfer_{k}", seed, True, 0.5, k) for task in tasks for seed in args.seeds for k in range(n_layer)
    ]


def finetune_run(run: Run, scale: Scale, data_dir: Path | None, pretrained: Path, out: Path) -> dict:
    """Fine-tune and evaluate one run (skipped when its `result.json` exists); returns the result."""
    folder = out / run.folder
    result_file = folder / "result.json"
    if result_file.is_file():
        return json.loads(result_file.read_text())
    spec = get_task(run.task)
    start = ["--model_name_or_path", str(pretrained)]
    if not run.pretrained:
        start = ["--tokenizer_name", str(pretrained), "--config_name", str(pretrained)]
    argv = [
        "--task",
        run.task,
        *(["--data_dir", str(data_dir)] if data_dir else []),
        *start,
        *(["--num_transferred_layers", str(run.transferred)] if run.transferred is not None else []),
        "--aux_lm_coef",
        str(run.aux_lm_coef),
        *(["--max_train_samples", str(scale.train_examples)] if scale.train_examples else []),
        *(["--max_eval_samples", str(scale.validation_examples)] if scale.validation_examples else []),
        *(["--max_seq_length", str(scale.max_seq_length)] if scale.max_seq_length else []),
        "--num_train_epochs",
        str(scale.finetune_epochs),
        "--learning_rate",
        str(scale.finetune_lr),
        "--warmup_steps",
        str(scale.finetune_warmup),
        "--per_device_train_batch_size",
        per_device(scale.finetune_batch),
        "--per_device_eval_batch_size",
        per_device(scale.finetune_batch),
        "--do_predict",
        "False",
        "--save_strategy",
        "no",
        "--disable_tqdm",
        "True",
        "--seed",
        str(run.seed),
        "--output_dir",
        str(folder),
        *common_flags(),
    ]
    started = time.time()
    results = finetune.main(argv)
    state = distributed_state()
    if state.is_main_process:
        result = {
            **asdict(run),
            "metric": spec.main_metric,
            "score": results[f"eval_{spec.main_metric}"],
            "baseline": validation_baseline(run.task, data_dir, scale),
            "validation_examples": results["eval_samples"],
            "train_task_loss": last_epoch_task_loss(folder),
            "train_examples": results.get("train_samples"),
            "minutes": round((time.time() - started) / 60, 2),
            "argv": argv,
        }
        shutil.rmtree(folder / "runs", ignore_errors=True)  # TensorBoard leftovers, if any
        (folder / "model.safetensors").unlink(missing_ok=True)  # the study keeps scores, not 78 models
        write_atomically(result_file, json.dumps(result, indent=2) + "\n")
    wait_for_everyone()
    return json.loads(result_file.read_text())


_BASELINES: dict[str, float] = {}


def validation_baseline(task: str, data_dir: Path | None, scale: Scale) -> float:
    """The best constant predictor's score on the validation examples the runs are scored on."""
    if task not in _BASELINES:
        validation = load_task_dataset(task, data_dir, splits=["validation"])["validation"]
        labels = validation["label"][: scale.validation_examples]
        _BASELINES[task] = constant_baseline(task, labels)
    return _BASELINES[task]


def last_epoch_task_loss(folder: Path) -> float | None:
    """The task loss logged over the last epoch of a run's training (`trainer_state.json`; with the auxiliary LM,
    its `task_loss` part): near ln(number of classes) when the head has not learned to fit even its training data."""
    state = folder / "trainer_state.json"
    if not state.is_file():
        return None
    logs = [entry for entry in json.loads(state.read_text())["log_history"] if "loss" in entry and "step" in entry]
    if not logs:
        return None
    last_epoch = [entry for entry in logs if entry["epoch"] > logs[-1]["epoch"] - 1]
    return float(np.mean([entry.get("task_loss", entry["loss"]) for entry in last_epoch]))


def run_stage(title: str, runs: list[Run], scale: Scale, folders: dict, pretrained: Path, out: Path) -> None:
    """Run `runs` (the finished ones are skipped) under one progress bar."""
    done = sum((out / run.folder / "result.json").is_file() for run in runs)
    with tqdm(
        total=len(runs), initial=done, desc=title, unit="run", disable=not distributed_state().is_main_process
    ) as bar:
        for run in runs:
            if (out / run.folder / "result.json").is_file():
                continue
            bar.set_postfix_str(f"{run.task} {run.name} seed {run.seed}")
            result = finetune_run(run, scale, folders[run.task], pretrained, out)
            bar.write(
                f"{run.task:10s} {run.name:15s} seed {run.seed}: {result['metric']} {result['score']:.3f} "
                f"(constant predictor {result['baseline']:.3f}; {result['minutes']:.1f} min)"
            )
            bar.update()


# ---------------------------------------------------------------------------------------------------------
# Stage 5: zero-shot over the pre-training


def zero_shot_stage(args, scale: Scale, folders: dict, pretrained: Path, out: Path) -> None:
    """Score the untrained model and every checkpoint with the zero-shot heuristics (one JSON file per model)."""
    tasks = [task for task in args.tasks if task in HEURISTICS]
    if not tasks or not distributed_state().is_main_process:  # scoring needs no other process
        return
    models = [(0, untrained_lm(pretrained, out)), *checkpoint_steps(pretrained)]
    for step, model in tqdm(models, desc="Stage 5, Figure 2 (right): zero-shot", unit="model"):
        target = out / "zero_shot" / f"step-{step}.json"
        if target.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        rows = []
        for task in tasks:  # one call each: a task's own folder, or the Hub where it has none
            rows += zero_shot.main(
                [
                    str(model),
                    "--task",
                    task,
                    *(["--data_dir", str(folders[task])] if folders[task] else []),
                    *(["--max_examples", str(scale.zero_shot_examples)] if scale.zero_shot_examples else []),
                ]
            )
        for row in rows:
            row["step"] = step
        write_atomically(target, json.dumps(rows, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------------------
# Stage 6: the report


def load_results(out: Path) -> tuple[list[dict], list[dict], dict | None]:
    """The finished fine-tuning runs, zero-shot rows and the pre-training's evaluation."""
    runs = [json.loads(path.read_text()) for path in sorted(out.glob("runs/*/*/result.json"))]
    for run in runs:  # results written before the training loss was recorded
        run.setdefault("train_task_loss", last_epoch_task_loss(out / Run(**_run_fields(run)).folder))
    zero = [row for path in sorted(out.glob("zero_shot/step-*.json")) for row in json.loads(path.read_text())]
    evaluation = out / "pretrain" / "eval_results.json"
    return runs, zero, json.loads(evaluation.read_text()) if evaluation.is_file() else None


def _run_fields(result: dict) -> dict:
    return {name: result[name] for name in Run.__dataclass_fields__}


def summarise(scores: list[float]) -> dict:
    """Mean, sample standard deviation (0 for one score) and count."""
    values = np.asarray(scores, dtype=float)
    return {
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def cell(summary: dict | None, scale: float = 100) -> str:
    if summary is None:
        return "-"
    return f"{scale * summary['mean']:.1f} ± {scale * summary['std']:.1f} ({summary['n']})"


def grouped(runs: list[dict]) -> dict[tuple[str, str], dict]:
    """``(task, run name) -> summarise(scores over seeds)``."""
    scores: dict[tuple[str, str], list[float]] = {}
    for run in runs:
        scores.setdefault((run["task"], run["name"]), []).append(run["score"])
    return {key: summarise(values) for key, values in scores.items()}


def table5_markdown(runs: list[dict]) -> str:
    """Table 5: each variant's mean ± standard deviation over seeds (x100) per task, the best constant predictor's
    score, the pre-training gain (full - no_pretraining) with its standard error, and the paper's numbers."""
    stats = grouped(runs)
    tasks = [task for task in TASKS if any(run["task"] == task for run in runs)]
    baselines = {run["task"]: run["baseline"] for run in runs}
    metrics = {run["task"]: run["metric"] for run in runs}
    header = "| row | " + " | ".join(f"{task} ({metrics[task]})" for task in tasks) + " |"
    lines = [header, "|---" * (len(tasks) + 1) + "|"]
    for variant in VARIANTS:
        lines.append(f"| {variant} | " + " | ".join(cell(stats.get((task, variant))) for task in tasks) + " |")
    lines.append("| constant predictor | " + " | ".join(f"{100 * baselines[task]:.1f}" for task in tasks) + " |")
    gains = []
    for task in tasks:
        full, scratch = stats.get((task, "full")), stats.get((task, "no_pretraining"))
        if full is None or scratch is None:
            gains.append("-")
            continue
        gain = f"{100 * (full['mean'] - scratch['mean']):+.1f}"
        if min(full["n"], scratch["n"]) < 2:  # no spread to compare the gain with
            gains.append(f"{gain} (one seed)")
            continue
        error = np.sqrt(full["std"] ** 2 / full["n"] + scratch["std"] ** 2 / scratch["n"])
        gains.append(f"{gain} ± {100 * error:.1f}")
    lines.append("| pre-training gain (full - no_pretraining) | " + " | ".join(gains) + " |")
    for variant, paper in PAPER_TABLE5.items():
        lines.append(f"| paper: {variant} | " + " | ".join(str(paper.get(task, "-")) for task in tasks) + " |")
    return "\n".join(lines)


def constant_guess_loss(task: str, labels) -> float:
    """The training loss of a head that ignores its input: the label entropy (nats) for classification, ln(number of
    answers) for multiple choice (each answer is scored alone, so no constant prefers one), the label variance for
    regression (the mean squared error of predicting the mean)."""
    spec = get_task(task)
    labels = np.asarray(labels)
    if spec.is_regression and labels.size:
        return float(labels.var())
    if spec.family == "multiple_choice":
        return float(np.log(spec.num_labels))
    if labels.size == 0:
        raise ValueError(f"{spec.name}: no labels to compute a constant guess's loss on")
    shares = np.bincount(labels.astype(int)) / labels.size
    shares = shares[shares > 0]
    return float(-(shares * np.log(shares)).sum())


def study_glue_folders(out: Path) -> dict[str, Path]:
    """The local GLUE folders a study's runs read (its held-out copies, or `--glue_dir`'s own); none from the Hub."""
    study = out / "study.json"
    glue_dir = json.loads(study.read_text())["args"].get("glue_dir") if study.is_file() else None
    if glue_dir is None:
        return {}
    made = {task: out / "data" / name for task, name in GLUE_FOLDERS.items()}
    return {task: made[task] if made[task].is_dir() else Path(glue_dir) / name for task, name in GLUE_FOLDERS.items()}


def training_loss_markdown(runs: list[dict], out: Path) -> str:
    """Per task and Table 5 row, the task loss over the last training epoch (mean over seeds), beside the loss of a
    head that ignores its input (`constant_guess_loss` of the training labels): whether the model fit its training
    data at all."""
    tasks = [task for task in TASKS if any(run["task"] == task for run in runs)]
    lines = ["| row | " + " | ".join(tasks) + " |", "|---" * (len(tasks) + 1) + "|"]
    for variant in VARIANTS:
        values = []
        for task in tasks:
            losses = [r["train_task_loss"] for r in runs if (r["task"], r["name"]) == (task, variant)]
            losses = [loss for loss in losses if loss is not None]
            values.append(f"{np.mean(losses):.3f}" if losses else "-")
        lines.append(f"| {variant} | " + " | ".join(values) + " |")
    folders = study_glue_folders(out)
    guesses = []
    for task in tasks:
        if get_task(task).family == "multiple_choice":
            guesses.append(f"{constant_guess_loss(task, []):.3f}")
            continue
        try:
            labels = load_task_dataset(task, folders[task], splits=["train"])["train"]["label"]
        except (KeyError, OSError, ValueError):  # from the Hub, or the folder is gone
            guesses.append("-")
            continue
        guesses.append(f"{constant_guess_loss(task, labels):.3f}")
    lines.append("| a constant guess | " + " | ".join(guesses) + " |")
    return "\n".join(lines)


def transfer_markdown(runs: list[dict], n_layer: int) -> str:
    stats = grouped(runs)
    tasks = [
        task for task in TASKS if any(run["name"].startswith("transfer_") and run["task"] == task for run in runs)
    ]
    lines = ["| blocks transferred | " + " | ".join(tasks) + " |", "|---" * (len(tasks) + 1) + "|"]
    for k in range(n_layer + 1):
        name = "full" if k == n_layer else f"transfer_{k}"
        lines.append(f"| {k} | " + " | ".join(cell(stats.get((task, name))) for task in tasks) + " |")
    baselines = {run["task"]: run["baseline"] for run in runs}
    lines.append("| constant predictor | " + " | ".join(f"{100 * baselines[task]:.1f}" for task in tasks) + " |")
    return "\n".join(lines)


def zero_shot_markdown(rows: list[dict]) -> str:
    lines = [
        "| pre-training step | task | metric | score | constant predictor | normalised | classes predicted |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda row: (row["task"], row["step"])):
        normalised = "-" if row["normalized"] is None else f"{row['normalized']:.3f}"
        lines.append(
            f"| {row['step']} | {row['task']} | {row['metric']} | {row['score']:.3f} | {row['majority']:.3f} | "
            f"{normalised} | {row['predicted_classes']} |"
        )
    return "\n".join(lines)


def plot_report(runs: list[dict], zero: list[dict], n_layer: int, out: Path) -> list[Path]:
    """Draw Table 5 (bars), Figure 2 left (score over blocks transferred) and right (normalised zero-shot score
    over pre-training steps) as PNG files; returns those written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    stats = grouped(runs)
    tasks = [task for task in TASKS if any(run["task"] == task for run in runs)]
    baselines = {run["task"]: run["baseline"] for run in runs}
    if tasks:
        figure, axis = plt.subplots(figsize=(9, 4))
        width = 0.8 / len(VARIANTS)
        for i, variant in enumerate(VARIANTS):
            means = [stats.get((task, variant), {"mean": np.nan})["mean"] for task in tasks]
            errors = [stats.get((task, variant), {"std": 0})["std"] for task in tasks]
            axis.bar(np.arange(len(tasks)) + i * width, means, width, yerr=errors, label=variant, capsize=3)
        for j, task in enumerate(tasks):
            axis.hlines(
                baselines[task], j - width / 2, j + len(VARIANTS) * width - width / 2, colors="k", linestyles=":"
            )
        axis.set_xticks(np.arange(len(tasks)) + width, [f"{task}\n{runs_metric(runs, task)}" for task in tasks])
        axis.set_ylabel("validation score (dotted: constant predictor)")
        axis.set_title("Table 5: mean and standard deviation over seeds")
        axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=len(VARIANTS))
        written.append(_save(figure, out / "table5.png"))
    transfer_tasks = [task for task in tasks if (task, "transfer_0") in stats] if n_layer else []
    if transfer_tasks:
        figure, axis = plt.subplots(figsize=(6, 4))
        for task in transfer_tasks:
            names = [f"transfer_{k}" for k in range(n_layer)] + ["full"]
            points = [(k, stats[(task, name)]) for k, name in enumerate(names) if (task, name) in stats]
            axis.errorbar(
                [k for k, _ in points],
                [s["mean"] for _, s in points],
                [s["std"] for _, s in points],
                marker="o",
                capsize=3,
                label=task,
            )
            axis.axhline(baselines[task], linestyle=":", color=axis.lines[-1].get_color())
        axis.set_xlabel("pre-trained blocks transferred")
        axis.set_ylabel("validation score (dotted: constant predictor)")
        axis.set_title("Figure 2 (left): transferring layers")
        axis.legend()
        written.append(_save(figure, out / "figure2_left.png"))
    if zero:
        figure, axis = plt.subplots(figsize=(6, 4))
        for task in sorted({row["task"] for row in zero}):
            rows = [row for row in zero if row["task"] == task]
            points = sorted((row["step"], row["normalized"]) for row in rows)
            constant = all(row["predicted_classes"] == 1 for row in rows)  # its score says nothing of the model
            label = f"{task} (one answer for every example)" if constant else task
            axis.plot([step for step, _ in points], [value for _, value in points], marker="o", label=label)
        axis.axhline(0, color="k", linestyle=":")
        axis.set_xlabel("pre-training steps")
        axis.set_ylabel("normalised score\n(0: chance, 1: the paper's fine-tuned GPT-1)")
        axis.set_title("Figure 2 (right): zero-shot heuristics")
        axis.legend()
        written.append(_save(figure, out / "figure2_right.png"))
    return written


def runs_metric(runs: list[dict], task: str) -> str:
    return next(run["metric"] for run in runs if run["task"] == task)


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(figure)
    return path


def write_report(out: Path) -> str:
    """Write `report.md`, the PNG plots and `results.json` from the finished parts of the study; returns the text."""
    runs, zero, pretraining = load_results(out)
    config = out / "pretrain" / "config.json"
    n_layer = json.loads(config.read_text())["n_layer"] if config.is_file() else 0
    parts = ["# Reproduction report", ""]
    if pretraining:
        parts += [
            f"Pre-training: validation perplexity {pretraining['eval_perplexity']:.1f}, hidden-state spread "
            f"{pretraining.get('eval_hidden_spread', float('nan')):.3f} (near 0: collapsed).",
            "",
        ]
    fine = [run for run in runs if run["name"] in VARIANTS]
    parts += [
        "## Table 5: with and without pre-training and the auxiliary LM",
        "",
        "Mean ± standard deviation over seeds (number of seeds), x100.",
        "",
        table5_markdown(fine) if fine else "(no finished run)",
        "",
    ]
    if fine:
        parts += [
            "Training task loss over the last epoch (mean over seeds; STS-B: mean squared error), beside the loss "
            "of a head that ignores its input:",
            "",
            training_loss_markdown(fine, out),
            "",
        ]
    if n_layer and any(run["name"].startswith("transfer_") for run in runs):
        parts += [
            "## Figure 2 (left): transferred blocks",
            "",
            "Mean ± standard deviation over seeds (number of seeds), x100; all blocks = Table 5's `full` row.",
            "",
            transfer_markdown(runs, n_layer),
            "",
        ]
    if zero:
        parts += ["## Figure 2 (right): zero-shot over pre-training", "", zero_shot_markdown(zero), ""]
    plots = plot_report(runs, zero, n_layer, out)
    parts += [f"![{path.stem}]({path.name})" for path in plots]
    text = "\n".join(parts) + "\n"
    write_atomically(out / "report.md", text)
    results = {"pretraining": pretraining, "finetuning": runs, "zero_shot": zero}
    write_atomically(out / "results.json", json.dumps(results, indent=2) + "\n")
    return text


# ---------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None, *, command_line: bool = False) -> str:
    """Run (or resume) the study and write its report; returns the report's text."""
    with user_errors_exit(argparse.ArgumentParser(prog="reproduce.py"), enabled=command_line):
        args = parse_args(argv)
        out = Path(args.output_dir)
        if args.report_only:
            if not (out / "study.json").is_file():
                raise FileNotFoundError(f"--output_dir {out}: no study there (study.json is missing)")
            return _print(write_report(out))
        scale = SCALES[args.scale]
        state = distributed_state()
        out.mkdir(parents=True, exist_ok=True)
        check_same_study(args, scale, out)
        with state.main_process_first():  # the files are written once, then read by every process
            if args.corpus:
                text_source = ["--train_file", prepare_corpus(args.corpus, out / "corpus")]
            else:
                text_source = ["--dataset_name", args.dataset_name]
                text_source += ["--dataset_config_name", args.dataset_config_name] if args.dataset_config_name else []
            folders = task_folders(args, scale, out)
        if state.is_main_process:
            write_atomically(out / "study.json", json.dumps({"args": vars(args), "scale": asdict(scale)}, indent=2))

    print("Stage 2: pre-training", file=sys.stderr)
    pretrained = pretrain_stage(args, scale, text_source, out)
    n_layer = AutoConfig.from_pretrained(pretrained).n_layer
    run_stage("Stage 3, Table 5", table5_runs(args), scale, folders, pretrained, out)
    run_stage("Stage 4, Figure 2 (left)", transfer_runs(args, scale, n_layer), scale, folders, pretrained, out)
    # The main process alone scores and reports; nothing collective follows, so the others need not wait for it.
    zero_shot_stage(args, scale, folders, pretrained, out)
    text = write_report(out) if state.is_main_process else ""
    return _print(text)


def _print(text: str) -> str:
    print(text)
    return text


def cli(argv: list[str] | None = None) -> None:
    logging.basicConfig(format="%(asctime)s %(name)s: %(message)s", level=logging.WARNING)
    main(argv, command_line=True)


if __name__ == "__main__":
    cli()
