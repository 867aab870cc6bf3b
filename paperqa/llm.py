"""The answer-writing models, behind one small interface.

The answer engine only ever sees `LLM`: a name, a token counter and a streaming chat call. Three real backends
implement it (in-process llama.cpp, an Ollama server, any OpenAI-compatible server) plus `FakeLLM` for unit tests.
Every failure a user can cause (missing model file, server down, model not pulled) becomes a `BackendError` whose
message names the `PAPERQA_*` setting to fix. There is no cloud default anywhere: a server backend only talks to the
URL the user configured (Ollama's own local default excepted).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx

from paperqa.errors import BackendError
from paperqa.models import Profile, availability, gguf_metadata, installed_profiles, model_file, trained_context
from paperqa.settings import LLMSettings

if TYPE_CHECKING:
    from llama_index.core.llms import CustomLLM

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": str}

OLLAMA_DEFAULT_URL = "http://127.0.0.1:11434"
_EXCERPT = 300  # characters of a server's error body quoted in a BackendError


@runtime_checkable
class LLM(Protocol):
    """What the answer engine needs from a model; every backend (and FakeLLM) satisfies it."""

    name: str
    context_window: int

    def stream(self, messages: list[Message], *, max_tokens: int, temperature: float, seed: int,
               stop: list[str] | None = None) -> Iterator[str]:
        """Yield text pieces as the model writes them."""
        ...

    def complete(self, messages: list[Message], *, max_tokens: int, temperature: float, seed: int,
                 stop: list[str] | None = None) -> str:
        """The whole reply at once."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens `text` costs in the prompt (exact for llama.cpp, an estimate for servers)."""
        ...


def estimate_tokens(text: str) -> int:
    """Rough token count for servers whose tokenizer we cannot see: about four characters per token."""
    return (len(text) + 3) // 4


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


# --------------------------------------------------------------------------------------------------------------------
# llama.cpp in-process
# --------------------------------------------------------------------------------------------------------------------


_params_lock = threading.Lock()


@contextmanager
def _model_params(*, extra_buffers: bool) -> Iterator[None]:
    """Load a `Llama` with llama.cpp's extra weight buffers (AMX, repacking) on or off.

    `Llama()` exposes no argument for `use_extra_bufts`, so its default-params factory is wrapped for the duration of
    the load. Why: with them on, a CPU with AMX runs the bundled Q4_1 model through `ggml_backend_amx_mul_mat`,
    which crashes the whole process (SIGSEGV) in llama-cpp-python 0.3.36 built for such a machine."""
    if extra_buffers:
        yield
        return
    import llama_cpp.llama_cpp as lib

    with _params_lock:
        original = lib.llama_model_default_params

        def params() -> Any:
            p = original()
            if hasattr(p, "use_extra_bufts"):
                p.use_extra_bufts = False
            return p

        lib.llama_model_default_params = params
        try:
            yield
        finally:
            lib.llama_model_default_params = original


