"""The paper's zero-shot heuristics: the pre-trained language model alone, no fine-tuning (Radford et al. 2018,
section 5, "Zero-shot Behaviors", Figure 2 right).

Each heuristic scores texts with the language model's log-probabilities and turns the scores into predictions:

- `sentiment` (SST-2): append the word "very" to the sentence and compare the probabilities of "positive" and
  "negative" as the next word;
- `acceptability` (CoLA): the average token log-probability of the sentence, against a threshold (`fit_threshold`
  picks one on labelled data);
- `multiple_choice` (Story Cloze, RACE, the paper's "QA"): the answer with the highest average token log-probability
  given the context (document and question);
- `pronoun_resolution` (DPRD, Winograd schemas): put each candidate in place of the pronoun and pick the one that
  gives the rest of the sentence the highest average log-probability.

`normalized_score` places a score between random guessing (0) and a supervised reference (1), as the paper's
Figure 2 does. `evaluate_zero_shot` runs the right heuristic on a task read by `modeling_gpt1.tasks`.

All of them work on any `GPT1LMHeadModel` (or another causal LM whose `base_model` returns `last_hidden_state` and
whose `get_output_embeddings()` is its output layer, such as Transformers' `openai-gpt`) with its tokenizer. Texts are
scored in batches, one forward pass per batch, padded on either side with an attention mask; log-probabilities are in
nats. Example::

    from modeling_gpt1 import GPT1LMHeadModel, GPT1Tokenizer
    from modeling_gpt1.zero_shot import sentiment

    model = GPT1LMHeadModel.from_pretrained("gpt1-books")
    tokenizer = GPT1Tokenizer.from_pretrained("gpt1-books")
    result = sentiment(model, tokenizer, ["a charming , funny film .", "a dull mess ."])
    result.predictions  # array([1, 0]): 1 = positive, as SST-2's labels
"""

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, matthews_corrcoef
from transformers.utils import logging


logger = logging.get_logger(__name__)

# Random guessing on each task, in the metric the paper reports for it (Matthews correlation for CoLA, accuracy
# otherwise): the 0 of `normalized_score`.
CHANCE = {
    "sst2": 0.5,
    "cola": 0.0,
    "rocstories": 0.5,
    "race": 0.25,
    "race_middle": 0.25,
    "race_high": 0.25,
    "dprd": 0.5,
}
# The paper's own fine-tuned GPT-1 (its Tables 2-4), one possible supervised reference for `normalized_score`. The
# paper's Figure 2 used the state of the art of the time on each task instead, which it does not list.
PAPER_FINETUNED = {
    "sst2": 0.913,
    "cola": 0.454,
    "rocstories": 0.865,
    "race": 0.590,
    "race_middle": 0.629,
    "race_high": 0.574,
}

HEURISTICS = {
    "sst2": "sentiment",
    "cola": "acceptability",
    "rocstories": "multiple_choice",
    "race": "multiple_choice",
    "race_middle": "multiple_choice",
    "race_high": "multiple_choice",
    "dprd": "pronoun_resolution",
}


@dataclass
class ZeroShotResult:
    """Predictions of a zero-shot heuristic and the scores they come from.

    Attributes:
        predictions: `[n]` int64, one class id (or answer index) per example, in the task's label order.
        scores: the log-probability scores in nats: `[n]` (acceptability: average token log-probability) or
            `[n, choices]` (sentiment: total log-probability of each word; multiple choice and pronoun resolution:
            average token log-probability of each answer / of the rest of the sentence).
        threshold: acceptability only: the average log-probability above which a sentence counts as acceptable.
    """

    predictions: np.ndarray
    scores: np.ndarray
    threshold: float | None = None


