#!/usr/bin/env python3
"""Generate fixg's built-in data dictionaries from QuickFIX-format XML.

Reads ``<stem>.xml`` for every stem named by :func:`fixg.fix.dictionary.builtin_sources`
(FIX42, FIX44, FIXT11, FIX50SP2) and writes ``<stem>.json.gz``: the compact document described
in :mod:`fixg.fix.dictionary`, as minified JSON, gzip-compressed with a zero timestamp so that
the same input gives the same bytes.

    python3 tools/gen_dictionaries.py      # ../shared/fixspec -> fixg/fix/dictionaries
    python3 tools/gen_dictionaries.py --spec-dir DIR --out-dir DIR

The spec directory defaults to ``$FIXG_FIXSPEC_DIR`` or else ``../shared/fixspec`` next to the
repository. The generated files are committed; ``tests/fix/test_dictionary.py`` regenerates them
into a temporary directory and fails if they differ from the shipped ones.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
try:
    import fixg  # noqa: F401  (installed, or the checkout is on the path already)
except ImportError:  # run from a checkout without installing fixg
    sys.path.insert(0, str(REPO))

from fixg.errors import ConfigError  # noqa: E402
from fixg.fix.dictionary import builtin_sources, xml_to_compact  # noqa: E402

DEFAULT_OUT_DIR = REPO / "fixg" / "fix" / "dictionaries"


def default_spec_dir() -> Path:
    env = os.environ.get("FIXG_FIXSPEC_DIR")
    if env:
        return Path(env)
    return REPO.parent / "shared" / "fixspec"


def builtin_stems() -> list[str]:
    """Every file stem the built-in dictionaries are made of, in a stable order."""
    stems: list[str] = []
    for app, transport in builtin_sources().values():
        for stem in (transport, app):
            if stem is not None and stem not in stems:
                stems.append(stem)
    return stems


def encode_compact(document: Mapping[str, Any]) -> bytes:
    """The bytes of one built-in file: minified UTF-8 JSON, gzip level 9, mtime 0."""
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def generate(spec_dir: Path, out_dir: Path) -> list[Path]:
    """Write ``<stem>.json.gz`` into ``out_dir`` for every built-in stem; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for stem in builtin_stems():
        data = encode_compact(xml_to_compact(spec_dir / f"{stem}.xml"))
        target = out_dir / f"{stem}.json.gz"
        temporary = target.with_name(target.name + ".tmp")
        temporary.write_bytes(data)
        os.replace(temporary, target)
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--spec-dir",
        type=Path,
        default=None,
        help="directory holding the QuickFIX XML files (default: $FIXG_FIXSPEC_DIR or "
        "../shared/fixspec)",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=DEFAULT_OUT_DIR,
        help=f"where to write the .json.gz files (default: {DEFAULT_OUT_DIR})",
    )
    args = parser.parse_args(argv)
    spec_dir: Path = args.spec_dir if args.spec_dir is not None else default_spec_dir()
    try:
        written = generate(spec_dir, args.out_dir)
    except ConfigError as exc:
        print(f"gen_dictionaries: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"{path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
