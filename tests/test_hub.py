"""The model card (YAML metadata, model-index, body read from the folder) and the push to the Hub, exercised against a
local stand-in for the Hub's HTTP API."""

import base64
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import torch
import yaml
from conftest import make_config
from huggingface_hub import ModelCard, constants

from modeling_gpt1 import (
    GPT1ForMultipleChoice,
    GPT1ForSequenceClassification,
    GPT1ForSimilarity,
    GPT1LMHeadModel,
    GPT1Model,
)
from modeling_gpt1.hub import HubPushError, check_folder, main, push_folder
from modeling_gpt1.hub_card import render_model_card, write_model_card
from modeling_gpt1.tokenization_gpt1 import train_gpt1_tokenizer


TEXTS = ["the cat sat on the mat", "a dog ran in the park", "the film was great", "i did not like the film"]
RESULTS = [
    {
        "dataset": "nyu-mll/glue",
        "dataset_name": "GLUE RTE",
        "config": "rte",
        "split": "validation",
        "metric": "accuracy",
        "value": 0.5625,
    },
    {
        "dataset": "nyu-mll/glue",
        "config": "rte",
        "split": "validation",
        "metric": "f1",
        "metric_name": "F1",
        "value": 0.61,
    },
]
PIPELINE_TAGS = {
    GPT1LMHeadModel: "text-generation",
    GPT1ForSequenceClassification: "text-classification",
    GPT1ForSimilarity: "text-classification",
    GPT1ForMultipleChoice: "multiple-choice",
    GPT1Model: "feature-extraction",
}

AUTO_CLASSES = {
    "text-generation": "AutoModelForCausalLM",
    "text-classification": "AutoModelForSequenceClassification",
    "multiple-choice": "AutoModelForMultipleChoice",
    "feature-extraction": "AutoModel",
}


@pytest.fixture(scope="module")
def tokenizer():
    return train_gpt1_tokenizer(iter(TEXTS * 5), vocab_size=60, min_frequency=1, show_progress=False)


def save_model(folder: Path, model_class, tokenizer, **config) -> torch.nn.Module:
    """A tiny model of `model_class` whose special ids are the tokenizer's, saved with the tokenizer into `folder`."""
    special = {
        name: getattr(tokenizer, name)
        for name in ("start_token_id", "delimiter_token_id", "extract_token_id", "pad_token_id")
    }
    torch.manual_seed(0)
    model = model_class(make_config(vocab_size=len(tokenizer), **special, **config)).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model


@pytest.fixture
def model_folder(tmp_path, tokenizer) -> Path:
    folder = tmp_path / "gpt1-rte"
    save_model(
        folder,
        GPT1ForSequenceClassification,
        tokenizer,
        num_labels=2,
        id2label={0: "entailment", 1: "not_entailment"},
        label2id={"entailment": 0, "not_entailment": 1},
    )
    return folder


def front_matter(card_text: str) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", card_text, flags=re.DOTALL)
    assert match, "the card does not start with a YAML block"
    return yaml.safe_load(match.group(1))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


# ---------------------------------------------------------------------------------------------------------------
# The model card


