"""The auxiliary language-modelling objective of fine-tuning: L3 = L2 + lambda * L1 (GPT-1, section 3.2).

`GPT1WithAuxiliaryLM` wraps any task head. One decoder pass gives the hidden states from which both the task logits
(at the extract token) and the next-token logits (through the tied token embedding) are computed. The wrapper owns
exactly the head's parameters under the head's own names, so Trainer checkpoints, `save_pretrained` and resuming all
see a plain task-head checkpoint.
"""

import math
from dataclasses import dataclass
from numbers import Real

import torch
from torch.nn import functional as F
from transformers import TrainerCallback
from transformers.modeling_outputs import ModelOutput
from transformers.trainer_pt_utils import nested_gather
from transformers.utils import can_return_tuple

from .modeling_gpt1 import (
    IGNORE_INDEX,
    GPT1ForSequenceClassification,
    GPT1PreTrainedModel,
    GPT1TaskHeadModel,
    ignore_targets_after_padding,
    is_index_tensor,
)


PAPER_AUX_LM_COEF = 0.5


def check_aux_lm_coef(aux_lm_coef) -> float:
    """`aux_lm_coef` (lambda) as a float; raises ValueError unless it is a finite real number >= 0 (NaN would turn
    the auxiliary LM off silently, infinity make every weight NaN)."""
    if isinstance(aux_lm_coef, bool) or not isinstance(aux_lm_coef, Real):
        raise ValueError(f"aux_lm_coef must be a number >= 0, got {aux_lm_coef!r}")
    if not math.isfinite(aux_lm_coef) or aux_lm_coef < 0:
        raise ValueError(f"aux_lm_coef must be a finite number >= 0, got {aux_lm_coef}")
    return float(aux_lm_coef)


@dataclass
class AuxiliaryLMOutput(ModelOutput):
    """Task outputs plus the two parts of the loss (`loss = task_loss + aux_lm_coef * lm_loss`), and the decoder's
    `hidden_states` and `attentions` when asked for (`output_hidden_states`, `output_attentions`), as the plain head
    returns them."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    task_loss: torch.Tensor | None = None
    lm_loss: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


def sequence_lm_loss(lm_logits: torch.Tensor, lm_labels: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy averaged per sequence over its non-ignored targets, then over the sequences, as the
    released fine-tuning code does (so short and long sequences weigh the same). `lm_logits` `[batch, length,
    vocab]`; `lm_labels` `[batch, length]` use `IGNORE_INDEX` (-100) to ignore."""
    return _per_sequence_mean(lm_logits[:, :-1], lm_labels, project=None)


def sequence_lm_loss_from_states(
    hidden_states: torch.Tensor, output_weight: torch.Tensor, lm_labels: torch.Tensor
) -> torch.Tensor:
    """`sequence_lm_loss` of the logits `hidden_states @ output_weight.T` (`[batch, length, hidden]`, `[vocab,
    hidden]`), computing them only where a target follows: not at each sequence's last position, nor before a
    padded or ignored one. The same loss, with less of the LM head's work (the larger part of the auxiliary LM's
    cost, `benchmarks/README.md`)."""
    return _per_sequence_mean(hidden_states[:, :-1], lm_labels, project=lambda states: F.linear(states, output_weight))


def _per_sequence_mean(inputs: torch.Tensor, lm_labels: torch.Tensor, project) -> torch.Tensor:
    """The per-sequence mean of the next-token losses, then the mean over the sequences with a target; `inputs`
    `[batch, length - 1, ...]` are the logits at each position, or states that `project` turns into them."""
    targets = lm_labels[:, 1:]
    has_target = targets != IGNORE_INDEX
    selected = inputs[has_target]  # [targets, vocab] (or [targets, hidden], projected next)
    logits = selected if project is None else project(selected)
    token_losses = F.cross_entropy(logits.float(), targets[has_target], reduction="none")
    counts = has_target.sum(dim=1)
    sums = torch.zeros(len(counts), dtype=token_losses.dtype, device=token_losses.device)
    sums = sums.index_add(0, has_target.nonzero()[:, 0], token_losses)
    per_sequence = sums / counts.clamp(min=1)
    return per_sequence[counts > 0].mean() if bool((counts > 0).any()) else per_sequence.sum() * 0.0


