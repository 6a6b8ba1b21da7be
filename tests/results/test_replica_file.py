"""The replica's file format (results.replica_file): what goes in comes out, nothing else does."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from results.replica_file import HEADER, ReplicaFile, ReplicaFileError, write

digests = st.binary(min_size=20, max_size=20).map(bytes.hex)
values = st.text(min_size=0, max_size=300)


@settings(max_examples=60, deadline=None)
@given(items=st.lists(st.tuples(digests, values), max_size=300), probes=st.lists(digests))
def test_every_digest_finds_its_last_value_and_no_other_digest_finds_anything(
    tmp_path_factory, items, probes
):
    path = tmp_path_factory.mktemp("replica") / "p.replica"
    expected = dict(items)
    assert write(path, items, capacity=len(items)) == len(expected)
    mapped = ReplicaFile(path)
    try:
        for digest, value in expected.items():
            assert mapped.get(digest) == value
        for digest in probes:
            assert mapped.get(digest) == expected.get(digest)
    finally:
        mapped.close()


def test_digests_sharing_a_slot_and_a_fingerprint_are_told_apart(tmp_path):
    # Same first 64 bits (slot and fingerprint), different ends: only the full compare differs.
    first = "ab" * 8 + "00" * 12
    second = "ab" * 8 + "11" * 12
    write(tmp_path / "p.replica", [(first, "one"), (second, "two")], capacity=2)
    mapped = ReplicaFile(tmp_path / "p.replica")
    assert (mapped.get(first), mapped.get(second), mapped.get("ab" * 8 + "22" * 12)) == (
        "one",
        "two",
        None,
    )
    mapped.close()


def test_a_table_filled_to_its_capacity_still_answers(tmp_path):
    keys = [hashlib.sha1(str(i).encode()).hexdigest() for i in range(5000)]  # noqa: S324
    write(tmp_path / "p.replica", ((k, k[:7]) for k in keys), capacity=5000)
    mapped = ReplicaFile(tmp_path / "p.replica")
    assert all(mapped.get(k) == k[:7] for k in keys)
    mapped.close()


def test_more_entries_than_announced_are_refused(tmp_path):
    items = [(f"{i:040x}", "x") for i in range(3)]
    with pytest.raises(ReplicaFileError, match="more than the 2"):
        write(tmp_path / "p.replica", items, capacity=2)


def test_a_damaged_or_foreign_file_is_refused(tmp_path):
    write(tmp_path / "p.replica", [("aa" * 20, "x")], capacity=1)
    data = (tmp_path / "p.replica").read_bytes()
    (tmp_path / "short").write_bytes(data[:100])
    (tmp_path / "foreign").write_bytes(b"SQLite format 3\0" + data[16:])
    (tmp_path / "truncated").write_bytes(data[: HEADER + 16])
    for name in ("short", "foreign", "truncated"):
        with pytest.raises(ReplicaFileError):
            ReplicaFile(tmp_path / name)
