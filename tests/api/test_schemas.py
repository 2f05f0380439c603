"""The API's own shapes of domain objects: the link that opens the player, and a job's source."""

from __future__ import annotations

from api.schemas import JobPublic, MomentPublic, watch_url
from ingest.catalog import JobRecord
from retrieval.types import Moment


def test_a_moment_links_to_the_player_at_the_tenth_of_a_second_before_it() -> None:
    moment = Moment("a1", "Talk", "talk.mp4", "video", 110.96, 120.0, 0.5, "the words", [(4, 9)], [111.2])
    public = MomentPublic.of(moment)
    assert public.url == "/watch/a1?t=110.9"  # rounded down: the player never starts after the moment
    assert (public.start, public.end, public.highlights, public.highlight_starts) == (110.96, 120.0, [(4, 9)], [111.2])
    assert watch_url("a1", 42.0) == "/watch/a1?t=42" and watch_url("a1", 0.3) == "/watch/a1?t=0.3"
    assert watch_url("a1", 7.1) == "/watch/a1?t=7.1"  # 7.1 * 10 is 70.99999...: not 7.0


def test_a_job_shows_its_stored_source_kind_and_hides_library_paths() -> None:
    def job(source: str, kind: str) -> JobPublic:
        return JobPublic.of(
            JobRecord("j", None, source, "queued", "queued", 0.0, None, None, 0, 1.0, 1.0, source_kind=kind)
        )  # type: ignore[arg-type]

    assert (job("/srv/media/secret/a.mp4", "path").source, job("/srv/a.mp4", "path").source_kind) == ("path", "path")
    assert job("upload:a.mp4", "upload").source == "upload:a.mp4"
    # The kind is stored, not guessed from the text: a path that looks like a URL is still a path.
    assert job("https-talks/a.mp4", "path").source == "path"
    assert job("https://example.org/a.mp4", "url").source_kind == "url"
