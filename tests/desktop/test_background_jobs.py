"""The window's one background-job helper: work runs off the GUI thread, results and errors come
back on it, a newer job supersedes (cancels, silences) an older one, and wait() ends them all."""
import threading

from distill_desktop.bridge.background import BackgroundJobs, all_jobs_ended
from distill_engine.errors import CorpusError


def test_results_progress_and_errors_arrive_on_the_gui_thread(qtbot):
    gui, seen = threading.get_ident(), []

    def work(job, value):
        job.report(threading.get_ident() != gui)
        if value == "bad":
            raise CorpusError("no usable audio in /nowhere; choose a folder with sounds")
        return value, threading.get_ident() != gui

    jobs, failing = BackgroundJobs(), BackgroundJobs()
    jobs.start(work, 7, on_result=lambda r: seen.append(("result", r, threading.get_ident() == gui)),
               on_progress=lambda p: seen.append(("progress", p, threading.get_ident() == gui)))
    failing.start(work, "bad", on_error=lambda exc, details: seen.append(
        ("error", type(exc).__name__, "CorpusError" in details, threading.get_ident() == gui)))
    qtbot.waitUntil(lambda: len(seen) == 3)
    assert sorted(seen, key=str) == sorted([("progress", True, True), ("result", (7, True), True),
                                            ("error", "CorpusError", True, True)], key=str)
    assert not jobs.is_running() and not failing.is_running()


def test_a_newer_job_cancels_and_silences_the_older_one(qtbot):
    release, results = threading.Event(), []

    def slow(job):
        release.wait(10)
        return "old" if not job.cancelled else "cancelled"

    def waits_for_cancel(job):
        return "stopped early" if job.sleep(10) else "slept"

    jobs = BackgroundJobs()
    first = jobs.start(slow, on_result=results.append)
    second = jobs.start(waits_for_cancel, on_result=results.append)
    assert first.cancelled and not second.cancelled and jobs.current is second
    release.set()
    jobs.cancel()                        # second: its sleep returns at once
    assert jobs.wait(10) and first.done and second.done
    qtbot.waitUntil(lambda: first.delivered and second.delivered)   # all they sent has arrived
    assert results == [] and all_jobs_ended(5_000)


def test_waiting_inside_the_running_event_loop_on_a_job_just_started_does_not_hang(qtbot):
    """Closing the window while its loop runs: a runs listing started a moment before (when the
    run stopped) is queued by superqt on a timer that cannot fire while wait() blocks the loop."""
    from PySide6.QtCore import QEventLoop, QTimer

    ran, outcome = [], []
    loop = QEventLoop()

    def close_window_now():
        jobs = BackgroundJobs()
        jobs.start(lambda job: ran.append("listed"))
        outcome.append(jobs.wait(timeout_s=20))   # deadlocked before: False after 20 s
        loop.quit()
    QTimer.singleShot(0, close_window_now)
    loop.exec()
    assert outcome == [True]
    assert all_jobs_ended(10_000) and ran == []   # the cancelled job returned at once when it started
