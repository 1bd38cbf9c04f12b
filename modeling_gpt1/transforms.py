"""GPT's input transformations (Radford et al. 2018, Figure 1, right).

Every task input becomes one token sequence (or a few, one per ordering or answer) that a language model
can read: ``[start] segment [delim] segment [extract]``. The task head reads the state at the extract token.
The layout functions work on token-id lists, so they are independent of any tokenizer; `InputTransform`
tokenises `datasets` columns and applies them inside `Dataset.map(batched=True)`.
"""

from collections.abc import Sequence
from dataclasses import dataclass, fields

from transformers.tokenization_utils_base import VERY_LARGE_INTEGER

from .configuration_gpt1 import SPECIAL_TOKENS


FAMILIES = ("classification", "entailment", "similarity", "multiple_choice")
TRUNCATIONS = ("longest_first", "per_segment")
DEFAULT_MAX_LENGTH = 512  # GPT-1's context size, used when the tokenizer does not set one

# Token text of each field of `SpecialTokenIds` (``start`` -> ``_start_``), for error messages.
_TOKEN_NAMES = {field.removesuffix("_token_id"): token for field, token in SPECIAL_TOKENS.items()}


@dataclass(frozen=True)
class SpecialTokenIds:
    """Ids of the tokens the transformations add: ``_start_``, ``_delimiter_``, ``_classify_`` and ``<pad>``."""

    start: int
    delimiter: int
    extract: int
    pad: int

    @classmethod
    def from_tokenizer(cls, tokenizer) -> "SpecialTokenIds":
        """Read ``tokenizer.start_token_id``, ``.delimiter_token_id``, ``.extract_token_id``, ``.pad_token_id``;
        ValueError naming the missing ones."""
        return cls._read(
            tokenizer,
            "tokenizer",
            "add the GPT-1 special tokens _start_, _delimiter_, _classify_ and <pad> to the tokenizer "
            "(as named special tokens start_token, delimiter_token, extract_token and pad_token)",
        )

    @classmethod
    def from_config(cls, config) -> "SpecialTokenIds":
        """Read ``config.start_token_id``, ``.delimiter_token_id``, ``.extract_token_id``, ``.pad_token_id``."""
        return cls._read(config, "config", "set these ids on the config")

    @classmethod
    def _read(cls, source, source_name: str, fix: str) -> "SpecialTokenIds":
        ids = {field.name: getattr(source, f"{field.name}_token_id", None) for field in fields(cls)}
        missing = [f"{_TOKEN_NAMES[name]} ({name}_token_id)" for name, value in ids.items() if value is None]
        if missing:
            raise ValueError(f"{source_name} has no {', '.join(missing)} token: {fix}")
        return cls(**{name: int(value) for name, value in ids.items()})


def classification(text: list[int], special: SpecialTokenIds, max_length: int, truncation: str = "longest_first"):
    """``[start] text [extract]``.

    Like every layout function here, raises TypeError for text instead of ids or a `max_length` that is not an int,
    and ValueError for a segment holding a start, delimiter or extract id, an unknown `truncation`, or a `max_length`
    that cannot hold the special tokens."""
    return _layout([text], special, max_length, truncation)


def entailment(
    premise: list[int],
    hypothesis: list[int],
    special: SpecialTokenIds,
    max_length: int,
    truncation: str = "longest_first",
):
    """``[start] premise [delim] hypothesis [extract]``."""
    return _layout([premise, hypothesis], special, max_length, truncation)


def similarity(
    a: list[int], b: list[int], special: SpecialTokenIds, max_length: int, truncation: str = "longest_first"
):
    """Both orderings ``[start] a [delim] b [extract]`` and ``[start] b [delim] a [extract]``.

    The sentences have no inherent order, so the model reads both and adds the two extract states. They are
    truncated once, so both orderings hold the same tokens.
    """
    a, b = _truncate([a, b], max_length, truncation, special)
    return [_join([a, b], special), _join([b, a], special)]


def multiple_choice(
    context: list[int],
    answers: Sequence[list[int]],
    special: SpecialTokenIds,
    max_length: int,
    truncation: str = "longest_first",
):
    """One ``[start] context [delim] answer_k [extract]`` per answer; the model scores each one."""
    if len(answers) == 0:
        raise ValueError("multiple_choice needs at least one answer")
    return [_layout([context, answer], special, max_length, truncation) for answer in answers]


