"""What shared mode keeps in Redis, read from the server itself: its memory, each run's keys, their time to live.

    used_memory(url)            INFO memory's used_memory, bytes
    run_footprints(url)         every run in Redis: its state, MEMORY USAGE of all its keys, their TTLs
    keys_without_ttl(url)       keys that never expire, grouped by their name's pattern (bounded ones are fine)

bench/load.py reads these before and after the trainers' runs end: Redis memory per finished run, how long a
finished run stays, and what expires it.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass

from cnnviz.training.shared import PREFIX, RunKeys, connect, control_key, watch_key


@dataclass(frozen=True)
class RunFootprint:
    """One run's keys in Redis."""

    key: str  # its internal key (cnnviz.training.shared.RunKeys)
    state: str
    size: str  # the train config's images and epochs, to tell the benchmark's runs from the warm-up's
    bytes: int  # MEMORY USAGE (SAMPLES 0: every element counted) of every key it has, its two ids' included
    parts: dict[str, int]  # the same by key: run (its hash), records, weights, final, control, ids
    weights_bytes: int  # the weights' torch.save bytes
    records: int  # entries in its stream of step and evaluation records
    ttls: tuple[int, ...]  # seconds left for each of its keys; -1 = no expiry


def used_memory(url: str) -> int:
    client = connect(url)
    try:
        return int(client.info("memory")["used_memory"])
    finally:
        client.close()


def run_footprints(url: str) -> dict[str, RunFootprint]:
    """Every run whose hash is still in Redis, by its internal key."""
    client = connect(url)
    found = {}
    try:
        for name in client.scan_iter(match=f"{PREFIX}run:*", count=1000):
            key = name.decode()[len(f"{PREFIX}run:"):]
            if ":" in key:  # a run's other keys (records, weights, ...) hang below its hash's name
                continue
            keys = RunKeys(key)
            fields = {k.decode(): v.decode() for k, v in client.hgetall(keys.run).items()}
            named = {"run": keys.run, "records": keys.records, "weights": keys.weights, "final": keys.final,
                     "control": keys.control, "control id": control_key(fields.get("control", "")),
                     "watch id": watch_key(fields.get("watch", ""))}
            named = {part: n for part, n in named.items() if client.exists(n)}
            names = list(named.values())
            parts = {part: client.memory_usage(n, samples=0) or 0 for part, n in named.items()}
            train = json.loads(fields.get("train") or "{}")
            found[key] = RunFootprint(
                key=key, state=fields.get("state", "?"),
                size=f"{train.get('subset') or 'all'} images x {train.get('epochs', '?')} epochs",
                bytes=sum(parts.values()), parts=parts,
                weights_bytes=client.strlen(keys.weights), records=client.xlen(keys.records),
                ttls=tuple(client.ttl(n) for n in names))
    finally:
        client.close()
    return found


def keys_without_ttl(url: str) -> Counter:
    """Keys with no expiry, counted by pattern (ids and run keys replaced by ``*``)."""
    client = connect(url)
    try:
        patterns = Counter()
        for name in client.scan_iter(count=1000):
            if client.ttl(name) == -1:
                patterns[re.sub(r"[A-Za-z0-9_-]{16,}", "*", name.decode())] += 1
        return patterns
    finally:
        client.close()
