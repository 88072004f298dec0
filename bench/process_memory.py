"""Peak resident memory of this process and of its Ray shard actors, sampled in a thread, for
the benchmarks that report it (bench/solver_scale.py, bench/scale.py)."""

from __future__ import annotations

import threading
import time

import psutil

#: The Ray actors that hold groups of customers: the forecast's shards
#: (engine/forecast_shards.py), the decomposition's and the recommendation block's
#: (optimization/distributed.py, ray_groups.py).
ACTOR_CLASSES = ("ForecastShard", "ShardActor", "BlockActor")
#: Seconds between scans of every process's command line for the actors (their memory is read
#: at every sample; the scan is what costs).
SCAN_INTERVAL_S = 2.0


class MemorySampler:
    """Samples every `interval_s`: the peak RSS (MB) of this process, the peak of its private
    part (RSS less shared pages: on a Ray driver the shared part is mostly the object store's
    pages it has touched, which the node holds once whoever maps them), and the peak summed RSS
    of the Ray actors holding groups of customers (`ACTOR_CLASSES`), since the last `mark`."""

    def __init__(self, interval_s: float = 0.2, *, ray_actors: bool = True) -> None:
        """`ray_actors=False`: this process only. Scanning every process's command line for
        the actors costs a core's share on a 2-core machine if done at every sample (py-spy of
        the 1M batch: 38 s of its 585), so it is done every `SCAN_INTERVAL_S`, and not at all
        for a run without Ray."""
        self.process = psutil.Process()
        self.ray_actors = ray_actors
        self.interval_s = interval_s
        self.own = self.private = self.actors = 0.0
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _scan(self) -> list[psutil.Process]:
        found = []
        for other in psutil.process_iter(["cmdline"]):
            line = " ".join(other.info["cmdline"] or [])
            if any(name in line for name in ACTOR_CLASSES):
                found.append(other)
        return found

    def _run(self) -> None:
        known: list[psutil.Process] = []
        scanned = float("-inf")
        while self.running:
            if self.ray_actors and time.monotonic() - scanned >= SCAN_INTERVAL_S:
                known, scanned = self._scan(), time.monotonic()
            actors = 0
            for other in known:
                try:
                    actors += other.memory_info().rss
                except psutil.Error:  # gone since the scan
                    pass
            info = self.process.memory_info()
            self.own = max(self.own, info.rss / 2**20)
            self.private = max(self.private, (info.rss - info.shared) / 2**20)
            self.actors = max(self.actors, actors / 2**20)
            time.sleep(self.interval_s)

    def mark(self) -> tuple[float, float, float]:
        """The peaks (own, own private, actors) since the last mark, then start afresh."""
        peaks = (self.own, self.private, self.actors)
        info = self.process.memory_info()
        self.own, self.private, self.actors = (
            info.rss / 2**20,
            (info.rss - info.shared) / 2**20,
            0.0,
        )
        return peaks

    def stop(self) -> tuple[float, float]:
        """Stop sampling; the peaks since the last mark."""
        self.running = False
        self.thread.join()
        return self.own, self.actors
