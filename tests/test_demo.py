"""The main job's fast path: pre-training, the four fine-tuning transformations, the table, Hub-ready folders."""

import argparse
import contextlib
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
import yaml
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import demo  # noqa: E402
import demo_data  # noqa: E402
from without_package import load_without_package  # noqa: E402


DEMO_TASKS = ("word_order", "next_sentence", "same_module", "true_ending")


@pytest.fixture(scope="module")
def demo_console(tmp_path_factory):
    """The quick demo, run where the README's code expects it (`outputs/demo` under a working folder): the output
    folder, the results, and what it printed on stdout and stderr."""
    out = tmp_path_factory.mktemp("workdir") / "outputs" / "demo"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        results = demo.main(["--quick", "--output_dir", str(out)])
    sys.stdout.write(stdout.getvalue())
    sys.stderr.write(stderr.getvalue())
    return out, results, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def demo_run(demo_console):
    out, results, _, _ = demo_console
    return out, results


def front_matter(card: Path) -> dict:
    _, metadata, _ = card.read_text().split("---", 2)
    return yaml.safe_load(metadata)


def test_demo_prints_the_table_of_all_four_transformations(demo_run, capsys):
    out, results = demo_run
    rows = {row["task"]: row for row in results["finetuning"]}
    assert set(rows) == set(DEMO_TASKS)
    assert {row["transformation"] for row in rows.values()} == {
        "classification",
        "entailment",
        "similarity",
        "multiple_choice",
    }
    seeds = demo.SETTINGS["quick"]["seeds"]
    for row in rows.values():
        for start in ("pre-trained", "untrained"):
            scores = row[f"{start} scores"]
            assert len(scores) == len(seeds) and all(-1.0 <= score <= 1.0 for score in scores)
            assert row[start] == pytest.approx(np.mean(scores))
            assert row[f"{start} std"] == pytest.approx(np.std(scores, ddof=1))
        labels = demo.load_task_dataset(row["format"], out / "data" / row["task"], splits=["validation"])
        assert row["constant predictor"] == demo.constant_baseline(row["format"], labels["validation"]["label"])
    saved = json.loads((out / "demo_results.json").read_text())
    assert saved["finetuning"] == results["finetuning"]
    assert results["pretraining"]["eval_perplexity"] == pytest.approx(
        torch.exp(torch.tensor(results["pretraining"]["eval_loss"])).item(), rel=1e-4
    )


def card_metrics(metadata: dict) -> dict:
    [entry] = metadata["model-index"]
    return {metric["type"]: metric["value"] for result in entry["results"] for metric in result["metrics"]}


def test_the_cards_name_the_demo_data_and_hold_the_runs_numbers(demo_run):
    out, results = demo_run
    metadata = front_matter(out / "gpt1-pretrained" / "README.md")
    assert metadata["library_name"] == "transformers"
    assert metadata["pipeline_tag"] == "text-generation"
    assert metadata["datasets"] == [demo.STDLIB_DATASET]
    assert metadata["model-index"][0]["name"] == "gpt1-demo"
    assert card_metrics(metadata)["perplexity"] == pytest.approx(results["pretraining"]["eval_perplexity"])

    for row in results["finetuning"]:
        for start, suffix in (("pre-trained", ""), ("untrained", "-untrained")):
            metadata = front_matter(out / f"{row['task']}-from-{start}" / "README.md")
            pipeline_tag = "multiple-choice" if row["transformation"] == "multiple_choice" else "text-classification"
            assert metadata["pipeline_tag"] == pipeline_tag
            assert metadata["datasets"] == [row["task"]]
            assert metadata["model-index"][0]["name"] == f"gpt1-demo-{row['task']}{suffix}"
            # The Hub-ready folder is the first seed's run; the table gives the mean over the seeds.
            assert card_metrics(metadata)[row["metric"]] == pytest.approx(row[f"{start} scores"][0])