@dataclass
class ContinuationScores:
    """Log-probabilities of continuations given their contexts.

    Attributes:
        total: `[n]` float64, the sum of the continuation tokens' log-probabilities (nats): the log-probability of
            the whole continuation.
        n_tokens: `[n]` int64, how many continuation tokens were scored.
        token_log_probs: per example, the `[n_tokens]` log-probability of each scored token (only when asked for).
    """

    total: np.ndarray
    n_tokens: np.ndarray
    token_log_probs: list[np.ndarray] | None = field(default=None, repr=False)

    @property
    def mean(self) -> np.ndarray:
        """`[n]` average token log-probability (nats per token); NaN where no token was scored."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.n_tokens > 0, self.total / np.maximum(self.n_tokens, 1), np.nan)


# ---------------------------------------------------------------------------------------------------------
# Scoring


def _encode(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text without special tokens (an empty text has none)."""
    texts = list(texts)
    if not texts:
        return []
    # verbose=False: texts longer than the model are expected here (cut by `_rows`), no warning about them.
    return [list(ids) for ids in tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]]


def _context_length(model) -> int:
    config = model.config
    for name in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    raise ValueError(f"cannot tell the context length of {type(model).__name__}: pass max_length")


def _pad_id(model, tokenizer) -> int:
    """Any id inside the vocabulary: padded positions are masked out and never scored."""
    pad = getattr(tokenizer, "pad_token_id", None)
    vocab_size = model.get_input_embeddings().num_embeddings
    return pad if isinstance(pad, int) and 0 <= pad < vocab_size else 0


def _rows(context_ids, continuation_ids, max_length: int) -> tuple[list[list[int]], list[int], int]:
    """Each example as one token list and the index of its first continuation token, cut to `max_length` tokens:
    the context loses its first tokens first, then the continuation its last ones. Returns the number cut."""
    rows, starts, cut_rows = [], [], 0
    for context, continuation in zip(context_ids, continuation_ids):
        excess = len(context) + len(continuation) - max_length
        if excess > 0:
            cut_rows += 1
            dropped = min(excess, len(context))
            context = context[dropped:]
            continuation = continuation[: max_length - len(context)]
        rows.append(context + continuation)
        starts.append(len(context))
    return rows, starts, cut_rows


def continuation_log_probs(
    model,
    tokenizer,
    contexts: Sequence[str],
    continuations: Sequence[str],
    *,
    batch_size: int = 16,
    max_length: int | None = None,
    padding_side: str = "right",
    return_token_log_probs: bool = False,
) -> ContinuationScores:
    """The log-probability of each continuation given its context, token by token, under the language model.

    Context and continuation are tokenised separately (no special tokens) and joined, so the continuation's tokens
    are exactly those of the continuation alone: give it its leading space (`" positive"`), which GPT-1's tokenizer
    drops and byte-level BPEs keep. A continuation token is scored by the model's prediction at the position before
    it, so with an empty context the first token has nothing to be predicted from and is not scored.

    Args:
        model: a causal LM (`GPT1LMHeadModel`); put in eval mode for the scoring, its mode restored afterwards.
        tokenizer: its tokenizer.
        contexts, continuations: `n` texts each.
        batch_size: examples per forward pass (examples are grouped by length, results come back in input order).
        max_length: most tokens per example; default the model's context (`n_positions`). Longer examples lose the
            start of their context, then the end of their continuation (logged once).
        padding_side: `"right"` or `"left"`; the results do not depend on it (positions count real tokens only).
        return_token_log_probs: also return every scored token's log-probability.

    Returns:
        `ContinuationScores` with `total` `[n]` (nats) and `n_tokens` `[n]`; `.mean` is the average per token.

    Raises:
        ValueError: lists of different lengths, an empty continuation, a bad padding side or batch size.
    """
    contexts, continuations = list(contexts), list(continuations)
    if len(contexts) != len(continuations):
        raise ValueError(f"{len(contexts)} contexts for {len(continuations)} continuations")
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    max_length = max_length or _context_length(model)
    context_ids, continuation_ids = _encode(tokenizer, contexts), _encode(tokenizer, continuations)
    for i, ids in enumerate(continuation_ids):
        if not ids:
            raise ValueError(f"continuation {i} ({continuations[i]!r}) has no tokens to score")
    rows, starts, cut = _rows(context_ids, continuation_ids, max_length)
    if cut:
        logger.warning(
            f"{cut} of {len(rows)} examples exceed {max_length} tokens: their contexts were cut at the start"
        )

    n = len(rows)
    total, n_tokens = np.zeros(n, dtype=np.float64), np.zeros(n, dtype=np.int64)
    token_log_probs: list[np.ndarray | None] = [None] * n
    order = sorted(range(n), key=lambda i: len(rows[i]), reverse=True)  # little padding within a batch
    pad_id = _pad_id(model, tokenizer)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for first in range(0, n, batch_size):
                batch = order[first : first + batch_size]
                batch_rows, batch_starts = [rows[i] for i in batch], [starts[i] for i in batch]
                scores = _score_batch(model, batch_rows, batch_starts, pad_id, padding_side, device)
                for i, values in zip(batch, scores):
                    total[i], n_tokens[i] = float(values.sum(dtype=np.float64)), len(values)
                    token_log_probs[i] = values
    finally:
        model.train(was_training)
    return ContinuationScores(total, n_tokens, token_log_probs if return_token_log_probs else None)


