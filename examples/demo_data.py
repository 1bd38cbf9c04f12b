"""The demo's embedded default data: English text every Python installation carries, and four labelled tasks made
from it, one per GPT-1 input transformation.

The corpus is the docstrings of the standard library, read with `ast` from the source files (nothing is imported,
so no module runs). The tasks need no annotation: the labels come from where each sentence was found.
"""

import ast
import random
import re
import sysconfig
from pathlib import Path

from datasets import Dataset, DatasetDict


# Packages whose docstrings are mostly test scaffolding or GUI demos.
SKIPPED_PARTS = {"site-packages", "test", "tests", "idlelib", "lib2to3", "turtledemo", "tkinter", "__pycache__"}
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def stdlib_documents(stdlib_dir: str | None = None, max_documents: int | None = None) -> list[dict]:
    """One document per standard-library module: its docstrings, whitespace-normalised, in source order."""
    root = Path(stdlib_dir or sysconfig.get_paths()["stdlib"])
    documents = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if SKIPPED_PARTS.intersection(relative.parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8-sig"))  # utf-8-sig: a byte-order mark is no text
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        nodes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        docstrings = [ast.get_docstring(node) for node in ast.walk(tree) if isinstance(node, nodes)]
        paragraphs = [" ".join(p.split()) for doc in docstrings if doc for p in doc.split("\n\n")]
        paragraphs = [p for p in paragraphs if len(p.split()) >= 4 and not p.startswith(">>>")]
        if paragraphs:
            documents.append({"source": ".".join(relative.with_suffix("").parts), "paragraphs": paragraphs})
        if max_documents and len(documents) >= max_documents:
            break
    if not documents:
        raise RuntimeError(f"no docstrings found under {root}: is this a Python standard library folder?")
    return documents


def corpus_text(documents: list[dict]) -> list[str]:
    """The unlabeled pre-training text: one paragraph a line."""
    return [paragraph for document in documents for paragraph in document["paragraphs"]]


def _sentences(paragraph: str, min_words: int = 4, max_words: int = 40) -> list[str]:
    return [s for s in SENTENCE_END.split(paragraph) if min_words <= len(s.split()) <= max_words]


def _sentence_pairs(documents):
    """Consecutive sentence pairs inside one paragraph, with the module they came from."""
    for document in documents:
        for paragraph in document["paragraphs"]:
            sentences = _sentences(paragraph)
            for first, second in zip(sentences, sentences[1:]):
                yield document["source"], first, second


def make_tasks(documents: list[dict], n_train: int = 800, n_eval: int = 200, seed: int = 0) -> dict[str, DatasetDict]:
    """Four tasks, one per input transformation, with balanced labels:

    - `word_order` (classification): is this sentence as written (1) or with its words shuffled (0)?
    - `next_sentence` (entailment): does the hypothesis really follow the premise in the docstring (1) or not (0)?
    - `same_module` (similarity): are the two sentences from the same module (1) or from two modules (0)?
    - `true_ending` (multiple choice, two answers as in Story Cloze): which sentence really comes next?
    """
    rng = random.Random(seed)
    pairs = list(_sentence_pairs(documents))
    rng.shuffle(pairs)
    all_sentences = [s for _, a, b in pairs for s in (a, b)]
    by_module: dict[str, list[str]] = {}
    for source, first, second in pairs:
        by_module.setdefault(source, []).extend((first, second))
    modules = [m for m, sentences in by_module.items() if len(sentences) >= 2]
    needed = n_train + n_eval
    if len(pairs) < needed or len(modules) < 2:
        raise ValueError(f"the corpus gives {len(pairs)} sentence pairs; {needed} are needed for the demo tasks")

    def shuffled_words(sentence):
        words = sentence.split()
        while len(words) > 1 and words == sentence.split():
            rng.shuffle(words)
        return " ".join(words)

    def other_sentence(avoid):
        while (sentence := rng.choice(all_sentences)) == avoid:
            pass
        return sentence

    rows = {"word_order": [], "next_sentence": [], "same_module": [], "true_ending": []}
    for i, (source, first, second) in enumerate(pairs[:needed]):
        label = i % 2
        rows["word_order"].append({"sentence": first if label else shuffled_words(first), "label": label})
        rows["next_sentence"].append(
            {"premise": first, "hypothesis": second if label else other_sentence(second), "label": label}
        )
        if label:
            partner = rng.choice([s for s in by_module[source] if s != first] or [second])
        else:
            other_module = rng.choice([m for m in modules if m != source])
            partner = rng.choice(by_module[other_module])
        rows["same_module"].append({"sentence1": first, "sentence2": partner, "label": label})
        endings = [second, other_sentence(second)]
        if label:
            endings.reverse()
        rows["true_ending"].append({"context": first, "ending1": endings[0], "ending2": endings[1], "label": label})

    return {
        name: DatasetDict(
            train=Dataset.from_list(task_rows[:n_train]), validation=Dataset.from_list(task_rows[n_train:needed])
        )
        for name, task_rows in rows.items()
    }
