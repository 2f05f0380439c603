"""How a passage is stored as a Qdrant point, shared by every index engine: the point id, the payload
(with each segment's vector packed as float16), and the names of the vectors and filtered fields."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from retrieval.types import Passage

__all__ = [
    "DENSE",
    "DETAIL_FIELDS",
    "FILTER_FIELDS",
    "PIPELINE_VERSION",
    "SPARSE",
    "SPEAKERS",
    "StoredPoint",
    "passage_key",
    "passage_of",
    "payload_of",
    "point_id",
    "with_details",
]

PIPELINE_VERSION = "1"
DENSE = "dense"
SPARSE = "sparse"
_NAMESPACE = uuid.UUID("6f1c5a52-3f0e-4d8e-9a53-8d1f4a0b7c11")
# Payload keys that SearchFilters match, indexed on a server. Points written by earlier versions may also
# carry a "collection" key (a per-media tag that nothing ever set); reading ignores it.
FILTER_FIELDS = ("media_id", "kind", "language")
SPEAKERS = "speakers"  # the passage's speaker keys (``<media_id>/<label>``), matched by SearchFilters.speakers
# The payload that search needs only for the candidates it scores closely (the best moments): each
# segment's vector and each word's time. Most of a point's payload by size and by the time to read it;
# a search first fetches its candidates without them (``light``), then these for the ones it keeps.
DETAIL_FIELDS = ("seg_vecs", "word_starts", "word_offsets")


def point_id(media_id: str, index: int, version: str = PIPELINE_VERSION) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{media_id}/{version}/{index}"))


def payload_of(p: Passage, embed_model: str) -> dict[str, Any]:
    return {
        "media_id": p.media_id,
        "index": p.index,
        "start": p.start_s,
        "end": p.end_s,
        "text": p.text,
        "seg_starts": list(p.segment_starts),
        "seg_ends": list(p.segment_ends),
        "seg_offsets": list(p.segment_offsets),
        "title": p.title,
        "filename": p.filename,
        "kind": p.kind,
        "language": p.language,
        "created_at": p.created_at,
        "embed_model": embed_model,
        "pipeline": PIPELINE_VERSION,
        "seg_vecs": _encode_vectors(p.segment_vectors),
        "word_starts": list(p.word_starts),
        "word_offsets": list(p.word_offsets),
        "seg_speakers": list(p.segment_speakers),
        SPEAKERS: p.speaker_keys(),
    }


def _encode_vectors(vectors: np.ndarray | None) -> str | None:
    """float16 bytes, base64: about 1 KB per segment instead of 8 KB of JSON floats."""
    if vectors is None:
        return None
    return base64.b64encode(np.asarray(vectors, dtype="<f2").tobytes()).decode("ascii")


def _decode_vectors(blob: str | None, count: int) -> np.ndarray | None:
    if not blob or count == 0:
        return None
    flat = np.frombuffer(base64.b64decode(blob), dtype="<f2").astype(np.float32)
    return flat.reshape(count, -1)


def passage_of(payload: dict[str, Any]) -> Passage:
    return Passage(
        media_id=payload["media_id"],
        index=int(payload["index"]),
        start_s=float(payload["start"]),
        end_s=float(payload["end"]),
        text=payload["text"],
        segment_starts=tuple(payload["seg_starts"]),
        segment_ends=tuple(payload["seg_ends"]),
        segment_offsets=tuple(payload["seg_offsets"]),
        title=payload["title"],
        filename=payload["filename"],
        kind=payload["kind"],
        language=payload["language"],
        created_at=float(payload["created_at"]),
        segment_vectors=_decode_vectors(payload.get("seg_vecs"), len(payload["seg_starts"])),
        word_starts=tuple(payload.get("word_starts") or ()),
        word_offsets=tuple(payload.get("word_offsets") or ()),
        segment_speakers=tuple(payload.get("seg_speakers") or ()),
    )


def passage_key(p: Passage) -> tuple[str, int]:
    return (p.media_id, p.index)


def with_details(passages: Sequence[Passage], payloads: Sequence[dict[str, Any]]) -> list[Passage]:
    """``passages`` (read without ``DETAIL_FIELDS``) with them, from their points' ``payloads`` (each with
    ``media_id`` and ``index``); a passage without a payload stays as it was."""
    found = {(q["media_id"], int(q["index"])): q for q in payloads}
    return [_detailed(p, found[k]) if (k := passage_key(p)) in found else p for p in passages]


def _detailed(p: Passage, payload: dict[str, Any]) -> Passage:
    return replace(
        p,
        segment_vectors=_decode_vectors(payload.get("seg_vecs"), len(p.segment_starts)),
        word_starts=tuple(payload.get("word_starts") or ()),
        word_offsets=tuple(payload.get("word_offsets") or ()),
    )


@dataclass(frozen=True)
class StoredPoint:
    """A point as any engine stores it: what moving a library between engines copies, vectors included."""

    id: str
    dense: list[float]
    sparse: tuple[list[int], list[float]]  # indices, values
    payload: dict[str, Any]
