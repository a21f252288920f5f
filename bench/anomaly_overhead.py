"""Cost of lamina.autograd.detect_anomaly on the training steps of train_steps.py: median step time
with the mode off and on, interleaved in one process (the mode checks every op's outputs and every
backward node's gradients for NaN/Inf). Target: under 10%, so it can stay on.

    PYTHONPATH=python python bench/anomaly_overhead.py [--threads 1 2] [--reps 15]
"""

import argparse
import os
import sys

import lamina

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_torch import interleaved  # noqa: E402
from train_steps import MODELS, make_training_step  # noqa: E402


def with_anomaly(step):
    def run():
        lamina.autograd.set_detect_anomaly(True)
        try:
            step()
        finally:
            lamina.autograd.set_detect_anomaly(False)
    return run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    print("median ms per training step, detect_anomaly off / on")
    for threads in args.threads:
        lamina.set_num_threads(threads)
        for name in MODELS:
            step = make_training_step(lamina, name)
            off, on = interleaved([step, with_anomaly(step)], args.reps, 3)
            print(f"threads={threads} {name:8s} off {off * 1e3:8.3f}  on {on * 1e3:8.3f}  overhead {100 * (on / off - 1):+6.1f}%")


if __name__ == "__main__":
    main()
