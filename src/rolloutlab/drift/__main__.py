"""`python -m rolloutlab.drift`: the drift monitor process a target starts beside the model servers.

    python -m rolloutlab.drift --port P --state-dir DIR --log v1=PATH [--log v2=PATH ...]

Serves /metrics at once (rolloutlab_drift_ready 0), loads each version's model from the store,
calibrates its thresholds on the held-out rows (cached in DIR by the version's content tag), then tails
the logs until SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

# One BLAS thread: the monitor shares two cores with the servers it watches (and 8 threads each
# fighting for them made every window ten times slower).
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

from rolloutlab.drift.component import DEFAULT_EVALUATIONS_PER_HOUR, build_windows  # noqa: E402
from rolloutlab.drift.monitor import Exporter, run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rolloutlab.drift")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--log", action="append", default=[], help="VERSION=PATH of a prediction log")
    parser.add_argument("--evaluations-per-hour", type=float, default=DEFAULT_EVALUATIONS_PER_HOUR)
    args = parser.parse_args(argv)
    logs = {}
    for item in args.log:
        version, sep, path = item.partition("=")
        if not sep:
            parser.error(f"--log {item!r}: expected VERSION=PATH")
        logs[version] = Path(path)
    exporter = Exporter(args.port)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    windows = build_windows(list(logs), args.state_dir, args.evaluations_per_hour, exporter)
    # Only now: a SIGTERM during calibration ends the process at once (nothing to finish).
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    with open(args.state_dir / "explanations.jsonl", "a", encoding="utf-8") as explain:
        run(windows, logs, exporter, explain, should_stop=lambda: bool(stopping))
    exporter.server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
