"""The main job's fast path: pre-training, the four fine-tuning transformations, the table, Hub-ready folders."""

import json
import sys
from pathlib import Path

import pytest
import torch
import transformers
import yaml
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import demo  # noqa: E402
from without_package import load_without_package  # noqa: E402


DEMO_TASKS = ("word_order", "next_sentence", "same_module", "true_ending")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    results = demo.main(["--quick", "--output_dir", str(out)])
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
    for row in rows.values():
        for start in ("pre-trained", "untrained"):
            assert -1.0 <= row[start] <= 1.0
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
            assert card_metrics(metadata)[row["metric"]] == pytest.approx(row[start])


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
