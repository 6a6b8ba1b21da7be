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
@given(
    items=st.lists(st.tuples(digests, values), max_size=300),
    probes=st.lists(digests),
    bucket=st.sampled_from([128, 512, 4096]),
)
def test_every_digest_finds_its_last_value_and_no_other_digest_finds_anything(
    tmp_path_factory, items, probes, bucket
):
    path = tmp_path_factory.mktemp("replica") / "p.replica"
    expected = dict(items)
    assert write(path, items, bucket) == len(expected)
    opened = ReplicaFile(path)
    try:
        for digest, value in expected.items():
            assert opened.get(digest) == value
        for digest in probes:
            assert opened.get(digest) == expected.get(digest)
    finally:
        opened.close()


def test_full_buckets_and_large_values_are_still_found(tmp_path):
    # 128-byte buckets hold 3 entries at most: most overflow; values over 62 bytes go after them.
    keys = [hashlib.sha1(str(i).encode()).hexdigest() for i in range(3000)]  # noqa: S324
    items = [(k, k[: i % 40] * (1 + i % 7)) for i, k in enumerate(keys)]
    write(tmp_path / "p.replica", items, 128)
    opened = ReplicaFile(tmp_path / "p.replica")
    data = (tmp_path / "p.replica").read_bytes()
    flags = [data[HEADER + 128 * i + 2] for i in range(opened.buckets)]
    assert sum(flags) > 100  # many buckets sent entries on to the next one
    assert all(opened.get(k) == v for k, v in items)
    assert opened.get("ff" * 20) is None
    opened.close()


def test_a_digest_spanning_two_entries_is_not_an_entry(tmp_path):
    # The directory holds [digest, offset, length] rows: bytes across two rows never count.
    first, second = "ab" * 20, "cd" * 20
    write(tmp_path / "p.replica", [(first, "x"), (second, "y")])
    opened = ReplicaFile(tmp_path / "p.replica")
    directory = (tmp_path / "p.replica").read_bytes()[HEADER + 4 : HEADER + 4 + 2 * 28]
    # 20 bytes that stand in the directory but start no row: the end of the first row (its
    # digest's tail, its offset and length) and the start of the second row's digest.
    straddling = directory[16:36]
    assert straddling in directory and directory.index(straddling) % 28
    assert (opened.get(first), opened.get(second), opened.get(straddling.hex())) == (
        "x",
        "y",
        None,
    )
    opened.close()


def test_a_damaged_or_foreign_file_is_refused(tmp_path):
    write(tmp_path / "p.replica", [("aa" * 20, "x")])
    data = (tmp_path / "p.replica").read_bytes()
    (tmp_path / "short").write_bytes(data[:10])
    (tmp_path / "foreign").write_bytes(b"SQLite format 3\0" + data[16:])
    (tmp_path / "truncated").write_bytes(data[: HEADER + 16])
    for name in ("short", "foreign", "truncated"):
        with pytest.raises(ReplicaFileError):
            ReplicaFile(tmp_path / name)
