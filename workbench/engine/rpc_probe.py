"""Ask a worker what it serves, in a process of its own: ``python -m workbench.engine.rpc_probe
HOST:PORT`` prints one JSON line (devices, free and total memory, round-trip time, and the
bandwidth to and from the worker).

What is not there: a device's name or type. llama.cpp's RPC protocol does not carry them: its
client names a worker's devices ``RPC0``, ``RPC1``..., describes each by the worker's address,
and reports every one as a GPU whatever the worker serves (``ggml-rpc.cpp``).

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
#: The first transfer, small so that a slow link answers quickly; it sizes the next ones.
GAUGE_BYTES = 64 * 1024
#: The transfers timed for the bandwidth: at most this large (under llama.cpp's 10 MiB
#: threshold above which a worker's ``--cache`` could answer by hash), about this long each,
#: and all of them within this time (the check as a whole stays within a few seconds).
MAX_BYTES = 8 * 1024 * 1024
TRANSFER_S = 0.2
BANDWIDTH_BUDGET_S = 1.5


def probe(address: str) -> dict[str, object]:
    devices = rpc.add_worker(address)  # the handshake: ends this process if it fails
    times = []
    for _ in range(ROUND_TRIPS):
        started = time.perf_counter()
        rpc.device_memory(address, 0)
        times.append((time.perf_counter() - started) * 1000)
    up, down = bandwidth(devices[0][0]) if devices else (None, None)
    return {
        "devices": [{"index": i, "free": d.free, "total": d.total}
                    for i, (_, d) in enumerate(devices)],
        "rtt_ms": statistics.median(times) if times else None,
        "protocol": rpc.protocol_version(),
        "upload": up, "download": down,
    }


def bandwidth(handle: int) -> tuple[float | None, float | None]:
    """Bytes per second to and from the worker's first device (one link serves all its
    devices): a small transfer first, then transfers sized to take about ``TRANSFER_S``
    each, the medians. A link too slow for more than the first gives the first's figure."""
    gauge = rpc.transfer_rate(handle, GAUGE_BYTES, budget_s=0.0, rounds=1)
    if gauge is None:
        return None, None
    size = int(min(MAX_BYTES, max(GAUGE_BYTES, min(gauge) * TRANSFER_S)))
    if size <= GAUGE_BYTES:
        return gauge
    found = rpc.transfer_rate(handle, size // 4096 * 4096, budget_s=BANDWIDTH_BUDGET_S)
    return found or gauge


def main(argv: list[str]) -> int:
    if not rpc.available():
        print(json.dumps({"error": rpc.missing_line()}), flush=True)
        return 2
    print(json.dumps(probe(argv[0])), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
