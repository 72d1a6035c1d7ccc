"""LruCache: each value made once, in request order, oldest evicted; parallel makers give the same answers."""
import pytest

from cnnviz.cache import LruCache


@pytest.mark.parametrize("workers", [1, 2])
def test_makes_each_value_once_in_request_order_and_evicts_oldest(workers):
    calls = []

    def maker(name):
        return lambda: calls.append(name) or name.encode()

    cache = LruCache(max_entries=2, workers=workers)
    assert cache.get_many([("a", maker("a")), ("b", maker("b")), ("a", maker("a"))]) == [b"a", b"b", b"a"]
    assert sorted(calls) == ["a", "b"]
    assert cache.get_many([("b", maker("b")), ("c", maker("c"))]) == [b"b", b"c"]  # b cached; c evicts a
    assert sorted(calls) == ["a", "b", "c"] and len(cache) == 2
    assert cache.get("a", maker("a")) == b"a"
    assert sorted(calls) == ["a", "a", "b", "c"]


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="max_entries=0"):
        LruCache(0)
