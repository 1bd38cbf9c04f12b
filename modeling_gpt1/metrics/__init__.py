"""The project's `evaluate` metric module, loaded from the installed package so that it never needs the Hub."""

from pathlib import Path


def metric_path() -> str:
    """Absolute path of the GLUE-style metric script shipped with the package (``metrics/glue/glue.py``)."""
    return str(Path(__file__).resolve().parent / "glue" / "glue.py")


def load_metric(task_name: str, **load_kwargs):
    """``evaluate.load`` of the shipped metric with the config `task_name` (``"sst2"``, ``"mrpc"``, ``"stsb"``, ...).

    An absolute path to an existing ``.py`` file makes `evaluate.load` import that file directly, with no Hub
    lookup, so this works with ``HF_HUB_OFFLINE=1``. `load_kwargs` go to `evaluate.load` (e.g. ``keep_in_memory``).
    """
    import evaluate  # here, not at the top: it imports transformers' pipelines, slow for users of tasks.py alone

    return evaluate.load(metric_path(), task_name, **load_kwargs)


__all__ = ["load_metric", "metric_path"]
