"""Index shards served by their own worker pools: one Celery queue per shard (`attribution-shard-<k>`),
for indexes past one host's memory (docs/scaling.md). With INDEX_SHARD_QUEUES on, the attribution
worker that runs a clip maps none of a sharded version's shards: it asks each shard's queue
(`RemoteShard`, the engine's `Shard` interface: fingerprinting.engine.shards) and merges the answers
itself, so the attribution is the one the in-process fan-out gives. The shard's workers
(`shard_answer`, run by fingerprinting.tasks.index_shard_task) fetch and map that shard alone.

Arrays travel as one .npy-in-.npz blob per call, base64 in the JSON message; the calls of one fan-out
are all sent before any answer is awaited, so the shards work in parallel. The attribution task waits
for the answers inside a task, which Celery allows only explicitly (`disable_sync_subtasks=False`): it
cannot deadlock, because shard queues are served by their own pools, never by the attribution pool.
"""

import base64
import io

import numpy as np
from django.conf import settings

from fingerprinting.engine.config import EngineConfig
from fingerprinting.engine.shards import SHARD_METHODS, LocalShard


def shard_queue(k: int) -> str:
    return f"attribution-shard-{k}"


def encode(values) -> str:
    """A tuple (or one value) of arrays and numbers as base64 of an .npz."""
    items = values if isinstance(values, tuple) else (values,)
    buffer = io.BytesIO()
    np.savez(buffer, *(np.asarray(v) for v in items), single=np.asarray(not isinstance(values, tuple)))
    return base64.b64encode(buffer.getvalue()).decode()


def decode(blob: str):
    with np.load(io.BytesIO(base64.b64decode(blob))) as data:
        single = bool(data["single"])
        items = tuple(
            data[f"arr_{i}"].item() if data[f"arr_{i}"].ndim == 0 else data[f"arr_{i}"]
            for i in range(len(data.files) - 1)
        )
    return items[0] if single else items


class _Pending:
    def __init__(self, result):
        self._result = result

    def result(self):
        return decode(
            self._result.get(timeout=settings.INDEX_SHARD_TIMEOUT_SECONDS, disable_sync_subtasks=False)
        )


class RemoteShard:
    """Shard k of a label's version, answered by the workers of its queue."""

    def __init__(self, *, label_id: int, version: str, k: int, n_segments: int):
        self.label_id, self.version, self.k, self.n_segments = label_id, version, k, n_segments

    def submit(self, method: str, *args) -> _Pending:
        from fingerprinting.tasks import index_shard_task

        if method not in SHARD_METHODS:
            raise ValueError(f"a shard does not answer {method!r}")
        return _Pending(
            index_shard_task.apply_async(
                args=[self.label_id, self.version, self.k, method, encode(tuple(args))],
                queue=shard_queue(self.k),
            )
        )


# A shard worker keeps the shards it serves loaded (memory-mapped), the newest two versions per
# (label, shard): a clip started on the previous version may still be asking.
_served: dict[tuple[str, int, int], dict[str, LocalShard]] = {}


def shard_answer(
    *, label_id: int, version: str, k: int, method: str, payload: str, config: EngineConfig
) -> str:
    """One shard's answer to one call (the shard worker's side of `RemoteShard`)."""
    from fingerprinting import index as catalog_index

    if method not in SHARD_METHODS:
        raise ValueError(f"a shard does not answer {method!r}")
    versions = _served.setdefault((str(settings.INDEX_CACHE_DIR), label_id, k), {})
    shard = versions.get(version)
    if shard is None:
        shard = versions[version] = LocalShard(catalog_index.load_shard(label_id, version, k, config))
        for old in sorted(versions)[:-2]:
            del versions[old]
        # This host's cached shards of versions older than the newest two go (mapped files stay readable).
        catalog_index.evict_cached(label_id, pinned=tuple(versions))
    return encode(shard.submit(method, *decode(payload)).result())
