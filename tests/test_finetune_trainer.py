"""Fine-tuning with `transformers.Trainer`: GPT's input layouts, the collator, the auxiliary-LM wrapper and its
logging callback, on tiny synthetic tasks of every family that a few dozen steps can learn."""

import numpy as np
import pytest
import torch
from conftest import make_config
from transformers import AutoModelForMultipleChoice, AutoModelForSequenceClassification, Trainer, TrainerCallback

from modeling_gpt1 import (
    AuxiliaryLossCallback,
    GPT1DataCollator,
    GPT1ForMultipleChoice,
    GPT1ForSequenceClassification,
    GPT1ForSimilarity,
    GPT1WithAuxiliaryLM,
    SpecialTokenIds,
    add_auxiliary_loss_logging,
    finetuning_args,
    transforms,
)


VOCAB = 60
RANGES = (range(0, 6), range(6, 12))  # the label decides which range the text comes from

# family -> (head class, num_labels, Auto class that reloads it)
FAMILIES = {
    "classification": (GPT1ForSequenceClassification, 2, AutoModelForSequenceClassification),
    "entailment": (GPT1ForSequenceClassification, 2, AutoModelForSequenceClassification),
    "similarity": (GPT1ForSimilarity, 1, AutoModelForSequenceClassification),
    "multiple_choice": (GPT1ForMultipleChoice, 3, AutoModelForMultipleChoice),
}


def task_examples(family, special, n=32, seed=0):
    """`n` labelled features laid out for `family`:
    - classification: the text comes from the label's token range;
    - entailment: a random premise, a hypothesis from the label's range;
    - similarity (regression, 0.0 or 1.0): both sentences from the range of the score;
    - multiple choice (3 answers): the right answer from the upper range, the others from the lower one.
    """
    generator = torch.Generator().manual_seed(seed)

    def text(token_range, low=2, high=7):
        length = int(torch.randint(low, high, (1,), generator=generator))
        return torch.randint(token_range.start, token_range.stop, (length,), generator=generator).tolist()

    anything = range(0, 56)
    examples = []
    for i in range(n):
        label = i % 2
        if family == "classification":
            ids = transforms.classification(text(RANGES[label]), special, 64)
        elif family == "entailment":
            ids = transforms.entailment(text(anything), text(RANGES[label]), special, 64)
        elif family == "similarity":
            ids = transforms.similarity(text(RANGES[label]), text(RANGES[label]), special, 64)
            label = float(label)
        else:
            label = i % 3
            answers = [text(RANGES[k == label], 1, 4) for k in range(3)]
            ids = transforms.multiple_choice(text(anything), answers, special, 64)
        examples.append({"input_ids": ids, "labels": label})
    return examples


def tiny_config(num_labels=2, dropout=0.1):
    return make_config(
        vocab_size=VOCAB,
        num_labels=num_labels,
        initializer_range=0.02,
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
        classifier_dropout=dropout,
    )


def training_args(output_dir, **overrides):
    """The paper's fine-tuning arguments, scaled down to a few CPU steps on tiny batches."""
    options = dict(
        learning_rate=1e-2,
        per_device_train_batch_size=8,
        max_steps=12,
        logging_steps=3,
        warmup_steps=0,
        save_strategy="no",
        seed=0,
        data_seed=0,
        use_cpu=True,
        report_to=[],
        disable_tqdm=True,
    )
    return finetuning_args(str(output_dir), **{**options, **overrides})


def make_trainer(family, output_dir, dropout=0.1, seed=0, aux_lm_coef=0.5, **overrides):
    head_class, num_labels, _ = FAMILIES[family]
    config = tiny_config(num_labels, dropout)
    torch.manual_seed(seed)
    head = head_class(config)
    model = GPT1WithAuxiliaryLM(head, aux_lm_coef=aux_lm_coef) if aux_lm_coef is not None else head
    return Trainer(
        model=model,
        args=training_args(output_dir, **overrides),
        train_dataset=task_examples(family, SpecialTokenIds.from_config(config)),
        data_collator=GPT1DataCollator.from_config(config),
        callbacks=[AuxiliaryLossCallback()],
    )


def held_out_examples(family, config):
    return task_examples(family, SpecialTokenIds.from_config(config), n=6, seed=1)


def training_logs(trainer):
    return [entry for entry in trainer.state.log_history if "loss" in entry]


def logged_losses(trainer):
    return [entry["loss"] for entry in training_logs(trainer)]


def assert_same_weights(trainer, reference):
    expected, got = reference.model.state_dict(), trainer.model.state_dict()
    assert got.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], msg=key)


@pytest.fixture(scope="module", params=list(FAMILIES))
def run(request, tmp_path_factory):
    """One short training run per family; the trained model is saved with `trainer.save_model`."""
    family = request.param
    output_dir = tmp_path_factory.mktemp(family)
    trainer = make_trainer(family, output_dir / "run")
    trainer.train()
    trainer.save_model(output_dir / "final")
    return family, trainer, output_dir / "final"


# ---------------------------------------------------------------------------------------------------------------
# Training runs per family
# ---------------------------------------------------------------------------------------------------------------


def test_training_loss_goes_down(run):
    _, trainer, _ = run
    logs = training_logs(trainer)
    assert len(logs) == 4
    assert logs[-1]["loss"] < logs[0]["loss"]
    assert logs[-1]["task_loss"] < logs[0]["task_loss"]
    assert logs[-1]["lm_loss"] < logs[0]["lm_loss"]


