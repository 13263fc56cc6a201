"""Snapshot-style baseline refresh: ``--clipbias-update NAME`` (as syrupy's ``--snapshot-update``).

A saved run is a set of entries, one per (test id, model, measure). An update
replaces the entries of the tests that ran in this session (those selected
by paths, ``-k`` or ``-m`` whose body ran: passed or failed) with what they
recorded now, and keeps every other entry as it was: a skipped test, a test
whose fixture errored, a test deselected with ``-k`` or a file not collected
keeps its entries.

An entry is **unused** when no collected test produces it any more:

- its test ran in this session but did not record that model and measure;
- its test file was collected but the test id is not among the collected
  items (the test was renamed or deleted; ``-k`` deselection still counts as
  collected);
- its test file no longer exists under the rootdir.

Unused entries are listed, and kept unless ``--clipbias-update-drop-unused``
is given. Entries of files that were not collected are never judged unused
(a run of ``pytest tests/a.py`` says nothing about ``tests/b.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .baseline import BaselineError, Storage

RAN = frozenset({"passed", "failed", "xfailed", "xpassed"})

Key = tuple[str, str, str]


def entry_key(rec: Mapping[str, Any]) -> Key:
    """(test id, model name or encoder type, measure) of one record."""
    model = rec.get("model") or {}
    return (rec["test"], str(model.get("name") or model.get("type") or ""),
            rec["result"]["name"])


def _file(node_id: str) -> str:
    return node_id.split("::", 1)[0]


@dataclass
class Update:
    """What a refresh did: the merged document and the entries by fate."""

    document: dict[str, Any]
    replaced: list[Key] = field(default_factory=list)  # in the old baseline, recorded again
    added: list[Key] = field(default_factory=list)  # new in this run
    kept: list[Key] = field(default_factory=list)  # their test did not run: left as they were
    unused: list[Key] = field(default_factory=list)  # no collected test produces them
    dropped: bool = False

    def lines(self, name: str) -> list[str]:
        """Summary lines: counts, then each unused entry."""
        fate = "dropped" if self.dropped else "kept; --clipbias-update-drop-unused removes them"
        out = [f"clipbias update {name}: {len(self.replaced)} replaced, {len(self.added)} "
               f"added, {len(self.kept)} kept (their tests did not run), {len(self.unused)} "
               f"unused ({fate})" if self.unused else
               f"clipbias update {name}: {len(self.replaced)} replaced, {len(self.added)} "
               f"added, {len(self.kept)} kept (their tests did not run), 0 unused"]
        out += [f"  unused: {test} ({model or 'no model'}) {measure}"
                for test, model, measure in self.unused]
        return out


def _unused(key: Key, ran: set[str], collected: set[str], files: set[str],
            rootdir: Path) -> bool:
    test = key[0]
    if test in ran:
        return True  # the test ran and did not record this entry
    if _file(test) in files:
        return test not in collected
    return not (rootdir / _file(test)).exists()


def merge(baseline: Mapping[str, Any] | None, current: Mapping[str, Any], *,
          collected: Iterable[str], rootdir: Path, drop_unused: bool = False) -> Update:
    """The refreshed baseline: ``current``'s records for the tests that ran, the rest kept.

    ``collected`` are the node ids collected in this session, before ``-k``/``-m``
    deselection; ``current`` is this run's results document.
    """
    ran = {t["test"] for t in current.get("tests", []) if t.get("outcome") in RAN}
    ran |= {r["test"] for r in current.get("records", [])}
    collected = set(collected) | ran
    files = {_file(t) for t in collected}
    now = {entry_key(r): r for r in current.get("records", [])}
    old = list((baseline or {}).get("records", []))
    out = Update(document={})
    records: list[Mapping[str, Any]] = []
    for rec in old:
        key = entry_key(rec)
        if key in now:
            out.replaced.append(key)
        elif _unused(key, ran, collected, files, rootdir):
            out.unused.append(key)
            if not drop_unused:
                records.append(rec)
        else:
            out.kept.append(key)
            records.append(rec)
    old_keys = {entry_key(r) for r in old}
    out.added = [k for k in now if k not in old_keys]
    records += list(now.values())
    out.dropped = drop_unused and bool(out.unused)
    out.document = _document(baseline, current, records, ran)
    return out


def _document(baseline: Mapping[str, Any] | None, current: Mapping[str, Any],
              records: Sequence[Mapping[str, Any]], ran: set[str]) -> dict[str, Any]:
    """This run's metadata, the models of both runs, the merged tests and records."""
    base = baseline or {}
    tests = [t for t in base.get("tests", []) if t["test"] not in ran]
    tests += [t for t in current.get("tests", []) if t["test"] in ran]
    models = {m.get("name"): m for m in base.get("run", {}).get("models", [])}
    models.update({m.get("name"): m for m in current.get("run", {}).get("models", [])})
    run = {**current.get("run", {}), "models": list(models.values())}
    return {**current, "run": run, "tests": tests, "records": list(records)}


def update_baseline(storage: Storage, name: str, current: Mapping[str, Any], *,
                    collected: Iterable[str], rootdir: Path, drop_unused: bool,
                    lines: list[str]) -> bool:
    """Refresh saved run ``name`` from this run (created when absent); True when it failed.

    A corrupt saved run is reported and left untouched, never overwritten.
    """
    path = storage.path / f"{name}.json"
    try:
        baseline = storage.load(str(path))[1] if path.exists() else None
        update = merge(baseline, current, collected=collected, rootdir=rootdir,
                       drop_unused=drop_unused)
        saved = storage.save(update.document, name)
    except (BaselineError, OSError, ValueError) as exc:
        lines.append(f"clipbias update {name}: FAILED: {exc}")
        return True
    lines.extend(update.lines(name))
    lines.append(f"clipbias results saved: {saved}")
    return False