def test_card_metadata_and_model_index_hold_the_given_results(model_folder):
    path = write_model_card(model_folder, results=RESULTS, base_model="someone/gpt1-books", datasets="nyu-mll/glue")
    assert path == model_folder / "README.md"

    metadata = front_matter(path.read_text(encoding="utf-8"))
    assert metadata["library_name"] == "transformers"
    assert metadata["license"] == "apache-2.0"
    assert metadata["pipeline_tag"] == "text-classification"
    assert metadata["base_model"] == "someone/gpt1-books"
    assert metadata["datasets"] == ["nyu-mll/glue"]
    assert {"gpt1", "openai-gpt", "custom_code", "text-classification"} <= set(metadata["tags"])
    [entry] = metadata["model-index"]
    assert entry["name"] == "gpt1-rte"
    [result] = entry["results"]  # both metrics share the task and data set
    assert result["task"]["type"] == "text-classification"
    assert result["dataset"] == {"name": "GLUE RTE", "type": "nyu-mll/glue", "config": "rte", "split": "validation"}
    assert {metric["type"]: metric["value"] for metric in result["metrics"]} == {"accuracy": 0.5625, "f1": 0.61}

    # huggingface_hub reads the same results back.
    loaded = ModelCard.load(path).data
    assert [(r.metric_type, r.metric_value, r.dataset_config) for r in loaded.eval_results] == [
        ("accuracy", 0.5625, "rte"),
        ("f1", 0.61, "rte"),
    ]
    assert "| text-classification | GLUE RTE | rte | validation | accuracy | 0.5625 |" in path.read_text()
    assert "| Labels | 0 `entailment`, 1 `not_entailment` |" in path.read_text()


@pytest.mark.parametrize("model_class", list(PIPELINE_TAGS), ids=lambda cls: cls.__name__)
def test_pipeline_tag_and_loading_class_follow_the_architecture(tmp_path, tokenizer, model_class):
    save_model(tmp_path, model_class, tokenizer)
    card = render_model_card(tmp_path)
    metadata = front_matter(str(card))
    assert metadata["pipeline_tag"] == PIPELINE_TAGS[model_class]
    auto_class = AUTO_CLASSES[PIPELINE_TAGS[model_class]]
    assert f"model = {auto_class}.from_pretrained(repo, trust_remote_code=True)" in card.text
    assert ("causal-lm" in metadata["tags"]) == (model_class is GPT1LMHeadModel)


def test_explicit_pipeline_tag_overrides_the_inferred_one(model_folder):
    assert (
        front_matter(str(render_model_card(model_folder, pipeline_tag="zero-shot-classification")))["pipeline_tag"]
        == "zero-shot-classification"
    )


def test_card_body_reads_the_numbers_from_the_folder(tmp_path, tokenizer):
    model = save_model(tmp_path, GPT1LMHeadModel, tokenizer, n_layer=3, n_embd=24, n_head=3, n_positions=48)
    text = render_model_card(tmp_path, training_summary={"learning rate": 2.5e-4, "steps": 12}).text
    assert "| Blocks | 3 |" in text
    assert "| Width | 24 (feed-forward 96," in text
    assert "| Attention heads | 3 of 8 dimensions |" in text
    assert "| Context | 48 tokens |" in text
    assert f"| Vocabulary | {len(tokenizer)} ids" in text
    assert f"`_classify_` ({tokenizer.extract_token_id})" in text
    # Counted from the safetensors headers: the tied LM head is stored once, as model.parameters() counts it.
    assert f"| Parameters | {sum(p.numel() for p in model.parameters()):,} |" in text
    assert "- **learning rate**: 0.00025" in text and "- **steps**: 12" in text
    for family_layout in (
        "`_start_ text _classify_`",
        "`_start_ premise _delimiter_ hypothesis _classify_`",
        "`_start_ B _delimiter_ A _classify_`",
        "`_start_ context _delimiter_ answer_k _classify_`",
    ):
        assert family_layout in text
    assert "@techreport{radford2018improving" in text


@pytest.mark.parametrize("model_class", list(PIPELINE_TAGS), ids=lambda cls: cls.__name__)
def test_the_cards_usage_example_runs(tmp_path, tokenizer, model_class):
    save_model(tmp_path, model_class, tokenizer, num_labels=2)
    text = render_model_card(tmp_path).text
    [code] = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    code = re.sub(r'^repo = ".*"$', f"repo = {str(tmp_path)!r}", code, flags=re.MULTILINE)
    exec(compile(code, "model card", "exec"), {})