def _score_batch(model, rows, starts, pad_id: int, padding_side: str, device) -> list[np.ndarray]:
    """One forward pass: the log-probability of every continuation token of each row, `[tokens]` float64 each."""
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    scored = torch.zeros((len(rows), width), dtype=torch.bool)  # tokens whose log-probability is wanted
    for j, (row, start) in enumerate(zip(rows, starts)):
        offset = width - len(row) if padding_side == "left" else 0
        ids[j, offset : offset + len(row)] = torch.tensor(row, dtype=torch.long)
        mask[j, offset : offset + len(row)] = 1
        scored[j, offset + max(start, 1) : offset + len(row)] = True  # the first token of a row has no prediction
    ids, mask, scored = ids.to(device), mask.to(device), scored.to(device)

    targets = scored[:, 1:]  # token t + 1 is predicted at position t
    head = model.get_output_embeddings()
    if head is not None and getattr(model, "base_model", model) is not model:
        hidden = model.base_model(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        logits = head(hidden[:, :-1][targets])  # the output layer only where a token is scored: [tokens, vocab]
    else:
        logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, :-1][targets]
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    values = log_probs.gather(-1, ids[:, 1:][targets].unsqueeze(-1)).squeeze(-1).double().cpu().numpy()
    counts = targets.sum(-1).tolist()
    return list(np.split(values, np.cumsum(counts)[:-1]))


def average_log_probs(model, tokenizer, texts: Sequence[str], *, prefix: str = "", **kwargs) -> np.ndarray:
    """`[n]` average token log-probability of each text (nats per token), after `prefix` (default none: the first
    token is then not scored; NaN for a text of one token). Keyword arguments go to `continuation_log_probs`."""
    texts = list(texts)
    return continuation_log_probs(model, tokenizer, [prefix] * len(texts), texts, **kwargs).mean


# ---------------------------------------------------------------------------------------------------------
# The heuristics


def sentiment(
    model,
    tokenizer,
    sentences: Sequence[str],
    *,
    cue: str = "very",
    words: Sequence[str] = ("negative", "positive"),
    **kwargs,
) -> ZeroShotResult:
    """SST-2 zero-shot (section 5): append `cue` ("very") to each sentence and pick the word of `words` the model
    finds most likely next.

    A word split into several BPE tokens is scored as a whole: the sum of its tokens' log-probabilities.

    Args:
        sentences: `n` texts.
        cue: the word appended to each sentence.
        words: one word per class, in label order (SST-2: 0 negative, 1 positive).
        kwargs: passed to `continuation_log_probs` (`batch_size`, `max_length`, `padding_side`).

    Returns:
        `ZeroShotResult`: `scores` `[n, len(words)]`, the log-probability (nats) of each word after
        "sentence cue"; `predictions` `[n]` the argmax (ties go to the first word).
    """
    sentences, words = list(sentences), list(words)
    contexts = [f"{sentence.rstrip()} {cue}".strip() for sentence in sentences]
    scores = continuation_log_probs(
        model,
        tokenizer,
        [context for _ in words for context in contexts],
        [f" {word}" for word in words for _ in contexts],
        **kwargs,
    ).total
    scores = scores.reshape(len(words), len(sentences)).T
    return ZeroShotResult(np.argmax(scores, axis=1).astype(np.int64), scores)


