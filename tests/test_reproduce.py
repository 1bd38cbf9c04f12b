"""examples/reproduce.py: the study's data preparation, its resumable stages, and a report that puts every score
beside the best constant predictor's, on small data made here (a smoke run: the numbers mean nothing)."""

import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest
from transformers import EvalPrediction


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import demo_data  # noqa: E402
import reproduce  # noqa: E402

from modeling_gpt1.tasks import constant_baseline, load_task_dataset, metric_fn  # noqa: E402


def write_glue_files(glue: Path, n: int = 160) -> None:
    """Small SST-2 (header `sentence, label`), CoLA (no header) and RTE folders with only a train.tsv, as in the
    study's data (labels at random)."""
    rng = random.Random(0)
    sentences = [s for d in demo_data.stdlib_documents(max_documents=30) for s in d["paragraphs"]][: 2 * n]
    (glue / "SST-2").mkdir(parents=True)
    rows = [f"{s.replace(chr(9), ' ')}\t{rng.randint(0, 1)}\n" for s in sentences[:n]]
    (glue / "SST-2" / "train.tsv").write_text("sentence\tlabel\n" + "".join(rows))
    (glue / "CoLA").mkdir()
    rows = [f"src\t{rng.randint(0, 1)}\t\t{s.replace(chr(9), ' ')}\n" for s in sentences[:n]]
    (glue / "CoLA" / "train.tsv").write_text("".join(rows))
    (glue / "RTE").mkdir()
    labels = ("entailment", "not_entailment")
    rows = [f"{i}\t{a}\t{b}\t{rng.choice(labels)}\n" for i, (a, b) in enumerate(zip(sentences[:n], sentences[n:]))]
    (glue / "RTE" / "train.tsv").write_text("index\tsentence1\tsentence2\tlabel\n" + "".join(rows))


# ---------------------------------------------------------------------------------------------------------
# Data preparation


def test_strip_gutenberg_keeps_the_text_between_the_markers():
    text = "licence\n*** START OF THE BOOK ***\n\nChapter 1\nIt was.\n\n*** END OF THE BOOK ***\nmore licence\n"
    assert reproduce.strip_gutenberg(text) == "Chapter 1\nIt was.\n"
    assert reproduce.strip_gutenberg("no markers\n\nhere\n") == "no markers\nhere\n"


def test_hold_out_splits_a_train_file_into_disjoint_train_and_validation(tmp_path):
    write_glue_files(tmp_path / "glue")
    for task, folder in (("sst2", "SST-2"), ("cola", "CoLA"), ("rte", "RTE")):
        made = reproduce.hold_out(task, tmp_path / "glue" / folder, tmp_path / "data" / folder, 40)
        splits = load_task_dataset(task, made, splits=["train", "validation"])
        assert (len(splits["train"]), len(splits["validation"])) == (120, 40)
        text = splits["train"].column_names[0]
        assert not set(splits["train"][text]) & set(splits["validation"][text])
        # Made only once: a second call leaves the files as they are.
        written = {name: (made / name).stat().st_mtime_ns for name in ("train.tsv", "dev.tsv")}
        assert reproduce.hold_out(task, tmp_path / "glue" / folder, made, 40) == made
        assert {name: (made / name).stat().st_mtime_ns for name in written} == written
        # The same split every time (the runs' seeds do not move it); a copy without its dev.tsv is made again.
        first = (made / "dev.tsv").read_text()
        (made / "dev.tsv").unlink()
        assert reproduce.hold_out(task, tmp_path / "glue" / folder, made, 40) == made
        assert (made / "dev.tsv").read_text() == first


def test_hold_out_uses_a_real_dev_file_and_refuses_too_small_files(tmp_path):
    write_glue_files(tmp_path / "glue")
    source = tmp_path / "glue" / "SST-2"
    with pytest.raises(ValueError, match="too few to hold out 500"):
        reproduce.hold_out("sst2", source, tmp_path / "made", 500)
    (source / "dev.tsv").write_text("sentence\tlabel\na b c\t1\n")
    assert reproduce.hold_out("sst2", source, tmp_path / "made", 40) == source


