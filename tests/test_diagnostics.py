"""The collapse check: a tiny model whose last block outputs the same state for every input is called collapsed,
with a warning that says what to change; a random model is not."""

import math

import pytest
import torch
from conftest import make_lm
from transformers import TrainerControl, TrainerState, TrainingArguments

from modeling_gpt1.diagnostics import COLLAPSE_THRESHOLD, CollapseCallback, hidden_state_spread
from modeling_gpt1.tokenization_gpt1 import train_gpt1_tokenizer


def token_rows(n: int = 6, length: int = 12, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 95, (n, length), generator=torch.Generator().manual_seed(seed))


def collapse(model):
    """Zero the gain of the last block's final LayerNorm: every output is then its bias, whatever the input."""
    with torch.no_grad():
        model.transformer.h[-1].ln_2.weight.zero_()
        model.transformer.h[-1].ln_2.bias.normal_()
    return model


def test_a_random_model_is_not_collapsed():
    report = hidden_state_spread(make_lm(), token_rows())
    assert not report.collapsed and report.warning is None
    assert 0.3 < report.spread < 1.0
    assert len(report.layer_spreads) == 3  # embeddings, block 1, block 2
    assert report.n_texts == 6 and report.n_tokens == 12
    assert report.distinct_predictions > 1


def test_a_model_whose_last_states_are_equal_is_collapsed_and_warned_about():
    model = collapse(make_lm())
    report = hidden_state_spread(model, token_rows(), learning_rate=6e-4, warmup_steps=30)
    assert report.collapsed and report.spread < 1e-6 < COLLAPSE_THRESHOLD
    assert report.layer_spreads[1] > COLLAPSE_THRESHOLD  # block 1 still reads the input
    assert report.distinct_predictions == 1 and len(set(report.top_tokens)) == 1
    warning = report.warning
    for words in ("collapsed", "same hidden states", "warm-up", "--warmup_steps", "--learning_rate",
                  "learning rate 0.0006, 30 warm-up steps", "its last block", "perplexity"):  # fmt: skip
        assert words in warning


def test_texts_are_compared_with_a_tokenizer_and_predictions_shown_as_tokens():
    texts = ["the cat sat on the mat", "a dog ran in the park today", "rain fell all night long"]
    tokenizer = train_gpt1_tokenizer(iter(texts * 3), vocab_size=40, min_frequency=1, show_progress=False)
    model = collapse(make_lm(vocab_size=len(tokenizer)))
    report = hidden_state_spread(model, texts, tokenizer)
    assert report.collapsed
    assert all(isinstance(token, str) for token in report.top_tokens)
    assert repr(report.top_tokens[0]) in report.warning
    with pytest.raises(ValueError, match="need a tokenizer"):
        hidden_state_spread(model, texts)
    with pytest.raises(ValueError, match="at least two inputs"):
        hidden_state_spread(model, texts[:1], tokenizer)


def test_the_check_restores_training_mode_and_ignores_dropout():
    model = make_lm(resid_pdrop=0.5, embd_pdrop=0.5).train()
    first, second = hidden_state_spread(model, token_rows()), hidden_state_spread(model, token_rows())
    assert first.spread == second.spread and model.training


def test_the_callback_adds_perplexity_and_spread_to_evaluation_logs(tmp_path, caplog):
    model = collapse(make_lm())
    callback = CollapseCallback(token_rows())
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=6e-4, warmup_steps=30, report_to="none")
    state = TrainerState()
    state.global_step = 40
    logs = {"eval_loss": 2.0}
    state.log_history.append({**logs, "step": 40})
    with caplog.at_level("WARNING"):
        callback.on_log(args, state, TrainerControl(), logs=logs, model=model)
    assert logs["eval_perplexity"] == pytest.approx(math.exp(2.0))
    assert logs["eval_hidden_spread"] < 1e-6
    assert state.log_history[-1]["eval_hidden_spread"] == logs["eval_hidden_spread"]
    assert "Step 40: The model has collapsed" in caplog.text and "learning rate 0.0006" in caplog.text
    assert callback.last_report.collapsed

    training_logs = {"loss": 3.0}
    callback.on_log(args, state, TrainerControl(), logs=training_logs, model=model)
    assert training_logs == {"loss": 3.0} and len(callback.reports) == 1  # only evaluations are checked