class LlamaCppLLM:
    """A GGUF model run inside this process by llama-cpp-python; needs no server and no network.

    The model loads on first use. One lock per instance serialises generation because a llama.cpp context is not
    thread-safe: concurrent UI users simply queue. The lock is held while a `stream()` generator is being consumed,
    so callers must exhaust or close it (CPython closes an abandoned generator as soon as it is dropped).
    """

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self.profile: Profile | None = None
        if settings.model_path:
            path = Path(settings.model_path).expanduser()
            if not path.is_file():
                raise BackendError(f"GGUF model file not found: {path}. Set PAPERQA_MODEL_PATH to an existing .gguf "
                                   "file (or unset it to use PAPERQA_MODEL_PROFILE's packaged model).")
        else:
            # Cheap here (package metadata only); a split model is joined and hashed when the model loads.
            av = availability(settings.model_profile, settings.cache_dir())
            if not av.installed or av.path is None:
                p = av.profile
                raise BackendError(f"PAPERQA_MODEL_PROFILE={p.name} ({p.model}) is not installed: {av.detail}. To use "
                                   f"it, {p.install_hint()}; or set PAPERQA_MODEL_PROFILE to one of "
                                   f"{', '.join(installed_profiles(settings.cache_dir())) or 'the installed ones'}, "
                                   "or PAPERQA_MODEL_PATH to a .gguf file.")
            self.profile = av.profile
            path = av.path
        self.path = path
        self.name = f"llamacpp:{path.name}"
        self.context_window = settings.n_ctx
        self.chat_format = ""  # set on load: "chat_template.default" means the GGUF's own template is used
        self.chat_template = ""
        self.stop_token = ""  # the GGUF's end-of-sequence token, which ends every reply
        self._llama: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        """Load the model now (otherwise the first question pays for it); returns the `llama_cpp.Llama`."""
        with self._lock:
            return self._load_locked()

    def _load_locked(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:  # pragma: no cover - dependency of the package
                raise BackendError("llama-cpp-python is not installed; it is needed for PAPERQA_LLM=llamacpp.") \
                    from exc
            if self.profile is not None:
                # Joins a split model into the cache once (progress bar, disk-space check, sha256, atomic rename),
                # and checks the pinned sha256 of the file it returns.
                self.path = model_file(self.profile, self.settings.cache_dir(), progress=True)
            n_ctx = self.settings.n_ctx
            try:
                trained = trained_context(gguf_metadata(self.path, until="tokenizer.ggml.tokens"))
            except (OSError, ValueError, UnicodeDecodeError):
                trained = None  # llama.cpp says what is wrong with the file below
            if trained:
                n_ctx = min(n_ctx, trained)
            try:
                with _model_params(extra_buffers=self.settings.llama_extra_buffers):
                    # chat_format is left unset on purpose: llama-cpp-python then formats messages with the GGUF's
                    # own tokenizer.chat_template (ChatML for Qwen2.5 and SmolLM2) and stops at its EOS token.
                    llama = Llama(model_path=str(self.path), n_ctx=n_ctx,
                                  n_threads=self.settings.n_threads or os.cpu_count() or 1,
                                  seed=self.settings.seed, verbose=False)
            except (ValueError, RuntimeError, OSError) as exc:
                where = "PAPERQA_MODEL_PATH points at" if self.profile is None else \
                    f"PAPERQA_MODEL_PROFILE={self.profile.name} gives"
                raise BackendError(f"llama.cpp could not load {self.path} ({exc}). Check that {where} a valid "
                                   ".gguf file.") from exc
            self.context_window = llama.n_ctx()
            self.chat_format = str(llama.chat_format or "")
            self.chat_template = str(llama.metadata.get("tokenizer.chat_template", ""))
            eos = llama.token_eos()
            self.stop_token = llama._model.token_get_text(eos) if eos >= 0 else ""
            self._llama = llama
        return self._llama

    def count_tokens(self, text: str) -> int:
        """Exact count with the model's own tokenizer (no BOS), so prompt budgets are real."""
        if not text:
            return 0
        with self._lock:
            llama = self._load_locked()
            return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream(self, messages: list[Message], *, max_tokens: int, temperature: float, seed: int,
               stop: list[str] | None = None) -> Iterator[str]:
        with self._lock:
            llama = self._load_locked()
            # Start every request from an empty KV cache: reusing a cached prefix evaluates the prompt in a different
            # batch shape, which can flip a greedy choice. Re-reading the prompt costs milliseconds at this size.
            llama.reset()
            try:
                chunks = llama.create_chat_completion(messages=list(messages), max_tokens=max_tokens,
                                                      temperature=temperature, seed=seed, stop=stop or None,
                                                      stream=True)
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
            except ValueError as exc:
                if "context window" in str(exc):
                    raise BackendError(f"The prompt does not fit the model's context ({exc}). Raise PAPERQA_N_CTX "
                                       "or lower PAPERQA_EVIDENCE_SENTENCES.") from exc
                raise

    def complete(self, messages: list[Message], *, max_tokens: int, temperature: float, seed: int,
                 stop: list[str] | None = None) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens, temperature=temperature, seed=seed, stop=stop))


# --------------------------------------------------------------------------------------------------------------------
# Ollama
# --------------------------------------------------------------------------------------------------------------------


