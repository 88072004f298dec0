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


class MemorySampler:
    """Samples every `interval_s`: the peak RSS (MB) of this process and the peak summed RSS of
    the Ray actors holding groups of customers (`ACTOR_CLASSES`), since the last `mark`."""

    def __init__(self, interval_s: float = 0.2, *, ray_actors: bool = True) -> None:
        """`ray_actors=False`: this process only. Scanning every process's command line for
        the actors costs a core's share on a 2-core machine (py-spy of the 1M batch: 38 s of
        its 585), so a run without Ray does not."""
        self.process = psutil.Process()
        self.ray_actors = ray_actors
        self.interval_s = interval_s
        self.own = self.actors = 0.0
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.running:
            actors = 0
            scanned = psutil.process_iter(["cmdline", "memory_info"]) if self.ray_actors else ()
            for other in scanned:
                line = " ".join(other.info["cmdline"] or [])
                actor = any(name in line for name in ACTOR_CLASSES)
                if actor and other.info["memory_info"] is not None:
                    actors += other.info["memory_info"].rss
            self.own = max(self.own, self.process.memory_info().rss / 2**20)
            self.actors = max(self.actors, actors / 2**20)
            time.sleep(self.interval_s)

    def mark(self) -> tuple[float, float]:
        """The peaks (own, actors) since the last mark, then start afresh."""
        peaks = (self.own, self.actors)
        self.own, self.actors = self.process.memory_info().rss / 2**20, 0.0
        return peaks

    def stop(self) -> tuple[float, float]:
        """Stop sampling; the peaks since the last mark."""
        self.running = False
        self.thread.join()
        return self.own, self.actors
