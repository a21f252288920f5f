"""A fixed, seeded budget of the differential fuzzer (see tests/fuzz/__init__.py): no crash, hang,
sanitizer report, or disagreement with torch that the allowlist does not explain. Without torch it
still runs every program in lamina and checks for crashes and hangs. Each failure leaves a case file;
replay one with `python -m tests.fuzz replay PATH`."""

from . import campaign

SEED, PROGRAMS = 20240, 400  # about 5 s on 2 cores without sanitizers


def test_differential_fuzz(tmp_path):
    summary = campaign.run(SEED, PROGRAMS, out=tmp_path, timeout=30.0)
    assert summary.programs == PROGRAMS
    assert not summary.failures, summary.text()
