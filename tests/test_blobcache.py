"""The on-disk blob cache under the audio cache: hits, misses, LRU eviction, corrupt entries, processes."""

import multiprocessing as mp
import os
import time

import numpy as np
import pytest

from greentts.runtime.blobcache import BlobCache


def _arrays(seed: int, n: int = 2000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"audio": rng.standard_normal(n).astype(np.float32), "durations": rng.integers(0, 9, 12)}


def test_hit_returns_exactly_what_was_stored_and_a_miss_is_none(tmp_path):
    cache = BlobCache(tmp_path, 10_000_000)
    assert cache.get("k") is None
    arrays = _arrays(1)
    assert cache.put("k", {"joules": 1.5, "method": "estimated"}, arrays)
    entry = cache.get("k")
    assert entry is not None and entry.meta == {"joules": 1.5, "method": "estimated"}
    for name, arr in arrays.items():
        assert entry.arrays[name].dtype == arr.dtype and np.array_equal(entry.arrays[name], arr)
    assert entry.arrays["audio"].flags.writeable
    s = cache.stats()
    assert (s.hits, s.misses, s.writes, s.corrupt) == (1, 1, 1, 0)


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty", "other_key"])
def test_a_corrupt_entry_is_a_miss_and_is_removed(tmp_path, damage):
    cache = BlobCache(tmp_path, 10_000_000)
    cache.put("k", {"joules": 1.0}, _arrays(2))
    path = cache.path("k")
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) - 100])
    elif damage == "flip":
        pos = len(data) - 50
        path.write_bytes(data[:pos] + bytes([data[pos] ^ 0x40]) + data[pos + 1:])
    elif damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # a whole, valid entry of another key under this key's name
        cache.put("other", {"joules": 2.0}, _arrays(3))
        path.write_bytes(cache.path("other").read_bytes())
    assert cache.get("k") is None
    assert not path.exists()
    assert cache.stats().corrupt == 1
    cache.put("k", {"joules": 1.0}, _arrays(2))  # and it can be stored again
    assert np.array_equal(cache.get("k").arrays["audio"], _arrays(2)["audio"])


def test_eviction_keeps_the_cap_and_removes_the_least_recently_used(tmp_path):
    cache = BlobCache(tmp_path, 10**9)
    cache.put("probe", {}, _arrays(0))
    size = cache.path("probe").stat().st_size
    cache.clear()
    cache = BlobCache(tmp_path, int(size * 5.5))  # room for five entries
    for i in range(5):
        cache.put(f"k{i}", {"i": i}, _arrays(i))
        os.utime(cache.path(f"k{i}"), (time.time() - 100 + i, time.time() - 100 + i))
    assert cache.get("k0") is not None  # used now: the most recent
    cache.put("k5", {"i": 5}, _arrays(5))  # over the cap: evict down to 90 %
    present = {f"k{i}" for i in range(6) if cache.path(f"k{i}").exists()}
    assert "k0" in present and "k5" in present and "k1" not in present
    total = sum(cache.path(k).stat().st_size for k in present)
    assert total <= cache.max_bytes * 0.9 + 1
    assert cache.stats().evicted >= 1 and cache.stats().bytes == total


def test_an_entry_larger_than_the_cap_is_not_stored(tmp_path):
    cache = BlobCache(tmp_path, 1000)
    assert not cache.put("big", {}, _arrays(1, 10_000))
    assert cache.get("big") is None


def test_object_arrays_are_refused(tmp_path):
    with pytest.raises(ValueError, match="Python objects"):
        BlobCache(tmp_path, 10**6).put("k", {}, {"a": np.array([object()])})


def test_stale_temporary_files_are_cleaned_and_fresh_ones_kept(tmp_path):
    cache = BlobCache(tmp_path, 10**6)
    cache.put("k", {}, _arrays(1))
    shard = cache.path("k").parent
    old, new = shard / ".x.old.tmp", shard / ".x.new.tmp"
    old.write_bytes(b"x")
    new.write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    cache.evict()
    assert not old.exists() and new.exists() and cache.get("k") is not None


def _writer(directory: str, worker: int, cap: int) -> int:
    cache = BlobCache(directory, cap)
    bad = 0
    for round_ in range(30):
        key = f"k{(worker * 7 + round_) % 12}"  # the processes write and read the same keys
        seed = int(key[1:])
        cache.put(key, {"seed": seed}, _arrays(seed))
        entry = cache.get(f"k{(round_ * 5) % 12}")
        if entry is not None:
            want = _arrays(entry.meta["seed"])
            bad += not np.array_equal(entry.arrays["audio"], want["audio"])
    return bad


def test_concurrent_processes_share_one_folder_without_bad_entries(tmp_path):
    size = len(np.zeros(2000, np.float32).tobytes()) + 600
    cap = size * 6  # 12 keys into room for about 6: the processes evict under each other
    ctx = mp.get_context("spawn")
    with ctx.Pool(4) as pool:
        bad = pool.starmap(_writer, [(str(tmp_path), w, cap) for w in range(4)])
    assert bad == [0, 0, 0, 0]
    cache = BlobCache(tmp_path, cap)
    cache.evict()
    for i in range(12):  # every entry left is whole and holds its own key's arrays
        entry = cache.get(f"k{i}")
        assert entry is None or np.array_equal(entry.arrays["audio"], _arrays(i)["audio"])
    assert cache.stats().corrupt == 0
    assert not list(tmp_path.glob("*/.*.tmp"))
    assert cache.stats().bytes <= cap