def fit_threshold(scores, labels, metric: str = "matthews_correlation") -> float:
    """The acceptability threshold that scores best on labelled examples: the midpoint between two consecutive
    distinct scores that maximises `metric` ("matthews_correlation" or "accuracy") when a score above it means
    label 1 (ties: the lowest). NaN scores count as below every threshold.

    Args:
        scores: `[n]` average log-probabilities (`acceptability(...).scores`).
        labels: `[n]` 0/1 labels (1 = acceptable).
    """
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    if scores.shape != labels.shape or scores.ndim != 1 or len(scores) == 0:
        raise ValueError(f"expected as many scores as labels (1-D, not empty), got {scores.shape} and {labels.shape}")
    if metric not in ("matthews_correlation", "accuracy"):
        raise ValueError(f"metric must be 'matthews_correlation' or 'accuracy', got {metric!r}")
    score_fn = matthews_corrcoef if metric == "matthews_correlation" else accuracy_score
    finite = np.unique(scores[np.isfinite(scores)])
    if len(finite) == 0:
        raise ValueError("no finite score to place a threshold between")
    candidates = np.concatenate([[finite[0] - 1.0], (finite[:-1] + finite[1:]) / 2, [finite[-1] + 1.0]])
    values = [score_fn(labels, (scores > threshold).astype(np.int64)) for threshold in candidates]
    return float(candidates[int(np.argmax(values))])


def acceptability(
    model,
    tokenizer,
    sentences: Sequence[str],
    *,
    threshold: float | None = None,
    prefix: str = "",
    **kwargs,
) -> ZeroShotResult:
    """CoLA zero-shot (section 5): a sentence is acceptable (1) when its average token log-probability is above a
    threshold.

    Args:
        sentences: `n` texts.
        threshold: in nats per token; default the median of these sentences' scores (half are called acceptable).
            `fit_threshold` picks one on labelled examples (e.g. part of the training file).
        prefix: text before each sentence (e.g. `"\\n"`), so that its first token is scored too; by default it is not
            (a sentence of one token then scores NaN, and is called unacceptable).
        kwargs: passed to `continuation_log_probs`.

    Returns:
        `ZeroShotResult`: `scores` `[n]` average token log-probabilities, `predictions` `[n]` 0/1, and `threshold`.
    """
    scores = average_log_probs(model, tokenizer, sentences, prefix=prefix, **kwargs)
    if threshold is None:
        finite = scores[np.isfinite(scores)]
        threshold = float(np.median(finite)) if len(finite) else 0.0
    with np.errstate(invalid="ignore"):
        predictions = (scores > threshold).astype(np.int64)
    return ZeroShotResult(predictions, scores, float(threshold))


