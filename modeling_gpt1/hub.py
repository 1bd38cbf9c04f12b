"""Publish a saved GPT-1 model folder to the Hugging Face Hub, and write its model card.

    python -m modeling_gpt1.hub card runs/rte --results results.json --base_model me/gpt1 [--overwrite]
    python -m modeling_gpt1.hub push runs/rte me/gpt1-rte [--private] [--token T] [--commit_message M]

`push` first checks that the folder loads from the Hub with `trust_remote_code=True` (config, safetensors weights,
the code files its `auto_map` names, the tokenizer's files), then creates the repository if needed, writes a
README.md card when the folder has none, and uploads the folder with `huggingface_hub.HfApi`. Trainer checkpoints
and TensorBoard logs in the folder are left out. `--results` takes a JSON list of evaluation results, each
`{"dataset": ..., "metric": ..., "value": ..., "config": ..., "split": ...}` (see `modeling_gpt1.hub_card.render_model_card`).

`card` does not replace a folder's existing README.md (the training scripts write one with the run's `model-index`,
data sets and metrics) unless `--overwrite` is given. A user error (a missing or malformed file, an incomplete folder,
an existing card) prints one `error: ...` line and exits with status 2; a Hub that cannot be reached or refuses the
upload exits with status 1.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from huggingface_hub import CommitInfo, HfApi, constants, is_offline_mode
from huggingface_hub.errors import HfHubHTTPError
from transformers.dynamic_module_utils import get_relative_imports

from .hub_card import write_model_card


try:  # the HTTP client of huggingface_hub: httpx2 from version 2, httpx before
    from httpx2 import TransportError
except ImportError:
    from httpx import TransportError


# Trainer's checkpoints (optimizer states included) and TensorBoard logs are not part of the model.
DEFAULT_IGNORE_PATTERNS = ("checkpoint-*", "runs/*")


class HubPushError(RuntimeError):
    """The Hub could not be reached or refused the upload."""


def check_folder(folder: str | os.PathLike) -> None:
    """Raise ValueError naming everything the folder lacks to load from the Hub with `trust_remote_code=True`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Model folder not found: {folder}")
    problems = []
    config = _read_json(folder / "config.json")
    if config is None:
        problems.append("config.json is missing: save the model into the folder with save_pretrained")
    elif not config.get("auto_map"):
        problems.append(
            "config.json has no auto_map, so the Hub cannot load the model's code: save the model with "
            "modeling_gpt1 imported, which registers its classes for trust_remote_code"
        )
    problems += _weight_problems(folder)

    tokenizer_config = _read_json(folder / "tokenizer_config.json")
    if tokenizer_config is not None and not (folder / "tokenizer.json").is_file():
        problems.append("tokenizer_config.json has no tokenizer.json next to it: re-save the tokenizer")

    modules = set()
    for saved in (config, tokenizer_config):
        if saved is not None:
            modules |= _auto_map_modules(saved.get("auto_map") or {})
    problems += [
        f"{name} is missing: auto_map names it (or a file it imports); save_pretrained copies it"
        for name in _missing_code_files(folder, modules)
    ]
    if problems:
        raise ValueError(f"The model folder {folder} is incomplete:\n" + "\n".join(f"- {p}" for p in problems))


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | None = None,
    commit_message: str | None = None,
    endpoint: str | None = None,
    ignore_patterns: tuple[str, ...] | list[str] = DEFAULT_IGNORE_PATTERNS,
) -> CommitInfo:
    """Check the model folder, then upload it to the Hub repository `repo_id` (created if needed).

    Args:
        private: make a new repository private (None: the Hub's default); an existing one keeps its visibility.
        token: a Hub token with write access; None uses the saved login or `HF_TOKEN`.
        endpoint: the Hub's address; None reads `HF_ENDPOINT` (at call time), else huggingface.co.
        ignore_patterns: files of the folder not to upload (glob patterns relative to the folder).

    Raises:
        ValueError: the folder is incomplete (nothing is contacted).
        HubPushError: the Hub could not be reached or refused the upload (nothing is uploaded).
    """
    folder = Path(folder)
    check_folder(folder)
    endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    if is_offline_mode():
        raise HubPushError(
            f"could not reach the Hugging Face Hub at {endpoint}: offline mode is on (HF_HUB_OFFLINE is set), unset "
            f"it to upload; {_nothing_uploaded(folder, card_written=False)}"
        )
    api = HfApi(endpoint=endpoint, token=token)
    card_written = False
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if not (folder / "README.md").is_file():
            write_model_card(folder, repo_id=repo_id)
            card_written = True
        return api.upload_folder(
            folder_path=folder,
            repo_id=repo_id,
            commit_message=commit_message or "Upload GPT-1 model",
            ignore_patterns=list(ignore_patterns),
        )
    except HfHubHTTPError as error:
        raise HubPushError(
            f"the Hugging Face Hub at {endpoint} refused the upload to {repo_id}: {error}; "
            f"{_nothing_uploaded(folder, card_written)}"
        ) from error
    except TransportError as error:
        raise HubPushError(
            f"could not reach the Hugging Face Hub at {endpoint}: {error}; {_nothing_uploaded(folder, card_written)}"
        ) from error