class GPT1WithAuxiliaryLM(GPT1PreTrainedModel):
    """Fine-tune a GPT-1 task head with the auxiliary LM loss: `loss = task_loss + aux_lm_coef * lm_loss`.

    Args:
        head: a `GPT1ForSequenceClassification`, `GPT1ForSimilarity` or `GPT1ForMultipleChoice` (any
            `GPT1TaskHeadModel`).
        aux_lm_coef: lambda; 0.5 in the paper, 0 gives the plain head's loss.
        label_smoothing: smoothing of the task's cross-entropy over class ids (in [0, 1); 0 in the paper). Use it
            instead of Trainer's `label_smoothing_factor`: Trainer then takes `labels` out of the batch and computes
            the loss from the logits alone, which would leave out the auxiliary LM term, so a training forward
            without `labels` raises ValueError (as it does with Trainer's `compute_loss_func`).

    The batch may carry `lm_labels` (the collators make them: input ids with padding set to `IGNORE_INDEX`); without
    them the targets are the input ids. Either way a padding token (`attention_mask` 0) is no target, nor is a token
    right after padding (it would be predicted from a padding state), so left and right padding give the same loss.
    `save_pretrained` writes the wrapped head's checkpoint. Add `AuxiliaryLossCallback` to a Trainer to log the two
    parts of the loss.
    """

    accepts_loss_kwargs = False  # both losses are means: Trainer scales them for gradient accumulation

    def __init__(self, head: GPT1TaskHeadModel, aux_lm_coef: float = PAPER_AUX_LM_COEF, label_smoothing: float = 0.0):
        if not isinstance(head, GPT1TaskHeadModel):
            raise TypeError(f"GPT1WithAuxiliaryLM wraps a GPT-1 task head, got {type(head).__name__}")
        if not 0.0 <= label_smoothing < 1.0:  # also refuses NaN
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        super().__init__(head.config)
        # Share the head's modules under their own names: same parameters, same state-dict keys.
        for name, module in head.named_children():
            self.add_module(name, module)
        object.__setattr__(self, "head", head)  # a plain reference, not a submodule
        self.aux_lm_coef = aux_lm_coef  # checked by the setter
        self.label_smoothing = float(label_smoothing)
        self.main_input_name = head.main_input_name
        self._reset_loss_parts()
        self.train(head.training)

    @property
    def aux_lm_coef(self) -> float:
        """lambda, checked when set (`check_aux_lm_coef`)."""
        return self._aux_lm_coef

    @aux_lm_coef.setter
    def aux_lm_coef(self, value) -> None:
        self._aux_lm_coef = check_aux_lm_coef(value)

    def train(self, mode: bool = True):
        self.head.training = mode  # the children are shared; keep the head's own flag in step
        return super().train(mode)

    @can_return_tuple
    def forward(self, input_ids=None, attention_mask=None, labels=None, position_ids=None, **kwargs):
        """The head's forward (same arguments, `return_dict=False` included) with the auxiliary LM loss added;
        returns `AuxiliaryLMOutput`."""
        # `lm_labels` stays out of the signature: Trainer takes every `*labels` argument there for a label column.
        lm_labels = kwargs.pop("lm_labels", None)
        if labels is None and self.training and torch.is_grad_enabled() and self.aux_lm_coef > 0:
            raise ValueError(
                "GPT1WithAuxiliaryLM got no labels in a training forward: a loss computed elsewhere from its logits "
                "would leave out the auxiliary LM term. Trainer takes the labels out of the batch when "
                "label_smoothing_factor or compute_loss_func is set: use GPT1WithAuxiliaryLM(..., label_smoothing=) "
                "instead, or call it with labels"
            )
        outputs, logits = self.head.decode_and_score(input_ids, attention_mask, position_ids, **kwargs)
        task_loss = self.head.task_loss(logits, labels, self.label_smoothing) if labels is not None else None
        lm_loss = None
        if self.aux_lm_coef > 0 and (labels is not None or lm_labels is not None):
            lm_labels = self._lm_targets(input_ids, attention_mask, lm_labels)
            lm_loss = sequence_lm_loss_from_states(outputs.last_hidden_state, self.transformer.wte.weight, lm_labels)

        loss = None
        if task_loss is not None:
            loss = task_loss if lm_loss is None else task_loss + self.aux_lm_coef * lm_loss
            if self.training:
                self._record(task_loss, lm_loss)
        return AuxiliaryLMOutput(
            loss=loss,
            logits=logits,
            task_loss=task_loss,
            lm_loss=lm_loss,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )

    @staticmethod
    def _lm_targets(input_ids, attention_mask, lm_labels):
        """The next-token targets `[sequences, length]`: `lm_labels`, or the input ids, with `IGNORE_INDEX` where a
        token is padding or follows padding (`ignore_targets_after_padding`, the language-model head's rule)."""
        if lm_labels is None:
            lm_labels = input_ids
        if lm_labels.shape != input_ids.shape:
            raise ValueError(
                f"lm_labels has shape {tuple(lm_labels.shape)} but input_ids has {tuple(input_ids.shape)}"
            )
        if not is_index_tensor(lm_labels):
            raise ValueError(
                f"lm_labels must hold integer token ids (torch.long or torch.int32), got dtype {lm_labels.dtype}"
            )
        lm_labels = lm_labels.long()
        if attention_mask is not None:
            lm_labels = lm_labels.masked_fill(attention_mask == 0, IGNORE_INDEX)
            lm_labels = ignore_targets_after_padding(lm_labels, attention_mask)
        return lm_labels.reshape(-1, lm_labels.shape[-1])

    def _record(self, task_loss, lm_loss):
        self._loss_sums["task_loss"] += task_loss.detach()
        self._loss_sums["lm_loss"] += lm_loss.detach() if lm_loss is not None else 0.0
        self._loss_steps += 1

    def pop_loss_parts(self, parallel_mode=None) -> dict[str, float]:
        """Mean task and LM losses of the training forwards since the last call (empty if there were none).

        With `parallel_mode` (`TrainingArguments.parallel_mode`), the means are averaged over all processes, as
        Trainer does for `loss` (`nested_gather`): every process must call this at the same step."""
        if self._loss_steps == 0:
            return {}
        names = list(self._loss_sums)
        means = torch.stack([torch.as_tensor(self._loss_sums[name], dtype=torch.float32) for name in names])
        means = means.to(self.device) / self._loss_steps
        if parallel_mode is not None:
            means = nested_gather(means, parallel_mode).view(-1, len(names)).mean(dim=0)
        self._reset_loss_parts()
        return dict(zip(names, means.tolist()))

    def _reset_loss_parts(self):
        self._loss_sums = {"task_loss": 0.0, "lm_loss": 0.0}
        self._loss_steps = 0

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save the wrapped head as a normal checkpoint (its class, config and weights)."""
        return self.head.save_pretrained(save_directory, *args, **kwargs)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path,
        *args,
        head_class=None,
        aux_lm_coef=PAPER_AUX_LM_COEF,
        label_smoothing=0.0,
        **kwargs,
    ):
        """Load a task head (`head_class`, default `GPT1ForSequenceClassification`) and wrap it. Other arguments go to
        the head's `from_pretrained`; with `output_loading_info=True` this returns `(model, loading_info)` as it does."""
        head_class = head_class or GPT1ForSequenceClassification
        loaded = head_class.from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        head, loading_info = loaded if kwargs.get("output_loading_info", False) else (loaded, None)
        wrapper = cls(head, aux_lm_coef=aux_lm_coef, label_smoothing=label_smoothing)
        return wrapper if loading_info is None else (wrapper, loading_info)


