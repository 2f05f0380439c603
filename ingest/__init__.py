"""Ingestion: media -> audio -> transcript -> passages -> index; the library catalog and the job queue.

Importing this package is cheap: ffmpeg, torch and transformers load inside the adapters on first use.
"""

from ingest.errors import IngestError, MediaError, ModelError
from ingest.types import MediaInfo, Segment

__all__ = ["IngestError", "MediaError", "MediaInfo", "ModelError", "Segment"]
