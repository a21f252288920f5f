"""Case files (one JSON per finding, replayable on its own) and the allowlist of known deviations."""

import fnmatch
import json
from pathlib import Path

import numpy as np

ALLOWLIST = Path(__file__).with_name("allowlist.txt")  # deviations kept on purpose
OPEN_BUGS = Path(__file__).with_name("open_bugs.txt")  # lamina bugs found and not fixed yet


def load_allowlist(path=ALLOWLIST):
    """Lines 'PATTERN | reason'; PATTERN is an fnmatch pattern over Finding.key() (OPEN_BUGS too)."""
    entries = []
    for line in Path(path).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            pattern, _, reason = line.partition(" | ")
            entries.append((pattern.strip(), reason.strip()))
    return entries


def allowed(finding, allowlist):
    """The reason a finding is a known deviation, or None."""
    key = finding.key()
    return next((reason for pattern, reason in allowlist if fnmatch.fnmatchcase(key, pattern)), None)


def encode_array(a):
    return {"dtype": str(a.dtype), "shape": list(a.shape), "data": a.tolist()}


def decode_array(d):
    return np.array(d["data"], dtype=d["dtype"]).reshape(d["shape"])


def write_case(folder, name, program, arrays, report):
    """report: what was found (kind, op, detail, stderr tail, ...). Returns the path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    case = {"report": report, "program": program, "leaf_data": [encode_array(a) for a in arrays],
            "replay": f"python -m tests.fuzz replay {path}"}
    path.write_text(json.dumps(case, indent=1, default=repr))
    return path


def read_case(path):
    """(program, leaf arrays, report) from a case file."""
    case = json.loads(Path(path).read_text())
    return case["program"], [decode_array(d) for d in case["leaf_data"]], case.get("report", {})
