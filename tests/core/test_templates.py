"""Chat templates as the files carry them: system prompts folded when a template refuses or
drops them, and hostile templates stopped within a time and size budget with one line.

The real templates are quoted verbatim (Gemma 2, Mistral Instruct v0.2, Phi-3-mini); the
hostile ones are written into real GGUF files made from the test model and loaded by the
engine, the way a downloaded file would reach it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gguf_variants import make_variant  # noqa: E402

from workbench import chat as chat_service  # noqa: E402
from workbench.engine import LoadSettings, SamplingSettings  # noqa: E402
from workbench.engine.templates import FAMILIES, FOLDED_NOTE, ChatTemplate  # noqa: E402
from workbench.errors import TemplateError  # noqa: E402
from workbench.library import add_model  # noqa: E402
from workbench.trials import store  # noqa: E402
from workbench.trials.contenders import make_contender  # noqa: E402
from workbench.trials.runner import TrialRun, create_trial  # noqa: E402
from workbench.trials.suites import SuitePrompt, create_suite  # noqa: E402

# google/gemma-2-2b-it's tokenizer_config.json chat_template, verbatim.
GEMMA_2 = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}"
    "{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)
# mistralai/Mistral-7B-Instruct-v0.2: no system branch, and the role check trips on one.
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}"
    "{% endif %}{% endfor %}"
)
# microsoft/Phi-3-mini-4k-instruct (first release): a system message renders nothing.
PHI_3 = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}"
    "{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}"
    "{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\n'}}"
    "{% endif %}{% endfor %}"
)

#: name -> (template, words the one-line error must contain, seconds it may take)
HOSTILE = {
    "syntax": ("{% for m in messages %}{{ m.content }}", "not valid Jinja", 1.0),
    "sandbox": ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "sandbox forbids", 1.0),
    "raises": ("{{ raise_exception('This model cannot chat') }}",
               "refused the conversation: This model cannot chat", 1.0),
    "empty": ("{% if false %}x{% endif %}", "rendered an empty prompt", 1.0),
    "loops": ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
              "{% endfor %}hi", "took longer than 2 s", 4.0),
    "string_loops": ("{% set s = 'a' * 1000000 %}{% for x in s %}{% for y in s %}{% endfor %}"
                     "{% endfor %}hi", "took longer than 2 s", 4.0),
    "huge_string": ("{{ 'ab ' * 100000000 }}", "300,000,000 characters", 1.0),
    "doubling": ("{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
                 "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}", "the limit is", 1.0),
    "recursion": ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recursed too deeply", 2.0),
}

SYSTEM_CHAT = [{"role": "system", "content": "Answer in one word."},
               {"role": "user", "content": "What colour is the sky?"}]
LOAD = LoadSettings(n_ctx=2048, n_threads=2, gpu_layers=0)
SHORT = SamplingSettings(temperature=0.0, seed=1, max_tokens=8)


def template(text: str, name: str = "Test-Model.gguf") -> ChatTemplate:
    made = ChatTemplate("gguf", "file", text, bos_token="<bos>", eos_token="<eos>")
    made.model = name
    return made


@pytest.mark.parametrize("text", [GEMMA_2, MISTRAL, PHI_3], ids=["gemma-2", "mistral", "phi-3"])
def test_a_refused_or_dropped_system_prompt_is_folded(text: str) -> None:
    rendered = template(text).render(SYSTEM_CHAT)
    assert rendered.folded
    assert "Answer in one word.\nWhat colour is the sky?" in rendered.prompt
    assert rendered.prompt.count("Answer in one word.") == 1


def test_a_template_with_a_system_role_keeps_it() -> None:
    rendered = template(FAMILIES["chatml"].template).render(SYSTEM_CHAT)
    assert not rendered.folded
    assert "<|im_start|>system\nAnswer in one word.<|im_end|>" in rendered.prompt
    # Without a system prompt there is nothing to fold.
    assert not template(GEMMA_2).render(SYSTEM_CHAT[1:]).folded


def test_a_template_that_fails_anyway_names_the_model_and_its_reason() -> None:
    always = "{{ raise_exception('Only tools are supported') }}"
    with pytest.raises(TemplateError) as caught:
        template(always).render(SYSTEM_CHAT)
    assert str(caught.value) == ("Test-Model.gguf: the model's own chat template refused the "
                                 "conversation: Only tools are supported")


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_templates_end_in_one_line_within_the_budget(name: str) -> None:
    text, words, seconds = HOSTILE[name]
    process = psutil.Process()
    before = process.memory_info().rss
    started = time.perf_counter()
    with pytest.raises(TemplateError) as caught:
        template(text).render(SYSTEM_CHAT)
    elapsed = time.perf_counter() - started
    message = str(caught.value)
    assert message.startswith("Test-Model.gguf: the model's own chat template ")
    assert words in message and "\n" not in message and len(message) < 400
    assert elapsed < seconds, f"{name} took {elapsed:.1f} s"
    assert process.memory_info().rss - before < 200_000_000


# --- the same, in real files loaded by the engine -------------------------------------


@pytest.fixture(scope="module")
def variants(model_path: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.getbasetemp() / "template-variants"

    def make(name: str, text: str) -> Path:
        return make_variant(model_path, folder, f"SmolLM2-{name}", template=text)

    return make


def test_gemma_2_template_answers_with_a_system_prompt_in_chat(db, engine, variants) -> None:
    model = add_model(db, variants("gemma-2", GEMMA_2))
    turn = chat_service.send(db, engine, model, "What colour is the sky?",
                             system_prompt="Answer in one word.", load=LOAD, sampling=SHORT)
    text = "".join(turn)
    assert text.strip()
    assert turn.stats.settings["template_note"] == FOLDED_NOTE
    stored = db.execute("SELECT status, settings FROM messages WHERE role = 'assistant'")
    status, settings = stored.fetchone()
    assert status != "error" and FOLDED_NOTE in settings


@pytest.mark.parametrize("name", ["syntax", "raises", "empty", "loops", "huge_string"])
def test_hostile_template_in_a_file_is_one_line(engine, variants, name: str) -> None:
    text, words, seconds = HOSTILE[name]
    path = variants(name, text)
    process = psutil.Process()
    before = process.memory_info().rss
    started = time.perf_counter()
    reply = engine.reply(path, SYSTEM_CHAT, load=LOAD, sampling=SHORT)
    with pytest.raises(TemplateError) as caught:
        list(reply)
    elapsed = time.perf_counter() - started - (engine.loaded.load_ms / 1000)
    message = str(caught.value)
    assert message.startswith(f"{path.name}: ") and words in message and "\n" not in message
    assert elapsed < seconds + 1, f"{name} took {elapsed:.1f} s"
    assert process.memory_info().rss - before < 300_000_000
    # The family override never touches the file's template, not even to compile it.
    override = SamplingSettings(temperature=0.0, seed=1, max_tokens=8, template="chatml")
    answered = engine.reply(path, SYSTEM_CHAT, load=LOAD, sampling=override)
    assert "".join(answered).strip()
    assert answered.stats.settings["template"] == "chatml (chosen by override)"


def test_a_broken_template_is_one_cells_error_and_the_trial_goes_on(db, engine, variants,
                                                                    library_model) -> None:
    broken = add_model(db, variants("syntax", HOSTILE["syntax"][0]))
    gemma = add_model(db, variants("gemma-2", GEMMA_2))
    settings = {"n_ctx": 2048, "n_threads": 2, "gpu_layers": 0, "temperature": 0.0,
                "seed": 7, "max_tokens": 8, "system_prompt": "Answer in one word."}
    contenders = [make_contender(db, m, settings) for m in (broken, gemma, library_model)]
    suite = create_suite(db, "sky", [SuitePrompt("What colour is the sky?",
                                                 checks=[{"max_tokens": 8}])])
    trial_id = create_trial(db, suite.id, contenders, seed=7)
    list(TrialRun(db, engine, trial_id))
    assert store.get_trial_row(db, trial_id)["status"] == "done"
    cells = {c["contender_id"]: c for c in store.trial_cells(db, trial_id)}
    assert len(cells) == 3
    failed = cells[contenders[0].id]
    assert failed["status"] == "error" and "not valid Jinja" in failed["error"]
    assert "\n" not in failed["error"] and failed["passed"] == 0
    for good in contenders[1:]:
        assert cells[good.id]["status"] == "done" and cells[good.id]["content"].strip()


@pytest.mark.parametrize("text", [GEMMA_2, MISTRAL, PHI_3, "smollm2"])
def test_the_budget_changes_no_prompt(text: str, model_path: Path) -> None:
    """The guarded environment renders what llama-cpp-python's own formatter renders."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from workbench.gguf_header import read_header

    source = read_header(model_path).chat_template if text == "smollm2" else text
    chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "  Spaces kept?  "}]
    theirs = Jinja2ChatFormatter(template=source, eos_token="<eos>", bos_token="<bos>")
    assert template(source).render(chat).prompt == theirs(messages=chat).prompt