@pytest.mark.parametrize(
    ("task", "labels"),
    [("sst2", [0, 1, 1, 1]), ("cola", [0, 1, 1]), ("mrpc", [1, 0, 1, 1, 0]), ("stsb", [0.5, 3.0, 4.5])],
)
def test_constant_baseline_is_the_best_constant_prediction_under_the_task_metric(task, labels):
    """For each task, the task's own metric over every constant prediction: the best is the baseline."""
    compute = metric_fn(task)
    spec_labels = np.asarray(labels)
    scores = []
    for value in [1.0, 2.0] if task == "stsb" else [0, 1]:
        if task == "stsb":
            predictions = np.full(len(labels), value)
        else:
            predictions = np.tile(np.eye(2)[value], (len(labels), 1))
        metrics = compute(EvalPrediction(predictions=predictions, label_ids=spec_labels))
        main = {"sst2": "accuracy", "cola": "matthews_correlation", "mrpc": "f1", "stsb": "pearson"}[task]
        scores.append(0.0 if np.isnan(metrics[main]) else metrics[main])
    assert constant_baseline(task, labels) == pytest.approx(max(scores))


def test_the_cpu_study_pre_trains_with_the_cpu_books_preset():
    preset, scale = reproduce.pretrain.PRESETS["cpu-books"], reproduce.SCALES["cpu"]
    assert (scale.model, scale.vocab_size, scale.block_size) == (
        preset["config_overrides"],
        preset["tokenizer_vocab_size"],
        preset["block_size"],
    )
    assert (scale.pretrain_lr, scale.warmup_steps, scale.pretrain_steps, scale.pretrain_batch) == (
        preset["learning_rate"],
        preset["warmup_steps"],
        preset["max_steps"],
        preset["per_device_train_batch_size"],
    )


def test_constant_guess_loss_is_the_loss_of_a_head_that_ignores_its_input():
    assert reproduce.constant_guess_loss("sst2", [0, 1, 1, 0]) == pytest.approx(np.log(2))
    assert reproduce.constant_guess_loss("cola", [1, 1, 1, 0]) == pytest.approx(
        -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    )
    assert reproduce.constant_guess_loss("rocstories", [0, 0, 0]) == pytest.approx(np.log(2))
    assert reproduce.constant_guess_loss("stsb", [1.0, 3.0]) == pytest.approx(1.0)


def test_constant_baseline_refuses_empty_labels():
    with pytest.raises(ValueError, match="no labels"):
        constant_baseline("sst2", [])


# ---------------------------------------------------------------------------------------------------------
# The study, end to end (quick scale)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    write_glue_files(root / "glue")
    books = root / "books"
    books.mkdir()
    text = "\n".join(demo_data.corpus_text(demo_data.stdlib_documents(max_documents=40)))
    (books / "book.txt").write_text("licence header\n*** START OF THIS BOOK ***\n" + text + "\n*** END OF IT ***\n")
    argv = [
        "--scale",
        "quick",
        "--corpus",
        str(books / "*.txt"),
        "--glue_dir",
        str(root / "glue"),
        "--tasks",
        "sst2",
        "rte",
        "--seeds",
        "0",
        "--output_dir",
        str(root / "out"),
    ]
    report = reproduce.main(argv)
    return root / "out", argv, report


def test_the_study_runs_every_stage_and_records_each_run(study):
    out, _, _ = study
    results = json.loads((out / "results.json").read_text())
    runs = {(run["task"], run["name"]) for run in results["finetuning"]}
    n_layer = json.loads((out / "pretrain" / "config.json").read_text())["n_layer"]
    table5 = {(task, variant) for task in ("sst2", "rte") for variant in reproduce.VARIANTS}
    transfer = {("sst2", f"transfer_{k}") for k in range(n_layer)}
    assert runs == table5 | transfer
    for run in results["finetuning"]:
        assert run["seed"] == 0 and "--seed" in run["argv"] and run["validation_examples"] == 40
        assert 0 < run["train_task_loss"] < 5  # the task part of the loss, read from the run's trainer_state.json
    scratch = next(run for run in results["finetuning"] if run["name"] == "no_pretraining")
    assert "--model_name_or_path" not in scratch["argv"] and "--config_name" in scratch["argv"]
    # The corpus was trained on without the Project Gutenberg header.
    assert "licence header" not in (out / "corpus" / "book.txt").read_text()
    # Zero-shot at step 0 (untrained) and at every checkpoint; SST-2 only (RTE has no heuristic).
    steps = sorted({row["step"] for row in results["zero_shot"]})
    assert steps[0] == 0 and steps[1:] == [step for step, _ in reproduce.checkpoint_steps(out / "pretrain")]
    assert {row["task"] for row in results["zero_shot"]} == {"sst2"}
    for name in ("table5.png", "figure2_left.png", "figure2_right.png", "report.md"):
        assert (out / name).stat().st_size > 0


