"""The paper's optimisation settings: fine-tuning and pre-training TrainingArguments, and the weight-decay split."""

import pytest
import torch
from conftest import make_config
from transformers import Trainer
from transformers.trainer_utils import SchedulerType

from modeling_gpt1 import (
    GPT1ForMultipleChoice,
    GPT1ForSequenceClassification,
    GPT1LMHeadModel,
    GPT1WithAuxiliaryLM,
    finetuning_args,
    pretraining_args,
)
from modeling_gpt1.training import decay_parameter_names


def test_finetuning_args_carry_the_paper_values(tmp_path):
    args = finetuning_args(tmp_path)
    assert args.learning_rate == 6.25e-5
    assert args.per_device_train_batch_size == 32
    assert args.num_train_epochs == 3
    assert args.lr_scheduler_type == SchedulerType.LINEAR
    assert args.weight_decay == 0.01
    assert args.max_grad_norm == 1.0


@pytest.mark.parametrize("training_steps, warmup", [(10_000, 20), (1_000, 2), (3 * 3_000, 18), (100, 1)])
def test_finetuning_warmup_is_two_permille_of_training(tmp_path, training_steps, warmup):
    assert finetuning_args(tmp_path).get_warmup_steps(training_steps) == warmup


def test_pretraining_args_carry_the_paper_values(tmp_path):
    args = pretraining_args(tmp_path)
    assert args.learning_rate == 2.5e-4
    assert args.per_device_train_batch_size == 64
    assert args.lr_scheduler_type == SchedulerType.COSINE
    assert args.weight_decay == 0.01
    assert args.max_grad_norm == 1.0
    assert args.get_warmup_steps(100_000) == args.get_warmup_steps(10_000) == 2000


def test_overrides_win(tmp_path):
    args = finetuning_args(tmp_path, learning_rate=1e-4, num_train_epochs=5, warmup_steps=0, use_cpu=True)
    assert (args.learning_rate, args.num_train_epochs, args.get_warmup_steps(1000)) == (1e-4, 5, 0)
    assert args.use_cpu
    assert args.per_device_train_batch_size == 32 and args.weight_decay == 0.01  # the rest stays the paper's

    args = pretraining_args(tmp_path, lr_scheduler_type="linear", warmup_steps=10, per_device_train_batch_size=8)
    assert args.lr_scheduler_type == SchedulerType.LINEAR
    assert (args.get_warmup_steps(1000), args.per_device_train_batch_size, args.learning_rate) == (10, 8, 2.5e-4)


def test_output_dir_is_kept(tmp_path):
    assert finetuning_args(tmp_path / "run").output_dir == str(tmp_path / "run")


def learning_rates(args, steps):
    """The learning rate of every step of a `steps`-step run, from the scheduler Trainer builds."""
    model = GPT1ForSequenceClassification(make_config())
    trainer = Trainer(model=model, args=args)
    trainer.create_optimizer_and_scheduler(num_training_steps=steps)
    rates = []
    for _ in range(steps):
        rates.append(trainer.lr_scheduler.get_last_lr()[0])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    return rates


def test_finetuning_schedule_warms_up_then_decays_linearly_to_zero(tmp_path):
    args = finetuning_args(tmp_path, use_cpu=True, report_to=[])
    rates = learning_rates(args, steps=1500)  # warm-up: ceil(0.002 * 1500) = 3 steps
    assert rates[:4] == pytest.approx([0.0, 6.25e-5 / 3, 2 * 6.25e-5 / 3, 6.25e-5])
    assert rates[3 + 1497 // 2] == pytest.approx(6.25e-5 * (1497 - 1497 // 2) / 1497)
    assert rates[-1] == pytest.approx(6.25e-5 / 1497)


def test_pretraining_schedule_warms_up_for_2000_steps_then_anneals(tmp_path):
    args = pretraining_args(tmp_path, use_cpu=True, report_to=[])
    rates = learning_rates(args, steps=6000)
    assert rates[1000] == pytest.approx(2.5e-4 / 2)
    assert rates[2000] == pytest.approx(2.5e-4)
    assert rates[4000] == pytest.approx(2.5e-4 / 2)  # half-way through the cosine
    assert rates[-1] < 1e-9


@pytest.mark.parametrize(
    "build",
    [
        lambda config: GPT1ForSequenceClassification(config),
        lambda config: GPT1ForMultipleChoice(config),
        lambda config: GPT1LMHeadModel(config),
        lambda config: GPT1WithAuxiliaryLM(GPT1ForSequenceClassification(config)),
    ],
    ids=["classification", "multiple_choice", "lm", "auxiliary"],
)
def test_trainer_decays_exactly_the_rank_two_tensors(build):
    model = build(make_config())
    ours = decay_parameter_names(model)
    # Compared as tensors: Trainer also lists the LM head's tied weight under its own name.
    tensors = dict(model.named_parameters(remove_duplicate=False))
    trainers = Trainer.get_decay_parameter_names(None, model)
    assert {id(tensors[name]) for name in trainers} == {id(tensors[name]) for name in ours}
    assert "transformer.wte.weight" in ours and "transformer.wpe.weight" in ours
    assert "transformer.h.0.attn.c_attn.weight" in ours
    assert not any(name.endswith("bias") or ".ln_" in name for name in ours)


def test_optimizer_groups_decay_weights_and_leave_biases_and_gains(tmp_path):
    model = GPT1ForSequenceClassification(make_config())
    trainer = Trainer(model=model, args=finetuning_args(tmp_path, use_cpu=True, report_to=[]))
    optimizer = trainer.create_optimizer()
    by_decay = {group["weight_decay"]: {id(p) for p in group["params"]} for group in optimizer.param_groups}
    parameters = dict(model.named_parameters())
    assert by_decay[0.01] == {id(parameters[name]) for name in decay_parameter_names(model)}
    assert by_decay[0.0] == {id(p) for p in parameters.values() if p.dim() == 1}
    assert isinstance(optimizer, torch.optim.AdamW)
