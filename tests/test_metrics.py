"""The shipped `evaluate` metric module: GLUE's definitions checked against values worked out by hand."""

import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import evaluate
import evaluate.loading
import pytest

from modeling_gpt1.metrics import load_metric, metric_path


def compute(config, predictions, references):
    return load_metric(config).compute(predictions=predictions, references=references)


def test_accuracy():
    # 3 of 5 right.
    assert compute("sst2", [0, 1, 1, 0, 1], [0, 1, 0, 0, 0]) == {"accuracy": 0.6}


def test_accuracy_and_binary_f1_on_class_1():
    # TP 2, FP 1, FN 0: F1 = 2*2 / (2*2 + 1 + 0) = 0.8 (class 0 would give 2/3).
    for config in ("mrpc", "qqp"):
        assert compute(config, [1, 1, 1, 0], [1, 0, 1, 0]) == pytest.approx({"accuracy": 0.75, "f1": 0.8})


def test_f1_without_any_positive_is_zero():
    assert compute("mrpc", [0, 0, 0], [0, 0, 0]) == {"accuracy": 1.0, "f1": 0.0}


def test_matthews_correlation():
    # TP 2, TN 1, FP 1, FN 0: (2*1 - 1*0) / sqrt(3 * 2 * 2 * 1) = 1 / sqrt(3).
    result = compute("cola", [1, 1, 1, 0], [1, 0, 1, 0])
    assert result == {"matthews_correlation": pytest.approx(1 / math.sqrt(3))}


@pytest.mark.parametrize("predictions, references", [([1, 1, 1, 1], [1, 0, 1, 0]), ([0, 1, 0, 1], [1, 1, 1, 1])])
def test_matthews_correlation_is_zero_for_constant_vectors(predictions, references):
    assert compute("cola", predictions, references) == {"matthews_correlation": 0.0}


def test_pearson_and_spearman():
    # x - mean = (-1, 0, 1), y - mean = (-1, 1, 0): covariance 1, both norms sqrt(2), so r = 1/2.
    # The ranks are the values themselves, so Spearman is 1/2 too.
    assert compute("stsb", [1.0, 2.0, 3.0], [1.0, 3.0, 2.0]) == pytest.approx({"pearson": 0.5, "spearmanr": 0.5})


def test_spearman_averages_tied_ranks():
    # Ranks of x: (1, 2.5, 2.5, 4); centred (-1.5, 0, 0, 1.5) against (-1.5, -0.5, 0.5, 1.5): 4.5 / sqrt(4.5 * 5).
    result = compute("stsb", [1.0, 2.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0])
    assert result["spearmanr"] == pytest.approx(3 / math.sqrt(10))


def test_perfect_correlations():
    linear = compute("stsb", [0.0, 1.0, 2.0, 3.0], [1.0, 3.0, 5.0, 7.0])
    assert linear == pytest.approx({"pearson": 1.0, "spearmanr": 1.0})
    reversed_order = compute("stsb", [0.0, 1.0, 2.0, 3.0], [3.0, 2.0, 1.0, 0.0])
    assert reversed_order == pytest.approx({"pearson": -1.0, "spearmanr": -1.0})
    # Monotone but not linear: Spearman is perfect, Pearson is not.
    cubic = compute("stsb", [1.0, 2.0, 3.0, 4.0], [1.0, 8.0, 27.0, 64.0])
    assert cubic["spearmanr"] == pytest.approx(1.0) and cubic["pearson"] < 0.99


def test_correlation_of_a_constant_vector_is_nan():
    for predictions, references in (([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]), ([1.0, 2.0, 3.0], [4.0, 4.0, 4.0])):
        result = compute("stsb", predictions, references)
        assert math.isnan(result["pearson"]) and math.isnan(result["spearmanr"])


@pytest.mark.parametrize(
    "config, names",
    [
        ("cola", {"matthews_correlation"}),
        ("stsb", {"pearson", "spearmanr"}),
        ("qqp", {"accuracy", "f1"}),
        ("mnli_matched", {"accuracy"}),
        ("mnli_mismatched", {"accuracy"}),
        ("race", {"accuracy"}),
        ("rocstories", {"accuracy"}),
        ("scitail", {"accuracy"}),
    ],
)
def test_each_config_returns_its_metrics(config, names):
    predictions = [0.0, 1.0, 2.0] if config == "stsb" else [0, 1, 1]
    assert set(compute(config, predictions, [0, 1, 0])) == names


def test_unknown_config_and_empty_input_are_errors():
    with pytest.raises(ValueError, match="unknown config 'squad'.*sst2"):
        load_metric("squad")
    with pytest.raises(ValueError, match="no predictions"):
        compute("sst2", [], [])


def test_loads_from_the_folder_or_the_file():
    folder = Path(metric_path()).parent
    assert evaluate.load(str(folder), "rte").compute(predictions=[1, 0], references=[1, 1]) == {"accuracy": 0.5}
    assert evaluate.load(metric_path(), "rte").compute(predictions=[1, 1], references=[1, 1]) == {"accuracy": 1.0}


def test_load_opens_no_connection(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("loading the metric reached for the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(evaluate.loading, "HubEvaluationModuleFactory", refuse)
    assert compute("cola", [1, 0, 1], [1, 0, 1]) == {"matthews_correlation": 1.0}


@pytest.mark.slow
def test_loads_offline_in_a_fresh_process(tmp_path):
    """No cached copy and an unreachable Hub: the module must come from the file alone."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "HF_HOME": str(tmp_path / "hf_home"),
        "HF_MODULES_CACHE": str(tmp_path / "modules"),
    }
    script = (
        "import evaluate, sys; "
        "print(evaluate.load(sys.argv[1], 'cola').compute(predictions=[1, 0], references=[1, 0]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, metric_path()], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'matthews_correlation': 1.0}"
