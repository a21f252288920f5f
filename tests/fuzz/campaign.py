"""The run loop: generate programs from a seed, run each in both workers, judge, write case files,
and count everything for the summary."""

import time
from collections import Counter
from dataclasses import dataclass, field

from . import cases
from .compare import Finding, compare_traces
from .generate import generate_program, leaf_data, program_seed
from .supervisor import Workers

CASES_PER_KIND = 5  # case files kept per (op, kind); the summary still counts all of them


@dataclass
class Summary:
    programs: int = 0
    torch: bool = False
    crashes: Counter = field(default_factory=Counter)  # by op; includes sanitizer reports
    hangs: Counter = field(default_factory=Counter)
    disagreements: Counter = field(default_factory=Counter)  # by "op kind"
    unsupported: Counter = field(default_factory=Counter)
    allowed: Counter = field(default_factory=Counter)
    open_bugs: Counter = field(default_factory=Counter)  # matched open_bugs.txt: known, not fixed yet
    torch_failures: int = 0  # torch itself crashed or hung: the program is skipped
    failures: list = field(default_factory=list)  # (Finding, case path): what fails the test

    def text(self):
        lines = [f"programs run: {self.programs}" + ("" if self.torch else " (lamina only: torch absent)"),
                 f"crashes: {sum(self.crashes.values())}  hangs: {sum(self.hangs.values())}  "
                 f"disagreements: {sum(self.disagreements.values())}  "
                 f"unsupported: {sum(self.unsupported.values())}  allowlisted: {sum(self.allowed.values())}  "
                 f"open bugs: {sum(self.open_bugs.values())}  "
                 f"torch crashed/hung: {self.torch_failures}"]
        for title, counter in (("crashes by op", self.crashes), ("hangs by op", self.hangs),
                               ("disagreements by op", self.disagreements),
                               ("unsupported by op", self.unsupported), ("allowlisted", self.allowed),
                               ("open bugs (open_bugs.txt)", self.open_bugs)):
            if counter:
                lines.append(f"{title}:")
                lines += [f"  {n:5d}  {key}" for key, n in counter.most_common()]
        if self.failures:
            lines.append("cases:")
            lines += [f"  {path}  {f.key()[:160]}" for f, path in self.failures if path]
        return "\n".join(lines)


def report_excerpt(stderr):
    """The start of a sanitizer report (what went wrong and where), else the tail of stderr."""
    for marker in ("ERROR: AddressSanitizer", "runtime error:"):
        at = stderr.find(marker)
        if at >= 0:
            start = stderr.rfind("\n", 0, at) + 1
            return stderr[start:start + 4000]
    return stderr[-4000:]


def judge(program, lam, ref):
    """The finding of one program (None when fine), from the two workers' Results."""
    if lam.status != "ok":
        detail = f"exit {lam.returncode}" if lam.status == "crash" else lam.status
        return Finding(-2, lam.op or "?", lam.status, detail)
    if ref is None or ref.status != "ok":
        return None
    return compare_traces(program, lam.trace, ref.trace)


def run(seed=0, programs=None, seconds=None, out="fuzz-cases", timeout=10.0, use_torch=True, log=None):
    summary, written = Summary(), Counter()
    allowlist, open_bugs = cases.load_allowlist(), cases.load_allowlist(cases.OPEN_BUGS)
    start = time.monotonic()
    with Workers(timeout, use_torch) as workers:
        summary.torch = workers.torch is not None
        while (programs is None or summary.programs < programs) and (
                seconds is None or time.monotonic() - start < seconds):
            pseed = program_seed(seed, summary.programs)
            program = generate_program(pseed)
            arrays = [leaf_data(spec) for spec in program["leaves"]]
            lam, ref = workers.run(program, arrays)
            summary.programs += 1
            if ref is not None and ref.status != "ok":
                summary.torch_failures += 1
            finding = judge(program, lam, ref)
            if finding is None:
                continue
            key = f"{finding.op} {finding.kind}"
            if finding.kind == "unsupported":
                summary.unsupported[f"{finding.op}: {finding.detail[:100]}"] += 1
                continue
            crashed = finding.kind in ("crash", "sanitizer", "hang")  # never explained away by a list
            if not crashed and cases.allowed(finding, allowlist):
                summary.allowed[key] += 1
                continue
            if not crashed and cases.allowed(finding, open_bugs):
                summary.open_bugs[key] += 1
                continue
            counter = {"crash": summary.crashes, "sanitizer": summary.crashes, "hang": summary.hangs}
            counter.get(finding.kind, summary.disagreements)[key] += 1
            path = None
            if written[key] < CASES_PER_KIND:
                written[key] += 1
                report = {"seed": pseed, "step": finding.step, "op": finding.op, "kind": finding.kind,
                          "detail": finding.detail, "stderr": report_excerpt(lam.stderr)}
                path = cases.write_case(out, f"{finding.kind}-{finding.op}-{pseed}", program, arrays, report)
            summary.failures.append((finding, path))
            if log:
                log(f"[{summary.programs}] {finding.key()[:200]}")
    return summary
