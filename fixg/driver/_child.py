"""The media driver process: ``python -m fixg.driver._child`` (started by :func:`fixg.driver.start`).

It runs libaeron's embedded C media driver through ctypes: the ``AERON_*`` environment
variables its parent computed from the ``[aeron]`` properties are read by
``aeron_driver_context_init``; the directory and delete-on-shutdown are set explicitly; then
``aeron_driver_init`` and ``aeron_driver_start`` (the driver's own threads run it). One JSON line
on the ready pipe tells the parent whether that worked (and libaeron's error if not). The driver
is closed cleanly on SIGTERM/SIGINT, or when the lifeline pipe from the parent reaches end of
file, which happens when the parent dies in any way, SIGKILL included.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import select
import signal
import sys
from collections.abc import Sequence

from fixg.aeron.ctypes_bindings import AeronBindings, bind


def _report(fd: int, message: dict[str, object]) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _load(path: str, driver_path: str | None) -> AeronBindings:
    cdll = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    driver = ctypes.CDLL(driver_path, mode=ctypes.RTLD_GLOBAL) if driver_path else None
    return bind(cdll, driver)


def _failure(api: AeronBindings, stage: str) -> dict[str, object]:
    return {"ok": False, "stage": stage, "errcode": int(api.aeron_errcode()), "error": api.errmsg()}


def run(args: argparse.Namespace) -> int:
    api = _load(args.lib, args.driver_lib)
    if not api.has_driver_api:
        _report(args.ready_fd, {"ok": False, "stage": "load", "errcode": 0,
                                "error": "library lacks " + ", ".join(api.missing_driver)})
        return 3
    ctx = ctypes.c_void_p()
    driver = ctypes.c_void_p()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: None)  # wake the select below; handled there
    try:
        if api.aeron_driver_context_init(ctypes.byref(ctx)) < 0:
            _report(args.ready_fd, _failure(api, "aeron_driver_context_init"))
            return 2
        if (
            api.aeron_driver_context_set_dir(ctx, os.fsencode(args.dir)) < 0
            or api.aeron_driver_context_set_dir_delete_on_shutdown(ctx, args.delete_on_shutdown) < 0
        ):
            _report(args.ready_fd, _failure(api, "aeron_driver_context_set_*"))
            return 2
        if api.aeron_driver_init(ctypes.byref(driver), ctx) < 0:
            _report(args.ready_fd, _failure(api, "aeron_driver_init"))
            return 2
        if api.aeron_driver_start(driver, False) < 0:
            _report(args.ready_fd, _failure(api, "aeron_driver_start"))
            return 2
        _report(args.ready_fd, {"ok": True, "pid": os.getpid(), "dir": args.dir, "version": api.version()})
        os.close(args.ready_fd)
        watched = [wake_r] + ([args.lifeline_fd] if args.lifeline_fd >= 0 else [])
        while True:
            readable, _, _ = select.select(watched, [], [])
            if wake_r in readable:
                break  # a termination signal
            if args.lifeline_fd in readable and not os.read(args.lifeline_fd, 4096):
                break  # the parent is gone
        return 0
    finally:
        signal.set_wakeup_fd(-1)
        if driver.value:
            api.aeron_driver_close(driver)
        if ctx.value:
            api.aeron_driver_context_close(ctx)
        os.close(wake_r)
        os.close(wake_w)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fixg.driver._child")
    parser.add_argument("--lib", required=True)
    parser.add_argument("--driver-lib", default=None)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--ready-fd", type=int, required=True)
    parser.add_argument("--lifeline-fd", type=int, default=-1)
    parser.add_argument("--delete-on-shutdown", type=lambda s: s == "true", default=True)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