class OllamaLLM:
    """A model served by a local (or user-chosen) Ollama, through the official `ollama` client."""

    def __init__(self, settings: LLMSettings) -> None:
        if not settings.model.strip():
            raise BackendError("PAPERQA_LLM=ollama needs a model name: set PAPERQA_MODEL (for example "
                               "PAPERQA_MODEL=llama3.2:3b, after `ollama pull llama3.2:3b`).")
        import ollama

        self.settings = settings
        self.model = settings.model.strip()
        self.base_url = (settings.base_url.strip() or OLLAMA_DEFAULT_URL).rstrip("/")
        self.name = f"ollama:{self.model}"
        self.context_window = settings.n_ctx
        self._client = ollama.Client(host=self.base_url, timeout=settings.timeout)

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def _options(self, max_tokens: int, temperature: float, seed: int, stop: list[str] | None) -> dict[str, Any]:
        options: dict[str, Any] = {"temperature": temperature, "seed": seed, "num_predict": max_tokens}
        if stop:
            options["stop"] = list(stop)
        return options

    def _translate(self, exc: Exception) -> BackendError:
        """Turn the client's exceptions into a message that names what to do."""
        import ollama

        if isinstance(exc, ollama.ResponseError):
            if exc.status_code == 404:
                return BackendError(f"Ollama at {self.base_url} does not have model '{self.model}' "
                                    f"({_excerpt(exc.error)}). Run `ollama pull {self.model}` or set PAPERQA_MODEL "
                                    "to a model listed by `ollama list`.")
            return BackendError(f"Ollama at {self.base_url} answered HTTP {exc.status_code}: {_excerpt(exc.error)}")
        if isinstance(exc, httpx.TimeoutException):
            return BackendError(f"Ollama at {self.base_url} did not answer within {self.settings.timeout:g}s; "
                                "raise PAPERQA_TIMEOUT or use a smaller model.")
        return BackendError(f"Cannot reach Ollama at {self.base_url} ({exc}). Start it with `ollama serve`, or set "
                            "PAPERQA_BASE_URL to where it runs.")

    def _errors(self) -> tuple[type[Exception], ...]:
        import ollama

        return (ollama.ResponseError, ConnectionError, httpx.HTTPError)

    def stream(self, messages: list[Message], *, max_tokens: int, temperature: float, seed: int,
               stop: list[str] | None = None) -> Iterator[str]:
        try:
            for part in self._client.chat(model=self.model, messages=list(messages), stream=True,
                                          options=self._options(max_tokens, temperature, seed, stop)):
                piece = part.message.content
                if piece:
                    yield piece
        except self._errors() as exc:
            raise self._translate(exc) from exc

    def complete(self, messages: list[Message], *, max_tokens: int, temperature: float, seed: int,
                 stop: list[str] | None = None) -> str:
        try:
            reply = self._client.chat(model=self.model, messages=list(messages), stream=False,
                                      options=self._options(max_tokens, temperature, seed, stop))
        except self._errors() as exc:
            raise self._translate(exc) from exc
        return reply.message.content or ""


# --------------------------------------------------------------------------------------------------------------------
# OpenAI-compatible servers (llama.cpp server, vLLM, LM Studio, llamafile, ...)
# --------------------------------------------------------------------------------------------------------------------


