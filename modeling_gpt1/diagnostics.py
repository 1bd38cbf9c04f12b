"""Is a pre-trained model still reading its input? A check for collapsed representations.

A post-LN decoder such as GPT-1 can collapse early in pre-training when the learning rate rises too fast: the last
blocks then output the same hidden state for every input, and the model predicts the same next tokens ("\\n , the")
whatever the context. Such a model is a unigram model: its perplexity still falls to a number that looks fine (456 on
Gutenberg books in the run this check comes from), but fine-tuning from it is no better than from random weights.
In that run (issue 13) a 4-layer, 256-wide model trained at learning rate 6e-4 with 30 warm-up steps collapsed:
the standard deviation of its layer-3 and layer-4 states across five different texts was 1e-4, against 0.9 for the
same model untrained. The demo's settings (3 x 96, learning rate 1e-3, 100 warm-up steps: `--preset cpu-small`) did
not collapse.

`hidden_state_spread` measures how much the hidden states differ from one input to another, layer by layer, and
`CollapseReport.warning` says in plain words what happened and what to change. `CollapseCallback` runs the check at
every evaluation of a `Trainer` and logs the spread next to the loss (`examples/pretrain.py` uses it).

    from modeling_gpt1.diagnostics import hidden_state_spread

    report = hidden_state_spread(model, ["first text ...", "another text ...", "a third ..."], tokenizer)
    print(report.spread, report.collapsed)
    if report.warning:
        print(report.warning)
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import TrainerCallback
from transformers.utils import logging


logger = logging.get_logger(__name__)

# A model whose final states vary across inputs by less than this fraction of their size is called collapsed. The
# collapsed model of issue 13 measured about 1e-4; untrained GPT-1 models measure about 0.64 (`hidden_state_spread`).
# Measured on WikiText-2 (a 3 x 128 model, 16 x 64-token batches): at learning rate 1e-2 without warm-up the final
# spread was below 1e-4 after 50 steps, the model predicting "the" everywhere; at 1e-3 with 100 warm-up steps it dipped
# to 0.048 at step 50 and was back at 0.42 at step 100. Hence a threshold well below such early dips.
COLLAPSE_THRESHOLD = 0.01
# The measured runs quoted in the warning.
COLLAPSED_RUN = "4 layers x 256 at learning rate 6e-4 with 30 warm-up steps"
HEALTHY_RUN = "3 layers x 96 at learning rate 1e-3 with 100 warm-up steps (--preset cpu-small)"


@dataclass
class CollapseReport:
    """How much a model's hidden states differ across inputs.

    Attributes:
        spread: the final layer's spread (see `hidden_state_spread`): about 0.6 for an untrained model, near 0 when
            every input gives the same states.
        layer_spreads: the same per layer: index 0 the embeddings, index i the output of block i.
        collapsed: `spread < threshold`.
        threshold: the spread below which the model counts as collapsed.
        n_texts, n_tokens: how many inputs were compared, and over how many positions each.
        top_tokens: the model's most likely next token after each input (its last position), when it has an output
            layer (and as text when a tokenizer was given); the same token after every input is another sign.
        distinct_predictions: how many different next tokens the model predicts over all compared positions.
        learning_rate, warmup_steps: the training settings, when known, quoted in the warning.
    """

    spread: float
    layer_spreads: list[float]
    collapsed: bool
    threshold: float
    n_texts: int
    n_tokens: int
    top_tokens: list | None = None
    distinct_predictions: int | None = None
    learning_rate: float | None = None
    warmup_steps: float | None = None

    @property
    def warning(self) -> str | None:
        """None for a model whose states differ across inputs; for a collapsed one, what happened and what to do."""
        if not self.collapsed:
            return None
        settings = []
        if self.learning_rate is not None:
            settings.append(f"learning rate {self.learning_rate:g}")
        if self.warmup_steps is not None:
            settings.append(f"{self.warmup_steps:g} warm-up steps")
        run = f" (this run: {', '.join(settings)})" if settings else ""
        collapsed_layers = [str(i) for i, value in enumerate(self.layer_spreads) if i > 0 and value < self.threshold]
        where = f"blocks {', '.join(collapsed_layers)} give" if len(collapsed_layers) > 1 else "its last block gives"
        predicted = ""
        if self.top_tokens:
            shown = ", ".join(repr(token) for token in dict.fromkeys(self.top_tokens))
            predicted = f" It predicts {shown} next after every one of the {self.n_texts} texts."
        return (
            f"The model has collapsed: {where} the same hidden states for every input (spread across "
            f"{self.n_texts} evaluation texts {self.spread:.1e}; a model that reads its input measures above "
            f"{self.threshold:g}, an untrained one about 0.6).{predicted} It has learnt only how frequent each token is: "
            "its perplexity can look reasonable, but it understands no context and fine-tuning from it is no better "
            f"than from random weights. A post-LN model like GPT-1 needs a gentler start{run}: train again with a "
            "longer warm-up (--warmup_steps, e.g. a tenth of the steps and at least a few hundred) and/or a lower "
            f"--learning_rate (e.g. half). Measured on a 2-core CPU: {COLLAPSED_RUN} collapsed; {HEALTHY_RUN} did not. "
            "(Early in a run, during the warm-up, the spread can dip and recover: a model still collapsed at the next "
            "evaluation is not recovering.)"
        )


def _token_rows(inputs, tokenizer, max_length: int) -> list[list[int]]:
    """Token id lists from texts (with `tokenizer`), id lists, a 2-D tensor or a `datasets.Dataset` of `input_ids`."""
    if hasattr(inputs, "column_names"):  # a datasets.Dataset of blocks
        inputs = inputs["input_ids"]
    if isinstance(inputs, torch.Tensor):
        inputs = inputs.tolist()
    inputs = list(inputs)
    if inputs and isinstance(inputs[0], str):
        if tokenizer is None:
            raise ValueError("texts need a tokenizer: pass tokenizer=, or token ids")
        inputs = tokenizer(inputs, add_special_tokens=False, verbose=False)["input_ids"]  # cut to max_length below
    return [list(row)[:max_length] for row in inputs]


def hidden_state_spread(
    model,
    inputs: Sequence[str] | Sequence[Sequence[int]] | torch.Tensor,
    tokenizer=None,
    *,
    threshold: float = COLLAPSE_THRESHOLD,
    max_length: int = 64,
    batch_size: int = 16,
    learning_rate: float | None = None,
    warmup_steps: float | None = None,
) -> CollapseReport:
    """How much the model's hidden states differ from one input to another, at every layer.

    All inputs are cut to the length of the shortest (and to `max_length` tokens), so that position `p` of every
    input is compared with position `p` of the others. At each layer, with `h[t, p]` the state of input `t` at position
    `p` (`[n_texts, n_tokens, n_embd]`):

        spread = mean over p and features of std over t of h[t, p]  /  root mean square of all of h

    A unitless ratio: 0 when every input gives the same states (a collapsed model, whose states depend on the
    position at most), 1 when they share no common part; untrained GPT-1 models of 2 x 32 to 4 x 256 measure 0.64 at
    every layer on random tokens (the position embeddings are the part all inputs share). Dropout is off during the check; the model's mode is restored afterwards.

    Args:
        model: a GPT-1 model (`GPT1LMHeadModel`, `GPT1Model`, a task head) or another Transformers model whose
            `base_model` returns `hidden_states`.
        inputs: at least two texts (with `tokenizer`), token id lists, a `[n, length]` tensor, or a `datasets.Dataset`
            with `input_ids` (e.g. the evaluation blocks of pre-training). Texts of different content, a few dozen
            tokens each, tell most.
        tokenizer: needed for texts; also turns `top_tokens` into text.
        threshold: the spread below which the model counts as collapsed.
        max_length: most positions compared per input.
        batch_size: inputs per forward pass.
        learning_rate, warmup_steps: the run's settings, quoted in the warning.

    Returns:
        a `CollapseReport`; `report.warning` is None unless the model collapsed.

    Raises:
        ValueError: fewer than two inputs, or an empty one.
    """
    rows = _token_rows(inputs, tokenizer, max_length)
    if len(rows) < 2:
        raise ValueError(f"comparing hidden states needs at least two inputs, got {len(rows)}")
    length = min(len(row) for row in rows)
    if length == 0:
        raise ValueError("an input has no tokens")
    ids = torch.tensor([row[:length] for row in rows], dtype=torch.long)
    device = next(model.parameters()).device
    base = getattr(model, "base_model", model)
    was_training = model.training
    model.eval()
    layers, predictions = None, []
    try:
        with torch.no_grad():
            for first in range(0, len(ids), batch_size):
                batch = ids[first : first + batch_size].to(device)
                states = base(input_ids=batch, output_hidden_states=True, use_cache=False).hidden_states
                states = [state.float().cpu() for state in states]
                layers = states if layers is None else [torch.cat([a, b]) for a, b in zip(layers, states)]
                head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
                if head is not None:
                    predictions.append(head(states[-1].to(device).to(head.weight.dtype)).argmax(-1).cpu())
    finally:
        model.train(was_training)

    layer_spreads = [_spread(state) for state in layers]
    top_tokens = distinct = None
    if predictions:
        predicted = torch.cat(predictions)  # [n_texts, n_tokens]
        distinct = int(predicted.unique().numel())
        top_tokens = predicted[:, -1].tolist()
        if tokenizer is not None:
            top_tokens = tokenizer.convert_ids_to_tokens(top_tokens)
    spread = layer_spreads[-1]
    return CollapseReport(
        spread=spread,
        layer_spreads=layer_spreads,
        collapsed=bool(spread < threshold),
        threshold=threshold,
        n_texts=len(rows),
        n_tokens=length,
        top_tokens=top_tokens,
        distinct_predictions=distinct,
        learning_rate=learning_rate,
        warmup_steps=warmup_steps,
    )


def _spread(states: torch.Tensor) -> float:
    """`[n_texts, n_tokens, n_embd]` -> mean std across texts / root mean square (0 when all states are 0)."""
    states = states.double()
    scale = states.pow(2).mean().sqrt().item()
    if scale == 0:
        return 0.0
    return states.std(dim=0, unbiased=False).mean().item() / scale


class CollapseCallback(TrainerCallback):
    """At every evaluation, add to the logged metrics `eval_perplexity` (exp of `eval_loss`) and
    `eval_hidden_spread` (the final layer's `hidden_state_spread` on `inputs`), and log the verdict: a plain-words
    warning when the model has collapsed, with what to change.

    The values are added to the evaluation's log line (seen by the callbacks after this one: add it with
    `add_collapse_callback` to put it first), to `trainer.state.log_history` and to the metrics `evaluate` returns.

    Args:
        inputs: what `hidden_state_spread` compares (e.g. the first evaluation blocks).
        tokenizer: for texts, and to show the predicted tokens as text.
        kwargs: passed to `hidden_state_spread` (`threshold`, `max_length`, ...).
    """

    def __init__(self, inputs, tokenizer=None, **kwargs):
        self.inputs = inputs
        self.tokenizer = tokenizer
        self.kwargs = kwargs
        self.reports: list[tuple[int, CollapseReport]] = []  # (global step, report) of each evaluation

    def on_log(self, args, state, control, logs=None, model=None, **kwargs):
        if not logs or "eval_loss" not in logs or model is None:
            return
        report = hidden_state_spread(
            model,
            self.inputs,
            self.tokenizer,
            learning_rate=args.learning_rate,
            warmup_steps=args.warmup_steps,
            **self.kwargs,
        )
        self.reports.append((state.global_step, report))
        added = {"eval_perplexity": _perplexity(logs["eval_loss"]), "eval_hidden_spread": report.spread}
        logs.update(added)
        if state.log_history and state.log_history[-1].get("eval_loss") == logs["eval_loss"]:
            state.log_history[-1].update(added)  # Trainer.log stored a copy just before calling the callbacks
        if state.is_world_process_zero:
            if report.collapsed:
                logger.warning(f"Step {state.global_step}: {report.warning}")
            else:
                logger.info(
                    f"Step {state.global_step}: perplexity {added['eval_perplexity']:.1f}, hidden-state spread "
                    f"across inputs {report.spread:.2f} (collapse below {report.threshold:g})"
                )

    @property
    def last_report(self) -> CollapseReport | None:
        return self.reports[-1][1] if self.reports else None


def add_collapse_callback(trainer, inputs, tokenizer=None, **kwargs) -> CollapseCallback:
    """Give `trainer` a `CollapseCallback`, first in its list so that every logger (console, TensorBoard, ...) sees
    the added metrics. Returns the callback (its `reports` hold every evaluation's `CollapseReport`)."""
    callback = CollapseCallback(inputs, tokenizer, **kwargs)
    trainer.callback_handler.callbacks.insert(0, callback)
    return callback


def _perplexity(loss: float) -> float:
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf


__all__ = [
    "COLLAPSE_THRESHOLD",
    "CollapseCallback",
    "CollapseReport",
    "add_collapse_callback",
    "hidden_state_spread",
]
