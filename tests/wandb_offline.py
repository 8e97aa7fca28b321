"""Read an offline W&B run (``run-*.wandb``) back for tests.

Mechanism (checked against wandb 0.31.0)
----------------------------------------
A ``.wandb`` file is wandb-core's transaction log: the 7-byte file header
``b":W&B"`` + magic ``0xBEE1`` (little-endian) + format version ``0``, then the
LevelDB log format (32 KiB blocks; every chunk has a 7-byte header
``crc32 (u32 LE) | length (u16 LE) | type (u8)`` with FULL=1, FIRST=2,
MIDDLE=3, LAST=4; a block tail shorter than 7 bytes is zero padding). The CRC
is the plain (unmasked) IEEE/zlib CRC-32 of ``type byte + payload``, the
variant wandb uses for these files. Every reassembled payload is a
``wandb.proto.wandb_internal_pb2.Record`` protobuf message.

This module splits the chunks itself, checks every CRC, and parses each
payload with wandb's own protobuf class ``Record``. Values are then decoded
from their ``value_json`` strings with :func:`json.loads`.

Why not a ready-made reader: wandb 0.31 ships no Python reader (the old
``wandb.sdk.internal.datastore`` went away with the Python backend). The only
one it ships is ``wandb leet inspect --json`` (wandb-core, Go). It works but
re-encodes every value through Go's JSON: ``1.0`` comes back as ``1`` even
in the config (which the Python SDK writes exactly),
NaN/Infinity come back as the strings ``"NaN"``/``"Infinity"`` and nested keys
are flattened to dotted names. It also needs a subprocess and its output is a
display format, not an API. Parsing the protobuf records keeps the exact JSON
that the SDK wrote.

Keys and values
---------------
* ``config``: the run record's config, with later ``config`` records
  (``update``/``remove``) applied in order, giving a nested dict. In the
  transaction log the values are stored as they are. They are *not* wrapped
  as ``{"value": ..., "desc": ...}``, which is only the ``config.yaml`` layout,
  so nothing is unwrapped. Unwrapping would corrupt user dicts that have a
  ``"value"`` key. wandb's internal ``_wandb`` entry is dropped.
* ``history``: one dict per ``history`` record (one per logged step) in file
  order, including W&B's own ``_step``/``_runtime``/``_timestamp``. A nested
  key (``wandb.log({"a": {"b": 1}})``) gets the flattened name ``"a.b"``, as in
  the W&B UI and public API. wandb-core writes the history records and the
  summary records that come from ``wandb.log`` itself, with Go's JSON
  encoder, so a whole-number float logged there is stored as an int
  (``1.0`` -> ``1``). Compare such values with ``==``, not by type.
  NaN/Infinity survive as float ``nan``/``inf``.
* ``summary``: every ``summary`` update/remove applied in order, including
  the run record's summary. Nested keys become nested dicts (for example
  ``{"_wandb": {"runtime": ...}}``), as in ``wandb-summary.json``.
* ``run``: ``run_id``, ``project``, ``tags``, ``group`` (``None`` when unset),
  and also ``entity``, ``name``, ``job_type`` (``None`` when unset) and
  ``exit_code`` (``None`` if the run has no exit record, for example because it
  crashed or is still running).

Malformed input (bad file header, CRC mismatch, broken chunk sequence,
truncated tail, undecodable protobuf or JSON) raises
:class:`WandbOfflineReadError`.
"""

from __future__ import annotations

import json
import re
import struct
import time
import zlib
from pathlib import Path
from typing import Any, Iterator

from google.protobuf.message import DecodeError
from wandb.proto import wandb_internal_pb2

__all__ = ["WandbOfflineReadError", "find_wandb_file", "iter_records", "read_offline_run"]

_FILE_IDENT = b":W&B"
_FILE_MAGIC = 0xBEE1
_FILE_VERSION = 0
_FILE_HEADER = struct.Struct("<4sHB")  # 7 bytes

_BLOCK_LEN = 32 * 1024
_CHUNK_HEADER = struct.Struct("<IHB")  # crc32, length, type: 7 bytes
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4

_OFFLINE_DIR_RE = re.compile(r"^offline-run-(\d{8}_\d{6})-(.+)$")


class WandbOfflineReadError(ValueError):
    """The path holds no readable offline run, or the ``.wandb`` file is malformed."""


# --------------------------------------------------------------------------- paths


