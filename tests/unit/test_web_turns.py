"""Reads of the web app take turns (web/turns.py): a few at once, the rest strictly in the order
they came, a read inside a read never waits for itself, and one that waited its longest gives
up its place (Busy) without holding up those behind it."""

import threading
import time

import pytest

from okr.web.turns import Busy, Turns
from tests.support.turns import one_holding


def queue_up(turns: Turns, n: int, entered: list[int], inside: threading.Event | None = None
             ) -> list[threading.Thread]:
    """Start n threads one after another, each only once the one before waits in the line."""
    threads = []
    for i in range(n):
        def take(i: int = i) -> None:
            with turns.turn():
                entered.append(i)
                if inside is not None:
                    inside.wait()
        before = turns.waiting()
        t = threading.Thread(target=take, daemon=True)
        t.start()
        while turns.waiting() == before:  # it is in the line: the next one comes after it
            time.sleep(0.001)
        threads.append(t)
    return threads


def test_waiting_reads_go_in_in_the_order_they_came() -> None:
    turns = Turns(1, longest_wait=60)
    entered: list[int] = []
    with one_holding(turns):
        threads = queue_up(turns, 12, entered)
    for x in threads:
        x.join(10)
    assert entered == list(range(12))


def test_no_more_than_size_at_once_and_all_get_in() -> None:
    turns = Turns(2, longest_wait=60)
    lock = threading.Lock()
    now = [0]
    most = [0]

    def read() -> None:
        with turns.turn():
            with lock:
                now[0] += 1
                most[0] = max(most[0], now[0])
            time.sleep(0.002)
            with lock:
                now[0] -= 1

    threads = [threading.Thread(target=read) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    # At most two at once; exactly two is up to the scheduler (a busy machine may run each
    # read to its end before the next thread starts), so it is not asserted.
    assert 1 <= most[0] <= 2 and now[0] == 0 and turns.waiting() == 0


def test_a_read_inside_a_read_does_not_wait_for_itself() -> None:
    turns = Turns(1, longest_wait=60)
    with turns.turn(), turns.turn():
        pass
    with turns.turn():  # given back whole
        assert turns.waiting() == 0


@pytest.mark.real_clock
def test_a_read_that_waited_its_longest_is_busy_and_leaves_the_line() -> None:
    turns = Turns(1, longest_wait=0.05)
    entered: list[int] = []
    with one_holding(turns):
        with pytest.raises(Busy, match="busy"), turns.turn():
            pass
        assert turns.waiting() == 0
        turns.longest_wait = 60
        behind = queue_up(turns, 2, entered)
    for x in behind:
        x.join(10)
    assert entered == [0, 1]  # the one that gave up holds nobody up
