"""The curated catalog: the shipped JSON is complete and plausible; filters and the CLI work."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from workbench import catalog
from workbench.catalog import (
    OPENNESS,
    TASKS,
    CatalogEntry,
    CatalogError,
    filter_catalog,
    fits,
    load_catalog,
    parse_catalog,
)
from workbench.cli import cli
from workbench.errors import InvalidInputError, WorkbenchError

GB = 1000**3


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(catalog.catalog_path().read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def entries() -> list[CatalogEntry]:
    return load_catalog()


# --- the shipped data ------------------------------------------------------------------------

def test_shipped_catalog_loads_and_validates(entries: list[CatalogEntry]) -> None:
    chat = [e for e in entries if not e.embedding and not e.vision]
    vision = [e for e in entries if e.vision]
    assert 12 <= len(chat) <= 14 and 3 <= len(vision) <= 6
    assert 4 <= len(entries) - len(chat) - len(vision) <= 8
    assert len({e.id for e in entries}) == len(entries)
    assert catalog.catalog_path().name == "catalog.json"


def test_document_defines_openness_tasks_and_memory_formula(document: dict[str, Any]) -> None:
    assert set(document["definitions"]["openness"]) == set(OPENNESS)
    assert set(document["definitions"]["tasks"]) == set(TASKS)
    assert "4096" in document["notes"] and "1.1" in document["notes"]


def test_every_entry_has_every_field(document: dict[str, Any]) -> None:
    # the embedding markers are optional: most models expect none
    required = {f for f in CatalogEntry.__dataclass_fields__} - {
        "query_prefix", "passage_prefix", "mmproj", "mmproj_size_bytes"}
    for raw in document["models"]:
        assert required <= set(raw), raw.get("id")


def test_catalog_spans_sizes_and_tasks(entries: list[CatalogEntry]) -> None:
    params = [e.parameters for e in entries]
    assert min(params) < 0.2e9 and max(params) > 12e9
    for task in TASKS:
        assert filter_catalog(entries, task=task), f"no model for {task}"
    assert {e.openness for e in entries} == set(OPENNESS)
    ids = {e.id for e in entries}
    assert {"smollm2-135m", "qwen2.5-0.5b", "llama-3.2-1b", "llama-3.2-3b"} <= ids


def test_sizes_are_plausible_for_parameters_and_quantization(entries: list[CatalogEntry]) -> None:
    for e in entries:
        # Q4 to Q8 GGUF files hold about 0.55 to 1.07 bytes per parameter (plus embeddings).
        assert e.quantization.startswith(("Q4", "Q5", "Q6", "Q8")), e.id
        ratio = e.size_bytes / e.parameters
        assert 0.45 <= ratio <= 1.2, f"{e.id}: {ratio:.2f} bytes/parameter"
        assert e.file.endswith(".gguf") and e.quantization in e.file, e.id


def test_min_memory_follows_the_documented_formula(entries: list[CatalogEntry]) -> None:
    for e in entries:
        # file + KV cache at 4k (> 0) + 10%: never below 1.1 x file, never absurdly above.
        assert e.min_memory_bytes > e.size_bytes * 1.1, e.id
        assert e.min_memory_bytes < e.size_bytes * 1.1 + 2 * GB, e.id


def test_licenses_match_openness(entries: list[CatalogEntry]) -> None:
    for e in entries:
        if e.license in {"llama3.2", "gemma"}:
            assert e.openness == "restricted", e.id
        if e.openness in {"open source", "open weights"}:
            assert e.license in {"apache-2.0", "mit"}, e.id


def test_vision_models_name_their_projector_at_several_sizes(
        entries: list[CatalogEntry]) -> None:
    vision = [e for e in entries if e.vision]
    sizes = sorted(e.parameters for e in vision)
    assert sizes[0] < 2.5e9 and sizes[-1] > 4e9  # several sizes
    for e in vision:
        assert "mmproj" in e.mmproj and e.mmproj.endswith(".gguf"), e.id
        # file + projector + KV cache at 4k (> 0) + 10%
        assert e.min_memory_bytes > (e.size_bytes + e.mmproj_size_bytes) * 1.1, e.id
        assert e in filter_catalog(entries, task="vision")
    gemma = next(e for e in vision if e.repo == "ggml-org/gemma-3-4b-it-GGUF")
    assert gemma.mmproj == "mmproj-model-f16.gguf" and gemma.openness == "restricted"


def test_vision_entries_are_checked(document: dict[str, Any]) -> None:
    doc = copy.deepcopy(document)
    entry = next(m for m in doc["models"] if "vision" in m["tasks"])
    entry["mmproj"] = "model.gguf"
    with pytest.raises(CatalogError, match="projector's .gguf"):
        parse_catalog(doc)
    del entry["mmproj"]
    with pytest.raises(CatalogError, match="names its projector"):
        parse_catalog(doc)


def test_entry_url_and_dict(entries: list[CatalogEntry]) -> None:
    smol = next(e for e in entries if e.id == "smollm2-135m")
    assert smol.url == ("https://huggingface.co/bartowski/SmolLM2-135M-Instruct-GGUF"
                        "/resolve/main/SmolLM2-135M-Instruct-Q4_K_M.gguf")
    data = smol.to_dict()
    assert data["tasks"] == ["chat", "small-and-fast"] and data["url"] == smol.url
    json.dumps(data)


# --- validation ------------------------------------------------------------------------------

def _broken(document: dict[str, Any], **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    for key, value in changes.items():
        if value is None:
            del doc["models"][0][key]
        else:
            doc["models"][0][key] = value
    return doc


@pytest.mark.parametrize("changes, message", [
    ({"size_bytes": None}, "missing size_bytes"),
    ({"size_bytes": "105 MB"}, "size_bytes should be int"),
    ({"size_verified": 1}, "size_verified should be bool"),
    ({"parameters": True}, "parameters should be int"),
    ({"tasks": ["chat", "seeing"]}, "unknown: seeing"),
    ({"tasks": []}, "non-empty subset"),
    ({"openness": "open-ish"}, "openness 'open-ish'"),
    ({"min_memory_bytes": 1}, "smaller than the file"),
    ({"file": "model.bin"}, ".gguf"),
    ({"context_length": 0}, "must be positive"),
])
def test_malformed_entries_are_rejected_with_a_clear_message(
        document: dict[str, Any], changes: dict[str, Any], message: str) -> None:
    with pytest.raises(CatalogError, match=message) as caught:
        parse_catalog(_broken(document, **changes))
    assert isinstance(caught.value, WorkbenchError)
    assert "smollm2-135m" in str(caught.value) or "#1" in str(caught.value)


def test_duplicate_ids_and_missing_models_are_rejected(document: dict[str, Any]) -> None:
    doc = copy.deepcopy(document)
    doc["models"].append(copy.deepcopy(doc["models"][0]))
    with pytest.raises(CatalogError, match="twice"):
        parse_catalog(doc)
    with pytest.raises(CatalogError, match="models"):
        parse_catalog({"version": 1})


def test_load_catalog_from_a_path(tmp_path: Path, document: dict[str, Any]) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(document), encoding="utf-8")
    assert [e.id for e in load_catalog(good)] == [m["id"] for m in document["models"]]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid JSON"):
        load_catalog(bad)
    with pytest.raises(CatalogError, match="cannot be read"):
        load_catalog(tmp_path / "absent.json")


# --- filtering -------------------------------------------------------------------------------

def test_filter_by_task(entries: list[CatalogEntry]) -> None:
    code = filter_catalog(entries, task="code")
    assert code and all("code" in e.tasks for e in code)
    assert "qwen2.5-coder-7b" in {e.id for e in code}
    assert "mistral-7b-v0.3" not in {e.id for e in code}
    assert filter_catalog(entries) == [e for e in entries if not e.embedding]


def test_embedding_models_are_listed_only_for_embedding(entries: list[CatalogEntry]) -> None:
    embedding = filter_catalog(entries, task="embedding")
    assert len(embedding) >= 4 and all(e.embedding for e in embedding)
    assert {"qwen3-embedding-0.6b", "nomic-embed-text-v1.5"} <= {e.id for e in embedding}
    assert any("multilingual" in e.tasks for e in embedding)  # several sizes, multilingual
    assert min(e.parameters for e in embedding) < 50e6 < 500e6 < max(
        e.parameters for e in embedding)
    for task in ("chat", "multilingual", "small-and-fast", None):
        assert not any(e.embedding for e in filter_catalog(entries, task=task)), task
    fitting = filter_catalog(entries, task="embedding", max_memory=1 * GB)
    assert fitting and all(e.min_memory_bytes <= GB for e in fitting)


def test_an_embedding_model_tagged_for_chat_is_refused(document: dict[str, Any]) -> None:
    doc = _broken(document, tasks=["embedding", "chat"])
    with pytest.raises(CatalogError, match="embedding model cannot have the tasks"):
        parse_catalog(doc)


def test_filter_by_memory(entries: list[CatalogEntry]) -> None:
    small = filter_catalog(entries, max_memory=2 * GB)
    assert small and all(e.min_memory_bytes <= 2 * GB for e in small)
    assert "smollm2-135m" in {e.id for e in small}
    assert "qwen2.5-14b" not in {e.id for e in small}
    assert filter_catalog(entries, max_memory=1) == []
    assert filter_catalog(entries, max_memory=10**15) == [e for e in entries if not e.embedding]
    both = filter_catalog(entries, task="code", max_memory=2 * GB)
    assert [e.id for e in both] == ["qwen2.5-coder-1.5b"]


def test_fits_is_inclusive(entries: list[CatalogEntry]) -> None:
    e = entries[0]
    assert fits(e, e.min_memory_bytes)
    assert not fits(e, e.min_memory_bytes - 1)


def test_unknown_task_names_the_valid_ones(entries: list[CatalogEntry]) -> None:
    with pytest.raises(InvalidInputError, match="chat, code, reasoning"):
        filter_catalog(entries, task="seeing")


# --- CLI -------------------------------------------------------------------------------------

def test_cli_table(entries: list[CatalogEntry]) -> None:
    result = CliRunner().invoke(cli, ["catalog"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["ID", "NAME", "PARAMS", "QUANT", "SIZE", "MIN", "RAM",
                                "LICENSE", "OPENNESS", "TASKS"]
    entries = [e for e in entries if not e.embedding]
    assert len(lines) == 1 + len(entries) + 2
    assert lines[-1].endswith("catalog --task embedding")
    lines = lines[:-2]
    smol = next(line for line in lines if line.startswith("smollm2-135m "))
    assert "105.5 MB" in smol and "apache-2.0" in smol and "open source" in smol
    # Aligned: every row's LICENSE column starts where the header's does.
    column = lines[0].index("LICENSE")
    for e, line in zip(entries, lines[1:], strict=True):
        assert line[column:].startswith(e.license), line


def test_cli_json_with_task() -> None:
    result = CliRunner().invoke(cli, ["catalog", "--task", "reasoning", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data and all("reasoning" in item["tasks"] for item in data)
    assert {"id", "repo", "file", "size_bytes", "min_memory_bytes", "url"} <= set(data[0])


def test_cli_fits_uses_machine_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog, "machine_memory_bytes", lambda: 2 * GB)
    result = CliRunner().invoke(cli, ["catalog", "--fits", "--json"])
    assert result.exit_code == 0, result.output
    ids = {item["id"] for item in json.loads(result.output)}
    assert "smollm2-135m" in ids and "qwen2.5-7b" not in ids
    table = CliRunner().invoke(cli, ["catalog", "--fits", "--task", "code"])
    assert "qwen2.5-coder-1.5b" in table.output and "qwen2.5-coder-7b" not in table.output
    assert "1 of 4 models fit" in table.output
    monkeypatch.setattr(catalog, "machine_memory_bytes", lambda: 1)
    none = CliRunner().invoke(cli, ["catalog", "--fits"])
    assert none.exit_code == 0 and "No recommended models" in none.output


def test_cli_bad_task_is_one_line() -> None:
    result = CliRunner().invoke(cli, ["catalog", "--task", "seeing"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: Unknown task 'seeing'; choose one of: "
        "chat, code, reasoning, multilingual, small-and-fast, vision, embedding."]
