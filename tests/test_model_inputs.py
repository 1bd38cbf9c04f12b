"""Bad inputs to the models: every row is a call, the error it must raise and words that name the argument. The same
table is published in docs/bad_inputs.md ("Model inputs"; a test checks they agree):

    python tests/test_model_inputs.py --write   # writes the rows as raised now into docs/bad_inputs.md
"""

import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError, StrictDataclassFieldValidationError

from modeling_gpt1 import (
    GPT1Config,
    GPT1ForMultipleChoice,
    GPT1ForSequenceClassification,
    GPT1ForSimilarity,
    GPT1LMHeadModel,
    GPT1Model,
)


SHAPE = dict(n_layer=2, n_embd=32, n_head=4, vocab_size=100, n_positions=64)
START, DELIMITER, EXTRACT, PAD = 96, 97, 98, 99


def build(model_class=GPT1LMHeadModel, **overrides):
    torch.manual_seed(0)
    return model_class(GPT1Config(**{**SHAPE, **overrides})).eval()


def lm(**kwargs):
    return build()(**kwargs)


def classifier(config_edit=None, **kwargs):
    model = build(GPT1ForSequenceClassification, **kwargs.pop("config", {}))
    if config_edit:
        config_edit(model.config)
    return model(**kwargs)


def causal_block_mask(length):
    from torch.nn.attention.flex_attention import create_block_mask

    return create_block_mask(lambda batch, head, query, key: query >= key, None, None, length, length, device="cpu")


IDS = torch.tensor([[START, 1, 2, 3, EXTRACT], [START, 4, 5, EXTRACT, PAD]])
MASK = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])

