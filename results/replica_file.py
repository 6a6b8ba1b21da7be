"""The file a host's replica of one publication lives in: an immutable hash table, mapped.

Pure (no Django). One lookup touches two places of the file: its slot, and its record. A B-tree
(SQLite) touches four or five pages per lookup; under results-day load, when five processes share
two cores and every page touched is a cache and TLB miss, that is most of the lookup's cost.

Layout (little-endian):

    header   4096 bytes: MAGIC, the number of slots as a power of two, the number of entries
    slots    (1 << bits) x 8 bytes: 0 for an empty slot, else (fingerprint << 40) | record offset
    records  one after another: the 20-byte digest, a 4-byte length, the value (UTF-8)

A digest is the 40 hex digits of results.lookup.lookup_digest: its first 64 bits choose the
slot (linear probing, at most half the slots used) and give the 24-bit fingerprint that spares
reading records whose digest cannot match. Every record is compared in full before it answers.
"""

from __future__ import annotations

import os
import struct
import sys
from array import array
from collections.abc import Iterable
from pathlib import Path

MAGIC = b"BACREP01"
HEADER = 4096
_HEAD = struct.Struct("<8sII Q")
_LENGTH = struct.Struct("<I")
_SLOT = struct.Struct("<Q")
DIGEST_BYTES = 20
_OFFSET_BITS = 40
_OFFSET_MASK = (1 << _OFFSET_BITS) - 1


class ReplicaFileError(ValueError):
    """Not a replica file, or a damaged one."""


def _bits_for(entries: int) -> int:
    """Slots for `entries` at most half full (and at least 1,024)."""
    bits = 10
    while (1 << bits) < 2 * entries:
        bits += 1
    return bits


def _split(digest: str) -> tuple[int, int]:
    head = int(digest[:16], 16)
    return head, head >> _OFFSET_BITS


def write(path: Path, items: Iterable[tuple[str, str]], capacity: int) -> int:
    """Write `items` ((digest, value) pairs; a later pair replaces an earlier one with the same
    digest) to `path`, for at most `capacity` entries; returns the number of entries."""
    bits = _bits_for(capacity)
    mask = (1 << bits) - 1
    slots = array("Q", bytes(8 << bits))
    data_start = HEADER + 8 * (1 << bits)
    entries = 0
    with open(path, "w+b") as handle:
        handle.seek(data_start)
        offset = data_start
        for digest, value in items:
            key = bytes.fromhex(digest)
            if len(key) != DIGEST_BYTES:
                raise ReplicaFileError(f"a digest of {len(key)} bytes")
            head, fingerprint = _split(digest)
            index = head & mask
            while True:
                slot = slots[index]
                if not slot:
                    entries += 1
                    if entries > capacity:
                        raise ReplicaFileError(f"more than the {capacity} entries announced")
                    break
                if slot >> _OFFSET_BITS == fingerprint:
                    at = slot & _OFFSET_MASK
                    handle.flush()  # the record may still be in the write buffer
                    if os.pread(handle.fileno(), DIGEST_BYTES, at) == key:
                        break  # the same digest again: the new record replaces it
                index = (index + 1) & mask
            encoded = value.encode()
            handle.write(key + _LENGTH.pack(len(encoded)) + encoded)
            slots[index] = (fingerprint << _OFFSET_BITS) | offset
            offset += DIGEST_BYTES + _LENGTH.size + len(encoded)
            if offset > _OFFSET_MASK:
                raise ReplicaFileError("a file over 1 TB")
        handle.seek(0)
        handle.write(_HEAD.pack(MAGIC, bits, 0, entries).ljust(HEADER, b"\0"))
        if sys.byteorder != "little":
            slots.byteswap()  # the file is little-endian
        handle.write(slots.tobytes())
    return entries


class ReplicaFile:
    """A replica file, read with pread: the page cache holds it once for every process, and the
    kernel copies the two small pieces a lookup needs. (Mapping the file costs more: a lookup
    then touches two pages of a large mapping in each process, and on virtual machines with
    nested paging each such TLB miss costs more than a system call.)"""

    READ = 1024  # one read gets most records whole

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            size = os.fstat(self.fd).st_size
            head = os.pread(self.fd, _HEAD.size, 0)
            if size < HEADER or len(head) < _HEAD.size:
                raise ReplicaFileError(f"{path}: too short")
            magic, bits, _reserved, self.entries = _HEAD.unpack(head)
            if magic != MAGIC or not 10 <= bits <= _OFFSET_BITS:
                raise ReplicaFileError(f"{path}: not a replica file")
            if size < HEADER + 8 * (1 << bits):
                raise ReplicaFileError(f"{path}: truncated")
        except BaseException:
            os.close(self.fd)
            raise
        self.mask = (1 << bits) - 1

    def get(self, digest: str) -> str | None:
        head, fingerprint = _split(digest)
        mask, fd = self.mask, self.fd
        index = head & mask
        key = None
        while True:
            (slot,) = _SLOT.unpack(os.pread(fd, 8, HEADER + 8 * index))
            if not slot:
                return None
            if slot >> _OFFSET_BITS == fingerprint:
                at = slot & _OFFSET_MASK
                if key is None:
                    key = bytes.fromhex(digest)
                record = os.pread(fd, self.READ, at)
                if record[:DIGEST_BYTES] == key:
                    (length,) = _LENGTH.unpack_from(record, DIGEST_BYTES)
                    end = DIGEST_BYTES + _LENGTH.size + length
                    if end > len(record):
                        record = os.pread(fd, end, at)
                    return record[DIGEST_BYTES + _LENGTH.size : end].decode()
            index = (index + 1) & mask

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    # Dropped by a replica once no longer live: closed when no reader holds it any more.
    __del__ = close