def _layout(segments, special, max_length, truncation):
    return _join(_truncate(segments, max_length, truncation, special), special)


def _join(segments: list[list[int]], special: SpecialTokenIds) -> list[int]:
    ids = [special.start]
    for i, segment in enumerate(segments):
        if i > 0:
            ids.append(special.delimiter)
        ids.extend(segment)
    ids.append(special.extract)
    return ids


def _truncate(segments, max_length, truncation, special: SpecialTokenIds) -> list[list[int]]:
    """Cut segment ends so that the segments and their ``len(segments) + 1`` special tokens fit `max_length`.

    Raises TypeError for text instead of ids or a `max_length` that is not an int; ValueError for a segment holding a
    start, delimiter or extract id (only the layout places those), an unknown `truncation`, or a `max_length` too
    small for the special tokens."""
    for segment in segments:
        if isinstance(segment, str):
            raise TypeError("the input transformations take token ids, not text: tokenize the text first")
    _check_no_layout_tokens(segments, special)
    if truncation not in TRUNCATIONS:
        raise ValueError(f"truncation must be one of {TRUNCATIONS}, got {truncation!r}")
    n_special = len(segments) + 1
    if not isinstance(max_length, int) or isinstance(max_length, bool):
        raise TypeError(f"max_length must be an int, got {type(max_length).__name__} {max_length!r}")
    if max_length < n_special:
        raise ValueError(f"max_length={max_length!r} cannot hold the {n_special} special tokens of this layout")
    segments = [list(segment) for segment in segments]
    if truncation == "per_segment":
        # The released code's cap, n_ctx // 2 - 2 for two segments, generalised to an equal share each.
        cap = max(max_length // len(segments) - 2, 0)
        return [segment[:cap] for segment in segments]
    budget = max_length - n_special
    if len(segments) == 1:
        return [segments[0][:budget]]
    return list(_longest_first(*segments, budget))


def _check_no_layout_tokens(segments, special: SpecialTokenIds) -> None:
    layout = {special.start: "start", special.delimiter: "delimiter", special.extract: "extract"}
    for index, segment in enumerate(segments):
        found = sorted({token for token in segment if token in layout})
        if found:
            names = ", ".join(f"{_TOKEN_NAMES[layout[token]]} (id {token})" for token in found)
            raise ValueError(
                f"segment {index} holds the special token(s) {names}: only the input transformation places them; "
                "tokenize text with split_special_tokens=True and a vocabulary whose words are not special tokens"
            )


def _longest_first(first: list[int], second: list[int], budget: int):
    """Remove tokens one at a time from the end of the longer segment (the second on ties), like Transformers."""
    excess = len(first) + len(second) - budget
    if excess <= 0:
        return first, second
    from_longer = min(abs(len(first) - len(second)), excess)
    # Once both have the same length they shrink in turn, the second one first.
    rest = excess - from_longer
    cut_first, cut_second = rest // 2, rest - rest // 2
    if len(first) > len(second):
        cut_first += from_longer
    else:
        cut_second += from_longer
    return first[: len(first) - cut_first], second[: len(second) - cut_second]


# The families whose text fields are, in order, the arguments of their layout function.
_SEQUENCE_LAYOUTS = {"classification": classification, "entailment": entailment, "similarity": similarity}


class InputTransform:
    """Tokenise `datasets` columns and lay them out for one task family; use with ``Dataset.map(batched=True)``.

    Args:
        tokenizer: a tokenizer with the GPT-1 special tokens (see `SpecialTokenIds.from_tokenizer`).
        family: one of `FAMILIES`.
        text_fields: the text columns: one for classification, two for entailment and similarity. For
            multiple choice, the context column(s), joined with a space (Story Cloze's four sentences;
            RACE's article and question).
        answer_fields: multiple choice only: the answer columns, or the name of one list-valued column.
        max_length: the model's context size (``n_positions``); default ``tokenizer.model_max_length`` or 512.
        truncation: ``"longest_first"`` or ``"per_segment"`` (see `TRUNCATIONS`).
        label_field: the label column, returned as ``labels``; None for unlabelled data.

    Returns ``input_ids`` per example: a list of ids for classification and entailment, a list of sequences
    (the two orderings, or one per answer) for similarity and multiple choice.

    Text is tokenised with ``split_special_tokens=True``: a special token's string inside it (``"_classify_"``) is
    ordinary text, and only the layout places ``_start_``, ``_delimiter_`` and ``_classify_``.

    Raises:
        ValueError: an unknown `family` or `truncation`, the wrong number of text fields, `answer_fields` missing
            (multiple choice) or given (other families), a tokenizer without the special tokens; when called, a
            column missing from the batch, or text the vocabulary maps to a special id.
        TypeError (when called): a text column holding something other than strings, a list-valued answer column
            holding strings.
    """

    def __init__(
        self,
        tokenizer,
        family: str,
        text_fields: str | Sequence[str],
        answer_fields: str | Sequence[str] | None = None,
        max_length: int | None = None,
        truncation: str = "longest_first",
        label_field: str | None = "label",
    ):
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
        if truncation not in TRUNCATIONS:
            raise ValueError(f"truncation must be one of {TRUNCATIONS}, got {truncation!r}")
        text_fields = [text_fields] if isinstance(text_fields, str) else list(text_fields)
        expected = {"classification": 1, "entailment": 2, "similarity": 2}.get(family)
        if expected is not None and len(text_fields) != expected:
            raise ValueError(f"{family} takes {expected} text field(s), got {text_fields}")
        if family == "multiple_choice":
            if not text_fields or answer_fields is None:
                raise ValueError("multiple_choice needs text_fields (the context) and answer_fields")
        elif answer_fields is not None:
            raise ValueError(f"answer_fields is for multiple_choice only, not {family}")
        if max_length is None:
            max_length = getattr(tokenizer, "model_max_length", None)
            if max_length is None or max_length >= VERY_LARGE_INTEGER:
                max_length = DEFAULT_MAX_LENGTH

        self.tokenizer = tokenizer
        self.special = SpecialTokenIds.from_tokenizer(tokenizer)
        self.family = family
        self.text_fields = text_fields
        self.answer_fields = answer_fields
        self.max_length = max_length
        self.truncation = truncation
        self.label_field = label_field

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        options = dict(special=self.special, max_length=self.max_length, truncation=self.truncation)
        if self.family == "multiple_choice":
            contexts = self._tokenize([" ".join(parts) for parts in zip(*self._text_columns(batch, self.text_fields))])
            input_ids = [multiple_choice(c, a, **options) for c, a in zip(contexts, self._answers(batch))]
        else:
            segments = [self._tokenize(column) for column in self._text_columns(batch, self.text_fields)]
            layout = _SEQUENCE_LAYOUTS[self.family]
            input_ids = [layout(*example, **options) for example in zip(*segments)]
        output = {"input_ids": input_ids}
        if self.label_field is not None:
            output["labels"] = self._columns(batch, [self.label_field])[0]
        return output

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids of plain text: special-token strings inside it (``_classify_``) are split as ordinary text,
        so that only the layout places special tokens."""
        # verbose=False: the tokenizer's "longer than the specified maximum" warning does not apply, as the layout
        # truncates to max_length afterwards (the scripts report how many examples that shortened).
        return self.tokenizer(list(texts), add_special_tokens=False, split_special_tokens=True, verbose=False)[
            "input_ids"
        ]

    def _answers(self, batch) -> list[list[list[int]]]:
        """Tokenised answers per example, from one list-valued column or one column per answer."""
        if isinstance(self.answer_fields, str):
            per_example = self._columns(batch, [self.answer_fields])[0]
            if any(isinstance(answers, str) for answers in per_example):
                raise TypeError(f"answer column {self.answer_fields!r} must hold lists of answers, not strings")
        else:
            per_example = list(zip(*self._text_columns(batch, self.answer_fields)))
        for answers in per_example:
            self._check_texts(answers, self.answer_fields)
        flat = self._tokenize([answer for answers in per_example for answer in answers])
        grouped, start = [], 0
        for answers in per_example:
            grouped.append(flat[start : start + len(answers)])
            start += len(answers)
        return grouped

    @classmethod
    def _text_columns(cls, batch, names) -> list[list[str]]:
        columns = cls._columns(batch, names)
        for name, column in zip(names, columns):
            cls._check_texts(column, name)
        return columns

    @staticmethod
    def _check_texts(texts, column) -> None:
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"text column {column!r} must hold strings, got {type(text).__name__} {text!r}")

    @staticmethod
    def _columns(batch, names) -> list[list]:
        missing = [name for name in names if name not in batch]
        if missing:
            raise ValueError(f"columns {missing} not in the data set (it has {list(batch)})")
        return [batch[name] for name in names]
