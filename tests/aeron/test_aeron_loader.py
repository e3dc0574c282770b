"""Library discovery: order, explicit path, refusal reasons, the not-found message."""

from __future__ import annotations

import ctypes.util
from pathlib import Path

import pytest

from fixg.aeron import loader
from fixg.aeron.loader import LibraryInfo
from fixg.errors import AeronLibraryNotFoundError

pytestmark = pytest.mark.aeron


def test_loaded_library_has_client_and_driver_api(aeron_library: LibraryInfo) -> None:
    assert Path(aeron_library.path).is_file()
    assert aeron_library.version.startswith("aeron version=")
    assert aeron_library.version_tuple >= loader.MIN_VERSION
    assert aeron_library.bindings.missing == ()
    assert aeron_library.has_driver_api
    # RTLD_GLOBAL: the symbols are visible to later dlopen()s (a separate libaeron_driver.so).
    assert ctypes.CDLL(None).aeron_version_full


def test_explicit_path_comes_first(aeron_library: LibraryInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(loader.ENV_LIB, aeron_library.path)
    found = loader.find_library()
    assert found.source == loader.ENV_LIB
    assert found.path == aeron_library.path
    assert found.searched[0].startswith(f"{loader.ENV_LIB}: ")
    # a directory holding libaeron.so works too
    monkeypatch.setenv(loader.ENV_LIB, str(Path(aeron_library.path).parent))
    if Path(aeron_library.path).name == "libaeron.so":
        assert loader.find_library().source == loader.ENV_LIB


def test_prefix_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(loader.ENV_HOME, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert loader.default_prefix() == tmp_path / "fixg" / "aeron"
    monkeypatch.setenv(loader.ENV_HOME, str(tmp_path / "custom"))
    assert loader.default_prefix() == tmp_path / "custom"
    (tmp_path / "custom").mkdir()
    (tmp_path / "custom" / "BUILD-INFO").write_text("# x\nsource=source-build\ntag=1.52.2\n")
    assert loader.build_info() == {"source": "source-build", "tag": "1.52.2"}


def test_bad_candidates_are_explained(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    not_aeron = tmp_path / "libnot.so"
    not_aeron.write_bytes(b"not an ELF file")
    monkeypatch.setenv(loader.ENV_LIB, str(not_aeron))
    monkeypatch.setenv(loader.ENV_HOME, str(tmp_path / "empty-prefix"))
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    monkeypatch.setattr(loader, "_pyaeron_object", lambda: None)
    with pytest.raises(AeronLibraryNotFoundError) as info:
        loader.find_library()
    message = str(info.value)
    assert f"{loader.ENV_LIB}: {not_aeron}" in message
    assert "build prefix: " + str(tmp_path / "empty-prefix" / "lib" / "libaeron.so") + " (not found)" in message
    assert "system library path" in message
    assert "pyaeron wheel" in message
    assert "ci/build_aeron.sh" in message


def test_library_without_aeron_symbols_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    libc = ctypes.util.find_library("c")
    assert libc is not None
    candidate = loader.Candidate("test", libc)
    with pytest.raises(OSError, match="not found|does not export"):
        loader._try_load(candidate)
