"""Run the fault suite (tests/faults and tests/desktop/test_faults_*.py) and print its totals in
the classes of issue 11: cases, clean errors or right behaviour, and the cases still ending in a
traceback or crash, an unclear message or wrong result, lost data, or code run from a file.

Each case is a test marked `@pytest.mark.fault(kind)` with kind the class its fault was in before
the fix (data_loss, traceback, unclear, code_execution); a passing case is a clean error / right
behaviour, a failing one still counts in its class.

    .venv/bin/python benchmarks/fault_suite_tally.py            # this checkout
    .venv/bin/python benchmarks/fault_suite_tally.py --against 3204fd0
        # the same cases run against the code of another commit (a temporary git worktree with
        # this checkout's fault tests copied in): the figures before the fixes
"""
from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUITE = ["tests/faults", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "desktop").glob("test_faults_*.py"))]
KINDS = {"traceback": "tracebacks or crashes", "unclear": "unclear messages or wrong results",
         "data_loss": "data-loss cases", "code_execution": "code-execution cases"}


class Tally:
    """A pytest plugin that records each fault case's kind and outcome."""

    def __init__(self):
        self.cases: dict[str, tuple[str, bool | None]] = {}  # nodeid: (kind, passed; None skipped)

    def pytest_runtest_logreport(self, report):
        kind = next((m.args[0] for m in getattr(report, "fault_marks", [])), None)
        if kind is None:
            return
        before = self.cases.get(report.nodeid, (kind, True))[1]
        if report.skipped:
            self.cases[report.nodeid] = (kind, None)
        elif report.failed:   # in setup, the test itself or teardown
            self.cases[report.nodeid] = (kind, False)
        elif report.when == "call":
            self.cases[report.nodeid] = (kind, before is not False)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        outcome.get_result().fault_marks = list(item.iter_markers("fault"))


def run(folder: Path, extra: list[str]) -> Tally:
    tally = Tally()
    cwd = os.getcwd()
    os.chdir(folder)
    sys.path.insert(0, str(folder))
    try:
        code = pytest.main(["-q", "-p", "no:cacheprovider", *SUITE, *extra], plugins=[tally])
    finally:
        os.chdir(cwd)
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raise SystemExit(f"pytest could not run the fault suite ({code!r}); no figures")
    return tally


def report(tally: Tally, title: str) -> None:
    ran = {k: v for k, v in tally.cases.items() if v[1] is not None}
    failing = collections.Counter(kind for kind, ok in ran.values() if not ok)
    print(f"\n{title}")
    print(f"  cases                              {len(ran):4d}   (skipped here: "
          f"{len(tally.cases) - len(ran)})")
    print(f"  clean errors / right behaviour     {sum(ok for _, ok in ran.values()):4d}")
    for kind, words in KINDS.items():
        print(f"  {words:34s} {failing.get(kind, 0):4d}")
    for kind, words in KINDS.items():
        cases = [k for k, (c, _) in ran.items() if c == kind]
        print(f"    ({len(cases)} cases guard against {words})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", metavar="COMMIT", help="run the cases against this commit's code")
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest (e.g. -k kill)")
    args = parser.parse_args()
    if args.against is None:
        report(run(ROOT, args.pytest_args), f"Fault suite on {ROOT}")
        return
    folder = Path(tempfile.mkdtemp(prefix="fault-suite-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), args.against],
                   check=True, capture_output=True)
    try:
        # this checkout's cases and the helpers they use; the old tree's other conftests stay
        shutil.rmtree(folder / "tests" / "faults", ignore_errors=True)
        shutil.copytree(ROOT / "tests" / "faults", folder / "tests" / "faults")
        for name in ("support.py", "conftest.py", *[s[len("tests/"):] for s in SUITE if s.endswith(".py")]):
            shutil.copy(ROOT / "tests" / name, folder / "tests" / name)
        report(run(folder, args.pytest_args), f"Fault suite against {args.against}")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)],
                       capture_output=True)


if __name__ == "__main__":
    main()
