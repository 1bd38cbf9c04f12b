"""Batching for GPT's transformed inputs, following Transformers' collator protocol (features -> tensors)."""

from dataclasses import dataclass
from typing import Any

import torch

from .modeling_gpt1 import IGNORE_INDEX


@dataclass
class GPT1DataCollator:
    """Pad a list of features from `InputTransform` into a batch, right-padding to the longest sequence.

    The layout follows the features: ``input_ids`` of shape ``[batch, seq]`` when each example is one
    sequence (classification, entailment), ``[batch, choices, seq]`` when it is a list of sequences (the two
    orderings of similarity, the answers of multiple choice). Every example of a batch needs the same number
    of choices. Returns ``input_ids``, ``attention_mask``, ``labels`` (when the features have ``labels`` or
    ``label``: long for class ids, float for regression scores) and, with `return_lm_labels`, ``lm_labels``:
    the input ids with padding set to `IGNORE_INDEX` (-100), the targets of the auxiliary language-modelling loss (the model
    shifts them, as with ``labels`` in a causal LM). Other feature keys are ignored.

    Args:
        pad_token_id: id written into padded positions.
        max_length: the model's context size; longer sequences are an error, and padding never goes past it.
        pad_to_multiple_of: round the padded length up to a multiple of this (8 suits tensor cores).
        return_lm_labels: also return ``lm_labels``.

    Raises (when called):
        ValueError: an empty batch; a feature without ``input_ids``; single sequences mixed with lists of choices;
            different numbers of choices; a sequence longer than `max_length`; a label on some features only; label
            lists of different lengths.
        TypeError: ``input_ids`` holding anything but integers (e.g. token strings: tokenize first); labels that are
            not numbers (e.g. label names).
    """

    pad_token_id: int
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    return_lm_labels: bool = True

    def __post_init__(self):
        if not isinstance(self.pad_token_id, int):
            raise TypeError(f"pad_token_id must be an int, got {self.pad_token_id!r}")
        for name in ("max_length", "pad_to_multiple_of"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int or None, got {value!r}")

    @classmethod
    def from_tokenizer(cls, tokenizer, **kwargs) -> "GPT1DataCollator":
        if tokenizer.pad_token_id is None:
            raise ValueError("tokenizer has no <pad> token (pad_token_id is None): add one to batch sequences")
        return cls(pad_token_id=tokenizer.pad_token_id, **kwargs)

    @classmethod
    def from_config(cls, config, **kwargs) -> "GPT1DataCollator":
        """Pad with ``config.pad_token_id`` and refuse sequences longer than ``config.n_positions``."""
        kwargs.setdefault("max_length", config.n_positions)
        return cls(pad_token_id=config.pad_token_id, **kwargs)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if len(features) == 0:
            raise ValueError("cannot collate an empty batch")
        examples = [self._sequences(i, feature) for i, feature in enumerate(features)]
        nested = [is_nested for is_nested, _ in examples]
        if any(nested) and not all(nested):
            raise ValueError("a batch mixes single sequences with lists of sequences (choices) in input_ids")
        n_choices = {len(sequences) for _, sequences in examples}
        if len(n_choices) > 1:
            raise ValueError(f"all examples of a batch need the same number of choices, got {sorted(n_choices)}")

        rows = [sequence for _, sequences in examples for sequence in sequences]
        input_ids = torch.full((len(rows), self._padded_length(rows)), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros_like(input_ids)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            attention_mask[i, : len(row)] = 1
        if nested[0]:
            input_ids = input_ids.view(len(features), n_choices.pop(), -1)
            attention_mask = attention_mask.view_as(input_ids)

        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.return_lm_labels:
            batch["lm_labels"] = input_ids.masked_fill(attention_mask == 0, IGNORE_INDEX)
        labels = self._labels(features)
        if labels is not None:
            batch["labels"] = labels
        return batch

    @staticmethod
    def _sequences(index: int, feature) -> tuple[bool, list[list[int]]]:
        """``(is_nested, sequences)``: one sequence, or the list of choices, of one example."""
        if "input_ids" not in feature:
            raise ValueError(f"feature {index} has no input_ids (keys: {list(feature)})")
        ids = [_to_list(item) for item in _to_list(feature["input_ids"])]
        nested = len(ids) > 0 and isinstance(ids[0], (list, tuple))
        sequences = ids if nested else [ids]
        for sequence in sequences:
            if not isinstance(sequence, (list, tuple)):
                raise TypeError(f"feature {index}: input_ids mixes token ids with lists of them (choices)")
            bad = next((token for token in sequence if not _is_int(token)), None)
            if bad is not None:
                raise TypeError(
                    f"feature {index}: input_ids must hold integer token ids, got {type(bad).__name__} {bad!r}: "
                    "tokenize the text first (InputTransform)"
                )
        return nested, sequences

    def _padded_length(self, rows: list[list[int]]) -> int:
        longest = max(len(row) for row in rows)
        if self.max_length is not None and longest > self.max_length:
            raise ValueError(f"a sequence of {longest} tokens is longer than max_length={self.max_length}")
        length = longest
        if self.pad_to_multiple_of is not None:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
        if self.max_length is not None:
            length = min(length, self.max_length)
        return length

    @staticmethod
    def _labels(features) -> torch.Tensor | None:
        """The labels of every feature, or None when no feature has one; some features only is an error."""
        keys = {
            next((key for key in ("labels", "label") if feature.get(key) is not None), None) for feature in features
        }
        if keys == {None}:
            return None
        if len(keys) > 1:
            without = [i for i, feature in enumerate(features) if feature.get("labels", feature.get("label")) is None]
            if without:
                raise ValueError(
                    f"features {without[:10]} of the batch have no labels but others have them: label every "
                    "example of a data set, or none"
                )
            raise ValueError("the batch mixes features with 'labels' and with 'label': use one name")
        key = keys.pop()
        values = [_to_list(feature[key]) for feature in features]
        for index, value in enumerate(values):
            numbers = value if isinstance(value, (list, tuple)) else [value]
            bad = next((v for v in numbers if not isinstance(v, (int, float)) or isinstance(v, bool)), None)
            if bad is not None or not numbers:
                shown = bad if bad is not None else value
                raise TypeError(
                    f"feature {index}: {key!r} must be a class id, a score or a list of them, got "
                    f"{type(shown).__name__} {shown!r}: map label names to ids first"
                )
        shapes = {len(value) if isinstance(value, (list, tuple)) else None for value in values}
        if len(shapes) > 1:
            raise ValueError(f"the features' {key!r} differ in length ({sorted(shapes, key=str)}): one per example")
        labels = torch.tensor(values)
        return labels.float() if labels.is_floating_point() else labels.long()


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _to_list(value):
    """Lists stay lists; tensors, NumPy arrays and scalars (from a formatted data set) become Python values."""
    return value.tolist() if hasattr(value, "tolist") else value
