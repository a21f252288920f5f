"""A seeded differential fuzzer: random programs of 3-8 ops run in lamina and in PyTorch, each in its
own crash-isolated worker process, and every disagreement is written as a replayable case.

    python -m tests.fuzz run --seed 0 --programs 2000     (or --seconds 120; --out fuzz-cases/)
    python -m tests.fuzz replay fuzz-cases/CASE.json

Files: generate.py (leaves and programs), values.py (random tensor contents), args.py (random op arguments), ops.py (the op table),
worker.py (runs programs inside a worker), supervisor.py (starts, feeds and restarts workers),
compare.py (lamina trace against torch trace), cases.py (case files, allowlist), campaign.py (the
run loop and its summary), __main__.py (the command line), test_differential.py (the pytest entry).
"""
