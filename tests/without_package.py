"""Load a saved folder in a fresh interpreter where `modeling_gpt1` cannot be imported, as a user of the Hub does:
the model can only come from the code copied next to its weights (trust_remote_code=True)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch


CHILD = textwrap.dedent(
    """
    import importlib.abc
    import sys

    class HidePackage(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "modeling_gpt1":
                raise ModuleNotFoundError(f"No module named {name!r} (hidden for this test)")

    sys.meta_path.insert(0, HidePackage())
    try:
        import modeling_gpt1  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        sys.exit("modeling_gpt1 is importable: the test would not show that the folder is self-contained")

    import torch
    import transformers

    auto_class, folder, expected_file = sys.argv[1:]
    model = getattr(transformers, auto_class).from_pretrained(folder, trust_remote_code=True).eval()
    expected = torch.load(expected_file)
    with torch.no_grad():
        logits = model(expected["input_ids"]).logits
    torch.testing.assert_close(logits, expected["logits"], atol=0, rtol=0)
    print(type(model).__module__, type(model).__name__)
    """
)


def load_without_package(auto_class: str, folder: Path, input_ids, logits, workdir: Path) -> tuple[str, str]:
    """Load `folder` through `auto_class` in the fresh interpreter and check it gives exactly `logits` for
    `input_ids`; returns the loaded class's module and name."""
    torch.save({"input_ids": input_ids, "logits": logits}, workdir / "expected.pt")
    (workdir / "child.py").write_text(CHILD)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(workdir / "hf_home"),  # the dynamic-module cache goes here, not in the user's home
        "PYTHONPATH": "",
    }
    result = subprocess.run(
        [sys.executable, str(workdir / "child.py"), auto_class, str(folder), str(workdir / "expected.pt")],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    module, name = result.stdout.split()[-2:]
    return module, name
