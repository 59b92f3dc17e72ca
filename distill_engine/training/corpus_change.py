"""What differs between the corpus a run was trained on (its stored corpus report) and the folder
it is pointed at when resumed after the corpus moved (`--resume RUN --corpus NEW_PATH`)."""
from __future__ import annotations

from pathlib import Path


def _used(report: dict | None) -> dict[str, float]:
    """{path relative to the corpus folder: duration} of the files a report says were used."""
    if not isinstance(report, dict):
        return {}
    folder = str(report.get("folder") or "")
    used = {}
    for entry in report.get("used") or []:
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            path = entry["path"]
            try:
                path = Path(path).relative_to(folder).as_posix() if folder else path
            except ValueError:
                pass
            used[path] = round(float(entry.get("duration_s") or 0.0), 3)
    return used


def describe_corpus_change(old_path: str, old_report: dict | None, new_report) -> str:
    """"" when the new folder holds the same files (names and durations) as the report; else a
    warning line (ending in a newline) saying how many were added, missing or changed."""
    before, after = _used(old_report), _used(new_report.to_dict())
    if old_report is None:
        return (f"Warning: the run's corpus moved from {old_path}; it has no corpus report to "
                f"compare the new folder with.\n")
    added = sorted(set(after) - set(before))
    missing = sorted(set(before) - set(after))
    changed = sorted(p for p in set(before) & set(after) if before[p] != after[p])
    if not (added or missing or changed):
        return ""
    parts = [f"{len(v)} file{'s' if len(v) > 1 else ''} {what} (e.g. {v[0]!r})" for v, what in
             ((added, "added"), (missing, "missing"), (changed, "of another length")) if v]
    return (f"Warning: the corpus at {new_report.folder} differs from the one this run was trained "
            f"on ({old_path}): {', '.join(parts)}.\n")