@pytest.mark.parametrize(
    "auto_class, folder",
    [
        ("AutoModelForCausalLM", "gpt1-pretrained"),
        ("AutoModelForSequenceClassification", "word_order-from-pre-trained"),
    ],
)
def test_the_folders_load_with_trust_remote_code_without_the_package(demo_run, tmp_path, auto_class, folder):
    out, _ = demo_run
    folder = out / folder
    model = getattr(transformers, auto_class).from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    input_ids = tokenizer(["returns the value of the key", "open a file"], padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = {"input_ids": input_ids["input_ids"], "logits": model(input_ids["input_ids"]).logits}
    _, name = load_without_package(auto_class, folder, expected["input_ids"], expected["logits"], tmp_path)
    assert name == type(model).__name__


def test_both_pipelines_run_on_the_produced_models(demo_run):
    out, _ = demo_run
    generator = pipeline("text-generation", model=str(out / "gpt1-pretrained"))
    [generated] = generator("return the ", max_new_tokens=5, do_sample=False)
    assert generated["generated_text"].startswith("return the ")
    assert len(generated["generated_text"]) > len("return the ")

    folder = out / "word_order-from-pre-trained"
    classifier = pipeline("text-classification", model=str(folder))
    seen = []
    classifier.model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["input_ids"]), with_kwargs=True
    )
    [prediction] = classifier("return the value of the key")
    assert prediction["label"] in AutoModelForSequenceClassification.from_pretrained(folder).config.label2id
    tokenizer = classifier.tokenizer
    assert seen[0][0, 0].item() == tokenizer.start_token_id
    assert seen[0][0, -1].item() == tokenizer.extract_token_id


def test_each_stage_is_announced_and_training_shows_a_progress_bar(demo_console):
    _, _, stdout, stderr = demo_console
    headings = re.findall(r"^===== (Stage \d/4: .*) =====$", stdout, flags=re.MULTILINE)
    runs = 2 * len(DEMO_TASKS) * len(demo.SETTINGS["quick"]["seeds"])
    assert [h.split(":")[0] for h in headings] == ["Stage 1/4", "Stage 2/4", *["Stage 3/4"] * runs, "Stage 4/4"]
    assert (
        f"fine-tuning word_order (classification) from the pre-trained model, seed 0, run 1 of {runs}" in headings[2]
    )
    # The table gives each start's mean ± standard deviation and the constant predictor's score.
    assert re.search(
        r"word_order \(classification, matthews_correlation\) +\| -?[\d.]+ ± [\d.]+ pre-trained \| "
        r"-?[\d.]+ ± [\d.]+ untrained \| 0.000 constant",
        stdout,
    )
    steps = demo.SETTINGS["quick"]["pretrain_steps"]
    assert re.search(rf"\b{steps}/{steps} \[\d\d:\d\d<\d\d:\d\d", stderr)  # Trainer's bar: steps, elapsed<ETA


# ---------------------------------------------------------------------------------------------------------
# The READMEs' Python code runs as written against the demo's outputs.


def python_blocks(readme: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", (ROOT / readme).read_text(), flags=re.MULTILINE | re.DOTALL)


README_BLOCKS = [
    pytest.param(readme, index, id=f"{readme}-{index}")
    for readme in ("README.md", "examples/README.md")
    for index in range(len(python_blocks(readme)))
]


def test_the_readmes_have_python_code():
    assert len(python_blocks("README.md")) >= 2 and len(python_blocks("examples/README.md")) >= 2


@pytest.mark.parametrize("readme, index", README_BLOCKS)
def test_readme_python_code_runs_against_the_demo_outputs(demo_run, readme, index, monkeypatch, capsys):
    out, _ = demo_run
    monkeypatch.chdir(out.parents[1])  # the folder holding outputs/demo
    code = python_blocks(readme)[index]
    exec(compile(code, f"{readme} python block {index}", "exec"), {"__name__": "__readme__"})


def test_paper_tasks_are_fine_tuned_on_as_many_examples_as_the_demos_own_unless_told(monkeypatch):
    calls = []
    monkeypatch.setattr(demo.finetune, "main", lambda argv: calls.append(argv) or {})

    def limit(max_train_examples, task=("sst2",)):
        args = argparse.Namespace(task=task, max_train_examples=max_train_examples, aux_lm_coef=0.5, seed=0)
        demo.finetune_model(args, demo.SETTINGS["default"], "sst2", None, Path("model"), Path("out"), [])
        argv = calls[-1]
        return argv[argv.index("--max_train_samples") + 1] if "--max_train_samples" in argv else None

    assert limit(None) == str(demo.SETTINGS["default"]["n_train"])  # 600, not SST-2's 67,349 rows
    assert limit(5000) == "5000"
    assert limit(0) is None  # all of them
    assert limit(None, task=None) is None  # the demo's own tasks are made at their size
    with pytest.raises(SystemExit) as error:
        demo.main(["--task", "sst2", "--max_train_examples", "-1"])
    assert error.value.code == 2


def test_a_byte_order_mark_does_not_hide_a_modules_docstrings(tmp_path):
    (tmp_path / "marked.py").write_text('\ufeff"""Return the path of the file for this module."""\n', encoding="utf-8")
    [document] = demo_data.stdlib_documents(str(tmp_path))
    assert document["paragraphs"] == ["Return the path of the file for this module."]