def _single_wandb_file(run_dir: Path) -> Path | None:
    files = sorted(run_dir.glob("run-*.wandb"))
    if len(files) > 1:
        raise WandbOfflineReadError(
            f"{run_dir} contains several .wandb files: {[f.name for f in files]}"
        )
    return files[0] if files else None


def _newest_offline_run(wandb_dir: Path) -> Path:
    candidates = []
    for d in wandb_dir.iterdir():
        m = _OFFLINE_DIR_RE.match(d.name)
        if not (m and d.is_dir()):
            continue
        f = _single_wandb_file(d)
        if f is not None:
            # Directory-name timestamp (run start, 1 s resolution), then file mtime.
            candidates.append((m.group(1), f.stat().st_mtime_ns, f))
    if not candidates:
        raise WandbOfflineReadError(
            f"no offline-run-*/run-*.wandb found under {wandb_dir}"
        )
    return max(candidates)[2]


def find_wandb_file(path: str | Path) -> Path:
    """Resolve *path* to a single ``run-*.wandb`` file.

    Accepts the ``.wandb`` file itself, an ``offline-run-*`` directory, a
    directory that contains a ``wandb/`` folder, or that ``wandb/`` folder.
    In the last two cases the newest ``offline-run-*`` is picked.
    """
    p = Path(path)
    if p.is_file():
        if p.suffix != ".wandb":
            raise WandbOfflineReadError(f"not a .wandb file: {p}")
        return p
    if not p.is_dir():
        raise WandbOfflineReadError(f"path does not exist: {p}")
    f = _single_wandb_file(p)
    if f is not None:
        return f
    if (p / "wandb").is_dir():
        return _newest_offline_run(p / "wandb")
    if any(_OFFLINE_DIR_RE.match(d.name) for d in p.iterdir()):
        return _newest_offline_run(p)
    raise WandbOfflineReadError(
        f"{p} is neither a .wandb file, an offline-run-* directory, "
        "nor a directory containing wandb/offline-run-*"
    )


# ------------------------------------------------------------------------ framing


def _iter_payloads(data: bytes, name: str) -> Iterator[bytes]:
    """Yield the reassembled record payloads of a W&B LevelDB-style log."""
    if len(data) < _FILE_HEADER.size:
        raise WandbOfflineReadError(f"{name}: too short for a W&B file header")
    ident, magic, version = _FILE_HEADER.unpack_from(data, 0)
    if ident != _FILE_IDENT or magic != _FILE_MAGIC:
        raise WandbOfflineReadError(f"{name}: not a W&B transaction log (header {data[:7]!r})")
    if version != _FILE_VERSION:
        raise WandbOfflineReadError(f"{name}: unsupported W&B log version {version}")

    pos = _FILE_HEADER.size  # blocks are counted from the start of the file
    pending: bytearray | None = None
    while pos < len(data):
        left = _BLOCK_LEN - pos % _BLOCK_LEN
        if left < _CHUNK_HEADER.size:
            if data[pos : pos + left].strip(b"\0"):
                raise WandbOfflineReadError(f"{name}@{pos}: non-zero block trailer")
            pos += left
            continue
        if pos + _CHUNK_HEADER.size > len(data):
            raise WandbOfflineReadError(f"{name}@{pos}: truncated chunk header")
        crc, length, ctype = _CHUNK_HEADER.unpack_from(data, pos)
        start = pos + _CHUNK_HEADER.size
        end = start + length
        if length > left - _CHUNK_HEADER.size:
            raise WandbOfflineReadError(f"{name}@{pos}: chunk of {length} bytes crosses a block")
        if end > len(data):
            raise WandbOfflineReadError(f"{name}@{pos}: truncated chunk ({length} bytes announced)")
        chunk = data[start:end]
        if zlib.crc32(chunk, zlib.crc32(bytes([ctype]))) != crc:
            raise WandbOfflineReadError(f"{name}@{pos}: CRC mismatch (chunk type {ctype})")
        chunk_pos, pos = pos, end

        if ctype == _FULL:
            if pending is not None:
                raise WandbOfflineReadError(f"{name}@{chunk_pos}: FULL chunk inside a fragmented record")
            yield chunk
        elif ctype == _FIRST:
            if pending is not None:
                raise WandbOfflineReadError(f"{name}@{chunk_pos}: FIRST chunk inside a fragmented record")
            pending = bytearray(chunk)
        elif ctype in (_MIDDLE, _LAST):
            if pending is None:
                raise WandbOfflineReadError(f"{name}@{chunk_pos}: chunk type {ctype} without FIRST")
            pending += chunk
            if ctype == _LAST:
                yield bytes(pending)
                pending = None
        else:
            raise WandbOfflineReadError(f"{name}@{chunk_pos}: unknown chunk type {ctype}")
    if pending is not None:
        raise WandbOfflineReadError(f"{name}: file ends inside a fragmented record")


