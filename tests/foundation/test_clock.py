import datetime as dt
import threading

from django.utils import timezone

from core import clock

PAST = dt.datetime(2026, 1, 25, 6, tzinfo=dt.UTC)


def test_frozen_clock_nests_and_returns_to_real_time():
    with clock.frozen_at(PAST):
        assert clock.now() == PAST
        with clock.frozen_at(dt.date(2026, 3, 1)):
            assert clock.now() == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
            assert clock.today() == dt.date(2026, 3, 1)
        assert clock.now() == PAST
    assert abs((clock.now() - timezone.now()).total_seconds()) < 5


def test_threads_leaving_frozen_at_out_of_order_do_not_leave_the_clock_frozen():
    """Three billing runs in threads each froze the clock; interleaved exits used to restore a
    stale frozen time for the rest of the process (seen as 'future' timestamps in a later test)."""
    entered = [threading.Event() for _ in range(3)]
    leave = [threading.Event() for _ in range(3)]
    left = [threading.Event() for _ in range(3)]

    def run(i):
        with clock.frozen_at(PAST + dt.timedelta(hours=i)):
            entered[i].set()
            leave[i].wait(5)
        left[i].set()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for i, t in enumerate(threads):  # enter in order 0, 1, 2 ...
        t.start()
        assert entered[i].wait(5)
    for i in range(3):  # ... and leave in the same order (not last-in, first-out)
        leave[i].set()
        assert left[i].wait(5)
    for t in threads:
        t.join()
    assert abs((clock.now() - timezone.now()).total_seconds()) < 5


def test_worker_threads_see_a_clock_frozen_by_the_main_thread():
    seen = []
    with clock.frozen_at(PAST):
        t = threading.Thread(target=lambda: seen.append(clock.now()))
        t.start()
        t.join()
    assert seen == [PAST]
