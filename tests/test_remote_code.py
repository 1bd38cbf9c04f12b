"""A saved folder is self-contained: it loads with `trust_remote_code=True` where this package is not installed."""

import json
from pathlib import Path

import torch
from without_package import load_without_package

import modeling_gpt1


def test_save_pretrained_writes_auto_map_and_copies_the_code(model, tmp_path):
    model.save_pretrained(tmp_path)
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert auto_map["AutoConfig"] == "configuration_gpt1.GPT1Config"
    assert auto_map["AutoModelForCausalLM"] == "modeling_gpt1.GPT1LMHeadModel"
    for module in (modeling_gpt1.configuration_gpt1, modeling_gpt1.modeling_gpt1):
        copied = tmp_path / Path(module.__file__).name
        assert copied.read_text() == Path(module.__file__).read_text()


def test_saved_backbone_maps_auto_model(model, tmp_path):
    model.transformer.save_pretrained(tmp_path)
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert auto_map["AutoModel"] == "modeling_gpt1.GPT1Model"


def test_folder_loads_with_trust_remote_code_without_the_package(model, input_ids, tmp_path):
    folder = tmp_path / "gpt1"
    model.save_pretrained(folder)
    with torch.no_grad():
        logits = model(input_ids).logits
    module, name = load_without_package("AutoModelForCausalLM", folder, input_ids, logits, tmp_path)
    assert name == "GPT1LMHeadModel"
    assert module.startswith("transformers_modules."), f"loaded from {module}, not from the folder's copy"


def test_a_language_model_folder_maps_every_auto_class(model, tmp_path):
    """The folder's auto_map names every head of the copied file: the LM's folder also gives a backbone, a classifier
    or a multiple-choice model with trust_remote_code (the subprocess test above shows the copied file loads)."""
    model.save_pretrained(tmp_path)
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    copied = (tmp_path / "modeling_gpt1.py").read_text()
    for auto_class, model_class in (
        ("AutoModel", "GPT1Model"),
        ("AutoModelForCausalLM", "GPT1LMHeadModel"),
        ("AutoModelForSequenceClassification", "GPT1ForSequenceClassification"),
        ("AutoModelForMultipleChoice", "GPT1ForMultipleChoice"),
    ):
        assert auto_map[auto_class] == f"modeling_gpt1.{model_class}"
        assert f"class {model_class}(" in copied
