"""`pipeline("text-classification")` for GPT-1 similarity models, which read both orderings of a text pair.

Transformers' `TextClassificationPipeline` gives a model one sequence per input; `GPT1ForSimilarity` needs the two
orderings `[start] A [delim] B [extract]` and `[start] B [delim] A [extract]` (`input_ids` `[batch, 2, length]`).
`GPT1TextClassificationPipeline` builds them with GPT's similarity transformation and leaves every other model
(GPT-1 classification and entailment models included) to the base class:

    from transformers import pipeline
    from modeling_gpt1.pipelines import GPT1TextClassificationPipeline

    similar = pipeline("text-classification", model="mrpc-run", pipeline_class=GPT1TextClassificationPipeline)
    similar({"text": "The cat sat.", "text_pair": "A cat was sitting."})   # [{'label': 'equivalent', 'score': ...}]

`register_pipeline()` makes it the `text-classification` pipeline of the process, so that the plain
`pipeline("text-classification", model=...)` call works for similarity models too.
"""

import torch
from transformers import AutoModelForSequenceClassification, TextClassificationPipeline
from transformers.pipelines import PIPELINE_REGISTRY

from . import transforms


class GPT1TextClassificationPipeline(TextClassificationPipeline):
    """Text classification where a GPT-1 similarity model gets both orderings of each text pair.

    A text pair is ``{"text": a, "text_pair": b}``. Both texts are tokenised without special tokens, truncated
    together to the model's context (`transforms.similarity`, longest first) and laid out in both orders. Batches
    (``batch_size``) are padded on the right within each ordering. Other models are handled as by
    `TextClassificationPipeline`.

    Raises:
        ValueError: a similarity model given a single text, or a pair that is not ``{"text": ..., "text_pair": ...}``.
    """

    def preprocess(self, inputs, **tokenizer_kwargs):
        if not reads_both_orderings(self.model):
            return super().preprocess(inputs, **tokenizer_kwargs)
        if not (isinstance(inputs, dict) and set(inputs) == {"text", "text_pair"}):
            raise ValueError(
                f"{type(self.model).__name__} compares two texts: pass {{'text': ..., 'text_pair': ...}}, got "
                f"{inputs!r}"
            )
        config = self.model.config
        special = transforms.SpecialTokenIds.from_config(config)
        a, b = (
            self.tokenizer(inputs[key], add_special_tokens=False, split_special_tokens=True)["input_ids"]
            for key in ("text", "text_pair")
        )
        max_length = min(config.n_positions, self.tokenizer.model_max_length)
        orderings = transforms.similarity(a, b, special, max_length)
        # Both orderings hold the same tokens, so they have one length: side by side they make one row, which the
        # pipeline's batching pads like any other; `_forward` splits it again.
        input_ids = torch.tensor([orderings[0] + orderings[1]])
        return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}

    def _forward(self, model_inputs):
        if reads_both_orderings(self.model):
            model_inputs = both_orderings(model_inputs, self.model.config.pad_token_id)
        return super()._forward(model_inputs)


def reads_both_orderings(model) -> bool:
    """Whether the model is a GPT-1 head that needs the two orderings of a pair (`GPT1ForSimilarity`)."""
    return getattr(model.config, "model_type", None) == "gpt1" and getattr(model, "n_sequences", None) == 2


def both_orderings(model_inputs: dict, pad_token_id: int) -> dict:
    """Rows of two orderings side by side (`[batch, padded 2 * n]`, padded on either side) -> `input_ids` and
    `attention_mask` `[batch, 2, n]`, each ordering padded on the right."""
    rows = [ids[mask.bool()] for ids, mask in zip(model_inputs["input_ids"], model_inputs["attention_mask"])]
    length = max(len(row) // 2 for row in rows)
    input_ids = torch.full((len(rows), 2, length), pad_token_id, dtype=rows[0].dtype)
    attention_mask = torch.zeros((len(rows), 2, length), dtype=torch.long)
    for i, row in enumerate(rows):
        n = len(row) // 2
        input_ids[i, :, :n] = row.view(2, n)
        attention_mask[i, :, :n] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def register_pipeline() -> None:
    """Make `GPT1TextClassificationPipeline` the `text-classification` pipeline of this process (other models are
    served as before: the class defers to Transformers' own for them)."""
    task = PIPELINE_REGISTRY.supported_tasks.get("text-classification")
    if task is None:
        PIPELINE_REGISTRY.register_pipeline(
            "text-classification",
            pipeline_class=GPT1TextClassificationPipeline,
            pt_model=AutoModelForSequenceClassification,
        )
    else:  # the built-in task keeps its models and defaults; only its class changes (register_pipeline would warn)
        task["impl"] = GPT1TextClassificationPipeline


__all__ = ["GPT1TextClassificationPipeline", "register_pipeline", "reads_both_orderings"]