# (case, call, exception, words the message must hold)
CASES = [
    # attention masks
    (
        "fractional float mask",
        lambda: lm(input_ids=IDS, attention_mask=torch.full((2, 5), 0.5)),
        ValueError,
        "attention_mask must hold only 0",
    ),
    (
        "mask holding 2",
        lambda: lm(input_ids=IDS, attention_mask=MASK * 2),
        ValueError,
        "attention_mask must hold only 0",
    ),
    ("1-D mask", lambda: lm(input_ids=IDS, attention_mask=torch.ones(5)), ValueError, "attention_mask has shape (5,)"),
    (
        "mask of the wrong length",
        lambda: lm(input_ids=IDS, attention_mask=torch.ones(2, 4)),
        ValueError,
        "attention_mask has shape (2, 4)",
    ),
    (
        "3-D mask",
        lambda: lm(input_ids=IDS, attention_mask=torch.ones(2, 5, 5)),
        ValueError,
        "attention_mask has shape",
    ),
    (
        "4-D mask of 0/1 floats (read as additive)",
        lambda: lm(input_ids=IDS, attention_mask=torch.ones(2, 1, 5, 5).tril()),
        ValueError,
        "cannot hold positive values",
    ),
    (
        "4-D integer mask",
        lambda: lm(input_ids=IDS, attention_mask=torch.ones(2, 1, 5, 5, dtype=torch.long).tril()),
        ValueError,
        "must be boolean (True attends) or an additive float mask",
    ),
    (
        "4-D mask for other queries",
        lambda: lm(input_ids=IDS, attention_mask=torch.ones(2, 1, 4, 5, dtype=torch.bool)),
        ValueError,
        "a 4D attention_mask must have shape",
    ),
    (
        "4-D mask over other keys",
        lambda: lm(input_ids=IDS, attention_mask=torch.ones(2, 1, 5, 4, dtype=torch.bool)),
        ValueError,
        "5 new tokens and 5 keys, got (2, 1, 5, 4)",
    ),
    (
        "4-D mask broadcast over the keys (would attend to later tokens)",
        lambda: lm(input_ids=IDS, attention_mask=torch.ones(2, 1, 5, 1, dtype=torch.bool)),
        ValueError,
        "5 new tokens and 5 keys, got (2, 1, 5, 1)",
    ),
    (
        "flex attention's BlockMask under sdpa",
        lambda: lm(input_ids=IDS, attention_mask=causal_block_mask(5)),
        ValueError,
        "attention_mask is a BlockMask, flex attention's mask, but the model attends with 'sdpa'",
    ),
    (
        "mask as a list",
        lambda: lm(input_ids=IDS, attention_mask=MASK.tolist()),
        ValueError,
        "attention_mask must be a tensor, got list",
    ),
    # token ids
    (
        "empty batch",
        lambda: lm(input_ids=torch.zeros(0, 5, dtype=torch.long)),
        ValueError,
        "input_ids has shape (0, 5)",
    ),
    (
        "zero-length sequences",
        lambda: lm(input_ids=torch.zeros(2, 0, dtype=torch.long)),
        ValueError,
        "input_ids has shape (2, 0)",
    ),
    (
        "generate from an empty prompt",
        lambda: build().generate(torch.zeros(1, 0, dtype=torch.long), max_new_tokens=2),
        ValueError,
        "input_ids has shape (1, 0)",
    ),
    ("float input_ids", lambda: lm(input_ids=IDS.float()), ValueError, "input_ids must hold integer token ids"),
    ("bool input_ids", lambda: lm(input_ids=IDS > 0), ValueError, "input_ids must hold integer token ids"),
    (
        "uint8 input_ids (int16 alike)",
        lambda: lm(input_ids=IDS.to(torch.uint8)),
        ValueError,
        "input_ids must hold integer token ids (torch.long or torch.int32), got dtype torch.uint8",
    ),
    ("1-D input_ids", lambda: lm(input_ids=IDS[0]), ValueError, "input_ids must have shape [batch, length]"),
    ("id above the vocabulary", lambda: lm(input_ids=torch.tensor([[1, 100]])), ValueError, "vocab_size=100"),
    ("negative id", lambda: lm(input_ids=torch.tensor([[1, -1]])), ValueError, "vocab_size=100"),
    (
        "both ids and embeddings",
        lambda: lm(input_ids=IDS, inputs_embeds=torch.zeros(2, 5, 32)),
        ValueError,
        "exactly one of input_ids or inputs_embeds",
    ),
    ("neither ids nor embeddings", lambda: lm(), ValueError, "exactly one of input_ids or inputs_embeds"),
    (
        "embeddings of the wrong width",
        lambda: lm(inputs_embeds=torch.zeros(2, 5, 31)),
        ValueError,
        "inputs_embeds must have shape [batch, length, 32]",
    ),
    ("empty embeddings", lambda: lm(inputs_embeds=torch.zeros(2, 0, 32)), ValueError, "inputs_embeds must have shape"),
    # positions and segments
    (
        "position at n_positions",
        lambda: lm(input_ids=IDS[:1], position_ids=torch.tensor([[0, 1, 2, 3, 64]])),
        ValueError,
        "position_ids: positions reach 64 but the model has only n_positions=64",
    ),
    (
        "negative position",
        lambda: lm(input_ids=IDS[:1], position_ids=torch.tensor([[-1, 0, 1, 2, 3]])),
        ValueError,
        "position_ids",
    ),
    (
        "position_ids of the wrong length",
        lambda: lm(input_ids=IDS, position_ids=torch.zeros(2, 4, dtype=torch.long)),
        ValueError,
        "position_ids has shape (2, 4)",
    ),
    (
        "position_ids of another batch",
        lambda: lm(input_ids=IDS, position_ids=torch.zeros(3, 5, dtype=torch.long)),
        ValueError,
        "position_ids has shape (3, 5)",
    ),
    (
        "int16 position_ids",
        lambda: lm(input_ids=IDS, position_ids=torch.zeros(2, 5, dtype=torch.int16)),
        ValueError,
        "position_ids must hold integer positions (torch.long or torch.int32), got dtype torch.int16",
    ),
    (
        "float position_ids",
        lambda: lm(input_ids=IDS, position_ids=torch.zeros(2, 5)),
        ValueError,
        "position_ids must hold integer positions",
    ),
    (
        "sequence longer than the context",
        lambda: lm(input_ids=torch.zeros(1, 65, dtype=torch.long)),
        ValueError,
        "Sequence too long: 65 tokens",
    ),
    (
        "token_type_ids of the wrong shape",
        lambda: lm(input_ids=IDS, token_type_ids=torch.zeros(2, 4, dtype=torch.long)),
        ValueError,
        "token_type_ids has shape (2, 4)",
    ),
    (
        "token_type_ids outside the vocabulary",
        lambda: lm(input_ids=IDS, token_type_ids=torch.full((2, 5), 100)),
        ValueError,
        "token_type_ids hold ids",
    ),
    # keyword arguments
    (
        "misspelt keyword",
        lambda: lm(input_ids=IDS, token_typ_ids=IDS),
        TypeError,
        "GPT1LMHeadModel.forward() got unexpected keyword argument(s) 'token_typ_ids'",
    ),
    ("removed keyword (head_mask)", lambda: build(GPT1Model)(input_ids=IDS, head_mask=None), TypeError, "'head_mask'"),
    # language-model labels
    (
        "labels of another length",
        lambda: lm(input_ids=IDS, labels=IDS[:, :3]),
        ValueError,
        "labels has shape (2, 3) but the inputs have (2, 5)",
    ),
    (
        "label id above the vocabulary",
        lambda: lm(input_ids=IDS, labels=torch.full((2, 5), 1000)),
        ValueError,
        "labels hold ids in [1000, 1000]",
    ),
    ("float labels", lambda: lm(input_ids=IDS, labels=IDS.float()), ValueError, "labels must hold integer token ids"),
    (
        "int16 labels (bool, uint8 alike)",
        lambda: lm(input_ids=IDS, labels=IDS.short()),
        ValueError,
        "labels must hold integer token ids (torch.long or torch.int32), got dtype torch.int16",
    ),
    # task heads
    (
        "no extract_token_id in the config",
        lambda: classifier(config_edit=lambda config: setattr(config, "extract_token_id", None), input_ids=IDS),
        ValueError,
        "config.extract_token_id is None",
    ),
    (
        "extract token masked out",
        lambda: classifier(
            input_ids=torch.tensor([[START, 1, 2, EXTRACT, PAD]]), attention_mask=torch.tensor([[1, 1, 1, 0, 0]])
        ),
        ValueError,
        "extract token masked out by attention_mask",
    ),
    (
        "no extract token",
        lambda: classifier(input_ids=torch.tensor([[START, 1, 2, 3]])),
        ValueError,
        "have no extract token",
    ),
    (
        "NaN regression label",
        lambda: classifier(config={"num_labels": 1}, input_ids=IDS, labels=torch.tensor([0.5, float("nan")])),
        ValueError,
        "regression labels of example(s) [1] are not finite (not NaN or inf)",
    ),
    (
        "inf regression label",
        lambda: classifier(config={"num_labels": 1}, input_ids=IDS, labels=torch.tensor([float("inf"), 0.5])),
        ValueError,
        "regression labels of example(s) [0] are not finite (not NaN or inf)",
    ),
    (
        "NaN multi-label target",
        lambda: classifier(input_ids=IDS, labels=torch.tensor([[0.0, 1.0], [float("nan"), 0.0]])),
        ValueError,
        "multi-label targets of example(s) [1] are not in [0, 1]",
    ),
    (
        "multi-label target of 2",
        lambda: classifier(input_ids=IDS, labels=torch.tensor([[2.0, 1.0], [0.0, 0.0]])),
        ValueError,
        "multi-label targets of example(s) [0] are not in [0, 1]",
    ),
    (
        "fractional class id with problem_type single_label_classification",
        lambda: classifier(
            config={"problem_type": "single_label_classification"}, input_ids=IDS, labels=torch.tensor([0.5, 1.0])
        ),
        ValueError,
        "class ids of example(s) [0] are not whole numbers",
    ),
    (
        "class id out of range",
        lambda: classifier(input_ids=IDS, labels=torch.tensor([0, 2])),
        ValueError,
        "out of range",
    ),
    (
        "one label for two examples",
        lambda: classifier(input_ids=IDS, labels=torch.tensor([0])),
        ValueError,
        "got 1 labels for a batch of 2",
    ),
    (
        "head given embeddings only",
        lambda: classifier(inputs_embeds=torch.zeros(1, 3, 32)),
        ValueError,
        "needs input_ids",
    ),
    (
        "similarity without two orderings",
        lambda: build(GPT1ForSimilarity)(input_ids=IDS),
        ValueError,
        "expects input_ids [batch, 2, length]",
    ),
    (
        "multiple choice without the choice dimension",
        lambda: build(GPT1ForMultipleChoice)(input_ids=IDS),
        ValueError,
        "expects input_ids [batch, n_sequences, length]",
    ),
    (
        "answer index out of range",
        lambda: build(GPT1ForMultipleChoice)(input_ids=IDS[None], labels=torch.tensor([2])),
        ValueError,
        "out of range",
    ),
    (
        "mask shaped unlike the choices",
        lambda: build(GPT1ForMultipleChoice)(input_ids=IDS[None], attention_mask=MASK),
        ValueError,
        "attention_mask has shape (2, 5) but input_ids has (1, 2, 5)",
    ),
    # configuration
    (
        "heads not dividing the width",
        lambda: GPT1Config(**{**SHAPE, "n_head": 5}),
        StrictDataclassClassValidationError,
        "n_embd (32) must be divisible by n_head (5)",
    ),
    (
        "dropout set to 1.5 after construction",
        lambda: setattr(GPT1Config(**SHAPE), "resid_pdrop", 1.5),
        StrictDataclassFieldValidationError,
        "resid_pdrop",
    ),
    (
        "start and extract sharing an id",
        lambda: GPT1Config(**SHAPE, start_token_id=EXTRACT),
        StrictDataclassClassValidationError,
        "need distinct ids",
    ),
    (
        "special id outside the vocabulary",
        lambda: GPT1Config(**SHAPE, pad_token_id=100),
        StrictDataclassClassValidationError,
        "pad_token_id=100 lies outside the vocabulary",
    ),
    (
        "resizing below the special ids",
        lambda: build().resize_token_embeddings(90),
        StrictDataclassClassValidationError,
        "lies outside the vocabulary",
    ),
    (
        "unknown activation",
        lambda: GPT1Config(**SHAPE, afn="swishy"),
        StrictDataclassClassValidationError,
        "afn='swishy' is not a known activation",
    ),
]


