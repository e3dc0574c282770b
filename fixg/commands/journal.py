"""``fixg journal inspect``: what a gateway's file journal holds; ``fixg journal export`` /
``import``: copy a journal into an archive and back.

Lists the sessions with their sequence numbers and message counts, then prints the messages
(field names from the built-in dictionary of each session's BeginString), filtered by session,
direction, MsgType and time; ``--follow`` keeps printing what is appended. Read-only: it takes
no lock and works on the journal of a running gateway.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

from fixg.config import load_config
from fixg.errors import CodecError, StoreError
from fixg.fix.codec import decode
from fixg.fix.dictionary import BUILTIN_NAMES, DataDictionary, load_builtin
from fixg.store.base import Direction
from fixg.store.journal import SEGMENT_RE, JournalReader, JournalRecord, _scan

__all__ = ["register", "inspect"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("journal", help="inspect a gateway's message journal; export it to or import it from an archive")
    sub = parser.add_subparsers(dest="journal_command", metavar="ACTION")
    ins = sub.add_parser(
        "inspect",
        help="list sessions and sequence numbers; print messages with field names",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = ins.add_mutually_exclusive_group()
    where.add_argument("--journal", metavar="DIR", help="journal directory")
    where.add_argument("--config", metavar="FILE", help="the gateway's configuration ([storage] path)")
    ins.add_argument("--session", metavar="KEY", help='only this session ("FIX.4.4:BANK->EXCH"; a part of it will do)')
    ins.add_argument("--direction", choices=("in", "out"), help="only inbound or outbound messages")
    ins.add_argument("--msg-type", metavar="TYPE", action="append", help="only this MsgType (repeatable)")
    ins.add_argument("--since", metavar="TIME", type=_iso, help="only messages at or after (ISO 8601; UTC if no zone)")
    ins.add_argument("--until", metavar="TIME", type=_iso, help="only messages before (ISO 8601)")
    ins.add_argument("--list", action="store_true", help="list the sessions only")
    ins.add_argument("--all-periods", action="store_true", help="also the sequence periods before the last reset")
    ins.add_argument("--raw", action="store_true", help="tag numbers only, no names")
    ins.add_argument("--follow", "-f", action="store_true", help="keep printing new messages (Ctrl-C stops)")
    ins.set_defaults(func=_run_inspect)
    exp = sub.add_parser("export", help="copy a journal into an archive (as a new recording; no archiver running)")
    exp.add_argument("--journal", required=True, metavar="DIR", help="the journal to read")
    exp.add_argument("--archive", required=True, metavar="DIR", help="the archive directory to append to")
    exp.set_defaults(func=_run_convert, journal_command="export")
    imp = sub.add_parser("import", help="rebuild a journal from an archive (every period of every session)")
    imp.add_argument("--archive", required=True, metavar="DIR", help="the archive directory to read")
    imp.add_argument("--journal", required=True, metavar="DIR", help="the journal to write (sessions not in it yet)")
    imp.set_defaults(func=_run_convert, journal_command="import")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _run_convert(args: argparse.Namespace) -> int:
    """``export`` (journal -> archive) or ``import`` (archive -> journal); a StoreError is
    reported by cli.main."""
    from fixg.archive.convert import archive_to_journal, journal_to_archive

    if args.journal_command == "export":
        counts = journal_to_archive(args.journal, args.archive)
        print(f"exported {counts['messages']} messages of {counts['sessions']} sessions "
              f"({counts['records']} records) from {args.journal} to the archive {args.archive}")
    else:
        counts = archive_to_journal(args.archive, args.journal)
        print(f"imported {counts['messages']} messages of {counts['sessions']} sessions "
              f"from the archive {args.archive} into {args.journal}")
    return 0


def _iso(text: str) -> float:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.timestamp()


def _run_inspect(args: argparse.Namespace) -> int:
    try:
        return _inspect_args(args)
    except BrokenPipeError:  # `| head`
        sys.stderr.close()
        return 0


def _inspect_args(args: argparse.Namespace) -> int:
    if args.journal:
        root = args.journal
    elif args.config:
        root = load_config(args.config).storage.path
    else:
        root = "fixg-journal"
    return inspect(
        root, session=args.session, direction=args.direction, msg_types=args.msg_type,
        since=args.since, until=args.until, list_only=args.list, all_periods=args.all_periods,
        names=not args.raw, follow=args.follow,
    )  # fmt: skip


@lru_cache(maxsize=None)
def _names(begin_string: str) -> tuple[Mapping[int, str], Mapping[str, str]]:
    if begin_string not in BUILTIN_NAMES:
        return {}, {}
    dictionary: DataDictionary = load_builtin(begin_string)
    fields = {tag: f.name for tag, f in dictionary.fields.items()}
    messages = {mt: m.name for mt, m in dictionary.messages.items()}
    return fields, messages


def _time(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def format_record(rec: JournalRecord, *, names: bool = True) -> str:
    data = rec.data or b""
    direction = "in " if rec.direction is Direction.INBOUND else "out"
    begin = rec.session.split(":", 1)[0]
    field_names, msg_names = _names(begin) if names else ({}, {})
    try:
        msg = decode(data)
        msg_type = (msg.get(35) or b"?").decode("latin-1")
        body = msg.to_text("|", field_names if names else None)
    except CodecError as exc:
        msg_type = "?"
        body = f"(undecodable: {exc}) {data!r}"
    label = f"{msg_type} {msg_names.get(msg_type, '')}".rstrip()
    return f"{_time(rec.time)} {rec.session} {direction} {rec.seq_num:>6} {label}  {body}"


def inspect(
    root: str | Path,
    *,
    session: str | None = None,
    direction: str | None = None,
    msg_types: list[str] | None = None,
    since: float | None = None,
    until: float | None = None,
    list_only: bool = False,
    all_periods: bool = False,
    names: bool = True,
    follow: bool = False,
    out: TextIO | None = None,
    poll_interval: float = 0.2,
) -> int:
    out = out or sys.stdout
    try:
        reader = JournalReader(root)
    except StoreError as exc:
        print(f"fixg journal inspect: {exc}", file=sys.stderr)
        return 1
    wanted_dir = None if direction is None else (Direction.INBOUND if direction == "in" else Direction.OUTBOUND)
    types = set(msg_types) if msg_types else None

    def selected(rec: JournalRecord) -> bool:
        if rec.kind != "msg":
            return False
        if wanted_dir is not None and rec.direction is not wanted_dir:
            return False
        if since is not None and rec.time < since:
            return False
        if until is not None and rec.time >= until:
            return False
        if types is not None:
            data = rec.data or b""
            start = data.find(b"\x0135=")
            end = data.find(b"\x01", start + 4)
            if start < 0 or data[start + 4 : end].decode("latin-1") not in types:
                return False
        return True

    dirs = []
    print(f"journal {Path(root).resolve()}", file=out)
    for session_dir in reader.session_dirs():
        info = reader.summary(session_dir)
        key = str(info["session"])
        if session and session not in key and session not in session_dir.name:
            continue
        dirs.append(session_dir)
        print(
            f"  {key:<30} period {info['seq_index']}  next sender {info['next_sender_seq_num']}  "
            f"next target {info['next_target_seq_num']}  sent {info['sent']}  received {info['received']}",
            file=out,
        )
    if not dirs:
        print("  (no sessions)" if not session else f"  (no session matches {session!r})", file=out)
        if not follow:
            return 0 if not session else 1
    if list_only:
        return 0
    positions: dict[Path, int] = {}
    for session_dir in dirs:
        for rec in reader.records(session_dir, all_periods=all_periods):
            if selected(rec):
                print(format_record(rec, names=names), file=out)
        positions.update(_ends(session_dir))
    out.flush()
    if not follow:
        return 0
    try:
        while True:
            time.sleep(poll_interval)
            for session_dir in reader.session_dirs():
                if dirs and session_dir not in dirs:
                    if session is None or session in session_dir.name:
                        dirs.append(session_dir)
                    else:
                        continue
                for path, rec in _new_records(session_dir, positions):
                    if session and session not in rec.session and session not in session_dir.name:
                        continue
                    if selected(rec):
                        print(format_record(rec, names=names), file=out)
            out.flush()
    except KeyboardInterrupt:
        return 0


def _segments(session_dir: Path) -> list[Path]:
    return sorted(session_dir / n.name for n in session_dir.iterdir() if SEGMENT_RE.match(n.name))


def _ends(session_dir: Path) -> dict[Path, int]:
    ends = {}
    for path in _segments(session_dir):
        _, end, _ = _scan(path, 0)
        ends[path] = end
    return ends


def _new_records(session_dir: Path, positions: dict[Path, int]) -> Iterator[tuple[Path, JournalRecord]]:
    for path in _segments(session_dir):
        start = positions.get(path, 0)
        try:
            records, end, _ = _scan(path, start)
        except (OSError, StoreError):
            continue
        positions[path] = end
        for rec in records:
            yield path, rec
