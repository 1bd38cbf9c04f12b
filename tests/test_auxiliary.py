"""The auxiliary-LM wrapper: loss = task loss + lambda * per-sequence LM loss, computed from one decoder pass, with
the wrapped head's parameters, checkpoints and errors."""

import pytest
import torch
from conftest import make_config
from torch.nn import functional as F
from transformers import AutoModelForMultipleChoice, AutoModelForSequenceClassification

from modeling_gpt1 import (
    GPT1DataCollator,
    GPT1ForMultipleChoice,
    GPT1ForSequenceClassification,
    GPT1ForSimilarity,
    GPT1LMHeadModel,
    GPT1WithAuxiliaryLM,
    SpecialTokenIds,
    transforms,
)
from modeling_gpt1.auxiliary import sequence_lm_loss, sequence_lm_loss_from_states


VOCAB = 60


def make_head(head_class, seed=0, **overrides):
    torch.manual_seed(seed)
    return head_class(make_config(vocab_size=VOCAB, **overrides)).eval()


def tokens(n, seed):
    return torch.randint(0, VOCAB - 4, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def family_batch(config, family, return_lm_labels=False):
    """A labelled, right-padded batch of sequences of different lengths for one task family."""
    special = SpecialTokenIds.from_config(config)
    n = config.n_positions
    if family == "classification":
        examples = [transforms.classification(tokens(k, seed=k), special, n) for k in (2, 9, 5)]
        labels = [1, 0, 1]
    elif family == "similarity":
        examples = [transforms.similarity(tokens(a, a), tokens(b, 10 + b), special, n) for a, b in ((1, 7), (4, 3))]
        labels = [0, 1]
    else:
        examples = [
            transforms.multiple_choice(tokens(3 + i, i), [tokens(1 + 2 * k, 10 * i + k) for k in range(3)], special, n)
            for i in range(2)
        ]
        labels = [2, 0]
    collate = GPT1DataCollator.from_config(config, return_lm_labels=return_lm_labels)
    return collate([{"input_ids": ids, "labels": label} for ids, label in zip(examples, labels)])


FAMILIES = {
    "classification": GPT1ForSequenceClassification,
    "similarity": GPT1ForSimilarity,
    "multiple_choice": GPT1ForMultipleChoice,
}


def reference_lm_loss(head, input_ids, attention_mask):
    """Per sequence, the mean next-token NLL over its real (non-padding) targets, then the mean over all sequences,
    computed with a separate LM head model holding the head's backbone weights."""
    lm = GPT1LMHeadModel(head.config).eval()
    lm.transformer.load_state_dict(head.transformer.state_dict())
    ids = input_ids.reshape(-1, input_ids.shape[-1])
    mask = attention_mask.reshape_as(ids)
    logits = lm(input_ids=ids, attention_mask=mask).logits
    per_sequence = []
    for row_logits, row_ids, row_mask in zip(logits, ids, mask):
        n = int(row_mask.sum())
        per_sequence.append(F.cross_entropy(row_logits[: n - 1], row_ids[1:n]))
    return torch.stack(per_sequence).mean()


# ---------------------------------------------------------------------------------------------------------------
# The combined loss
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", list(FAMILIES))
def test_loss_is_task_loss_plus_lambda_times_per_sequence_lm_loss(family):
    head = make_head(FAMILIES[family])
    batch = family_batch(head.config, family)
    wrapper = GPT1WithAuxiliaryLM(head, aux_lm_coef=0.25)
    output = wrapper(**batch)

    task_loss = head(**batch).loss
    lm_loss = reference_lm_loss(head, batch["input_ids"], batch["attention_mask"])
    torch.testing.assert_close(output.task_loss, task_loss)
    torch.testing.assert_close(output.lm_loss, lm_loss)
    torch.testing.assert_close(output.loss, task_loss + 0.25 * lm_loss)
    torch.testing.assert_close(output.logits, head(**batch).logits)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_hidden_states_attentions_and_tuples_as_the_plain_head_returns_them(family):
    """Output settings reach the wrapper's output as the head's: hidden states and attentions (they were computed,
    then dropped), and `return_dict=False` gives a tuple (it crashed) whose first items are the loss and logits."""
    head = make_head(FAMILIES[family])
    batch = family_batch(head.config, family)
    wrapper = GPT1WithAuxiliaryLM(head)
    asked = dict(output_hidden_states=True, output_attentions=True)
    ours, plain = wrapper(**batch, **asked), head(**batch, **asked)
    assert len(ours.hidden_states) == len(plain.hidden_states) == head.config.n_layer + 1
    assert len(ours.attentions) == len(plain.attentions) == head.config.n_layer
    for mine, theirs in zip(ours.hidden_states + ours.attentions, plain.hidden_states + plain.attentions):
        torch.testing.assert_close(mine, theirs)
    assert wrapper(**batch).hidden_states is None and wrapper(**batch).attentions is None

    as_tuple = wrapper(**batch, return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 4  # loss, logits, task_loss, lm_loss
    torch.testing.assert_close(as_tuple[0], wrapper(**batch).loss)
    torch.testing.assert_close(as_tuple[1], plain.logits)


def test_paper_lambda_is_the_default():
    assert GPT1WithAuxiliaryLM(make_head(GPT1ForSequenceClassification)).aux_lm_coef == 0.5


@pytest.mark.parametrize("family", list(FAMILIES))
def test_lambda_zero_gives_the_plain_head_loss(family):
    head = make_head(FAMILIES[family])
    batch = family_batch(head.config, family)
    output = GPT1WithAuxiliaryLM(head, aux_lm_coef=0.0)(**batch)
    torch.testing.assert_close(output.loss, head(**batch).loss)
    assert output.lm_loss is None


def test_short_and_long_sequences_weigh_the_same():
    """The LM loss is a mean of per-sequence means, not a mean over all tokens of the batch."""
    head = make_head(GPT1ForSequenceClassification)
    batch = family_batch(head.config, "classification")
    lm_loss = GPT1WithAuxiliaryLM(head)(**batch).lm_loss

    lm = GPT1LMHeadModel(head.config).eval()
    lm.transformer.load_state_dict(head.transformer.state_dict())
    token_mean = lm(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        labels=batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100),
    ).loss
    assert not torch.allclose(lm_loss, token_mean)


def test_one_decoder_pass_per_batch():
    head = make_head(GPT1ForMultipleChoice)
    wrapper = GPT1WithAuxiliaryLM(head)
    calls = []
    wrapper.transformer.register_forward_hook(lambda module, args, output: calls.append(1))
    output = wrapper(**family_batch(head.config, "multiple_choice"))
    assert output.task_loss is not None and output.lm_loss is not None
    assert len(calls) == 1


@pytest.mark.parametrize("family", list(FAMILIES))
def test_collator_lm_labels_equal_targets_from_the_attention_mask(family):
    head = make_head(FAMILIES[family])
    wrapper = GPT1WithAuxiliaryLM(head)
    batch = family_batch(head.config, family, return_lm_labels=True)
    with_labels = wrapper(**batch)
    batch.pop("lm_labels")
    derived = wrapper(**batch)
    torch.testing.assert_close(with_labels.loss, derived.loss)
    torch.testing.assert_close(with_labels.lm_loss, derived.lm_loss)


def to_left_padding(batch):
    """The right-padded `batch` with each sequence's padding moved to its left (labels unchanged)."""
    mask = batch["attention_mask"]
    lengths = mask.reshape(-1, mask.shape[-1]).sum(dim=1).tolist()
    moved = dict(batch)
    for name in ("input_ids", "attention_mask", "lm_labels"):
        if name in batch:
            rows = batch[name].reshape(-1, mask.shape[-1])
            shifted = [row.roll(mask.shape[-1] - n) for row, n in zip(rows, lengths)]
            moved[name] = torch.stack(shifted).reshape(batch[name].shape)
    return moved


@pytest.mark.parametrize("return_lm_labels", [False, True])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_left_and_right_padding_give_the_same_losses(family, return_lm_labels):
    """A token right after padding is no LM target: with left padding the first real token would otherwise be
    predicted from a padding state (it changed `lm_loss` with the amount of padding and the attention backend)."""
    head = make_head(FAMILIES[family])
    wrapper = GPT1WithAuxiliaryLM(head)
    right = family_batch(head.config, family, return_lm_labels=return_lm_labels)
    left = to_left_padding(right)
    assert not torch.equal(left["attention_mask"], right["attention_mask"])  # some sequence is padded
    expected, output = wrapper(**right), wrapper(**left)
    for name in ("loss", "task_loss", "lm_loss", "logits"):
        torch.testing.assert_close(getattr(output, name), getattr(expected, name))
    lm_loss = reference_lm_loss(head, right["input_ids"], right["attention_mask"])
    torch.testing.assert_close(output.lm_loss, lm_loss)


def test_lm_labels_choose_the_lm_targets():
    head = make_head(GPT1ForSequenceClassification)
    wrapper = GPT1WithAuxiliaryLM(head)
    batch = family_batch(head.config, "classification", return_lm_labels=True)
    full = wrapper(**batch).lm_loss
    batch["lm_labels"][0] = -100  # the first sequence no longer counts
    rest = reference_lm_loss(head, batch["input_ids"][1:], batch["attention_mask"][1:])
    torch.testing.assert_close(wrapper(**batch).lm_loss, rest)
    assert not torch.allclose(full, rest)


def test_lm_loss_trains_the_backbone_through_the_tied_embedding():
    head = make_head(GPT1ForSequenceClassification)
    batch = family_batch(head.config, "classification")
    batch.pop("labels")
    batch["lm_labels"] = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    output = GPT1WithAuxiliaryLM(head)(**batch)
    assert output.loss is None  # no task labels: no combined loss, but the LM part is still reported
    output.lm_loss.backward()
    assert head.transformer.wte.weight.grad.abs().sum() > 0
    assert head.classifier.weight.grad is None


def test_sequence_lm_loss_against_a_hand_computed_value():
    logits = torch.randn(3, 5, 7, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([[1, 2, 3, 4, 5], [6, 0, 1, -100, -100], [2, -100, -100, -100, -100]])
    # Row 2 has no target after the shift: it is left out, not counted as zero.
    first = F.cross_entropy(logits[0, :4], labels[0, 1:])
    second = F.cross_entropy(logits[1, :2], labels[1, 1:3])
    torch.testing.assert_close(sequence_lm_loss(logits, labels), (first + second) / 2)


def test_the_loss_from_states_computes_logits_only_where_a_target_follows_and_equals_the_full_loss(monkeypatch):
    """Same value and gradients as `sequence_lm_loss` of every position's logits, with padding, an ignored target
    inside a row and a row without any target; the LM head multiplies only the states that a target follows."""
    generator = torch.Generator().manual_seed(0)
    states = torch.randn(4, 6, 8, generator=generator, requires_grad=True)
    weight = torch.randn(11, 8, generator=generator, requires_grad=True)
    labels = torch.tensor(
        [[1, 2, 3, 4, 5, 6], [6, 0, 1, -100, -100, -100], [2, -100, -100, -100, -100, -100], [3, 4, -100, 5, 6, 7]]
    )
    expected = sequence_lm_loss(F.linear(states, weight), labels)
    expected_grads = torch.autograd.grad(expected, (states, weight))
    rows = []
    linear = F.linear
    monkeypatch.setattr(F, "linear", lambda x, w, *a: rows.append(x.shape[0]) or linear(x, w, *a))
    actual = sequence_lm_loss_from_states(states, weight, labels)
    assert rows == [5 + 2 + 0 + 4]  # the targets after the shift
    torch.testing.assert_close(actual, expected, atol=1e-6, rtol=0)
    for grad, grad_expected in zip(torch.autograd.grad(actual, (states, weight)), expected_grads):
        torch.testing.assert_close(grad, grad_expected, atol=1e-6, rtol=0)


def test_sequence_lm_loss_without_targets_is_zero_and_differentiable():
    logits = torch.randn(2, 4, 7, requires_grad=True)
    loss = sequence_lm_loss(logits, torch.full((2, 4), -100))
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None


# ---------------------------------------------------------------------------------------------------------------
# Parameters, modes and checkpoints
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("head_class", list(FAMILIES.values()))
def test_state_dict_is_the_heads(head_class):
    head = make_head(head_class)
    wrapper = GPT1WithAuxiliaryLM(head)
    assert list(wrapper.state_dict()) == list(head.state_dict())
    wrapper_parameters = dict(wrapper.named_parameters())
    for name, parameter in head.named_parameters():
        assert wrapper_parameters[name] is parameter


@pytest.mark.parametrize("training", [False, True])
def test_wrapper_starts_in_the_mode_of_its_head(training):
    head = make_head(GPT1ForSequenceClassification).train(training)
    wrapper = GPT1WithAuxiliaryLM(head)
    assert wrapper.training == head.training == training


def test_train_and_eval_reach_the_shared_modules():
    head = make_head(GPT1ForSequenceClassification)
    wrapper = GPT1WithAuxiliaryLM(head)
    wrapper.train()
    assert head.training and all(module.training for module in head.modules())
    wrapper.eval()
    assert not head.training and not any(module.training for module in head.modules())


@pytest.mark.parametrize(
    "head_class, family, auto_class",
    [
        (GPT1ForSequenceClassification, "classification", AutoModelForSequenceClassification),
        (GPT1ForSimilarity, "similarity", AutoModelForSequenceClassification),
        (GPT1ForMultipleChoice, "multiple_choice", AutoModelForMultipleChoice),
    ],
)
def test_save_pretrained_writes_a_head_checkpoint(tmp_path, head_class, family, auto_class):
    head = make_head(head_class, num_labels=2)
    wrapper = GPT1WithAuxiliaryLM(head)
    wrapper.save_pretrained(tmp_path)
    reloaded = auto_class.from_pretrained(tmp_path).eval()
    assert type(reloaded) is head_class  # a similarity checkpoint too comes back as GPT1ForSimilarity
    batch = family_batch(head.config, family)
    torch.testing.assert_close(reloaded(**batch).logits, wrapper(**batch).logits)


@pytest.mark.parametrize("head_class", [None, GPT1ForMultipleChoice])
def test_from_pretrained_wraps_the_requested_head(tmp_path, head_class):
    saved = make_head(head_class or GPT1ForSequenceClassification)
    saved.save_pretrained(tmp_path)
    wrapper = GPT1WithAuxiliaryLM.from_pretrained(tmp_path, head_class=head_class, aux_lm_coef=0.1)
    assert type(wrapper.head) is type(saved)
    assert wrapper.aux_lm_coef == 0.1
    for key, value in saved.state_dict().items():
        assert torch.equal(wrapper.state_dict()[key], value), key


def test_from_pretrained_returns_loading_info_when_asked(tmp_path):
    """As `PreTrainedModel.from_pretrained`: `output_loading_info=True` gives `(model, loading_info)`."""
    make_head(GPT1LMHeadModel).save_pretrained(tmp_path)
    wrapper, info = GPT1WithAuxiliaryLM.from_pretrained(tmp_path, output_loading_info=True, num_labels=3)
    assert isinstance(wrapper, GPT1WithAuxiliaryLM) and isinstance(wrapper.head, GPT1ForSequenceClassification)
    assert set(info) >= {"missing_keys", "unexpected_keys"}
    assert {"classifier.weight", "classifier.bias"} <= set(info["missing_keys"])  # the new linear layer W_y


def test_loss_parts_are_recorded_in_training_only():
    head = make_head(
        GPT1ForSequenceClassification, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, classifier_dropout=0.0
    )
    wrapper = GPT1WithAuxiliaryLM(head)
    batch = family_batch(head.config, "classification")
    wrapper.eval()
    wrapper(**batch)
    assert wrapper.pop_loss_parts() == {}

    wrapper.train()
    outputs = [wrapper(**batch), wrapper(**batch)]
    parts = wrapper.pop_loss_parts()
    assert parts.keys() == {"task_loss", "lm_loss"}
    assert parts["task_loss"] == pytest.approx(sum(o.task_loss.item() for o in outputs) / 2)
    assert parts["lm_loss"] == pytest.approx(sum(o.lm_loss.item() for o in outputs) / 2)
    assert wrapper.pop_loss_parts() == {}


# ---------------------------------------------------------------------------------------------------------------
# Bad arguments
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("not_a_head", [GPT1LMHeadModel, torch.nn.Linear])
def test_wrapping_something_other_than_a_task_head_is_rejected(not_a_head):
    model = not_a_head(make_config(vocab_size=VOCAB)) if not_a_head is GPT1LMHeadModel else not_a_head(2, 2)
    with pytest.raises(TypeError, match="task head"):
        GPT1WithAuxiliaryLM(model)


@pytest.mark.parametrize("family", ["classification", "multiple_choice"])
def test_label_smoothing_smooths_the_task_loss_as_trainer_does_and_keeps_the_lm_term(family):
    from transformers.trainer_pt_utils import LabelSmoother

    head = make_head(FAMILIES[family])
    batch = family_batch(head.config, family)
    output = GPT1WithAuxiliaryLM(head, aux_lm_coef=0.25, label_smoothing=0.1)(**batch)
    smoothed = LabelSmoother(epsilon=0.1)({"logits": output.logits}, batch["labels"])
    torch.testing.assert_close(output.task_loss, smoothed)
    assert not torch.allclose(output.task_loss, head(**batch).loss)
    lm_loss = reference_lm_loss(head, batch["input_ids"], batch["attention_mask"])
    torch.testing.assert_close(output.loss, smoothed + 0.25 * lm_loss)


def test_label_smoothing_of_a_regression_head_or_outside_0_1_is_refused():
    head = make_head(GPT1ForSimilarity, num_labels=1)
    batch = family_batch(head.config, "similarity")
    batch["labels"] = batch["labels"].float()
    with pytest.raises(ValueError, match="label smoothing applies to class ids, not to regression"):
        GPT1WithAuxiliaryLM(head, label_smoothing=0.1)(**batch)
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="label_smoothing must be in"):
            GPT1WithAuxiliaryLM(head, label_smoothing=bad)


def test_trainer_label_smoothing_or_a_loss_function_cannot_drop_the_lm_term(tmp_path):
    """Trainer with `label_smoothing_factor` (or `compute_loss_func`) takes the labels out of the batch and
    computes the loss from the logits alone: the auxiliary LM term was dropped silently. A training forward without
    labels now raises; the wrapper's own `label_smoothing` gives the smoothed loss with the LM term."""
    from transformers import Trainer, TrainingArguments

    head = make_head(GPT1ForSequenceClassification)
    batch = family_batch(head.config, "classification", return_lm_labels=True)
    wrapper = GPT1WithAuxiliaryLM(head).train()
    args = TrainingArguments(tmp_path, label_smoothing_factor=0.1, report_to=[], use_cpu=True)
    with pytest.raises(ValueError, match="would leave out the auxiliary LM term"):
        Trainer(model=wrapper, args=args).compute_loss(wrapper, dict(batch))
    with torch.no_grad():  # inference (also with dropout on) still gives logits without labels
        assert wrapper(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).loss is None
    wrapper.eval()
    assert wrapper(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).loss is None


@pytest.mark.parametrize("aux_lm_coef", [-0.5, float("nan"), float("inf"), "0.5", True, None])
def test_a_lambda_that_is_not_a_finite_number_at_least_zero_is_rejected(aux_lm_coef):
    """NaN turned the auxiliary LM off silently (NaN > 0 is false) and infinity trained every weight to NaN."""
    with pytest.raises(ValueError, match="aux_lm_coef must be"):
        GPT1WithAuxiliaryLM(make_head(GPT1ForSequenceClassification), aux_lm_coef=aux_lm_coef)
    wrapper = GPT1WithAuxiliaryLM(make_head(GPT1ForSequenceClassification), aux_lm_coef=0.25)
    with pytest.raises(ValueError, match="aux_lm_coef must be"):
        wrapper.aux_lm_coef = aux_lm_coef  # checked when set later too
    assert wrapper.aux_lm_coef == 0.25


def test_lm_labels_shape_must_match_input_ids():
    head = make_head(GPT1ForSequenceClassification)
    batch = family_batch(head.config, "classification", return_lm_labels=True)
    batch["lm_labels"] = batch["lm_labels"][:, :-1]
    with pytest.raises(ValueError, match="lm_labels has shape"):
        GPT1WithAuxiliaryLM(head)(**batch)