# Trainer metrics that describe the run rather than the model's quality.
RUN_METRICS = {"loss", "task_loss", "lm_loss", "runtime", "samples_per_second", "steps_per_second", "samples", "epoch"}


def card_results(metrics: dict, dataset: str, task: str | None = None, split: str = "validation") -> list[dict]:
    """Trainer's `eval_*` metrics as model-card results (`modeling_gpt1.hub_card.render_model_card`'s `results`)."""
    results = []
    for key, value in metrics.items():
        name = key.removeprefix("eval_")
        if key.startswith("eval_") and name not in RUN_METRICS and isinstance(value, (int, float)):
            results.append({"task": task, "dataset": dataset, "metric": name, "value": float(value), "split": split})
    return [{k: v for k, v in result.items() if v is not None} for result in results]


def publish_run(
    training_args,
    metrics: dict,
    *,
    dataset: str,
    task: str | None = None,
    base_model: str | None = None,
    training_summary: dict | None = None,
) -> None:
    """End of a training script: write the model card into the output folder and, with `--push_to_hub`, upload the
    folder to `--hub_model_id` (default: the folder's name) with Trainer's own hub arguments. The card is named after
    that repository."""
    folder = Path(training_args.output_dir)
    repo_id = training_args.hub_model_id or folder.resolve().name
    if base_model and Path(base_model).exists():  # a local folder is no Hub id: name it in the summary instead
        training_summary = {"fine-tuned from": base_model, **(training_summary or {})}
        base_model = None
    write_model_card(
        folder,
        results=card_results(metrics, dataset, task),
        base_model=base_model,
        datasets=[dataset],
        training_summary=training_summary,
        model_name=repo_id.rsplit("/", 1)[-1],
        repo_id=repo_id,
    )
    if training_args.push_to_hub:
        push_folder(folder, repo_id, private=training_args.hub_private_repo, token=training_args.hub_token)


def _nothing_uploaded(folder: Path, card_written: bool) -> str:
    change = " except for the model card README.md written for this upload" if card_written else ""
    return f"nothing was uploaded, the local folder {folder} is unchanged{change}"


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(content, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(content).__name__}")
    return content


def _weight_problems(folder: Path) -> list[str]:
    index = _read_json(folder / "model.safetensors.index.json")
    if index is not None:
        shards = sorted(set(index.get("weight_map", {}).values()))
        missing = [shard for shard in shards if not (folder / shard).is_file()]
        return [f"{shard} is missing: model.safetensors.index.json lists it" for shard in missing]
    if any(folder.glob("*.safetensors")):
        return []
    others = sorted(path.name for pattern in ("*.bin", "*.pt", "*.pth") for path in folder.glob(pattern))
    found = f" (found {others}, which are not safetensors)" if others else ""
    return [f"no *.safetensors weights{found}: save the model with save_pretrained"]


def _auto_map_modules(auto_map: dict) -> set[str]:
    """Modules named by an `auto_map` ("modeling_gpt1.GPT1Model", or [slow, fast] pairs for tokenizers); references
    into another repository ("user/repo--module.Class") need no local file."""
    references = []
    for value in auto_map.values():
        references += value if isinstance(value, (list, tuple)) else [value]
    return {reference.rsplit(".", 1)[0] for reference in references if reference and "--" not in reference}