def multiple_choice(
    model, tokenizer, contexts: Sequence[str], choices: Sequence[Sequence[str]], **kwargs
) -> ZeroShotResult:
    """Story Cloze / RACE zero-shot (section 5): the answer with the highest average token log-probability given
    the context (for RACE, the document and the question).

    Args:
        contexts: `n` texts.
        choices: `n` lists of the same number `c` of answers.
        kwargs: passed to `continuation_log_probs` (a context too long for the model loses its start).

    Returns:
        `ZeroShotResult`: `scores` `[n, c]` average token log-probability (nats) of each answer, `predictions` `[n]`
        the index of the best one (ties: the first).
    """
    contexts, choices = list(contexts), [list(answers) for answers in choices]
    if len(contexts) != len(choices):
        raise ValueError(f"{len(contexts)} contexts for {len(choices)} lists of choices")
    if not contexts:
        return ZeroShotResult(np.zeros(0, dtype=np.int64), np.zeros((0, 0)))
    n_choices = len(choices[0])
    if any(len(answers) != n_choices for answers in choices) or n_choices == 0:
        raise ValueError(f"every example needs the same number of choices (the first has {n_choices})")
    scores = continuation_log_probs(
        model,
        tokenizer,
        [context.rstrip() for context, answers in zip(contexts, choices) for _ in answers],
        [f" {answer.strip()}" for answers in choices for answer in answers],
        **kwargs,
    ).mean.reshape(len(contexts), n_choices)
    return ZeroShotResult(_argmax(scores), scores)


def pronoun_span(sentence: str, pronoun: str | tuple[int, int]) -> tuple[int, int]:
    """Character span `(start, end)` of the pronoun in `sentence`: given as a span, or as the word, whose first
    whole-word occurrence (any case) is taken. Raises ValueError when the word is not in the sentence, the span is
    outside it, or the pronoun is neither."""
    if isinstance(pronoun, str):
        match = re.search(rf"(?<!\w){re.escape(pronoun)}(?!\w)", sentence, flags=re.IGNORECASE)
        if match is None:
            raise ValueError(f"the pronoun {pronoun!r} is not a word of {sentence!r}")
        return match.span()
    if not (isinstance(pronoun, (tuple, list)) and len(pronoun) == 2 and all(type(x) is int for x in pronoun)):
        raise ValueError(f"a pronoun is a word or a (start, end) character span, got {pronoun!r}")
    start, end = pronoun
    if not 0 <= start < end <= len(sentence):
        raise ValueError(f"pronoun span {(start, end)} is outside {sentence!r}")
    return start, end


def pronoun_resolution(
    model,
    tokenizer,
    sentences: Sequence[str],
    pronouns: Sequence[str | tuple[int, int]],
    candidates: Sequence[Sequence[str]],
    **kwargs,
) -> ZeroShotResult:
    """DPRD / Winograd schema zero-shot (section 5, after Trinh and Le 2018's partial scoring): put each candidate
    in place of the pronoun and pick the one under which the rest of the sentence (the tokens after the substituted
    candidate) has the highest average log-probability.

    Args:
        sentences: `n` sentences.
        pronouns: per sentence, the pronoun as a word (its first whole-word occurrence) or a `(start, end)` span.
        candidates: `n` lists of the same number `c` of candidate noun phrases.
        kwargs: passed to `continuation_log_probs`.

    Returns:
        `ZeroShotResult`: `scores` `[n, c]` average log-probability (nats per token) of the rest of the sentence
        after each candidate, `predictions` `[n]` the best candidate's index.

    Raises:
        ValueError: a pronoun not found, or one with no text after it to score.
    """
    sentences, pronouns = list(sentences), list(pronouns)
    if not len(sentences) == len(pronouns) == len(candidates):
        raise ValueError(f"{len(sentences)} sentences, {len(pronouns)} pronouns, {len(candidates)} candidate lists")
    heads, rests = zip(*map(split_at_pronoun, sentences, pronouns)) if sentences else ((), ())
    return _pronoun_scores(model, tokenizer, list(heads), list(rests), [list(c) for c in candidates], **kwargs)


def split_at_pronoun(sentence: str, pronoun: str | tuple[int, int]) -> tuple[str, str]:
    """`sentence` before and after the pronoun (`pronoun_span`). Raises ValueError when the pronoun is not found or
    nothing follows it (there would be no rest of the sentence to score)."""
    start, end = pronoun_span(sentence, pronoun)
    if not sentence[end:].strip():
        raise ValueError(f"nothing follows the pronoun in {sentence!r}: there is no rest of the sentence to score")
    return sentence[:start], sentence[end:]


