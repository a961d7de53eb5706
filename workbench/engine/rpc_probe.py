"""Ask a worker what it serves, in a process of its own: ``python -m workbench.engine.rpc_probe
HOST:PORT`` prints one JSON line (devices, free and total memory, round-trip time).

llama.cpp's RPC client ends its process on a refused connection, another protocol version or
a worker that goes away, so the asking is done here and the caller
(:func:`workbench.workers.check_worker`) reads this process's exit and llama.cpp's last line.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from workbench.engine import rpc

#: Round trips timed (device-memory requests; the median is reported).
ROUND_TRIPS = 5


def probe(address: str) -> dict[str, object]:
    devices = rpc.add_worker(address)  # the handshake: ends this process if it fails
    times = []
    for _ in range(ROUND_TRIPS):
        started = time.perf_counter()
        rpc.device_memory(address, 0)
        times.append((time.perf_counter() - started) * 1000)
    return {
        "devices": [{"index": i, "free": d.free, "total": d.total}
                    for i, (_, d) in enumerate(devices)],
        "rtt_ms": statistics.median(times) if times else None,
        "protocol": rpc.protocol_version(),
    }


def main(argv: list[str]) -> int:
    if not rpc.available():
        print(json.dumps({"error": rpc.missing_line()}), flush=True)
        return 2
    print(json.dumps(probe(argv[0])), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
