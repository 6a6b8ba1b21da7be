"""The hash chain of the audit log, with no Django import so a verifier can reuse it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(previous_hash: str, content: Mapping[str, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(previous_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical(content).encode("utf-8"))
    return digest.hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    sequence: int
    reason: str


def find_first_break(
    entries: Iterable[tuple[int, str, str, Mapping[str, Any]]],
) -> ChainBreak | None:
    """Walk (sequence, previous_hash, entry_hash, content) in order; return the first bad entry."""
    expected_previous = GENESIS_HASH
    expected_sequence = None
    for sequence, previous_hash, stored_hash, content in entries:
        if expected_sequence is not None and sequence != expected_sequence:
            return ChainBreak(expected_sequence, f"entry {expected_sequence} is missing")
        if previous_hash != expected_previous:
            return ChainBreak(sequence, "does not link to the entry before it")
        if entry_hash(previous_hash, content) != stored_hash:
            return ChainBreak(sequence, "its content does not match its hash")
        expected_previous = stored_hash
        expected_sequence = sequence + 1
    return None
