"""`python -m paperqa.llama_server ARGS`: llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`,
same ARGS), with llama.cpp's extra weight buffers off.

Why: on CPUs with AMX, llama-cpp-python 0.3.36 crashes (SIGSEGV in ggml_backend_amx_mul_mat) on the bundled Q4_1
model unless those buffers are off, and `llama_cpp.server` has no option for it (see `paperqa.llm._model_params`).
"""

from __future__ import annotations

import runpy
import sys

from paperqa.llm import _model_params


def main(argv: list[str] | None = None) -> None:
    sys.argv = ["llama_cpp.server", *(sys.argv[1:] if argv is None else argv)]
    with _model_params(extra_buffers=False):
        runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
