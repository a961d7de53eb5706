"""Search, files, remote headers and fit verdicts against the loopback Hub stand-in."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from click.testing import CliRunner  # noqa: E402
from hub_standin import MODEL_FILE, REPO  # noqa: E402

pytest_plugins = ["hub_fixtures"]

from workbench.cli import cli  # noqa: E402
from workbench.gguf_header import read_header  # noqa: E402
from workbench.hub.files import (  # noqa: E402
    RemotePart,
    group_files,
    list_files,
    quantization_from_name,
)
from workbench.hub.remote_header import read_remote_header  # noqa: E402
from workbench.hub.search import search_models  # noqa: E402


def test_search_sorts_and_describes(hub_client):
    by_downloads = search_models(hub_client, "gguf", sort="downloads")
    assert [r.repo_id for r in by_downloads][:2] == [REPO, "other-org/TinyLlama-GGUF"]
    top = by_downloads[0]
    assert (top.author, top.downloads, top.likes, top.license) == ("test-org", 5000, 40,
                                                                  "apache-2.0")
    assert (top.architecture, top.context_length, top.gated) == ("llama", 8192, False)
    assert top.last_modified.startswith("2024-11-01")
    assert search_models(hub_client, "gguf", sort="likes")[0].repo_id == "other-org/TinyLlama-GGUF"
    assert search_models(hub_client, "gguf", sort="trending")[0].repo_id == (
        "other-org/TinyLlama-GGUF")
    assert search_models(hub_client, "gguf", sort="recent")[0].repo_id == (
        "other-org/TinyLlama-GGUF")
    assert len(search_models(hub_client, "gguf", limit=1)) == 1
    gated = search_models(hub_client, "Gated")[0]
    assert gated.gated == "manual"
    assert all("Private" not in r.repo_id for r in search_models(hub_client, ""))


def test_quantization_names():
    cases = {
        "llama-2-7b.Q4_K_M.gguf": "Q4_K_M", "model-q5_k_s.gguf": "Q5_K_S",
        "Qwen2-0.5B-Instruct-IQ4_XS.gguf": "IQ4_XS", "x.IQ3_XXS.gguf": "IQ3_XXS",
        "gemma-2-9b-it-Q6_K_L.gguf": "Q6_K_L", "m-UD-Q4_K_XL.gguf": "Q4_K_XL",
        "phi-3-F16.gguf": "F16", "phi-3-bf16.gguf": "BF16", "tiny.Q8_0.gguf": "Q8_0",
        "tiny.Q2_K.gguf": "Q2_K", "m.IQ1_S.gguf": "IQ1_S", "m.Q4_0_4_4.gguf": "Q4_0_4_4",
        "plain.gguf": None, "Q4_K_M/model-Q4_K_M-00001-of-00002.gguf": "Q4_K_M",
    }
    for name, quant in cases.items():
        assert quantization_from_name(name) == quant, name


def test_split_files_grouped_and_projectors_marked():
    parts = [RemotePart(f"Q4_K_M/big-Q4_K_M-0000{i}-of-00003.gguf", 10, None)
             for i in (2, 1, 3)]
    parts += [RemotePart("mmproj-model-f16.gguf", 5), RemotePart("small.Q8_0.gguf", 7),
              RemotePart("broken-00001-of-00002.gguf", 1), RemotePart("notes.txt", 1)]
    models = {m.name: m for m in group_files(parts)}
    big = models["Q4_K_M/big-Q4_K_M-00001-of-00003.gguf"]
    assert [p.path[-20:] for p in big.parts] == [p.path[-20:] for p in sorted(
        parts[:3], key=lambda p: p.path)]
    assert big.size == 30 and big.quantization == "Q4_K_M" and big.is_split
    assert models["mmproj-model-f16.gguf"].projector
    assert models["broken-00001-of-00002.gguf"].missing_parts == 1
    assert "notes.txt" not in models


def test_files_lists_models_with_sizes_and_hashes(hub_client, test_model_file):
    repo = list_files(hub_client, REPO)
    assert repo.commit == "0123456789abcdef0123456789abcdef01234567"
    assert repo.license == "apache-2.0"
    model = repo.find(MODEL_FILE)
    assert model.size == test_model_file.stat().st_size
    assert len(model.parts[0].sha256) == 64
    split = repo.find("split/SmolLM2-135M-Instruct.Q8_0-00001-of-00002.gguf")
    assert len(split.parts) == 2 and split.quantization == "Q8_0"
    assert repo.find("mmproj-SmolLM2-135M-F16.gguf").projector
    assert repo.find("Q4_1") is model  # a quantization names a file when only one has it


def test_remote_header_reads_only_the_start(hub_client, hub, test_model_file):
    remote = read_remote_header(hub_client, REPO, MODEL_FILE)
    local = read_header(test_model_file)
    assert remote.header.metadata.keys() == local.metadata.keys()
    assert remote.header.arch_value("block_count") == 30
    assert [t.name for t in remote.header.tensors] == [t.name for t in local.tensors]
    assert remote.bytes_fetched < test_model_file.stat().st_size / 20
    cdn = hub.requests("cdn")
    assert cdn and all(method == "GET" for _, method, _ in cdn)


def test_cli_search_and_files_with_fit(hub_workspace, hub):
    runner = CliRunner()
    home = str(hub_workspace.root)
    result = runner.invoke(cli, ["--data-dir", home, "search", "smol", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["repo_id"] == REPO
    result = runner.invoke(cli, ["--data-dir", home, "search", "gguf", "--sort", "likes"])
    assert result.exit_code == 0 and "other-org/TinyLlama-GGUF" in result.output.splitlines()[1]
    result = runner.invoke(cli, ["--data-dir", home, "files", REPO, "--ctx", "4096"])
    assert result.exit_code == 0, result.output
    assert "Q4_1" in result.output and "fits" in result.output
    assert "vision projector, not a chat model" in result.output
    assert "[2 parts]" in result.output
    data = json.loads(runner.invoke(cli, ["--data-dir", home, "files", REPO, "--json",
                                          "--ctx", "2048"]).output)
    q4 = next(f for f in data["files"] if f["name"] == MODEL_FILE)
    assert q4["fit"]["estimate"]["source"] == "header"
    assert q4["fit"]["estimate"]["kv_cache"] == 2048 * 30 * 3 * 128 * 2
    assert q4["fit"]["kind"] in ("gpu", "partial", "cpu")
