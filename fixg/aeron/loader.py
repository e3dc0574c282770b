"""Finding and loading libaeron.

The search order, first usable library wins:

1. ``FIXG_AERON_LIB``: a path to the shared object (or to a directory holding ``libaeron.so``).
2. The build prefix of ``ci/build_aeron.sh``: ``$FIXG_AERON_HOME/lib`` or, without that
   variable, ``${XDG_DATA_HOME:-$HOME/.local/share}/fixg/aeron/lib``.
3. The system library path (``ctypes.util.find_library("aeron")``).
4. An installed ``pyaeron`` wheel, whose extension module exports the whole C client and the
   embedded driver API (it is located, never imported).

A candidate is usable when it loads, exports every client function fixg declares and is at
least :data:`MIN_VERSION`. Libraries are loaded with ``RTLD_GLOBAL`` so that a separate
``libaeron_driver.so`` (a source build) resolves its client symbols from ``libaeron.so``.
When nothing is usable, :class:`~fixg.errors.AeronLibraryNotFoundError` lists every place
searched, why each candidate was refused, and how to get the library.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from fixg.aeron.ctypes_bindings import AeronBindings, bind
from fixg.errors import AeronLibraryNotFoundError

__all__ = [
    "MIN_VERSION",
    "ENV_LIB",
    "ENV_HOME",
    "LibraryInfo",
    "Candidate",
    "default_prefix",
    "candidates",
    "load_library",
    "find_library",
    "bindings",
    "build_info",
]

log = logging.getLogger(__name__)

MIN_VERSION: Final = (1, 44, 0)
ENV_LIB: Final = "FIXG_AERON_LIB"
ENV_HOME: Final = "FIXG_AERON_HOME"

_CLIENT_NAMES: Final = ("libaeron.so",)
_DRIVER_NAMES: Final = ("libaeron_driver.so",)

HOW_TO_GET = (
    "install it with `bash ci/build_aeron.sh` (builds Aeron from source, or installs the "
    "prebuilt library of the `pyaeron` wheel where the Aeron repository cannot be reached) "
    f"into $FIXG_AERON_HOME, or point {ENV_LIB} at a libaeron shared object"
)


@dataclass(frozen=True)
class Candidate:
    """One place the loader looks: where it came from and the path (or soname) tried."""

    source: str
    path: str
    driver_path: str | None = None


@dataclass(frozen=True)
class LibraryInfo:
    """The library in use: where it was found, its version and whether it has the driver API."""

    source: str
    path: str
    driver_path: str | None
    version: str
    version_tuple: tuple[int, int, int]
    has_driver_api: bool
    bindings: AeronBindings = field(repr=False, compare=False)
    searched: tuple[str, ...] = ()


def default_prefix() -> Path:
    """``$FIXG_AERON_HOME`` or ``${XDG_DATA_HOME:-$HOME/.local/share}/fixg/aeron``."""
    home = os.environ.get(ENV_HOME)
    if home:
        return Path(home).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "fixg" / "aeron"


def build_info(prefix: Path | None = None) -> dict[str, str]:
    """The ``BUILD-INFO`` key=value file ``ci/build_aeron.sh`` writes into the prefix."""
    path = (prefix or default_prefix()) / "BUILD-INFO"
    info: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return info
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            info[key.strip()] = value.strip()
    return info


def _driver_beside(path: Path) -> str | None:
    for name in _DRIVER_NAMES:
        candidate = path.parent / name
        if candidate.is_file():
            return str(candidate)
    return None


def _pyaeron_object() -> Path | None:
    try:
        spec = importlib.util.find_spec("pyaeron")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        for found in sorted(Path(location).glob("_pyaeron*.so")):
            return found
    return None


def candidates() -> list[Candidate]:
    """Every place searched, in order (a place that does not exist is still listed)."""
    found: list[Candidate] = []
    explicit = os.environ.get(ENV_LIB)
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_dir():
            for name in _CLIENT_NAMES:
                found.append(Candidate(ENV_LIB, str(path / name), _driver_beside(path / name)))
        else:
            found.append(Candidate(ENV_LIB, str(path), _driver_beside(path)))
    lib_dir = default_prefix() / "lib"
    for name in _CLIENT_NAMES:
        found.append(Candidate("build prefix", str(lib_dir / name), _driver_beside(lib_dir / name)))
    system = ctypes.util.find_library("aeron")
    system_driver = ctypes.util.find_library("aeron_driver")
    found.append(Candidate("system library path", system or "libaeron.so", system_driver))
    pyaeron = _pyaeron_object()
    found.append(
        Candidate("pyaeron wheel", str(pyaeron) if pyaeron else "pyaeron (not installed)", None)
    )
    return found


def _try_load(candidate: Candidate) -> LibraryInfo:
    """Load one candidate or raise OSError saying why it is not usable."""
    is_soname = candidate.source == "system library path" and "/" not in candidate.path
    if not is_soname and not Path(candidate.path).is_file():
        raise OSError("not found")
    cdll = ctypes.CDLL(candidate.path, mode=ctypes.RTLD_GLOBAL)
    driver_cdll = None
    if candidate.driver_path is not None:
        driver_cdll = ctypes.CDLL(candidate.driver_path, mode=ctypes.RTLD_GLOBAL)
    api = bind(cdll, driver_cdll)
    if api.missing:
        shown = ", ".join(api.missing[:5])
        more = f" and {len(api.missing) - 5} more" if len(api.missing) > 5 else ""
        raise OSError(f"does not export {shown}{more}")
    version_tuple = api.version_tuple()
    if version_tuple < MIN_VERSION:
        wanted = ".".join(map(str, MIN_VERSION))
        raise OSError(f"version {api.version()!r} is older than {wanted}")
    return LibraryInfo(
        source=candidate.source,
        path=candidate.path,
        driver_path=candidate.driver_path,
        version=api.version(),
        version_tuple=version_tuple,
        has_driver_api=api.has_driver_api,
        bindings=api,
    )


_lock = threading.Lock()
_loaded: LibraryInfo | None = None


def find_library() -> LibraryInfo:
    """Search (uncached) and return the first usable library, or raise."""
    searched: list[str] = []
    for candidate in candidates():
        try:
            info = _try_load(candidate)
        except OSError as exc:
            searched.append(f"{candidate.source}: {candidate.path} ({exc})")
            continue
        searched.append(f"{candidate.source}: {candidate.path} (used)")
        return LibraryInfo(
            source=info.source,
            path=info.path,
            driver_path=info.driver_path,
            version=info.version,
            version_tuple=info.version_tuple,
            has_driver_api=info.has_driver_api,
            bindings=info.bindings,
            searched=tuple(searched),
        )
    listing = "\n  ".join(searched)
    raise AeronLibraryNotFoundError(
        f"no usable libaeron found; searched:\n  {listing}\nTo get it: {HOW_TO_GET}"
    )


def load_library() -> LibraryInfo:
    """The process-wide library (searched once, then cached)."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = find_library()
            log.debug("using libaeron %s from %s (%s)", _loaded.version, _loaded.path, _loaded.source)
        return _loaded


def bindings() -> AeronBindings:
    """Shortcut for ``load_library().bindings``."""
    return load_library().bindings
