"""Agreement of GPT1Tokenizer with OpenAI's 2018 `TextEncoder` on real text, and texts per second.

Runs the original `text_utils.py` of OpenAI's release (imported from its folder at run time, not copied here) beside
`GPT1Tokenizer.from_original_files` in the exact mode (`preprocessing="original"`) and in the default mode, and beside
Transformers' `OpenAIGPTTokenizer` given the same vocabulary and merges, on the same texts, and prints the share of
texts whose id sequences are identical, then the differing texts, each with the tokens where the two first part.

The original calls `spacy.load('en', disable=['parser', 'tagger', 'ner', 'textcat'])`, which needs a downloaded
spaCy 2 model; only that model's tokenizer was used, so this script gives it spaCy's rule-based English tokenizer
(`spacy.blank("en")`), the same rules that the exact mode uses.

    .venv/bin/python benchmarks/tokenizer_agreement.py                      # ~6,000 texts of ../shared/data
    .venv/bin/python benchmarks/tokenizer_agreement.py --file my_texts.txt  # one text a line
    .venv/bin/python benchmarks/tokenizer_agreement.py --limit 500 --show 20
    .venv/bin/python benchmarks/tokenizer_agreement.py --stress 20000  # + random strings of awkward characters

Needs ftfy and spaCy (`pip install -e ".[original]"`). The last line is the results as one JSON object.
"""

import argparse
import csv
import importlib.util
import json
import os
import platform
import random
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from modeling_gpt1.tokenization_gpt1 import GPT1Tokenizer  # noqa: E402


DATA = ROOT.parent / "shared" / "data"
RELEASE = DATA / "openai-gpt1-release"


def openai_gpt_tokenizer(release: Path):
    """Transformers' `OpenAIGPTTokenizer` with the released vocabulary and merges (what `openai-gpt` on the Hub holds)."""
    from transformers import OpenAIGPTTokenizer

    vocab = json.loads((release / "encoder_bpe_40000.json").read_text(encoding="utf-8"))
    lines = (release / "vocab_40000.bpe").read_text(encoding="utf-8").split("\n")[1:]
    return OpenAIGPTTokenizer(vocab=vocab, merges=[tuple(line.split()) for line in lines if line])


def load_original_encoder(release: Path):
    """OpenAI's `TextEncoder`, from the release's `text_utils.py`, with spaCy's English tokenizer rules."""
    import spacy

    spacy.load = lambda name, disable=None: spacy.blank("en")  # the 2018 `spacy.load('en')`, tokenizer only
    spec = importlib.util.spec_from_file_location("openai_text_utils", release / "text_utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TextEncoder(str(release / "encoder_bpe_40000.json"), str(release / "vocab_40000.bpe"))


# --- the real texts -------------------------------------------------------------------------------------------------


def _tsv(path: Path, columns, header=True):
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    rows = rows[1:] if header else rows
    return [row[c] for row in rows for c in columns if len(row) > max(columns) and row[c].strip()]


def _gutenberg_body(path: Path) -> str:
    text = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith("*** START")), -1)
    end = next((i for i, line in enumerate(lines) if line.startswith("*** END")), len(lines))
    return "\n".join(lines[start + 1 : end])


def real_texts(data: Path, seed: int = 0) -> list[tuple[str, str]]:
    """(source, text) pairs: every Story Cloze story (4 sentences and its right ending), 500 sentences of each of
    five GLUE tasks, 1,000 book lines and 700 book paragraphs (several lines, newlines kept) of the Gutenberg novels;
    6,071 texts."""
    rng = random.Random(seed)
    texts = []
    with open(data / "rocstories" / "cloze_test_val__spring2016 - cloze_test_ALL_val.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            ending = row[f"RandomFifthSentenceQuiz{row['AnswerRightEnding']}"]
            story = " ".join(row[f"InputSentence{i}"] for i in range(1, 5))
            texts.append(("story_cloze", f"{story} {ending}"))
    glue = {
        "SST-2": _tsv(data / "glue/SST-2/train.tsv", [0]),
        "CoLA": _tsv(data / "glue/CoLA/train.tsv", [3], header=False),
        "MRPC": _tsv(data / "glue/MRPC/train.tsv", [3, 4]),
        "STS-B": _tsv(data / "glue/STS-B/train.tsv", [7, 8]),
        "RTE": _tsv(data / "glue/RTE/train.tsv", [1, 2]),
    }
    for task, sentences in glue.items():
        texts += [(f"glue/{task}", text) for text in rng.sample(sentences, 500)]
    lines, paragraphs = [], []
    for path in sorted((data / "corpus" / "gutenberg").glob("*.txt")):
        body = _gutenberg_body(path)
        lines += [line for line in body.split("\n") if line.strip()]
        paragraphs += [p for p in body.split("\n\n") if p.count("\n") >= 1 and len(p.strip()) > 80]
    texts += [("book_line", text) for text in rng.sample(lines, 1000)]
    texts += [("book_paragraph", text) for text in rng.sample(paragraphs, 700)]
    return texts


# Pieces that exercise ftfy, the standardisation, spaCy's rules and lower-casing: white space of every kind, control
# characters, curly quotes, mojibake, HTML entities, ligatures, full-width letters, combining accents, characters
# outside the vocabulary, Greek capitals (final sigma), abbreviations, contractions, URLs, punctuation runs.
STRESS_PIECES = list("abcXYZ019 .,'\"-!?\n\t\r+\\_<>#@") + [
    "\u00a0", "\u2019", "\u201c", "\u3000", "\u200b", "\x07", "\x85", "\u2028", "\ufeff", "&amp;", "\u00e2\u20ac\u2122",
    "\u00bd", "\u2122", "\u0130", "\u03a3", "\u039f\u0394\u039f\u03a3", "\u00df", "\ufb01", "\uff21", "\U0001f600", "\u00e9",
    "e\u0301", "  ", "\x1c", "\x0b", "\x0c", "http://a.b/c", "--", "mr.", "U.S.", "can't", "gonna", "'s", "\u2026",
    "\u00b4", "\u2014", "\u1e9e", "\u01c5", "\u2160", "10,000", "6th", "***",
]  # fmt: skip


def stress_texts(count: int, seed: int = 1) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [("stress", "".join(rng.choice(STRESS_PIECES) for _ in range(rng.randint(1, 30)))) for _ in range(count)]


# --- comparison -----------------------------------------------------------------------------------------------------


def first_difference(tokenizer, expected: list[int], got: list[int]) -> str:
    """The tokens around the first position where the two id sequences part."""
    i = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b), min(len(expected), len(got)))
    lo = max(0, i - 3)
    show = lambda ids: " ".join(tokenizer.convert_ids_to_tokens(ids[lo : i + 5]))  # noqa: E731
    return f"original: {show(expected)!r}\n      ours: {show(got)!r}"