def test_card_rejects_malformed_results(model_folder):
    with pytest.raises(ValueError, match=r"lacks \['metric'\]"):
        render_model_card(model_folder, results=[{"dataset": "nyu-mll/glue", "value": 0.5}])
    with pytest.raises(ValueError, match="unknown keys.*'score'"):
        render_model_card(model_folder, results=[{"dataset": "d", "metric": "accuracy", "value": 0.5, "score": 1}])
    with pytest.raises(TypeError, match="value must be a number"):
        render_model_card(model_folder, results=[{"dataset": "d", "metric": "accuracy", "value": "high"}])


def test_card_needs_a_known_architecture(model_folder):
    config = json.loads((model_folder / "config.json").read_text())
    with pytest.raises(ValueError, match="Unknown architectures"):
        render_model_card({**config, "architectures": ["BertModel"]})
    with pytest.raises(ValueError, match="no `architectures`"):
        render_model_card({**config, "architectures": None})
    with pytest.raises(FileNotFoundError, match="Model folder not found"):
        render_model_card(model_folder / "nowhere")
    (model_folder / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="No config.json"):
        render_model_card(model_folder / "empty")


def test_card_command_writes_the_results(model_folder, tmp_path, capsys):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(RESULTS[:1]))
    assert main(["card", str(model_folder), "--results", str(results), "--base_model", "someone/gpt1-books"]) == 0
    card = ModelCard.load(model_folder / "README.md")
    assert card.data.base_model == "someone/gpt1-books"
    assert [(r.metric_type, r.metric_value) for r in card.data.eval_results] == [("accuracy", 0.5625)]

    results.write_text(json.dumps({"accuracy": 0.5}))
    assert main(["card", str(model_folder), "--results", str(results), "--overwrite"]) == 2
    assert "must hold a JSON list" in capsys.readouterr().err


