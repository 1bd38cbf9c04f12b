"""The main job: GPT-1's whole method end to end, offline, in minutes on a laptop CPU.

1. Unlabeled text: the docstrings of Python's standard library (`demo_data.stdlib_documents`), or `--train_file`.
2. Generative pre-training (`examples/pretrain.py`): a BPE tokenizer and a small GPT-1 trained on that text.
3. Discriminative fine-tuning (`examples/finetune.py`) with each of GPT's four input transformations, on tasks made
   from the same text and written in the official file formats of the paper's tasks, so the real readers are used:

   | demo task     | transformation | question                                              | written as |
   |---------------|----------------|-------------------------------------------------------|------------|
   | word_order    | classification | is the sentence as written, or its words shuffled?     | CoLA       |
   | next_sentence | entailment     | does the second sentence follow the first?            | RTE        |
   | same_module   | similarity     | do the two sentences come from the same module?       | MRPC       |
   | true_ending   | multiple choice| which of two sentences really comes next?             | Story Cloze|

   Each task is fine-tuned from the pre-trained model and from a randomly initialised one of the same shape, with
   the auxiliary LM objective (lambda 0.5), once per fine-tuning seed (`--finetune_seeds`, default 0 1 2): the table
   gives each start's mean and standard deviation over the seeds, beside the best constant predictor's score.
4. A results table, and a Hub-ready folder (weights, config, tokenizer, custom code, model card) for the pre-trained
   model and for each fine-tuned one.

    python examples/demo.py                        # the default run (about ten minutes on two cores)
    python examples/demo.py --quick                # a tiny run (about a minute), used by the tests
    python examples/demo.py --train_file "books/*.txt" --task rte sst2 --data_dir glue/RTE glue/SST-2  # your data
    python examples/demo.py ... --task sst2 --max_train_examples 0     # all 67k SST-2 rows (default: the first 600)
    python examples/demo.py --dataset_name Salesforce/wikitext --dataset_config_name wikitext-2-raw-v1 --task rte
"""

import argparse
import csv
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np


sys.path.insert(0, str(Path(__file__).resolve().parent))

import demo_data  # noqa: E402
import finetune  # noqa: E402
import pretrain  # noqa: E402
from transformers import AutoConfig, AutoTokenizer, set_seed  # noqa: E402

from modeling_gpt1 import GPT1LMHeadModel  # noqa: E402
from modeling_gpt1.reporting import format_summary  # noqa: E402
from modeling_gpt1.tasks import (  # noqa: E402
    STORY_CLOZE_HEADER,
    constant_baseline,
    get_task,
    load_task_dataset,
)


logger = logging.getLogger("demo")

# Model and run sizes: the default fits about ten minutes on two CPU cores; `quick` is a smoke run.
SETTINGS = {
    "default": {
        "vocab_size": 3000,
        "model": "n_layer=3,n_embd=96,n_head=4,n_positions=64",
        "block_size": 64,
        "pretrain_steps": 600,
        "pretrain_batch": 32,
        "pretrain_lr": 1e-3,
        "warmup_steps": 100,
        "n_train": 600,
        "n_eval": 200,
        "epochs": 2,
        "finetune_lr": 1e-3,  # a small model from scratch-sized data: higher than the paper's 6.25e-5
        "finetune_batch": 32,
        "seeds": [0, 1, 2],
    },
    "quick": {
        "vocab_size": 600,
        "model": "n_layer=1,n_embd=32,n_head=2,n_positions=64",
        "block_size": 64,
        "pretrain_steps": 20,
        "pretrain_batch": 8,
        "pretrain_lr": 1e-3,
        "warmup_steps": 2,
        "n_train": 64,
        "n_eval": 376,  # the Story Cloze reader holds out 374 stories for validation, as the released code does
        "epochs": 1,
        "finetune_lr": 1e-3,
        "finetune_batch": 16,
        "seeds": [0, 1],
        "max_documents": 150,
    },
}