@pytest.mark.parametrize("case, call, error, words", CASES, ids=[case[0] for case in CASES])
def test_bad_model_input_gives_a_clear_error(case, call, error, words):
    with pytest.raises(error) as raised:
        call()
    assert words in str(raised.value), f"{case}: {raised.value}"


def test_the_table_has_every_kind_of_model_input():
    assert len(CASES) >= 40


@pytest.mark.parametrize(
    "mask",
    [MASK, MASK.bool(), MASK.float(), MASK.to(torch.int32)],
    ids=["long", "bool", "float 0/1", "int32"],
)
def test_masks_of_zeros_and_ones_of_any_dtype_give_the_same_logits(mask):
    model = build()
    with torch.no_grad():
        torch.testing.assert_close(model(IDS, attention_mask=mask).logits, model(IDS, attention_mask=MASK).logits)


def test_one_row_of_position_ids_is_shared_by_the_batch_as_in_gpt2():
    """`position_ids` `[1, length]` are broadcast over the batch (the check refuses only other batch sizes)."""
    model = build()
    one_row = torch.arange(IDS.shape[1])[None]
    with torch.no_grad():
        shared = model(IDS, position_ids=one_row).logits
        torch.testing.assert_close(shared, model(IDS, position_ids=one_row.expand(IDS.shape[0], -1)).logits)