class OpenAICompatLLM:
    """Any server speaking the OpenAI chat-completions protocol, reached with plain httpx (no `openai` package).

    There is deliberately no default URL: paperqa never sends text anywhere the user did not name.
    """

    def __init__(self, settings: LLMSettings) -> None:
        base_url = settings.base_url.strip().rstrip("/")
        if not base_url:
            raise BackendError("PAPERQA_LLM=openai needs a server: set PAPERQA_BASE_URL to its OpenAI-compatible "
                               "endpoint, e.g. http://127.0.0.1:8080/v1 (there is no default).")
        self.settings = settings
        self.base_url = base_url
        self.model = settings.model.strip()
        self.name = f"openai:{self.model or 'default'}"
        self.context_window = settings.n_ctx
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        self._client = httpx.Client(headers=headers, timeout=settings.timeout)
        self._model_lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def _unreachable(self, exc: Exception) -> BackendError:
        if isinstance(exc, httpx.TimeoutException):
            return BackendError(f"The server at {self.base_url} did not answer within {self.settings.timeout:g}s; "
                                "raise PAPERQA_TIMEOUT or check the server.")
        return BackendError(f"Cannot reach the OpenAI-compatible server at {self.base_url} ({exc}). Start it, or set "
                            "PAPERQA_BASE_URL to where it runs.")

    def _model_name(self) -> str:
        """The configured model, else the first one the server lists, else "default" (single-model servers)."""
        with self._model_lock:
            if not self.model:
                try:
                    resp = self._client.get(f"{self.base_url}/models")
                except httpx.HTTPError as exc:
                    raise self._unreachable(exc) from exc
                model = "default"
                if resp.status_code == 200:
                    try:
                        data = resp.json().get("data") or []
                        if data and data[0].get("id"):
                            model = str(data[0]["id"])
                    except (ValueError, AttributeError):
                        pass
                self.model = model
                self.name = f"openai:{model}"
            return self.model

    def _body(self, messages: list[Message], max_tokens: int, temperature: float, seed: int,
              stop: list[str] | None, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self._model_name(), "messages": list(messages), "max_tokens": max_tokens,
                                "temperature": temperature, "seed": seed, "stream": stream}
        if stop:
            body["stop"] = list(stop)
        return body

    def _http_error(self, status: int, text: str) -> BackendError:
        return BackendError(f"The server at {self.base_url} answered HTTP {status}: {_excerpt(text)}"
                            + (" (check PAPERQA_MODEL)" if status == 404 else "")
                            + (" (check PAPERQA_API_KEY)" if status in (401, 403) else ""))

    def stream(self, messages: list[Message], *, max_tokens: int, temperature: float, seed: int,
               stop: list[str] | None = None) -> Iterator[str]:
        body = self._body(messages, max_tokens, temperature, seed, stop, stream=True)
        try:
            with self._client.stream("POST", f"{self.base_url}/chat/completions", json=body) as resp:
                if resp.status_code >= 400:
                    raise self._http_error(resp.status_code, resp.read().decode("utf-8", "replace"))
                yield from parse_sse_content(resp.iter_lines())
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc

    def complete(self, messages: list[Message], *, max_tokens: int, temperature: float, seed: int,
                 stop: list[str] | None = None) -> str:
        body = self._body(messages, max_tokens, temperature, seed, stop, stream=False)
        try:
            resp = self._client.post(f"{self.base_url}/chat/completions", json=body)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if resp.status_code >= 400:
            raise self._http_error(resp.status_code, resp.text)
        try:
            return resp.json()["choices"][0]["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"The server at {self.base_url} sent an unexpected reply: {_excerpt(resp.text)}") \
                from exc


def parse_sse_content(lines: Iterable[str]) -> Iterator[str]:
    """Text deltas from an OpenAI chat-completions event stream (`data: {...}` lines, ending with `data: [DONE]`)."""
    for line in lines:
        if not line.startswith("data:"):
            continue  # blank separators, `: keep-alive` comments, `event:` lines
        data = line[5:].strip()
        if data == "[DONE]":
            return
        if not data:
            continue
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise BackendError(f"The server sent a malformed stream event: {_excerpt(data)}") from exc
        if isinstance(event, dict) and event.get("error"):
            raise BackendError(f"The server reported an error mid-stream: {_excerpt(json.dumps(event['error']))}")
        for choice in event.get("choices") or []:
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                yield piece


# --------------------------------------------------------------------------------------------------------------------
# Fake, for unit tests
# --------------------------------------------------------------------------------------------------------------------


class FakeLLM:
    """A scripted model for unit tests: replies come from a queue (or a `responder` function), word by word.

    Every call is recorded in `calls` (messages plus the generation kwargs) so tests can check the prompt.
    Stop strings are honoured like a real backend (the reply is cut before the first one); max_tokens is not.
    """

    def __init__(self, replies: Sequence[str] = (), *, responder: Callable[[list[Message]], str] | None = None,
                 name: str = "fake", context_window: int = 2048) -> None:
        self.name = name
        self.context_window = context_window
        self.replies: deque[str] = deque(replies)
        self.responder = responder
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @property
    def messages(self) -> list[list[Message]]:
        """The messages of every call so far, oldest first."""
        return [call["messages"] for call in self.calls]

    def enqueue(self, *texts: str) -> None:
        """Script the next reply (or replies)."""
        with self._lock:
            self.replies.extend(texts)

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def _next_reply(self, messages: list[Message], kwargs: dict[str, Any]) -> str:
        with self._lock:
            self.calls.append({"messages": [dict(m) for m in messages], **kwargs})
            if self.replies:
                return self.replies.popleft()
        if self.responder is not None:
            return self.responder(messages)
        raise AssertionError("FakeLLM has no scripted reply left; enqueue() one or pass a responder")

    def stream(self, messages: list[Message], *, max_tokens: int, temperature: float, seed: int,
               stop: list[str] | None = None) -> Iterator[str]:
        reply = self._next_reply(messages, {"max_tokens": max_tokens, "temperature": temperature, "seed": seed,
                                            "stop": stop})
        for s in stop or []:
            if s and s in reply:
                reply = reply[: reply.index(s)]
        return iter(re.findall(r"\s*\S+|\s+", reply))

    def complete(self, messages: list[Message], *, max_tokens: int, temperature: float, seed: int,
                 stop: list[str] | None = None) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens, temperature=temperature, seed=seed, stop=stop))