def test_card_command_keeps_a_training_runs_card_unless_told_to_overwrite(model_folder, capsys):
    """The card a training run wrote (model-index, data sets, metrics) is not replaced by a bare one."""
    write_model_card(model_folder, results=RESULTS, datasets=["nyu-mll/glue"])
    written = (model_folder / "README.md").read_text()

    assert main(["card", str(model_folder)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and "README.md already exists" in line and "--overwrite" in line
    assert (model_folder / "README.md").read_text() == written

    assert main(["card", str(model_folder), "--overwrite"]) == 0
    replaced = front_matter((model_folder / "README.md").read_text())
    assert "model-index" not in replaced and "datasets" not in replaced


@pytest.mark.parametrize(
    "argv, complaint",
    [
        (
            ["card", "{folder}", "--results", "{folder}/nowhere.json", "--overwrite"],
            "--results {folder}/nowhere.json: no such file",
        ),
        (
            ["card", "{folder}", "--training_summary", "{folder}/results.txt", "--overwrite"],
            "--training_summary {folder}/results.txt is not valid JSON",
        ),
        (["card", "{folder}/nowhere"], "Model folder not found: {folder}/nowhere"),
        (["push", "{folder}/nowhere", "me/x"], "Model folder not found: {folder}/nowhere"),
        (["card"], "the following arguments are required: folder"),
        (["card", "{folder}", "--no_such_option"], "unrecognized arguments: --no_such_option"),
    ],
)
def test_command_line_user_errors_are_one_line_and_exit_2(model_folder, capsys, argv, complaint):
    (model_folder / "results.txt").write_text("not json")
    argv = [arg.format(folder=model_folder) for arg in argv]
    try:
        status = main(argv)
    except SystemExit as exit:  # argparse's own errors
        status = exit.code
    assert status == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and complaint.format(folder=model_folder) in line


def test_an_incomplete_folder_is_one_line_on_the_command_line(model_folder, capsys):
    (model_folder / "model.safetensors").unlink()
    (model_folder / "modeling_gpt1.py").unlink()
    assert main(["push", str(model_folder), "me/x"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "is incomplete: " in line and "no *.safetensors weights" in line and "modeling_gpt1.py is missing" in line


# ---------------------------------------------------------------------------------------------------------------
# The folder check


@pytest.mark.parametrize(
    "removed, complaint",
    [
        ("model.safetensors", "no *.safetensors weights"),
        ("modeling_gpt1.py", "modeling_gpt1.py is missing"),
        ("configuration_gpt1.py", "configuration_gpt1.py is missing"),
        ("tokenization_gpt1.py", "tokenization_gpt1.py is missing"),
        ("tokenizer.json", "tokenizer_config.json has no tokenizer.json"),
        ("config.json", "config.json is missing"),
    ],
)
def test_incomplete_folder_is_refused_before_contacting_the_hub(model_folder, removed, complaint):
    check_folder(model_folder)  # complete as saved
    (model_folder / removed).unlink()
    with pytest.raises(ValueError, match=re.escape(complaint)):
        push_folder(model_folder, "someone/tiny-gpt1", endpoint="http://127.0.0.1:9")  # never contacted


def test_folder_without_auto_map_is_refused(model_folder):
    config = json.loads((model_folder / "config.json").read_text())
    del config["auto_map"]
    (model_folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="config.json has no auto_map"):
        check_folder(model_folder)


# ---------------------------------------------------------------------------------------------------------------
# The push, against a stand-in for the Hub


class StandInHub:
    """The part of the Hub's HTTP API that `create_repo` and `upload_folder` use, answering every file as a regular
    (non-LFS) upload. It records the repositories created, the commits and the Authorization headers."""

    ROUTE = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/(?P<action>preupload|commit)/(?P<revision>[^/]+)$")

    def __init__(self):
        self.created, self.commits, self.authorizations, self.unhandled = [], [], [], []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hub.authorizations.append(self.headers.get("Authorization"))
                status, answer = hub.answer(urlsplit(self.path).path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                hub.unhandled.append(f"GET {self.path}")
                self.send_error(404)

            def log_message(self, *args):  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, path: str, body: bytes) -> tuple[int, dict]:
        if path == "/api/repos/create":
            payload = json.loads(body)
            self.created.append(payload)
            return 200, {"url": f"{self.url}/{payload['organization']}/{payload['name']}"}
        if path == "/api/validate-yaml":
            return 200, {"errors": [], "warnings": []}
        route = self.ROUTE.match(path)
        if route and route["action"] == "preupload":
            files = json.loads(body)["files"]
            return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
        if route and route["action"] == "commit":
            header, *operations = [json.loads(line) for line in body.splitlines() if line.strip()]
            self.commits.append(
                {
                    "repo": route["repo"],
                    "revision": route["revision"],
                    "header": header["value"],
                    "operations": operations,
                }
            )
            oid = f"{len(self.commits):040x}"
            return 200, {"commitUrl": f"{self.url}/{route['repo']}/commit/{oid}", "commitOid": oid}
        self.unhandled.append(f"POST {path}")
        return 404, {"error": f"the stand-in Hub does not implement {path}"}

    def uploaded_files(self) -> dict[str, bytes]:
        files = {}
        for commit in self.commits:
            for operation in commit["operations"]:
                assert operation["key"] == "file" and operation["value"]["encoding"] == "base64", operation
                files[operation["value"]["path"]] = base64.b64decode(operation["value"]["content"])
        return files


@pytest.fixture
def online(monkeypatch):
    """Undo the suite's offline mode: huggingface_hub reads HF_HUB_OFFLINE once, into `constants`, at import."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def hub(online, monkeypatch):
    stand_in = StandInHub()
    thread = threading.Thread(target=stand_in.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", stand_in.url)  # read by push_folder at call time
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()
    thread.join()


@pytest.mark.parametrize("xet", [True, False], ids=["with-hf_xet", "without-hf_xet"])
def test_push_uploads_every_file_of_the_folder_byte_for_byte(hub, model_folder, monkeypatch, xet):
    # huggingface_hub uploads through its streamed pipeline when hf_xet is installed, else through create_commit.
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", not xet)
    checkpoint = model_folder / "checkpoint-10"
    checkpoint.mkdir()
    (checkpoint / "optimizer.pt").write_bytes(b"optimizer state")
    assert not (model_folder / "README.md").exists()

    commit = push_folder(model_folder, "someone/tiny-gpt1", private=True, token="hf_test", commit_message="First")

    assert hub.unhandled == []
    [created] = hub.created
    assert (created["organization"], created["name"], created["visibility"]) == ("someone", "tiny-gpt1", "private")
    assert set(hub.authorizations) == {"Bearer hf_test"}
    assert [(c["repo"], c["revision"], c["header"]["summary"]) for c in hub.commits] == [
        ("someone/tiny-gpt1", "main", "First")
    ]
    assert commit.commit_url.startswith(f"{hub.url}/someone/tiny-gpt1/commit/")

    # The missing card was written locally and uploaded; the Trainer checkpoint stayed behind.
    local = {path: data for path, data in snapshot(model_folder).items() if not path.startswith("checkpoint-")}
    assert {"README.md", "config.json", "model.safetensors", "modeling_gpt1.py", "tokenizer.json"} <= set(local)
    assert hub.uploaded_files() == local
    assert 'repo = "someone/tiny-gpt1"' in local["README.md"].decode()


def test_push_command_reads_hf_endpoint_and_keeps_an_existing_card(hub, model_folder, capsys):
    write_model_card(model_folder, results=RESULTS)
    before = snapshot(model_folder)
    assert main(["push", str(model_folder), "someone/tiny-gpt1", "--token", "hf_test"]) == 0
    assert f"Uploaded {model_folder} to {hub.url}/someone/tiny-gpt1" in capsys.readouterr().out
    assert "visibility" not in hub.created[0]  # no --private: the Hub's default
    assert hub.uploaded_files() == before == snapshot(model_folder)


def test_push_without_a_reachable_hub_fails_clearly_and_leaves_the_folder_intact(online, model_folder, capsys):
    with socket.socket() as probe:  # a free port, closed again: nothing listens there
        probe.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{probe.getsockname()[1]}"
    before = snapshot(model_folder)

    assert main(["push", str(model_folder), "someone/tiny-gpt1", "--endpoint", endpoint]) == 1
    error = capsys.readouterr().err
    assert f"could not reach the Hugging Face Hub at {endpoint}" in error
    assert f"nothing was uploaded, the local folder {model_folder} is unchanged" in error
    assert snapshot(model_folder) == before  # no card written, nothing altered


def test_push_in_offline_mode_says_so(model_folder):
    assert constants.HF_HUB_OFFLINE  # the suite runs with HF_HUB_OFFLINE=1
    before = snapshot(model_folder)
    with pytest.raises(HubPushError, match="offline mode is on \\(HF_HUB_OFFLINE"):
        push_folder(model_folder, "someone/tiny-gpt1")
    assert snapshot(model_folder) == before


# ---------------------------------------------------------------------------------------------------------------
# Packaging


def test_the_wheel_ships_the_card_template_inside_the_package_and_no_other_top_level_package():
    tomllib = pytest.importorskip("tomllib")
    setuptools = pytest.importorskip("setuptools")
    root = Path(__file__).resolve().parents[1]
    settings = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = setuptools.find_packages(root, include=settings["packages"]["find"]["include"])
    assert {package.split(".")[0] for package in packages} == {"modeling_gpt1"}
    assert "modeling_gpt1.hub_card" in packages
    shipped = {
        path
        for pattern in settings["package-data"]["modeling_gpt1"]
        for path in (root / "modeling_gpt1").glob(pattern)
    }
    assert root / "modeling_gpt1" / "hub_card" / "template.md" in shipped
    assert settings["dynamic"]["version"] == {"attr": "modeling_gpt1.__version__"}


def test_the_package_has_a_version():
    import modeling_gpt1

    assert re.fullmatch(r"\d+\.\d+\.\d+", modeling_gpt1.__version__)