def timed(function, texts):
    start = time.perf_counter()
    result = function(texts)
    return result, len(texts) / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", help="a UTF-8 text file, one text a line (default: ~6,000 texts of ../shared/data)")
    parser.add_argument("--data", default=str(DATA), help="the shared data folder")
    parser.add_argument("--release", default=str(RELEASE), help="OpenAI's release folder (text_utils.py, vocabulary)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N texts")
    parser.add_argument("--show", type=int, default=10, help="differing examples printed per mode")
    parser.add_argument("--stress", type=int, default=0, help="add this many random strings of STRESS_PIECES")
    args = parser.parse_args(argv)

    release = Path(args.release)
    if args.file:
        lines = Path(args.file).read_text(encoding="utf-8").split("\n")
        sourced = [("file", line) for line in lines if line.strip()]
    else:
        sourced = real_texts(Path(args.data))
    groups = {"texts": sourced[: args.limit], "stress strings": stress_texts(args.stress)}
    groups = {group: items for group, items in groups.items() if items}

    original = load_original_encoder(release)
    files = (release / "encoder_bpe_40000.json", release / "vocab_40000.bpe")
    modes = {
        "exact (preprocessing='original')": GPT1Tokenizer.from_original_files(*files, preprocessing="original"),
        "default": GPT1Tokenizer.from_original_files(*files),
        "openai-gpt (transformers OpenAIGPTTokenizer)": openai_gpt_tokenizer(release),
    }
    results = {}
    for group, items in groups.items():
        texts = [text for _, text in items]
        expected, original_rate = timed(lambda batch: original.encode(batch, verbose=False), texts)
        results[group] = {"count": len(texts), "original_texts_per_s": round(original_rate)}
        print(f"\n=== {len(texts)} {group} ({', '.join(sorted({source for source, _ in items}))})")
        print(f"original TextEncoder: {original_rate:,.0f} texts/s")
        for name, tokenizer in modes.items():
            got, rate = timed(
                lambda batch, t=tokenizer: t(batch, add_special_tokens=False, verbose=False)["input_ids"], texts
            )
            differing = [i for i, (a, b) in enumerate(zip(expected, got)) if a != b]
            share = 1 - len(differing) / len(texts)
            per_source = {}
            for i in differing:
                per_source[items[i][0]] = per_source.get(items[i][0], 0) + 1
            print(f"{name}: {share:.2%} identical id sequences ({len(texts) - len(differing)}/{len(texts)}), "
                  f"{rate:,.0f} texts/s; differing by source: {per_source or 'none'}")  # fmt: skip
            for i in differing[: args.show]:
                print(
                    f"  [{items[i][0]}] {texts[i][:160]!r}\n      {first_difference(tokenizer, expected[i], got[i])}"
                )
            key = name.split(" ")[0]
            results[group][key] = {
                "identical": round(share, 5),
                "differing": len(differing),
                "texts_per_s": round(rate),
            }
    import ftfy
    import spacy
    import tokenizers
    import transformers

    results["versions"] = {
        "python": platform.python_version(),
        "ftfy": ftfy.__version__,
        "spacy": spacy.__version__,
        "tokenizers": tokenizers.__version__,
        "transformers": transformers.__version__,
    }
    results["cpus"] = os.cpu_count()
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