def test_log_history_holds_both_parts_of_the_loss(run):
    _, trainer, _ = run
    for entry in training_logs(trainer):
        assert entry["task_loss"] > 0 and entry["lm_loss"] > 0
        # The logged loss is the mean of task_loss + 0.5 * lm_loss over the same steps.
        assert entry["loss"] == pytest.approx(entry["task_loss"] + 0.5 * entry["lm_loss"], rel=1e-4)


def test_saved_model_reloads_through_the_auto_classes(run):
    family, trainer, saved = run
    head_class, _, auto_class = FAMILIES[family]
    wrapper = trainer.model.eval()
    reloaded = auto_class.from_pretrained(saved).eval()
    assert reloaded.config.architectures == [head_class.__name__]
    batch = GPT1DataCollator.from_config(wrapper.config)(held_out_examples(family, wrapper.config))
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, wrapper(**batch).logits)


def test_prediction_through_the_wrapper_is_the_heads(run, tmp_path):
    """`Trainer.predict` gives the head's logits as predictions and the task labels as label ids, as it would for the
    plain head, so a task's `compute_metrics` works whether or not the auxiliary loss is on."""
    family, trainer, _ = run
    config = trainer.model.config
    examples = held_out_examples(family, config)
    wrapped = trainer.predict(examples)
    plain = Trainer(
        model=trainer.model.head,
        args=training_args(tmp_path),
        data_collator=GPT1DataCollator.from_config(config),
    ).predict(examples)
    assert isinstance(wrapped.predictions, np.ndarray)
    np.testing.assert_allclose(wrapped.predictions, plain.predictions, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(wrapped.label_ids, plain.label_ids)
    np.testing.assert_array_equal(wrapped.label_ids, [example["labels"] for example in examples])


@pytest.mark.parametrize("return_lm_labels", [True, False])
def test_evaluation_loss_is_the_combined_loss(run, tmp_path, return_lm_labels):
    """With or without `lm_labels` in the batch (the wrapper then derives them from the attention mask)."""
    family, trainer, _ = run
    model, config = trainer.model.eval(), trainer.model.config
    examples = held_out_examples(family, config)
    collate = GPT1DataCollator.from_config(config, return_lm_labels=return_lm_labels)
    evaluator = Trainer(model=model, args=training_args(tmp_path, per_device_eval_batch_size=8), data_collator=collate)
    metrics = evaluator.evaluate(examples)
    with torch.no_grad():
        expected = model(**collate(examples)).loss
    assert metrics["eval_loss"] == pytest.approx(expected.item(), rel=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# Resuming, gradient accumulation, gradient checkpointing, logging order
# ---------------------------------------------------------------------------------------------------------------


def test_resuming_from_a_checkpoint_reaches_the_same_weights(tmp_path):
    """Dropout stays on: Trainer restores the random state with the optimizer and scheduler."""
    options = dict(max_steps=4, save_strategy="steps", save_steps=2)
    uninterrupted = make_trainer("classification", tmp_path / "full", **options)
    uninterrupted.train()
    checkpoint = tmp_path / "full" / "checkpoint-2"
    assert (checkpoint / "model.safetensors").is_file()

    resumed = make_trainer("classification", tmp_path / "resumed", seed=1, **options)  # other initial weights
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert resumed.state.global_step == 4
    assert_same_weights(resumed, uninterrupted)


@pytest.mark.parametrize("aux_lm_coef", [0.5, None], ids=["auxiliary", "plain_head"])
def test_gradient_accumulation_matches_one_large_batch(tmp_path, aux_lm_coef):
    """Two accumulated batches of 4 are one batch of 8: the same logged loss and, with plain SGD (which, unlike Adam,
    would show a scaled gradient), the same weights."""
    options = dict(
        dropout=0.0,
        aux_lm_coef=aux_lm_coef,
        max_steps=3,
        logging_steps=1,
        optim="sgd",
        learning_rate=0.1,
        max_grad_norm=0.0,
    )
    large = make_trainer("classification", tmp_path / "large", per_device_train_batch_size=8, **options)
    accumulated = make_trainer(
        "classification",
        tmp_path / "accumulated",
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        **options,
    )
    large.train()
    accumulated.train()
    assert logged_losses(accumulated) == pytest.approx(logged_losses(large), rel=1e-5)
    assert_same_weights(accumulated, large)


def test_activation_checkpointing_gives_the_same_training(tmp_path):
    options = dict(dropout=0.0, max_steps=2, logging_steps=1)
    plain = make_trainer("classification", tmp_path / "plain", **options)
    checkpointed = make_trainer("classification", tmp_path / "checkpointed", activation_checkpointing=True, **options)
    plain.train()
    checkpointed.train()
    assert any(getattr(module, "gradient_checkpointing", False) for module in checkpointed.model.modules())
    assert logged_losses(checkpointed) == pytest.approx(logged_losses(plain), rel=1e-5)
    assert_same_weights(checkpointed, plain)


class RecordLogs(TrainerCallback):
    def __init__(self):
        self.logs = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.append(dict(logs))


def test_add_auxiliary_loss_logging_reaches_every_logger(tmp_path):
    trainer = make_trainer("classification", tmp_path, max_steps=2, logging_steps=1)
    trainer.remove_callback(AuxiliaryLossCallback)
    recorder = RecordLogs()
    trainer.add_callback(recorder)
    callback = add_auxiliary_loss_logging(trainer)
    assert trainer.callback_handler.callbacks[0] is callback
    trainer.train()
    training = [logs for logs in recorder.logs if "loss" in logs]
    assert len(training) == 2
    assert all({"task_loss", "lm_loss"} <= logs.keys() for logs in training)
