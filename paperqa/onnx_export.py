"""ONNX (fp32 and int8) versions of the sentence embedder, exported locally from the packaged weights.

Why not sentence-transformers' own ONNX backend (`backend="onnx"`, `export_dynamic_quantized_onnx_model`): it needs
`optimum-onnx`, whose only release (0.1.0) pins transformers < 4.58, while sentence-transformers 6 needs transformers
>= 5; `pip install "sentence-transformers[onnx]"` resolves only by moving the whole project back to
sentence-transformers 5.7, transformers 4.57 and huggingface-hub 0.36 (pip --dry-run, 2026-12-03). So paperqa
exports the BERT encoder itself with `torch.onnx.export`, fuses it with onnxruntime's transformer optimizer,
optionally quantises the weights to int8 (onnxruntime's dynamic quantisation), and runs it with onnxruntime.
Mean pooling and L2 normalisation are done here in numpy, exactly as the model's sentence-transformers
modules (Pooling: mean tokens; Normalize) do.

Exports are built once and cached by model identity, so only the first start pays (about 10 s).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from paperqa.errors import PaperQAError

if TYPE_CHECKING:
    import onnxruntime

Variant = Literal["onnx", "onnx-int8"]
VARIANTS: tuple[str, ...] = ("onnx", "onnx-int8")
EXPORT_VERSION = 2  # bump when the export recipe changes, so old caches are not reused
_build_lock = threading.Lock()


def default_cache_dir() -> Path:
    """Where exports go when the caller names no folder: the user's cache, not the repo."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "paperqa" / "onnx"


def model_key(model_dir: Path) -> str:
    """Identity of a sentence-transformers folder: its path and weight files' sizes and times."""
    model_dir = Path(model_dir).resolve()
    parts = [str(model_dir), str(EXPORT_VERSION)]
    for f in sorted(model_dir.glob("*")):
        if f.is_file() and f.suffix in (".safetensors", ".bin", ".json", ".txt"):
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def _atomic_target(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")


def export_fp32(model_dir: Path, out: Path) -> Path:
    """Trace the BERT encoder (last hidden state) to ONNX with dynamic batch and sequence axes."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True, attn_implementation="eager").eval()

    class _Encoder(torch.nn.Module):
        """Keyword call: transformers 5 changed BertModel.forward's positional order."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    ids = torch.randint(1000, 2000, (2, 16))
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0  # trace with padding so the mask path is real, not constant-folded
    axes = {0: "batch", 1: "seq"}
    tmp = _atomic_target(out)
    with torch.no_grad():
        torch.onnx.export(_Encoder(model), (ids, mask, torch.zeros_like(ids)), str(tmp),
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["last_hidden_state"],
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                        "last_hidden_state": axes},
                          opset_version=17, dynamo=False)
    os.replace(tmp, out)
    return out


def optimise(src: Path, out: Path, num_heads: int, hidden_size: int) -> Path:
    """Fuse attention, LayerNorm and GELU subgraphs (onnxruntime's BERT optimiser): ~1.5x faster on CPU."""
    from onnxruntime.transformers.optimizer import optimize_model

    opt = optimize_model(str(src), model_type="bert", num_heads=num_heads, hidden_size=hidden_size, opt_level=1)
    tmp = _atomic_target(out)
    opt.save_model_to_file(str(tmp))
    os.replace(tmp, out)
    return out