def test_int32_ids_positions_and_labels_give_what_long_ones_give():
    """int32 is the other dtype torch's embeddings index with: ids and positions are used as given, and LM labels
    (which cross-entropy takes only as torch.long) are cast, where GPT-2 fails inside the loss."""
    model = build()
    positions = torch.arange(IDS.shape[1])[None]
    with torch.no_grad():
        expected = model(IDS, position_ids=positions, labels=IDS)
        output = model(IDS.int(), position_ids=positions.int(), labels=IDS.int())
    torch.testing.assert_close(output.logits, expected.logits)
    torch.testing.assert_close(output.loss, expected.loss)


DOC = Path(__file__).resolve().parents[1] / "docs" / "bad_inputs.md"
HEADER = "| model input | what the user gets |"


def markdown_rows() -> str:
    lines = [HEADER, "|---|---|"]
    for case, call, error, _ in CASES:
        try:
            call()
        except error as raised:
            message = " ".join(f"`{type(raised).__name__}`: {raised}".split()).replace("|", "\\|")
        lines.append(f"| {case} | {message} |")
    return "\n".join(lines)


def test_the_docs_list_every_model_input_row():
    text = DOC.read_text(encoding="utf-8")
    missing = [case for case, *_ in CASES if f"| {case} |" not in text]
    assert HEADER in text and not missing, f"regenerate with python {__file__} --write (missing: {missing})"


def write_docs_table() -> None:
    """Replace the model-input table of docs/bad_inputs.md (or the placeholder after its heading)."""
    text = DOC.read_text(encoding="utf-8")
    heading = "## Model inputs\n"
    start = text.index(heading) + len(heading)
    end = text.find("\n## ", start)
    end = len(text) if end == -1 else end
    intro = (
        "\nThe models' own checks (`tests/test_model_inputs.py`, which holds the same rows): each row is a call with a "
        "bad input and the error raised. Checks that read tensor values are skipped while tracing (`torch.compile`).\n\n"
    )
    DOC.write_text(text[:start] + intro + markdown_rows() + "\n" + text[end:], encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_docs_table()
    else:
        print(markdown_rows())
