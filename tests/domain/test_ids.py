"""The run's id factory: one seed repeats every id, each kind of id has its own stream."""

from __future__ import annotations

import re
import uuid

from emulator.domain.ids import Ids

NOW = 1_790_000_000.0
ULID = "[0-9abcdefghjkmnpqrstvwxyz]{26}"


def _draw(ids: Ids) -> list[str]:
    """A mixed sequence of every kind of id."""
    return [
        ids.job(NOW),
        ids.request("images"),
        ids.task(NOW + 1),
        ids.request("queue"),
        ids.file(NOW + 2),
        ids.request("aa"),
        ids.job(NOW + 3),
        ids.request("images"),
    ]


def test_each_kind_keeps_its_form() -> None:
    ids = Ids(0)
    assert re.fullmatch("mmsu_" + ULID, ids.job(NOW))
    assert re.fullmatch("task_" + ULID, ids.task(NOW))
    assert re.fullmatch("file-" + ULID, ids.file(NOW))
    assert re.fullmatch("req_[0-9a-f]{32}", ids.request("images"))
    assert re.fullmatch("req_[0-9a-f]{32}", ids.request("aa"))
    queue = ids.request("queue")
    assert str(uuid.UUID(queue)) == queue
    assert uuid.UUID(queue).version == 4
    assert uuid.UUID(queue).variant == uuid.RFC_4122


def test_a_ulid_starts_with_the_clock_time() -> None:
    # 48 bits of milliseconds: ten base32 digits, the same for the same instant.
    ids = Ids(0)
    first, second = ids.job(NOW), ids.job(NOW)
    assert first[5:15] == second[5:15]
    assert first != second
    assert ids.job(NOW + 1)[5:15] > first[5:15]


def test_the_same_seed_repeats_every_id_and_another_seed_does_not() -> None:
    assert _draw(Ids(7)) == _draw(Ids(7))
    other = _draw(Ids(8))
    assert not set(other) & set(_draw(Ids(7)))


def test_one_kind_does_not_shift_another() -> None:
    quiet, busy = Ids(3), Ids(3)
    for _ in range(5):
        busy.request("queue")
        busy.request("images")
        busy.task(NOW)
    assert [quiet.job(NOW) for _ in range(3)] == [busy.job(NOW) for _ in range(3)]
    assert quiet.request("aa") == busy.request("aa")
    assert quiet.file(NOW) == busy.file(NOW)


def test_a_node_gives_a_process_streams_of_its_own() -> None:
    lone, first, second = _draw(Ids(5)), _draw(Ids(5, node="w1")), _draw(Ids(5, node="w2"))
    assert first == _draw(Ids(5, node="w1"))
    assert not set(first) & set(second)
    assert not set(lone) & set(first)