def _missing_code_files(folder: Path, modules: set[str]) -> list[str]:
    """Files of the modules, and of everything they import relatively, that the folder lacks."""
    pending, seen, missing = sorted(modules), set(), []
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        path = folder / f"{module}.py"
        if path.is_file():
            pending += get_relative_imports(path)
        else:
            missing.append(path.name)
    return sorted(missing)


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (and exit status 2, as argparse's)."""

    def error(self, message):
        self.exit(USAGE_ERROR, f"error: {message} (see {self.prog} --help)\n")


USAGE_ERROR = 2  # exit status of a user error: bad arguments, files or folders
HUB_ERROR = 1  # exit status when the Hub cannot be reached or refuses the upload


def main(argv: list[str] | None = None) -> int:
    """Command line: `card` writes a folder's README.md, `push` uploads the folder. Returns the exit status: 0, or
    `USAGE_ERROR` (2) for a user error, or `HUB_ERROR` (1) when the Hub fails; each error is one line on stderr."""
    parser = _OneLineParser(prog="python -m modeling_gpt1.hub", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    card = commands.add_parser("card", help="write the model card README.md into a saved model folder")
    card.add_argument("folder", help="the saved model folder")
    card.add_argument("--results", help="JSON file: a list of evaluation results for the model-index")
    card.add_argument("--training_summary", help="JSON file: an object describing this model's training")
    card.add_argument("--base_model", help="Hub id of the model this one was fine-tuned from")
    card.add_argument("--datasets", nargs="+", help="Hub ids of the training data sets")
    card.add_argument("--pipeline_tag", help="override the pipeline tag inferred from config.json")
    card.add_argument("--model_name", help="title of the card (default: the folder's name)")
    card.add_argument("--repo_id", help="Hub repository used in the loading example")
    card.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the folder's existing README.md (by default an existing card is kept and this is an error)",
    )

    push = commands.add_parser("push", help="check a saved model folder and upload it to the Hub")
    push.add_argument("folder", help="the saved model folder")
    push.add_argument("repo_id", help="the Hub repository, e.g. user/gpt1-rte (created if needed)")
    push.add_argument("--private", action="store_true", default=None, help="create the repository private")
    push.add_argument("--token", help="a Hub token with write access (default: the saved login or HF_TOKEN)")
    push.add_argument("--commit_message", help="message of the upload commit")
    push.add_argument("--endpoint", help="the Hub's address (default: HF_ENDPOINT, else huggingface.co)")
    args = parser.parse_args(argv)

    try:
        if args.command == "card":
            existing = Path(args.folder) / "README.md"
            if existing.is_file() and not args.overwrite:
                raise FileExistsError(
                    f"{existing} already exists (a card written by a training run holds its model-index, data sets "
                    "and metrics): pass --overwrite to replace it"
                )
            path = write_model_card(
                args.folder,
                results=_load_json_file(args.results, list, "--results"),
                training_summary=_load_json_file(args.training_summary, dict, "--training_summary"),
                base_model=args.base_model,
                datasets=args.datasets,
                pipeline_tag=args.pipeline_tag,
                model_name=args.model_name,
                repo_id=args.repo_id,
            )
            print(f"Wrote the model card {path}")
        else:
            commit = push_folder(
                args.folder,
                args.repo_id,
                private=args.private,
                token=args.token,
                commit_message=args.commit_message,
                endpoint=args.endpoint,
            )
            print(f"Uploaded {args.folder} to {commit.repo_url}: {commit.commit_url}")
    except HubPushError as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return HUB_ERROR
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return USAGE_ERROR
    return 0


def _one_line(error: Exception) -> str:
    """The error's message on one line (an incomplete folder's list of problems is joined with '; ')."""
    lines = [line.strip().removeprefix("- ") for line in str(error).splitlines() if line.strip()]
    return (lines[0] + " " + "; ".join(lines[1:])) if len(lines) > 1 and lines[0].endswith(":") else "; ".join(lines)


def _load_json_file(path: str | None, expected: type, option: str):
    """The JSON content of the file an option names. Raises FileNotFoundError (no such file) or ValueError (not
    JSON, or not of the `expected` type), naming the option and the file."""
    if path is None:
        return None
    if not Path(path).is_file():
        raise FileNotFoundError(f"{option} {path}: no such file")
    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{option} {path} is not valid JSON: {error}") from None
    if not isinstance(content, expected):
        raise ValueError(f"{option} {path} must hold a JSON {expected.__name__}, got {type(content).__name__}")
    return content


__all__ = ["push_folder", "check_folder", "HubPushError", "DEFAULT_IGNORE_PATTERNS", "main"]


if __name__ == "__main__":
    sys.exit(main())
