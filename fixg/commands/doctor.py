"""``fixg doctor``: which libaeron is used, from where, what it provides, and driver health."""

from __future__ import annotations

import argparse
import os
import shutil
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "doctor",
        help="check libaeron, shared memory and the media driver",
        description=(
            "Say which libaeron was found and from where, its version, whether it has the media "
            "driver API, how much shared memory is free, and whether a driver is alive in the "
            "configured Aeron directory. Exit status 1 when no usable library is found (or, with "
            "--require-driver, when no driver is alive)."
        ),
    )
    parser.add_argument("--config", metavar="FILE", help="fixg TOML configuration ([aeron] section)")
    parser.add_argument("--dir", metavar="DIR", help="Aeron directory to check (overrides the config)")
    parser.add_argument("--require-driver", action="store_true", help="fail unless a driver is alive")
    parser.set_defaults(func=run)


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def run(args: argparse.Namespace) -> int:
    from fixg import driver
    from fixg.aeron import loader
    from fixg.errors import AeronLibraryNotFoundError

    status = 0
    aeron_dir: str | None = args.dir
    timeout_ms = 10_000
    if args.config:
        from fixg.config import load_config

        aeron = load_config(args.config).aeron
        timeout_ms = aeron.driver_timeout_ms
        if aeron_dir is None:
            aeron_dir = aeron.properties.get("aeron.dir")

    def line(label: str, value: str) -> None:
        print(f"{label + ':':<15} {value}")

    try:
        lib = loader.find_library()
    except AeronLibraryNotFoundError as exc:
        line("library", "NOT FOUND")
        print(str(exc))
        lib = None
        status = 1
    if lib is not None:
        line("library", f"{lib.path} (from {lib.source})")
        if lib.driver_path:
            line("driver library", lib.driver_path)
        line("version", lib.version)
        info = loader.build_info()
        if lib.source == "build prefix" and info:
            line("installed by", ", ".join(f"{k}={v}" for k, v in info.items() if k != "note"))
        if lib.has_driver_api:
            line("driver API", "yes (fixg can start the embedded C media driver)")
        else:
            line("driver API", "no: missing " + ", ".join(lib.bindings.missing_driver[:4]))
        line("searched", "; ".join(lib.searched))

    if aeron_dir is None:
        aeron_dir = os.environ.get("AERON_DIR")
    if aeron_dir is None and lib is not None:
        from fixg.aeron.client import default_aeron_dir

        aeron_dir = default_aeron_dir()

    shm = "/dev/shm"
    if os.path.isdir(shm):
        usage = shutil.disk_usage(shm)
        line("shared memory", f"{shm}: {_gib(usage.free)} free of {_gib(usage.total)}")
    else:
        line("shared memory", f"{shm} is missing (Aeron directories must go elsewhere)")
    if aeron_dir is not None:
        parent = os.path.dirname(os.path.abspath(aeron_dir)) or "/"
        if os.path.isdir(parent) and os.path.realpath(parent) != os.path.realpath(shm):
            usage = shutil.disk_usage(parent)
            line("aeron dir fs", f"{parent}: {_gib(usage.free)} free of {_gib(usage.total)}")
        line("aeron dir", aeron_dir)
        state = driver.status(aeron_dir, timeout_ms)
        if state.alive:
            line("media driver", f"alive, pid {state.pid}, {state.detail}, CnC {state.cnc_version}")
        else:
            line("media driver", f"not running ({state.detail})")
            if args.require_driver:
                status = 1
    else:
        line("media driver", "unknown (no Aeron directory configured and no library to ask)")
        if args.require_driver:
            status = 1
    return status
