"""GLUE-style metrics for the GPT-1 tasks: accuracy, F1, Matthews correlation, Pearson and Spearman.

An `evaluate` metric module, loaded from this file (``evaluate.load(path, config_name)``) so that it works
offline. One config per task, with the GLUE benchmark's definitions (scikit-learn and SciPy):

- ``cola``: Matthews correlation;
- ``stsb``: Pearson and Spearman correlation (predictions and references are floats);
- ``mrpc``, ``qqp``: accuracy and binary F1 (positive class 1);
- every other task: accuracy.

Degenerate inputs give defined values rather than crashes: Matthews correlation of constant predictions is
0 (scikit-learn's convention); F1 with no positive prediction and no positive reference is 0; Pearson and
Spearman correlation with a constant predictions or references vector is undefined and returned as NaN.
"""

import datasets
import evaluate
import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef


_ACCURACY_TASKS = (
    "sst2",
    "mnli",
    "mnli_matched",
    "mnli_mismatched",
    "qnli",
    "rte",
    "wnli",
    "hans",
    "snli",
    "scitail",
    "rocstories",
    "race",
    "race_middle",
    "race_high",
)
METRIC_NAMES = {
    "cola": ("matthews_correlation",),
    "stsb": ("pearson", "spearmanr"),
    "mrpc": ("accuracy", "f1"),
    "qqp": ("accuracy", "f1"),
    **dict.fromkeys(_ACCURACY_TASKS, ("accuracy",)),
}

_DESCRIPTION = __doc__

_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted class ids (ints), or scores (floats) for ``stsb``.
    references: gold class ids (ints), or gold scores (floats) for ``stsb``.
Returns: a dict with the config's metrics (see `METRIC_NAMES`), each a float.
Examples:
    >>> metric = load_metric("mrpc")  # modeling_gpt1.metrics.load_metric
    >>> metric.compute(predictions=[1, 0, 1], references=[1, 1, 1])
    {'accuracy': 0.6666666666666666, 'f1': 0.8}
"""

_CITATION = """
@inproceedings{wang2019glue,
  title={{GLUE}: A Multi-Task Benchmark and Analysis Platform for Natural Language Understanding},
  author={Wang, Alex and Singh, Amanpreet and Michael, Julian and Hill, Felix and Levy, Omer and Bowman, Samuel R.},
  booktitle={International Conference on Learning Representations},
  year={2019}
}
"""


def accuracy(predictions, references) -> float:
    return float((predictions == references).mean())


def f1(predictions, references) -> float:
    return float(f1_score(references, predictions, zero_division=0.0))


def matthews_correlation(predictions, references) -> float:
    return float(matthews_corrcoef(references, predictions))


def pearson(predictions, references) -> float:
    return _correlation(pearsonr, predictions, references)


def spearman(predictions, references) -> float:
    return _correlation(spearmanr, predictions, references)


def _correlation(correlate, predictions, references) -> float:
    """NaN when either vector is constant: the correlation is undefined there (SciPy warns and gives NaN)."""
    if np.ptp(predictions) == 0 or np.ptp(references) == 0:
        return float("nan")
    return float(correlate(predictions, references)[0])


_METRIC_FUNCTIONS = {
    "accuracy": accuracy,
    "f1": f1,
    "matthews_correlation": matthews_correlation,
    "pearson": pearson,
    "spearmanr": spearman,
}


class Glue(evaluate.Metric):
    def _info(self):
        if self.config_name not in METRIC_NAMES:
            raise ValueError(
                f"unknown config {self.config_name!r} for the GLUE-style metric; choose one of {sorted(METRIC_NAMES)}"
            )
        dtype = "float64" if self.config_name == "stsb" else "int64"
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value(dtype), "references": datasets.Value(dtype)}),
            format="numpy",
        )

    def _compute(self, predictions, references):
        if len(predictions) == 0:
            raise ValueError("no predictions to score")
        return {name: _METRIC_FUNCTIONS[name](predictions, references) for name in METRIC_NAMES[self.config_name]}