def quantise_int8(src: Path, out: Path) -> Path:
    """Dynamic int8 quantisation of the weights (activations quantised at run time).

    Per-channel weight scales matter: per-tensor scales drop the cosine to the fp32 vectors to ~0.95,
    per-channel keeps it at ~0.99 on the bundled corpus's sentences."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = _atomic_target(out)
    # The fused graph has contrib ops shape inference cannot type; their outputs are float.
    quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QInt8, per_channel=True, reduce_range=False,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    os.replace(tmp, out)
    return out


def ensure_export(model_dir: Path, variant: Variant, cache_dir: Path | None = None) -> Path:
    """Path of the cached ONNX file for `variant`, exporting it first if it is not there yet."""
    if variant not in VARIANTS:
        raise PaperQAError(f"unknown ONNX variant {variant!r}; choose one of {VARIANTS}")
    folder = Path(cache_dir or default_cache_dir()) / model_key(model_dir)
    fp32 = folder / "model.onnx"
    fused = folder / "model_fused.onnx"
    int8 = folder / "model_fused_int8.onnx"
    target = fused if variant == "onnx" else int8
    if target.exists():
        return target
    try:
        import onnx  # noqa: F401 - the exporter and the quantiser need it
    except ImportError as exc:
        raise PaperQAError("PAPERQA_EMBED_BACKEND=onnx needs the `onnx` package to export the model once: "
                           "pip install onnx (or set PAPERQA_EMBED_BACKEND=torch).") from exc
    with _build_lock:
        folder.mkdir(parents=True, exist_ok=True)
        config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
        if not fused.exists():
            if not fp32.exists():
                export_fp32(Path(model_dir), fp32)
            optimise(fp32, fused, int(config["num_attention_heads"]), int(config["hidden_size"]))
        if variant == "onnx-int8" and not int8.exists():
            quantise_int8(fused, int8)
        (folder / "source.json").write_text(json.dumps({"model_dir": str(Path(model_dir).resolve())}),
                                            encoding="utf-8")
    return target


def _pooling_mode(model_dir: Path) -> str:
    cfg = Path(model_dir) / "1_Pooling" / "config.json"
    if cfg.exists():
        conf = json.loads(cfg.read_text(encoding="utf-8"))
        if conf.get("pooling_mode_cls_token"):
            return "cls"
    return "mean"


class OnnxSentenceEncoder:
    """Sentence vectors from an exported encoder: tokenise, run, mean-pool, normalise."""

    def __init__(self, model_dir: Path, variant: Variant, max_seq_length: int = 256, threads: int = 0,
                 cache_dir: Path | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir)
        self.variant = variant
        self.path = ensure_export(self.model_dir, variant, cache_dir)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session: onnxruntime.InferenceSession = ort.InferenceSession(
            str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_seq_length)
        self.tokenizer.no_padding()
        self.pad_id = int(self.tokenizer.token_to_id("[PAD]") or 0)
        self.pooling = _pooling_mode(self.model_dir)
        self._inputs = {i.name for i in self.session.get_inputs()}

    def _run_batch(self, texts: list[str]) -> np.ndarray:
        encs = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encs)
        ids = np.full((len(encs), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encs), width), dtype=np.int64)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Unit vectors, one row per text; batches are formed by length (as sentence-transformers does)."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out: np.ndarray | None = None
        for i in range(0, len(texts), batch_size):
            idx = order[i:i + batch_size]
            vecs = self._run_batch([texts[j] for j in idx])
            if out is None:
                out = np.zeros((len(texts), vecs.shape[1]), dtype=np.float32)
            out[idx] = vecs
        assert out is not None
        return out


def main(argv: list[str] | None = None) -> int:
    """`python -m paperqa.onnx_export [--cache DIR] [--model DIR]`: build both exports now (e.g. at install time),
    so the first start with PAPERQA_EMBED_BACKEND=onnx/onnx-int8 does not pay for it."""
    import argparse

    from paperqa.embed import packaged_model_path

    ap = argparse.ArgumentParser(prog="python -m paperqa.onnx_export", description=main.__doc__)
    ap.add_argument("--cache", default="", help=f"export folder (default {default_cache_dir()})")
    ap.add_argument("--model", default="", help="sentence-transformers folder (default: the packaged MiniLM)")
    args = ap.parse_args(argv)
    model = Path(args.model) if args.model else packaged_model_path()
    for variant in ("onnx", "onnx-int8"):
        print(ensure_export(model, variant, Path(args.cache) if args.cache else None))  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