def iter_records(path: str | Path) -> Iterator[wandb_internal_pb2.Record]:
    """Yield every ``wandb_internal_pb2.Record`` of the run at *path* (see :func:`find_wandb_file`)."""
    f = find_wandb_file(path)
    for i, payload in enumerate(_iter_payloads(f.read_bytes(), str(f))):
        rec = wandb_internal_pb2.Record()
        try:
            rec.ParseFromString(payload)
        except DecodeError as e:
            raise WandbOfflineReadError(f"{f}: record #{i} is not a wandb Record: {e}") from e
        yield rec


# ------------------------------------------------------------------------- values


def _item_path(item: Any) -> list[str]:
    if item.key:
        return [item.key]
    if item.nested_key:
        return list(item.nested_key)
    raise WandbOfflineReadError(f"item without key: {item!r}")


def _decode(item: Any) -> Any:
    try:
        return json.loads(item.value_json)
    except json.JSONDecodeError as e:
        raise WandbOfflineReadError(
            f"bad value_json for {_item_path(item)}: {item.value_json!r}"
        ) from e


def _set_path(target: dict, path: list[str], value: Any) -> None:
    for k in path[:-1]:
        nxt = target.get(k)
        if not isinstance(nxt, dict):
            nxt = target[k] = {}
        target = nxt
    target[path[-1]] = value


def _remove_path(target: dict, path: list[str]) -> None:
    for k in path[:-1]:
        target = target.get(k)
        if not isinstance(target, dict):
            return
    target.pop(path[-1], None)


def _apply(target: dict, record: Any) -> None:
    """Apply a ConfigRecord or SummaryRecord (update + remove items)."""
    for item in record.update:
        _set_path(target, _item_path(item), _decode(item))
    for item in record.remove:
        _remove_path(target, _item_path(item))


def read_offline_run(run_dir_or_file: str | Path, wait_s: float = 60.0) -> dict:
    """Read a finished offline W&B run (see :func:`read_offline_run_now`), waiting up to *wait_s* seconds for its
    exit record: wandb-core may still be flushing the file when ``run.finish()`` has returned on a loaded machine."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            record = read_offline_run_now(run_dir_or_file)
        except WandbOfflineReadError:
            if time.monotonic() >= deadline:
                raise
            record = None
        if record is not None and (record["run"]["exit_code"] is not None or time.monotonic() >= deadline):
            return record
        time.sleep(0.5)


def read_offline_run_now(run_dir_or_file: str | Path) -> dict:
    """Read an offline W&B run back into plain Python data.

    Args:
        run_dir_or_file: a ``run-*.wandb`` file, an ``offline-run-*`` directory,
            or a directory containing ``wandb/`` (newest offline run is used).

    Returns:
        ``{"config": dict, "history": list[dict], "summary": dict,
        "run": {"run_id", "project", "tags", "group", "entity", "name",
        "job_type", "exit_code"}}``. See the module docstring for the
        mechanism (wandb's ``wandb_internal_pb2.Record`` protobuf over the
        LevelDB-framed log, checked on wandb 0.31.0) and the key conventions.

    Raises:
        WandbOfflineReadError: no run found, or the file is malformed.
    """
    config: dict = {}
    history: list[dict] = []
    summary: dict = {}
    run: dict = {}
    exit_code = None

    for rec in iter_records(run_dir_or_file):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            r = rec.run
            run = {
                "run_id": r.run_id,
                "project": r.project or None,
                "tags": list(r.tags),
                "group": r.run_group or None,
                "entity": r.entity or None,
                "name": r.display_name or None,
                "job_type": r.job_type or None,
            }
            _apply(config, r.config)
            _apply(summary, r.summary)
        elif kind == "config":
            _apply(config, rec.config)
        elif kind == "history":
            history.append(
                {".".join(_item_path(item)): _decode(item) for item in rec.history.item}
            )
        elif kind == "summary":
            _apply(summary, rec.summary)
        elif kind == "exit":
            exit_code = rec.exit.exit_code

    if not run:
        raise WandbOfflineReadError(f"{run_dir_or_file}: no run record found")
    config.pop("_wandb", None)
    run["exit_code"] = exit_code
    return {"config": config, "history": history, "summary": summary, "run": run}