def test_every_score_sits_beside_the_constant_predictor_of_its_validation_labels(study):
    out, _, report = study
    results = json.loads((out / "results.json").read_text())
    for task, folder in (("sst2", "SST-2"), ("rte", "RTE")):
        labels = load_task_dataset(task, out / "data" / folder, splits=["validation"])["validation"]["label"]
        expected = constant_baseline(task, labels[:40])
        assert {run["baseline"] for run in results["finetuning"] if run["task"] == task} == {expected}
    constant_row = next(line for line in report.splitlines() if line.startswith("| constant predictor"))
    sst2 = next(run["baseline"] for run in results["finetuning"] if run["task"] == "sst2")
    assert f"{100 * sst2:.1f}" in constant_row
    assert "| pre-training gain" in report and "| paper: full | 91.3 |" in report
    # Beside the training losses, the loss of a head that ignores its input (SST-2's label entropy here).
    labels = load_task_dataset("sst2", out / "data" / "SST-2", splits=["train"])["train"]["label"]
    guess_row = next(line for line in report.splitlines() if line.startswith("| a constant guess"))
    assert f"| {reproduce.constant_guess_loss('sst2', labels):.3f} |" in guess_row


def test_a_second_run_resumes_without_training_again(study, monkeypatch):
    out, argv, report = study

    def refuse(*args, **kwargs):
        raise AssertionError("a finished part was run again")

    monkeypatch.setattr(reproduce.pretrain, "main", refuse)
    monkeypatch.setattr(reproduce.finetune, "main", refuse)
    monkeypatch.setattr(reproduce.zero_shot, "main", refuse)
    assert reproduce.main(argv) == report


def test_only_a_missing_run_is_run_again(study, monkeypatch):
    out, argv, _ = study
    (out / "runs" / "rte" / "no_aux_lm-seed0" / "result.json").unlink()
    calls = []
    real = reproduce.finetune.main
    monkeypatch.setattr(reproduce.finetune, "main", lambda run_argv: calls.append(run_argv) or real(run_argv))
    reproduce.main(argv)
    assert len(calls) == 1 and calls[0][calls[0].index("--aux_lm_coef") + 1] == "0.0"
    assert (out / "runs" / "rte" / "no_aux_lm-seed0" / "result.json").is_file()


def test_report_only_rewrites_the_report_and_needs_no_data(study, tmp_path):
    out, _, report = study
    assert reproduce.main(["--report_only", "--output_dir", str(out)]) == report
    # Without the task files (another machine): the same tables, less the constant-guess losses that need them.
    glue = out.parent / "glue"
    (out / "data").rename(tmp_path / "data")
    glue.rename(tmp_path / "glue")
    try:
        moved = reproduce.main(["--report_only", "--output_dir", str(out)])
    finally:
        (tmp_path / "data").rename(out / "data")
        (tmp_path / "glue").rename(glue)
    guess_row = next(line for line in moved.splitlines() if line.startswith("| a constant guess"))
    assert guess_row == "| a constant guess | - | - |"
    assert [line for line in moved.splitlines() if "constant guess" not in line] == [
        line for line in report.splitlines() if "constant guess" not in line
    ]
    with pytest.raises(FileNotFoundError, match="no study there"):
        reproduce.main(["--report_only", "--output_dir", str(tmp_path / "nowhere")])


def test_resuming_with_other_data_or_sizes_is_refused(study, tmp_path):
    out, argv, _ = study
    other = list(argv)
    other[other.index("--glue_dir") + 1] = str(tmp_path)
    with pytest.raises(ValueError, match="holds a study made with another glue_dir"):
        reproduce.main(other)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give the pre-training text"),
        (["--corpus", "nowhere/*.txt"], "--corpus nowhere/*.txt: no such file"),
        (["--dataset_name", "x", "--glue_dir", "nowhere"], "--glue_dir nowhere: no such folder"),
        (["--dataset_name", "x", "--tasks", "rocstories"], "no task left"),
    ],
)
def test_user_errors_are_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        reproduce.cli(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1]


def test_a_corpus_without_text_is_one_line(tmp_path, capsys):
    """An empty corpus failed in pre-training with a traceback from the validation split's train_test_split."""
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(SystemExit) as exit_info:
        reproduce.cli(
            ["--corpus", str(tmp_path / "empty.txt"), "--scale", "quick", "--output_dir", str(tmp_path / "o")]
        )
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert f"--corpus {tmp_path / 'empty.txt'}: the files hold no text" in err[-1]