# Each demo task, the registry task whose official file format it is written in, and its writer.
DEMO_TASKS = {
    "word_order": "cola",
    "next_sentence": "rte",
    "same_module": "mrpc",
    "true_ending": "rocstories",
}
STDLIB_DATASET = "python-stdlib-docstrings"
# Trainer's progress bar (steps done, elapsed time, ETA) stays on: each stage is announced by `heading`.
COMMON_FLAGS = ["--use_cpu", "--report_to", "none", "--save_strategy", "no"]


def heading(text: str) -> None:
    """A stage heading on stdout, printed before the stage starts (its progress bars follow on stderr)."""
    print(f"\n===== {text} =====", flush=True)


def write_official_files(name: str, task, folder: Path) -> Path:
    """Write a demo task's splits in the file format of the registry task it stands in for."""
    folder.mkdir(parents=True, exist_ok=True)
    train, validation = task["train"], task["validation"]
    if name == "word_order":  # CoLA: no header; source, label, original mark, sentence
        for split, file in ((train, "train.tsv"), (validation, "dev.tsv")):
            rows = [("stdlib", r["label"], "" if r["label"] else "*", r["sentence"]) for r in split]
            _write_tsv(folder / file, None, rows)
    elif name == "next_sentence":  # RTE: index, sentence1, sentence2, label name
        labels = ("not_entailment", "entailment")
        for split, file in ((train, "train.tsv"), (validation, "dev.tsv")):
            rows = [(i, r["premise"], r["hypothesis"], labels[r["label"]]) for i, r in enumerate(split)]
            _write_tsv(folder / file, ("index", "sentence1", "sentence2", "label"), rows)
    elif name == "same_module":  # MRPC: Quality, #1 ID, #2 ID, #1 String, #2 String
        for split, file in ((train, "train.tsv"), (validation, "dev.tsv")):
            rows = [(r["label"], 2 * i, 2 * i + 1, r["sentence1"], r["sentence2"]) for i, r in enumerate(split)]
            _write_tsv(folder / file, ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"), rows)
    elif name == "true_ending":  # Story Cloze: one CSV, split into train and validation by the reader
        spec = get_task("rocstories").local
        header = STORY_CLOZE_HEADER
        with open(folder / spec.validation_file, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for i, r in enumerate(list(train) + list(validation)):
                writer.writerow([f"story-{i}", r["context"], "", "", "", r["ending1"], r["ending2"], r["label"] + 1])
    else:
        raise ValueError(f"unknown demo task {name!r}")
    return folder


def _write_tsv(path: Path, header, rows) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        if header:
            handle.write("\t".join(header) + "\n")
        for row in rows:
            handle.write("\t".join(str(value).replace("\t", " ") for value in row) + "\n")


def card_flags(model_name: str, dataset_label: str) -> list[str]:
    """What the scripts need to write the model card of a run on the demo's own data: its name and its data set's."""
    return ["--hub_model_id", model_name, "--dataset_label", dataset_label]


def pretrain_model(args, settings: dict, text_source: list[str], out: Path, card: list[str]) -> Path:
    """Stage 1: tokenizer and GPT-1 pre-trained on the unlabeled text; returns the model folder."""
    folder = out / "gpt1-pretrained"
    pretrain.main(
        [
            *text_source,
            *card,
            "--validation_split_percentage",
            "5",
            "--tokenizer_vocab_size",
            str(settings["vocab_size"]),
            "--config_overrides",
            settings["model"],
            "--block_size",
            str(settings["block_size"]),
            "--max_steps",
            str(settings["pretrain_steps"]),
            "--per_device_train_batch_size",
            str(settings["pretrain_batch"]),
            "--per_device_eval_batch_size",
            str(settings["pretrain_batch"]),
            "--learning_rate",
            str(settings["pretrain_lr"]),
            "--warmup_steps",
            str(settings["warmup_steps"]),
            "--seed",
            str(args.seed),
            "--output_dir",
            str(folder),
            *COMMON_FLAGS,
        ]
    )
    return folder


def untrained_copy(pretrained: Path, out: Path, seed: int) -> Path:
    """The 'without pre-training' baseline: same tokenizer and shape, random weights drawn with `seed`."""
    folder = out / ("gpt1-untrained" if seed == 0 else f"gpt1-untrained-seed{seed}")
    set_seed(seed)
    GPT1LMHeadModel(AutoConfig.from_pretrained(pretrained)).save_pretrained(folder)
    AutoTokenizer.from_pretrained(pretrained).save_pretrained(folder)
    return folder


def finetune_model(
    args, settings: dict, task: str, data_dir: Path | None, model: Path, out: Path, card: list[str], seed: int = 0
) -> dict:
    # The demo's own tasks are made at the right size; a paper task is cut to its first --max_train_examples rows.
    cap = args.max_train_examples if args.max_train_examples is not None else settings["n_train"]
    limit = ["--max_train_samples", str(cap)] if args.task and cap > 0 else []
    return finetune.main(
        [
            "--task",
            task,
            *card,
            *limit,
            *(["--data_dir", str(data_dir)] if data_dir else []),
            "--model_name_or_path",
            str(model),
            "--num_train_epochs",
            str(settings["epochs"]),
            "--learning_rate",
            str(settings["finetune_lr"]),
            "--warmup_steps",
            "0.1",
            "--per_device_train_batch_size",
            str(settings["finetune_batch"]),
            "--per_device_eval_batch_size",
            str(settings["finetune_batch"]),
            "--aux_lm_coef",
            str(args.aux_lm_coef),
            "--do_predict",
            "False",
            "--seed",
            str(seed),
            "--output_dir",
            str(out),
            *COMMON_FLAGS,
        ]
    )


def constant_score(task: str, data_dir: Path | None, n_examples: int) -> float:
    """The best constant predictor's score on the first `n_examples` validation examples (those scored)."""
    labels = load_task_dataset(task, data_dir, splits=["validation"])["validation"]["label"][:n_examples]
    return constant_baseline(task, labels)


def seed_summary(scores: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one score)."""
    values = np.asarray(scores, dtype=float)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="outputs/demo", help="Where everything is written.")
    parser.add_argument("--quick", action="store_true", help="A tiny run (about a minute) to check the set-up.")
    parser.add_argument("--train_file", help="Your own unlabeled text for pre-training (a .txt file or a glob).")
    parser.add_argument("--dataset_name", help="Or a Hub data set for pre-training (with --dataset_config_name).")
    parser.add_argument("--dataset_config_name")
    parser.add_argument("--task", nargs="+", help="Paper tasks to fine-tune on instead of the demo tasks.")
    parser.add_argument(
        "--data_dir",
        nargs="+",
        help="One folder per --task with its official files (GLUE TSVs, Story Cloze CSVs, RACE "
        "JSON); without it, finetune.py loads the task from the Hub.",
    )
    parser.add_argument(
        "--max_train_examples",
        type=int,
        help="Fine-tune each --task on its first N training examples (default: as many as the demo's own tasks, "
        "600, or 64 with --quick; 0: all of them, e.g. SST-2's 67,349 rows: hours on a CPU).",
    )
    parser.add_argument("--aux_lm_coef", type=float, default=0.5, help="lambda of the auxiliary LM loss.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the pre-training and of the demo's tasks.")
    parser.add_argument(
        "--finetune_seeds",
        type=int,
        nargs="+",
        help="Seeds of the fine-tuning runs; the table gives their mean and standard deviation (default: 0 1 2, or "
        "0 1 with --quick).",
    )
    args = parser.parse_args(argv)
    if args.data_dir and len(args.data_dir) != len(args.task or ()):
        parser.error("give one --data_dir per --task")
    if args.max_train_examples is not None and args.max_train_examples < 0:
        parser.error(f"--max_train_examples must be 0 (all) or more, got {args.max_train_examples}")
    settings = SETTINGS["quick" if args.quick else "default"]
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(format="%(asctime)s %(name)s: %(message)s", level=logging.INFO)
    started = time.time()

    # 1. Unlabeled text and the labelled tasks made from it.
    heading("Stage 1/4: data")
    documents, text_source = None, ["--train_file", args.train_file]
    if args.dataset_name:
        text_source = ["--dataset_name", args.dataset_name]
        text_source += ["--dataset_config_name", args.dataset_config_name] if args.dataset_config_name else []
    elif not args.train_file:
        documents = demo_data.stdlib_documents(max_documents=settings.get("max_documents"))
        corpus = out / "data" / "stdlib_docstrings.txt"
        corpus.parent.mkdir(parents=True, exist_ok=True)
        corpus.write_text("\n".join(demo_data.corpus_text(documents)) + "\n", encoding="utf-8")
        text_source = ["--train_file", str(corpus)]
        logger.info(f"corpus: {len(documents)} modules, {corpus.stat().st_size / 1e6:.1f} MB of docstrings")

    if args.task:
        tasks = {name: (name, data_dir) for name, data_dir in zip(args.task, args.data_dir or [None] * len(args.task))}
    else:
        documents = documents or demo_data.stdlib_documents(max_documents=settings.get("max_documents"))
        made = demo_data.make_tasks(documents, n_train=settings["n_train"], n_eval=settings["n_eval"], seed=args.seed)
        tasks = {
            name: (DEMO_TASKS[name], write_official_files(name, made[name], out / "data" / name)) for name in made
        }

    # 2. Pre-training, and the untrained baseline of the same shape.
    own_text = not (args.train_file or args.dataset_name)
    heading(
        f"Stage 2/4: pre-training a tokenizer and a GPT-1 ({settings['model']}) for {settings['pretrain_steps']} steps"
    )
    pretrained = pretrain_model(
        args, settings, text_source, out, card_flags("gpt1-demo", STDLIB_DATASET) if own_text else []
    )
    pretrain_results = json.loads((pretrained / "eval_results.json").read_text())

    # 3. Fine-tuning with each transformation, with and without pre-training, over several seeds (the fine-tuning
    # seed: the head's initialisation, dropout and data order; without pre-training, the whole model's weights too).
    seeds = args.finetune_seeds if args.finetune_seeds is not None else settings["seeds"]
    untrained = {seed: untrained_copy(pretrained, out, seed) for seed in seeds}
    rows = []
    n_runs = 2 * len(tasks) * len(seeds)
    runs = iter(range(1, n_runs + 1))
    for name, (task, data_dir) in tasks.items():
        spec = get_task(task)
        scores = {"pre-trained": [], "untrained": []}
        for seed in seeds:
            for start, model in (("pre-trained", pretrained), ("untrained", untrained[seed])):
                heading(
                    f"Stage 3/4: fine-tuning {name} ({spec.family}) from the {start} model, seed {seed}, "
                    f"run {next(runs)} of {n_runs}"
                )
                suffix = "" if start == "pre-trained" else "-untrained"
                card = [] if args.task else card_flags(f"gpt1-demo-{name}{suffix}", name)
                folder = out / f"{name}-from-{start}"  # seed 0's: the Hub-ready folder; other seeds under seeds/
                folder = folder if seed == seeds[0] else out / "seeds" / f"{folder.name}-seed{seed}"
                results = finetune_model(args, settings, task, data_dir, model, folder, card, seed=seed)
                scores[start].append(results[f"eval_{spec.main_metric}"])
        row = {"task": name, "transformation": spec.family, "format": task, "metric": spec.main_metric}
        for start, values in scores.items():
            row[start], row[f"{start} std"] = seed_summary(values)
            row[f"{start} scores"] = values
        row["constant predictor"] = constant_score(task, data_dir, results["eval_samples"])
        rows.append(row)

    # 4. Results table; the scripts wrote each folder's model card.
    heading("Stage 4/4: results")
    summary = {
        "pre-training eval loss": round(pretrain_results["eval_loss"], 3),
        "pre-training perplexity": round(pretrain_results["eval_perplexity"], 1),
        "fine-tuning seeds": " ".join(map(str, seeds)),
        **{
            f"{r['task']} ({r['transformation']}, {r['metric']})": f"{r['pre-trained']:.3f} ± "
            f"{r['pre-trained std']:.3f} pre-trained | {r['untrained']:.3f} ± {r['untrained std']:.3f} untrained "
            f"| {r['constant predictor']:.3f} constant"
            for r in rows
        },
        "Hub-ready model": str(pretrained),
        "minutes": round((time.time() - started) / 60, 1),
    }
    print(format_summary(summary, title="GPT-1 demo: fine-tuning with and without pre-training"))
    results = {"pretraining": pretrain_results, "finetuning": rows, "minutes": summary["minutes"]}
    (out / "demo_results.json").write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
