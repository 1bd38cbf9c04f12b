"""A saved folder is self-contained: it loads with `trust_remote_code=True` where this package is not installed."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

import modeling_gpt1

# Run in a fresh interpreter: a meta-path finder placed first refuses `modeling_gpt1` (however it is installed), so
# the model can only come from the code copied into the folder.
CHILD = textwrap.dedent(
    """
    import importlib.abc
    import sys

    class HidePackage(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "modeling_gpt1" or name.startswith("modeling_gpt1."):
                raise ModuleNotFoundError(f"No module named {name!r} (hidden for this test)")
            return None

    sys.meta_path.insert(0, HidePackage())

    try:
        import modeling_gpt1  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        sys.exit("modeling_gpt1 is importable: the test would not show that the folder is self-contained")

    import torch
    from transformers import AutoModelForCausalLM

    folder = sys.argv[1]
    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True).eval()
    expected = torch.load(f"{folder}/expected.pt")
    with torch.no_grad():
        logits = model(expected["input_ids"]).logits
    torch.testing.assert_close(logits, expected["logits"], atol=0, rtol=0)
    print(type(model).__module__, type(model).__name__)
    """
)


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
        torch.save({"input_ids": input_ids, "logits": model(input_ids).logits}, folder / "expected.pt")
    (tmp_path / "child.py").write_text(CHILD)

    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf_home"),  # the dynamic-module cache goes here, not in the user's home
        "PYTHONPATH": "",
    }
    result = subprocess.run(
        [sys.executable, str(tmp_path / "child.py"), str(folder)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    module, name = result.stdout.split()[-2:]
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
