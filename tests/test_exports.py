from __future__ import annotations

import fixg


def test_all_names_exist_and_are_unique() -> None:
    assert len(fixg.__all__) == len(set(fixg.__all__))
    for name in fixg.__all__:
        assert hasattr(fixg, name), name


def test_public_classes_claim_the_fixg_package() -> None:
    for name in fixg.__all__:
        obj = getattr(fixg, name)
        if isinstance(obj, type):
            assert obj.__module__.startswith("fixg."), (name, obj.__module__)


def test_error_tree_has_one_root_and_builtin_bases() -> None:
    for name in fixg.__all__:
        obj = getattr(fixg, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, fixg.FixError), name
    assert issubclass(fixg.ConfigError, ValueError)
    assert issubclass(fixg.CodecError, ValueError)
    assert issubclass(fixg.TransportError, OSError)
    assert issubclass(fixg.AeronError, fixg.TransportError)
    assert issubclass(fixg.FixTimeoutError, TimeoutError)


def test_null_handler_on_the_fixg_logger_only() -> None:
    import subprocess
    import sys

    code = (
        "import logging, fixg, fixg.cli, fixg.config;"
        "print(len(logging.getLogger().handlers),"
        " [type(h).__name__ for h in logging.getLogger('fixg').handlers])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split(None, 1) == ["0", "['NullHandler']\n"]
