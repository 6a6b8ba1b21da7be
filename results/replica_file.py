"""The file a host's replica of one publication lives in: an immutable hash table of buckets.

Pure (no Django). A lookup reads one bucket (a 4 KB block) with one system call, and finds its
entry there: under results-day load, when five processes share two cores, every page a lookup
touches is a cache miss, and each miss costs more than the lookup's own Python. (A B-tree, such
as SQLite's, touches four or five pages a lookup; a table of slots pointing at records, two; a
mapped file, a TLB miss per page in each process on top.)

Layout (little-endian):

    header   4096 bytes: MAGIC, the bucket size, the number of hashed buckets, of buckets in
             all (some follow the hashed ones: overflow), of entries
    buckets  each `size` bytes:
             u16 number of entries here, u16 1 if entries of this bucket or an earlier one
             continue in the next bucket, then per entry its 20-byte digest, the u32 file
             offset and u32 length of its value, then the values

A digest is the 40 hex digits of results.lookup.lookup_digest: its first 64 bits, modulo the
number of hashed buckets, choose the bucket. A value too large for a bucket is stored after the
buckets (its entry says where). A bucket that is full sends the rest to the next one and says
so; a lookup follows only while the bucket it read says so.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from pathlib import Path

MAGIC = b"BACREP02"
HEADER = 4096
BUCKET = 4096
_HEAD = struct.Struct("<8sIQQQ")
_BUCKET_HEAD = struct.Struct("<HH")
_ENTRY = struct.Struct("<20sII")
DIGEST_BYTES = 20
FILL = 0.6  # of a bucket, on average: few buckets overflow


class ReplicaFileError(ValueError):
    """Not a replica file, or a damaged one."""


def write(path: Path, items: Iterable[tuple[str, str]], bucket: int = BUCKET) -> int:
    """Write `items` ((digest, value) pairs; a later pair replaces an earlier one with the same
    digest) to `path`; returns the number of entries. The items are held in memory meanwhile
    (about 200 MB for a publication of 500,000 candidates)."""
    entries: dict[bytes, bytes] = {}
    for digest, value in items:
        key = bytes.fromhex(digest)
        if len(key) != DIGEST_BYTES:
            raise ReplicaFileError(f"a digest of {len(key)} bytes")
        entries[key] = value.encode()
    room = bucket - _BUCKET_HEAD.size
    large = room // 2  # a value larger than this goes after the buckets
    total = sum(_ENTRY.size + (len(v) if len(v) <= large else 0) for v in entries.values())
    hashed = max(1, int(total / (room * FILL)) + 1)
    homes: list[list[tuple[bytes, bytes]]] = [[] for _ in range(hashed)]
    for key, value in entries.items():
        homes[int.from_bytes(key[:8], "big") % hashed].append((key, value))
    with open(path, "w+b") as handle:
        start = HEADER
        tail: list[bytes] = []  # large values, after the buckets
        blocks: list[tuple[list[tuple[bytes, bytes]], bool]] = []
        carry: list[tuple[bytes, bytes]] = []
        index = 0
        while index < hashed or carry:
            pending = carry + (homes[index] if index < hashed else [])
            here, carry, used = [], [], 0
            for key, value in pending:
                size = _ENTRY.size + (len(value) if len(value) <= large else 0)
                if used + size <= room:
                    here.append((key, value))
                    used += size
                else:
                    carry.append((key, value))  # on to the next bucket, which says so
            blocks.append((here, bool(carry)))
            index += 1
        tail_at = start + len(blocks) * bucket
        for here, continues in blocks:
            directory, values = [], []
            offset = start + _BUCKET_HEAD.size + _ENTRY.size * len(here)
            for key, value in here:
                if len(value) <= large:
                    directory.append(_ENTRY.pack(key, offset, len(value)))
                    values.append(value)
                    offset += len(value)
                else:
                    directory.append(_ENTRY.pack(key, tail_at, len(value)))
                    tail.append(value)
                    tail_at += len(value)
            block = _BUCKET_HEAD.pack(len(here), int(continues)) + b"".join(directory + values)
            handle.seek(start)
            handle.write(block.ljust(bucket, b"\0"))
            start += bucket
        handle.write(b"".join(tail))
        handle.seek(0)
        handle.write(
            _HEAD.pack(MAGIC, bucket, hashed, len(blocks), len(entries)).ljust(HEADER, b"\0")
        )
        # On disk before it is renamed into place: after a crash, a file is whole or absent
        # (never zeroes that would answer "not found"), and no writeback follows into the load.
        handle.flush()
        os.fsync(handle.fileno())
    return len(entries)


class ReplicaFile:
    """A replica file, read with pread: the page cache holds it once for every process of the
    host, and the kernel copies the one block a lookup needs. (Mapping it costs more: each
    process would take a TLB miss on every page it touches.)"""

    fd = -1

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            size = os.fstat(self.fd).st_size
            head = os.pread(self.fd, _HEAD.size, 0)
            if len(head) < _HEAD.size:
                raise ReplicaFileError(f"{path}: too short")
            magic, self.bucket, self.hashed, self.buckets, self.entries = _HEAD.unpack(head)
            if magic != MAGIC or not 64 <= self.bucket <= 65536 or not self.hashed:
                raise ReplicaFileError(f"{path}: not a replica file")
            if size < HEADER + self.buckets * self.bucket or self.buckets < self.hashed:
                raise ReplicaFileError(f"{path}: truncated")
        except BaseException:
            self.close()
            raise

    def get(self, digest: str) -> str | None:
        key = bytes.fromhex(digest)
        index = int.from_bytes(key[:8], "big") % self.hashed
        fd, size = self.fd, self.bucket
        while index < self.buckets:
            at = HEADER + index * size
            block = os.pread(fd, size, at)
            count, continues = _BUCKET_HEAD.unpack_from(block)
            end = _BUCKET_HEAD.size + _ENTRY.size * count
            found = block.find(key, _BUCKET_HEAD.size, end)
            # A digest's bytes may also occur across two entries: only an entry's start counts.
            while found >= 0 and (found - _BUCKET_HEAD.size) % _ENTRY.size:
                found = block.find(key, found + 1, end)
            if found >= 0:
                _key, offset, length = _ENTRY.unpack_from(block, found)
                if at <= offset and offset + length <= at + size:
                    value = block[offset - at : offset - at + length]
                else:
                    value = os.pread(fd, length, offset)
                return value.decode()
            if not continues:
                return None
            index += 1
        return None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    # Dropped by a replica once no longer live: closed when no reader holds it any more.
    __del__ = close