def _pronoun_scores(model, tokenizer, heads, rests, candidates, **kwargs) -> ZeroShotResult:
    if not heads:
        return ZeroShotResult(np.zeros(0, dtype=np.int64), np.zeros((0, 0)))
    n_choices = len(candidates[0])
    if any(len(c) != n_choices for c in candidates) or n_choices == 0:
        raise ValueError(f"every sentence needs the same number of candidates (the first has {n_choices})")
    contexts = [(head + candidate).rstrip() for head, cands in zip(heads, candidates) for candidate in cands]
    continuations = [rest for rest, cands in zip(rests, candidates) for _ in cands]
    scores = continuation_log_probs(model, tokenizer, contexts, continuations, **kwargs).mean
    scores = scores.reshape(len(heads), n_choices)
    return ZeroShotResult(_argmax(scores), scores)


def _argmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise argmax (first on ties), NaN counted as the lowest score."""
    return np.argmax(np.where(np.isnan(scores), -np.inf, scores), axis=1).astype(np.int64)


# ---------------------------------------------------------------------------------------------------------
# Scores


def normalized_score(score: float, chance: float, supervised: float) -> float:
    """`(score - chance) / (supervised - chance)`: 0 at random guessing, 1 at the supervised reference, as the
    paper's Figure 2 (right) plots zero-shot performance. `CHANCE` has random guessing for each task, in the metric
    the paper reports (Matthews correlation for CoLA, accuracy otherwise); `PAPER_FINETUNED` the paper's fine-tuned
    scores, one choice of reference."""
    if supervised == chance:
        raise ValueError(f"the supervised reference ({supervised}) must differ from chance ({chance})")
    return (score - chance) / (supervised - chance)


def task_metric(task: str, labels, predictions) -> float:
    """The paper's metric of a zero-shot task: Matthews correlation for CoLA, accuracy for the others."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if task == "cola":
        return float(matthews_corrcoef(labels, predictions))
    return float(accuracy_score(labels, predictions))


def _multiple_choice_inputs(spec, dataset) -> tuple[list[str], list[list[str]]]:
    columns = {name: list(dataset[name]) for name in (*spec.text_fields, *spec.answer_fields)}
    n = len(columns[spec.answer_fields[0]])
    contexts = [" ".join(columns[name][i].strip() for name in spec.text_fields) for i in range(n)]
    choices = [[columns[name][i] for name in spec.answer_fields] for i in range(n)]
    return contexts, choices


def evaluate_zero_shot(
    model,
    tokenizer,
    task: str,
    dataset,
    *,
    threshold: float | None = None,
    supervised: float | None = None,
    **kwargs,
) -> dict:
    """Run a task's zero-shot heuristic (`HEURISTICS`) on labelled examples and score it.

    Args:
        task: "sst2", "cola", "rocstories", "race" (or "race_middle", "race_high"), or "dprd".
        dataset: the examples, with the normalised columns of `modeling_gpt1.tasks.load_task_dataset` (a
            `datasets.Dataset` or a dict of columns); for "dprd", those of `read_pronoun_file`.
        threshold: CoLA only: see `acceptability` (default: the median score).
        supervised: the supervised reference of `normalized_score`; default `PAPER_FINETUNED[task]` where it has one.
        kwargs: passed to `continuation_log_probs` (`batch_size`, `max_length`, `padding_side`).

    Returns:
        a dict: `task`, `heuristic`, `metric` (its name), `score`, `chance`, `normalized` (None without a reference),
        `supervised`, `examples`, `threshold` (CoLA), and `result` (the `ZeroShotResult`).
    """
    if task not in HEURISTICS:
        raise ValueError(f"no zero-shot heuristic for {task!r}; the tasks are {', '.join(HEURISTICS)}")
    labels = np.asarray(dataset["label"])
    if task == "sst2":
        result = sentiment(model, tokenizer, dataset["sentence"], **kwargs)
    elif task == "cola":
        result = acceptability(model, tokenizer, dataset["sentence"], threshold=threshold, **kwargs)
    elif task == "dprd":
        result = pronoun_resolution(
            model, tokenizer, dataset["sentence"], dataset["pronoun"], dataset["candidates"], **kwargs
        )
    else:
        from .tasks import get_task

        result = multiple_choice(model, tokenizer, *_multiple_choice_inputs(get_task(task), dataset), **kwargs)
    score = task_metric(task, labels, result.predictions)
    supervised = supervised if supervised is not None else PAPER_FINETUNED.get(task)
    chance = CHANCE[task]
    return {
        "task": task,
        "heuristic": HEURISTICS[task],
        "metric": "matthews_correlation" if task == "cola" else "accuracy",
        "score": score,
        "chance": chance,
        "supervised": supervised,
        "normalized": None if supervised is None else normalized_score(score, chance, supervised),
        "examples": len(labels),
        "threshold": result.threshold,
        "result": result,
    }


