"""``fixg archive``: the archiver service and its tools.

  serve     run an archiver in the foreground (records the data and index streams)
  status    the running archiver: recordings, recorded positions, lag, bytes (Aeron counters)
  inspect   recordings, positions, utilisation; messages with tag names (from the files, read-only)
  replay    a session's messages of a seqnum range to stdout (FIX with |, or JSON lines) or to an
            Aeron channel, through the running archiver (or from the files with --dir)
  purge     drop all but the last N sequence periods of every session (through the archiver)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from fixg.archive import format as fmt
from fixg.commands.journal import _iso, format_record
from fixg.config import Config, load_config
from fixg.errors import ConfigError, FixError, StoreError
from fixg.store.journal import JournalRecord

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("archive", help="the Aeron archive: serve, status, inspect, replay, purge",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="archive_command", metavar="ACTION")

    serve = sub.add_parser("serve", help="run an archiver in the foreground")
    serve.add_argument("--config", "-c", required=True, metavar="FILE")
    serve.set_defaults(func=_serve)

    status = sub.add_parser("status", help="the running archiver's recordings, positions, lag and bytes")
    status.add_argument("--config", "-c", required=True, metavar="FILE")
    status.add_argument("--json", action="store_true", help="one JSON object")
    status.set_defaults(func=_status)

    ins = sub.add_parser("inspect", help="recordings and messages, read from the archive files")
    _where(ins)
    ins.add_argument("--session", metavar="KEY", help="only this session (a part of the key will do)")
    ins.add_argument("--direction", choices=("in", "out"))
    ins.add_argument("--msg-type", metavar="TYPE", action="append", help="only this MsgType (repeatable)")
    ins.add_argument("--since", metavar="TIME", type=_iso, help="at or after (ISO 8601; UTC if no zone)")
    ins.add_argument("--until", metavar="TIME", type=_iso, help="before (ISO 8601)")
    ins.add_argument("--from-seq", type=int, metavar="N", help="MsgSeqNum >= N")
    ins.add_argument("--to-seq", type=int, metavar="N", help="MsgSeqNum <= N")
    ins.add_argument("--list", action="store_true", help="recordings and sessions only")
    ins.add_argument("--all-periods", action="store_true", help="also sequence periods before the last reset")
    ins.add_argument("--raw", action="store_true", help="tag numbers only, no names")
    ins.set_defaults(func=_inspect)

    rep = sub.add_parser("replay", help="replay a session's messages to stdout or an Aeron channel")
    _where(rep)
    rep.add_argument("--session", required=True, metavar="KEY", help="the full session key")
    rep.add_argument("--direction", choices=("in", "out"), default="out")
    rep.add_argument("--from-seq", type=int, default=1, metavar="N")
    rep.add_argument("--to-seq", type=int, default=0, metavar="N", help="0: to the last")
    rep.add_argument("--seq-index", type=int, metavar="I", help="the sequence period (default: the current)")
    rep.add_argument("--format", choices=("fix", "json"), default="fix", help="FIX with | or JSON lines")
    rep.add_argument("--channel", metavar="URI", help="publish the messages on this Aeron channel instead")
    rep.add_argument("--stream-id", type=int, default=1, metavar="ID")
    rep.add_argument("--progress", action="store_true", help="report progress on stderr")
    rep.set_defaults(func=_replay)

    purge = sub.add_parser("purge", help="drop old sequence periods (through the running archiver)")
    purge.add_argument("--config", "-c", required=True, metavar="FILE")
    purge.add_argument("--keep", type=int, default=1, metavar="N", help="periods kept per session")
    purge.set_defaults(func=_purge)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _where(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", "-c", metavar="FILE", help="the gateway's or archiver's configuration")
    where.add_argument("--dir", metavar="DIR", help="an archive directory, read directly (no archiver needed)")


def _fail(what: str, exc: BaseException) -> int:
    print(f"fixg archive {what}: {exc}", file=sys.stderr)
    return 1


# -- serve / status / purge --------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    import logging

    from fixg.archive.service import ArchiverSettings, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
        return serve(ArchiverSettings.from_config(config))
    except (FixError, OSError) as exc:
        return _fail("serve", exc)


def _control(config: Config) -> tuple[Any, Any]:
    from fixg.aeron import Client
    from fixg.archive.client import ArchiveClient, tool_response_stream_id

    client = Client(config.aeron.aeron_dir, client_name="fixg-archive-tool")
    try:
        control = ArchiveClient(client, config.aeron.control_channel, config.aeron.control_stream_id,
                                tool_response_stream_id(), timeout_s=max(2.0, config.storage.archive_timeout_ms / 1000),
                                fragment_limit=config.aeron.replay_fragment_limit)
    except BaseException:
        client.close()
        raise
    return client, control


def _counters(client: Any, stream_id: int) -> dict[str, list[dict[str, Any]]]:
    names = {fmt.RECORDED_POSITION_COUNTER_TYPE: "recorded_position", fmt.RECORDING_BYTES_COUNTER_TYPE: "bytes",
             fmt.GATEWAY_LAG_COUNTER_TYPE: "gateway_lag", fmt.HEARTBEAT_COUNTER_TYPE: "heartbeat"}
    out: dict[str, list[dict[str, Any]]] = {n: [] for n in names.values()}
    out["publisher_position"] = []
    for info in client.counters.counters():
        if info.type_id in names and len(info.key) >= fmt.COUNTER_KEY.size:
            stream, session, rec = fmt.COUNTER_KEY.unpack_from(info.key)
            if stream == stream_id:
                out[names[info.type_id]].append({"recording": rec, "session_id": session, "value": info.value,
                                                 "label": info.label})
        elif info.type_id == 12 and f" {stream_id} " in f" {info.label} ":  # Aeron's pub-pos
            out["publisher_position"].append({"value": info.value, "label": info.label})
    return out


def _status(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        client, control = _control(config)
    except (FixError, OSError) as exc:
        return _fail("status", exc)
    try:
        status = control.request(fmt.Op.STATUS)
        status["recordings_detail"] = control.request(fmt.Op.RECORDINGS)["recordings"]
        status["counters"] = _counters(client, config.storage.data_stream_id)
    except FixError as exc:
        return _fail("status", exc)
    finally:
        control.close()
        client.close()
    if args.json:
        print(json.dumps(status, indent=1))
        return 0
    print(f"archiver pid {status['pid']}  archive {status['archive_dir']}  fsync {status['fsync']}")
    print(f"  recordings {status['recordings']}  bytes {status['bytes']}  sessions {status['sessions']}  "
          f"replays in progress {status['replays_in_progress']}")
    for r in status["recordings_detail"]:
        print(f"  rec {r['id']:>4} {r['kind']:<5} stream {r['stream_id']} session {r['session_id']}  "
              f"positions {r['start_position']}..{r['stop_position']}  recorded {r['recorded_position']}  "
              f"bytes {r['bytes']}  segments {len(r['segments'])}  {'RECORDING' if r['active'] else 'stopped'}")
    c = status["counters"]
    for pos in c["recorded_position"]:
        print(f"  counter recorded position rec {pos['recording']} session {pos['session_id']}: {pos['value']}")
    for pub in c["publisher_position"]:
        print(f"  counter {pub['label']}: {pub['value']}")
    for lag in c["gateway_lag"]:
        print(f"  counter gateway lag (session {lag['session_id']}): {lag['value']} bytes")
    return 0


def _purge(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        client, control = _control(config)
    except (FixError, OSError) as exc:
        return _fail("purge", exc)
    try:
        deleted = control.request(fmt.Op.PURGE, {"keep_periods": args.keep})["deleted"]
    except FixError as exc:
        return _fail("purge", exc)
    finally:
        control.close()
        client.close()
    print(f"deleted recordings: {', '.join(map(str, deleted)) or 'none'}")
    return 0


# -- inspect -----------------------------------------------------------------------------------


def _archive_dir(args: argparse.Namespace) -> str:
    if args.dir:
        return str(args.dir)
    return load_config(args.config).storage.archive_dir


def _as_journal_record(position: int, r: fmt.DataRecord) -> JournalRecord:
    from fixg.store.base import Direction

    return JournalRecord("msg", r.key, r.seq_index, r.time, position,
                         direction=Direction.OUTBOUND if r.direction == fmt.DIR_OUT else Direction.INBOUND,
                         seq_num=r.number, data=r.payload)


def _inspect(args: argparse.Namespace) -> int:
    try:
        return inspect(_archive_dir(args), session=args.session, direction=args.direction, msg_types=args.msg_type,
                       since=args.since, until=args.until, from_seq=args.from_seq, to_seq=args.to_seq,
                       list_only=args.list, all_periods=args.all_periods, names=not args.raw)
    except (ConfigError, StoreError) as exc:
        return _fail("inspect", exc)
    except BrokenPipeError:
        sys.stderr.close()
        return 0


def inspect(root: str | Path, *, session: str | None = None, direction: str | None = None,
            msg_types: list[str] | None = None, since: float | None = None, until: float | None = None,
            from_seq: int | None = None, to_seq: int | None = None, list_only: bool = False,
            all_periods: bool = False, names: bool = True, out: TextIO | None = None) -> int:
    from fixg.archive.convert import data_records
    from fixg.archive.storage import Archive

    out = out or sys.stdout
    archive = Archive(root, readonly=True)
    try:
        total = sum(r.bytes_total for r in archive.recordings.values())
        print(f"archive {Path(root).resolve()}: {len(archive.recordings)} recordings, {total} bytes", file=out)
        for r in sorted(archive.recordings.values(), key=lambda r: r.id):
            used = sum((archive.root / f"rec-{r.id:08d}-{s:06d}.seg").stat().st_size for s in r.segments
                       if (archive.root / f"rec-{r.id:08d}-{s:06d}.seg").exists())
            util = used / (len(r.segments) * archive.segment_length) if r.segments else 0.0
            print(f"  rec {r.id:>4} {r.kind:<5} stream {r.stream_id} session {r.session_id} {r.channel}  "
                  f"positions {r.start_position}..{r.stop_position}  records {len(r.offsets)}  bytes {r.bytes_total}  "
                  f"segments {len(r.segments)} ({util:.1%} of {archive.segment_length} B each)  "
                  f"{'open' if r.stop_time is None else 'stopped'}", file=out)
        keys = [k for k in sorted(archive.sessions) if not session or session in k]
        for key in keys:
            s = archive.sessions[key]
            print(f"  {key:<30} period {s.seq_index}  next sender {s.next_sender}  next target {s.next_target}  "
                  f"sent {s.sent}  received {s.received}", file=out)
        if not keys:
            print("  (no sessions)" if not session else f"  (no session matches {session!r})", file=out)
            return 0 if not session else 1
        if list_only:
            return 0
        wanted_dir = None if direction is None else (fmt.DIR_IN if direction == "in" else fmt.DIR_OUT)
        types = set(msg_types) if msg_types else None
        seen: set[tuple[str, int, int, int]] = set()
        for _rid, position, d in data_records(archive):
            if d.kind != fmt.Kind.MSG or d.key not in keys:
                continue
            if not all_periods and d.seq_index != archive.sessions[d.key].seq_index:
                continue
            if wanted_dir is not None and d.direction != wanted_dir:
                continue
            if (since is not None and d.time < since) or (until is not None and d.time >= until):
                continue
            if (from_seq is not None and d.number < from_seq) or (to_seq is not None and d.number > to_seq):
                continue
            if types is not None and _msg_type(d.payload) not in types:
                continue
            ident = (d.key, d.seq_index, d.direction, d.number)
            if ident in seen:
                continue  # republished after an archiver outage
            seen.add(ident)
            print(format_record(_as_journal_record(position, d), names=names), file=out)
    finally:
        archive.close()
    return 0


def _msg_type(data: bytes) -> str:
    start = data.find(b"\x0135=")
    end = data.find(b"\x01", start + 4)
    return data[start + 4 : end].decode("latin-1") if start >= 0 else "?"


# -- replay ------------------------------------------------------------------------------------


def _replay(args: argparse.Namespace) -> int:
    direction = fmt.DIR_IN if args.direction == "in" else fmt.DIR_OUT
    out = sys.stdout
    started = time.monotonic()
    last_report = [started]

    def progress(count: int) -> None:
        now = time.monotonic()
        if args.progress and now - last_report[0] >= 0.5:
            last_report[0] = now
            print(f"replay: {count} messages, {count / max(now - started, 1e-6):.0f}/s", file=sys.stderr, flush=True)

    client = control = publication = None
    try:
        if args.dir:
            from fixg.archive.storage import Archive

            archive = Archive(args.dir, readonly=True)
            state = archive.sessions.get(args.session)
            if state is None:
                archive.close()
                raise StoreError(f"the archive has no session {args.session!r}")
            seq_index = args.seq_index or state.seq_index
            records = [(p, fmt.decode_data(d)) for _n, p, d in
                       archive.replay(args.session, direction, seq_index, args.from_seq, args.to_seq)]
            archive.close()
            items: Any = iter(records)
        else:
            config = load_config(args.config)
            client, control = _control(config)
            items = control.replay(args.session, direction, args.from_seq, args.to_seq, seq_index=args.seq_index,
                                   progress=progress)
        if args.channel:
            from fixg.aeron import BackpressurePolicy

            assert client is not None or args.dir
            if client is None:
                from fixg.aeron import Client

                client = Client(None if args.dir else load_config(args.config).aeron.aeron_dir)
            publication = client.add_exclusive_publication(args.channel, args.stream_id)
            policy = BackpressurePolicy(retry_count=100_000, backoff_ms=1)
        count = 0
        for position, r in items:
            count += 1
            if publication is not None:
                publication.offer(r.payload, policy)
            elif args.format == "json":
                out.write(json.dumps({"session": r.key, "direction": "out" if r.direction else "in",
                                      "seq_index": r.seq_index, "seq_num": r.number, "time": r.time,
                                      "position": position, "message": r.payload.decode("latin-1")}) + "\n")
            else:
                out.write(r.payload.replace(b"\x01", b"|").decode("latin-1") + "\n")
            if args.dir:
                progress(count)
        out.flush()
        if args.progress:
            print(f"replay: done, {count} messages in {time.monotonic() - started:.2f} s", file=sys.stderr)
        return 0
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    except (FixError, OSError) as exc:
        return _fail("replay", exc)
    finally:
        if control is not None:
            control.close()
        if client is not None:
            client.close()


if __name__ == "__main__":  # pragma: no cover
    from fixg.cli import main

    sys.exit(main(["archive", *sys.argv[1:]]))