class AuxiliaryLossCallback(TrainerCallback):
    """Adds the mean `task_loss` and `lm_loss` since the previous log to every Trainer training log, averaged over
    all processes as Trainer averages `loss`.

    Trainer calls callbacks in order, so pass it with `callbacks=[AuxiliaryLossCallback()]` to have the parts in
    `trainer.state.log_history` and in later loggers; `add_auxiliary_loss_logging(trainer)` puts it first so that
    every logger (console, TensorBoard) sees them."""

    def on_log(self, args, state, control, model=None, logs=None, **kwargs):
        wrapper = getattr(model, "module", model)  # DDP keeps the model in `.module`
        if hasattr(wrapper, "get_base_model"):  # a PEFT model (LoRA on the wrapper) keeps it under its adapters
            wrapper = wrapper.get_base_model()
        if not isinstance(wrapper, GPT1WithAuxiliaryLM) or logs is None or "loss" not in logs:
            return
        parts = wrapper.pop_loss_parts(parallel_mode=args.parallel_mode)  # averaged over processes, as `loss` is
        logs.update(parts)
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1].update(parts)


def add_auxiliary_loss_logging(trainer) -> AuxiliaryLossCallback:
    """Register an `AuxiliaryLossCallback` ahead of the Trainer's loggers."""
    callback = AuxiliaryLossCallback()
    trainer.callback_handler.callbacks.insert(0, callback)
    return callback