def read_pronoun_file(path: str | Path) -> dict[str, list]:
    """Pronoun-resolution examples (DPRD, Winograd schemas) from a JSON-lines file, one object a line:
    `{"sentence": ..., "pronoun": "he" or [start, end], "candidates": ["the man", "the dog"], "label": 0}`
    (`label`: the index of the right candidate). Returns the columns as lists, for `evaluate_zero_shot`."""
    path = Path(path)
    columns: dict[str, list] = {"sentence": [], "pronoun": [], "candidates": [], "label": []}
    with path.open(encoding="utf-8-sig") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                example = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path} line {number} is not JSON: {error}") from None
            missing = [key for key in columns if key not in example]
            if missing:
                raise ValueError(f"{path} line {number} lacks {missing}")
            n_choices = len(columns["candidates"][0]) if columns["label"] else None
            try:
                _check_pronoun_example(example, n_choices)
            except ValueError as error:
                raise ValueError(f"{path} line {number}: {error}") from None
            pronoun = example["pronoun"]
            for key in columns:
                columns[key].append(
                    tuple(pronoun) if key == "pronoun" and not isinstance(pronoun, str) else example[key]
                )
    if not columns["label"]:
        raise ValueError(f"{path} holds no examples")
    return columns


def _check_pronoun_example(example: dict, n_choices: int | None) -> None:
    """Raise ValueError unless `example` can be scored: a list of `n_choices` (any when None) candidate strings, a
    label indexing one, and a string sentence in which the pronoun is found with text after it."""
    candidates, label, sentence = example["candidates"], example["label"], example["sentence"]
    if not isinstance(candidates, list) or not candidates or not all(isinstance(c, str) for c in candidates):
        raise ValueError(f"candidates must be a list of noun phrases, got {candidates!r}")
    if n_choices is not None and len(candidates) != n_choices:
        raise ValueError(
            f"{len(candidates)} candidates where the first line has {n_choices} (every line needs the same number)"
        )
    if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < len(candidates):
        raise ValueError(f"label {label!r} is not the index of a candidate")
    if not isinstance(sentence, str):
        raise ValueError(f"the sentence must be a string, got {sentence!r}")
    split_at_pronoun(sentence, example["pronoun"])


__all__ = [
    "CHANCE",
    "HEURISTICS",
    "PAPER_FINETUNED",
    "ContinuationScores",
    "ZeroShotResult",
    "acceptability",
    "average_log_probs",
    "continuation_log_probs",
    "evaluate_zero_shot",
    "fit_threshold",
    "multiple_choice",
    "normalized_score",
    "pronoun_resolution",
    "pronoun_span",
    "read_pronoun_file",
    "split_at_pronoun",
    "sentiment",
    "task_metric",
]
