"""bench/redis_usage.py reads a run's keys from a real redis-server: which keys, their sizes and their expiry."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cnnviz.training.shared import RunKeys, connect, control_key, watch_key
from scripts.shared_mode import redis_server
from service_kit import require_redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import redis_usage  # noqa: E402  (bench/redis_usage.py)

KEEP = 100  # seconds: the finished run's keys expire this long from now


@pytest.fixture(scope="module")
def url():
    require_redis()
    with redis_server() as address:
        client = connect(address)
        keys, control, watch = RunKeys("k" * 16), "c" * 16, "w" * 16
        client.hset(keys.run, mapping={"state": "done", "control": control, "watch": watch,
                                       "train": json.dumps({"subset": 1000, "epochs": 2})})
        for step in range(3):
            client.xadd(keys.records, {"m": json.dumps({"step": step})})
        client.set(keys.weights, b"w" * 1000)
        client.set(keys.final, b"f" * 10)
        client.hset(keys.control, mapping={"stop": "0"})
        client.set(control_key(control), keys.key)
        client.set(watch_key(watch), keys.key)
        for name in keys.all() + [control_key(control), watch_key(watch)]:
            client.expire(name, KEEP)
        client.lpush("cnnviz:durations", "12.5")  # bounded by the workers, never expires
        client.close()
        yield address


def test_a_finished_run_is_found_with_every_key_it_has(url):
    (run,) = redis_usage.run_footprints(url).values()
    assert run.key == "k" * 16 and run.state == "done"
    assert run.size == "1000 images x 2 epochs"
    assert run.records == 3 and run.weights_bytes == 1000
    assert set(run.parts) == {"run", "records", "weights", "final", "control", "control id", "watch id"}
    assert run.bytes == sum(run.parts.values())
    assert run.parts["weights"] >= 1000  # the bytes themselves, and Redis's own bookkeeping on top


def test_each_key_of_a_finished_run_expires(url):
    (run,) = redis_usage.run_footprints(url).values()
    assert len(run.ttls) == 7 and all(0 < ttl <= KEEP for ttl in run.ttls)


def test_only_keys_that_never_expire_are_listed(url):
    assert redis_usage.keys_without_ttl(url) == {"cnnviz:durations": 1}
    assert redis_usage.used_memory(url) > 0