# --------------------------------------------------------------------------------------------------------------------
# Factory and LlamaIndex adapter
# --------------------------------------------------------------------------------------------------------------------


def make_llm(settings: LLMSettings) -> LLM:
    """The one place a backend is chosen, by `settings.backend` (PAPERQA_LLM)."""
    if settings.backend == "llamacpp":
        return LlamaCppLLM(settings)
    if settings.backend == "ollama":
        return OllamaLLM(settings)
    if settings.backend == "openai":
        return OpenAICompatLLM(settings)
    raise BackendError(f"Unknown PAPERQA_LLM={settings.backend!r}; use llamacpp, ollama or openai.")


def as_llamaindex_llm(llm: LLM, *, max_tokens: int = 256, seed: int = 0) -> CustomLLM:
    """Wrap an `LLM` as a LlamaIndex `CustomLLM` so the tutorial baseline in eval/ runs on the very same model.

    Always greedy (temperature 0) so baseline and paperqa are compared on equal footing. Chat calls pass the
    messages straight through, so the model's own chat template is used rather than a flattened prompt.
    """
    from llama_index.core.base.llms.types import (
        ChatMessage,
        ChatResponse,
        ChatResponseGen,
        CompletionResponse,
        CompletionResponseGen,
        LLMMetadata,
        MessageRole,
    )
    from llama_index.core.llms import CustomLLM
    from llama_index.core.llms.callbacks import (
        llm_chat_callback,
        llm_completion_callback,
    )
    from pydantic import PrivateAttr

    def to_messages(chat: Sequence[ChatMessage]) -> list[Message]:
        return [{"role": m.role.value if isinstance(m.role, MessageRole) else str(m.role), "content": m.content or ""}
                for m in chat]

    class PaperQALlamaIndexLLM(CustomLLM):
        """LlamaIndex view of a paperqa LLM (built by `as_llamaindex_llm`)."""

        num_output: int = max_tokens
        seed: int = 0
        _llm: Any = PrivateAttr()

        def __init__(self, inner: LLM, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._llm = inner

        @classmethod
        def class_name(cls) -> str:
            return "PaperQALlamaIndexLLM"

        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(context_window=self._llm.context_window, num_output=self.num_output,
                               is_chat_model=True, model_name=self._llm.name)

        def _kwargs(self) -> dict[str, Any]:
            return {"max_tokens": self.num_output, "temperature": 0.0, "seed": self.seed}

        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
            text = self._llm.complete([{"role": "user", "content": prompt}], **self._kwargs())
            return CompletionResponse(text=text)

        @llm_completion_callback()
        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
            pieces = self._llm.stream([{"role": "user", "content": prompt}], **self._kwargs())

            def gen() -> CompletionResponseGen:
                text = ""
                for piece in pieces:
                    text += piece
                    yield CompletionResponse(text=text, delta=piece)

            return gen()

        @llm_chat_callback()
        def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
            text = self._llm.complete(to_messages(messages), **self._kwargs())
            return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

        @llm_chat_callback()
        def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
            pieces = self._llm.stream(to_messages(messages), **self._kwargs())

            def gen() -> ChatResponseGen:
                text = ""
                for piece in pieces:
                    text += piece
                    yield ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=piece)

            return gen()

    return PaperQALlamaIndexLLM(llm, num_output=max_tokens, seed=seed)


def measure(llm: LLM, messages: list[Message], *, max_tokens: int = 64) -> dict[str, float]:
    """Time to first token and pieces per second of one greedy generation (for benchmarks and the report)."""
    start = time.perf_counter()
    first: float | None = None
    pieces = 0
    for _ in llm.stream(messages, max_tokens=max_tokens, temperature=0.0, seed=0):
        if first is None:
            first = time.perf_counter() - start
        pieces += 1
    total = time.perf_counter() - start
    gen_time = total - (first or 0.0)
    return {"ttft_s": first or total, "total_s": total, "pieces": float(pieces),
            "pieces_per_s": (pieces - 1) / gen_time if pieces > 1 and gen_time > 0 else 0.0}
