"""Pure ingestion logic: window planning, monotonic times, passages, subtitle formats."""

from __future__ import annotations

import itertools

import pytest

from ingest.passages import cut_passages, segment_contexts
from ingest.subtitles import render_transcript
from ingest.types import Segment, Word
from ingest.windows import TailPiece, clean_segments, enforce_monotonic, pack_tails, plan_windows, unpack_segments


def test_windows_pack_regions_up_to_30_s_and_split_long_speech() -> None:
    regions = [(0.5, 10.0), (11.0, 20.0), (21.0, 29.0), (30.0, 40.0), (60.0, 135.0)]
    windows = plan_windows(regions, duration_s=140.0, max_window_s=30.0, max_gap_s=5.0)
    assert [(w.start_s, w.end_s) for w in windows[:2]] == [(0.5, 29.0), (30.0, 40.0)]
    assert all(w.duration_s <= 30.0 + 1e-9 for w in windows)
    long_pieces = windows[2:]
    assert long_pieces[0].start_s == 60.0 and long_pieces[-1].end_s == 135.0
    assert len(long_pieces) == 3  # 75 s of unbroken speech -> three 25 s windows


def test_windows_break_at_long_silence_and_clip_to_the_audio() -> None:
    windows = plan_windows([(-1.0, 3.0), (12.0, 14.0), (13.5, 20.0)], duration_s=18.0, max_gap_s=5.0)
    assert [(w.start_s, w.end_s) for w in windows] == [(0.0, 3.0), (12.0, 18.0)]


def test_tails_share_windows_as_far_as_they_fit_with_a_silence_between_them() -> None:
    tails = [TailPiece(0, 22.0, 28.5), TailPiece(1, 20.0, 26.7), TailPiece(2, 0.0, 0.0), TailPiece(3, 5.0, 29.0)]
    packed = pack_tails(tails, max_window_s=30.0, gap_s=1.5)
    # 6.5 s + 1.5 + 6.7 s = 14.7 s share a window; the empty tail is dropped; 24 s more would not fit.
    assert [[(p.row, off) for p, off in placed] for placed in packed] == [[(0, 0.0), (1, 8.0)], [(3, 0.0)]]
    assert all(off + p.duration_s <= 30.0 for placed in packed for p, off in placed)


def test_a_packed_windows_segments_go_back_to_their_own_windows_split_by_their_words() -> None:
    placed = [(TailPiece(0, 22.0, 28.5), 0.0), (TailPiece(3, 20.0, 26.0), 8.0)]  # the second at 8.0-14.0
    # Whisper ran one segment across the silence; its last word starts 0.4 s early, past the silence's middle.
    words = (Word(0.2, 0.6, "level", 0.9), Word(0.6, 1.4, "rising.", 0.9), Word(7.6, 8.5, "Fresh", 0.9))
    merged = Segment(0.2, 8.5, "level rising. Fresh", words)
    alone = Segment(9.0, 13.5, "bread every morning.")  # no word times: it goes whole where it starts
    back = unpack_segments([merged, alone], placed)
    assert [(s.start_s, s.end_s, s.text) for s in back[0]] == [(22.2, 23.4, "level rising.")]
    assert [w.start_s for w in back[0][0].words] == [22.2, 22.6]
    assert [(s.start_s, s.end_s, s.text) for s in back[3]] == [
        (20.0, 20.5, "Fresh"),  # kept inside its own piece
        (21.0, 25.5, "bread every morning."),
    ]


def test_monotonic_times_and_empty_segments_dropped() -> None:
    segs = [
        Segment(0.0, 4.0, " Hello."),
        Segment(3.5, 6.0, "world"),
        Segment(6.0, 6.0, " ... "),
        Segment(7.0, 6.5, "x"),
    ]
    out = enforce_monotonic(segs)
    assert [s.text for s in out] == ["Hello.", "world", "x"]
    assert out[1].start_s == 4.0
    assert all(a.end_s <= b.start_s for a, b in itertools.pairwise(out))
    assert all(s.end_s > s.start_s for s in out)


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_cleaning_segments_batch_by_batch_equals_cleaning_them_whole(size: int) -> None:
    # Overlaps, a zero-length segment, a segment that ends before it starts, punctuation-only text, and
    # ends that only the unrounded carried end keeps exact (x.xxx4 + 0.02 rounds differently than x.xxx).
    segs = [
        Segment(0.0, 4.0, " Hello."),
        Segment(3.5, 6.0, "world"),
        Segment(6.0, 6.0, " ... "),
        Segment(7.0, 6.5, "x"),
        Segment(6.9, 6.9, "y"),
        Segment(8.12344, 8.12344, "z"),
        Segment(8.1, 9.0, "again"),
        Segment(12.0, 15.5, "  later  "),
        Segment(15.0, 15.0004, "-"),
        Segment(15.0, 15.0004, "tiny"),
    ]
    batched: list[Segment] = []
    last_end_s = 0.0
    for i in range(0, len(segs), size):
        clean, last_end_s = clean_segments(segs[i : i + size], last_end_s=last_end_s)
        batched.extend(clean)
    assert batched == enforce_monotonic(segs)
    assert clean_segments([]) == ([], 0.0)


def _segments(n: int, length_s: float = 6.0) -> list[Segment]:
    return [Segment(i * length_s, (i + 1) * length_s - 0.5, f"sentence {i}") for i in range(n)]


def test_passages_overlap_and_keep_each_segment_start() -> None:
    segs = _segments(20)
    passages = cut_passages(segs, target_s=30.0, max_s=40.0, overlap_s=10.0)
    assert len(passages) >= 4
    for p in passages:
        assert 20.0 <= p.end_s - p.start_s <= 40.0 or p is passages[-1]
        # Each segment's start, end and text can be recovered from the passage.
        for start, offset in zip(p.segment_starts, p.segment_offsets, strict=True):
            i = round(start / 6.0)
            assert p.text[offset:].startswith(segs[i].text)
    for a, b in itertools.pairwise(passages):
        assert b.start_s < a.end_s  # overlap
        assert b.start_s > a.start_s  # progress
    covered = {s for p in passages for s in p.segment_starts}
    assert covered == {s.start_s for s in segs}


def test_one_very_long_segment_is_its_own_passage() -> None:
    segs = [Segment(0, 5, "a"), Segment(5, 70, "long monologue"), Segment(70, 75, "b")]
    passages = cut_passages(segs, target_s=30, max_s=40, overlap_s=10)
    assert any(p.segment_starts == (5,) for p in passages) or passages[0].segment_starts[:2] == (0, 5)
    assert {s for p in passages for s in p.segment_starts} == {0, 5, 70}


def test_no_segments_no_passages() -> None:
    assert cut_passages([]) == []


SEGS = [Segment(0.0, 2.5, "Hello there."), Segment(3661.25, 3663.0, "An hour later.")]


def test_srt() -> None:
    assert render_transcript(SEGS, "srt") == (
        "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n01:01:01,250 --> 01:01:03,000\nAn hour later.\n"
    )


def test_vtt_and_txt() -> None:
    vtt = render_transcript(SEGS, "vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n")
    assert "01:01:01.250 --> 01:01:03.000" in vtt
    assert render_transcript(SEGS, "txt") == "Hello there.\nAn hour later.\n"
    with pytest.raises(ValueError, match="unknown transcript format"):
        render_transcript(SEGS, "docx")


def test_segment_contexts_complete_sentences_from_direct_neighbours() -> None:
    segs = [
        Segment(0, 5, "The worm used bugs in sendmail"),
        Segment(5, 9, "to reach over 6,000 computers"),
        Segment(9, 10, "on the Internet. It spread fast"),
        Segment(10, 12, "and crashed them."),
        Segment(12, 14, "Nobody expected it."),
    ]
    contexts = segment_contexts(segs)
    assert contexts[1] == "The worm used bugs in sendmail to reach over 6,000 computers on the Internet."
    assert contexts[2] == "to reach over 6,000 computers on the Internet. It spread fast and crashed them."
    assert contexts[3] == "It spread fast and crashed them."
    assert contexts[4] == "Nobody expected it."  # a whole sentence stays as it is
    # Computed over a slice with one neighbour each side, a segment's context is the same.
    assert segment_contexts(segs[1:4])[1] == contexts[2]


def test_vtt_can_time_each_word_and_escapes_cue_text() -> None:
    seg = Segment(
        1.0,
        3.0,
        "Fish & <chips> now",
        (
            Word(1.0, 1.5, "Fish", 0.9),
            Word(1.5, 1.6, "&", 0.9),
            Word(1.6, 2.2, "<chips>", 0.9),
            Word(2.2, 3.0, "now", 0.9),
        ),
    )
    plain = render_transcript([seg], "vtt")
    assert "00:00:01.000 --> 00:00:03.000\nFish &amp; &lt;chips&gt; now\n" in plain  # cues stay segments
    timed = render_transcript([seg], "vtt", word_times=True)
    assert (
        "00:00:01.000 --> 00:00:03.000\nFish <00:00:01.500>&amp; <00:00:01.600>&lt;chips&gt; <00:00:02.200>now\n"
        in timed
    )
    # a word at the cue's start gets no timestamp (WebVTT wants them after it); no words: plain text
    same = Segment(1.0, 3.0, "a b", (Word(1.0, 1.0, "a", 0.9), Word(1.0, 2.0, "b", 0.9)))
    assert "\na b\n" in render_transcript([same, Segment(4.0, 5.0, "bare")], "vtt", word_times=True)
    assert render_transcript([seg], "srt").endswith("Fish & <chips> now\n")  # SRT is plain text


def test_passages_know_where_each_word_starts() -> None:
    segs = [
        Segment(
            0.0,
            2.0,
            "Ask not, what",
            (Word(0.2, 0.5, "Ask", 1.0), Word(0.5, 1.0, "not,", 1.0), Word(1.1, 2.0, "what", 1.0)),
        ),
        Segment(2.0, 3.0, "your country", (Word(2.3, 2.6, "your", 1.0), Word(2.6, 3.0, "country", 1.0))),
    ]
    [p] = cut_passages(segs)
    assert p.text == "Ask not, what your country"
    assert [p.text[o:].split()[0] for o in p.word_offsets] == ["Ask", "not,", "what", "your", "country"]
    assert p.word_starts == (0.2, 0.5, 1.1, 2.3, 2.6)


def test_chapters_as_a_webvtt_chapters_track() -> None:
    from ingest.subtitles import chapters_vtt
    from retrieval.types import Chapter

    vtt = chapters_vtt([Chapter("m", 0, 0.0, 58.0, "Bridges & <rivers>"), Chapter("m", 1, 60.5, 125.25, "Bees")])
    assert vtt == (
        "WEBVTT\n\n"
        "chapter-1\n00:00:00.000 --> 00:01:00.500\nBridges &amp; &lt;rivers&gt;\n\n"  # runs to the next start
        "chapter-2\n00:01:00.500 --> 00:02:05.250\nBees\n"
    )
    assert chapters_vtt([]) == "WEBVTT\n\n"


def test_a_missing_hub_model_downloads_on_first_use_unless_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub itself is never reached from a test: huggingface_hub's download is replaced by one that
    records its call (this test is about when the product asks for a download and what it says)."""
    import huggingface_hub

    from ingest.errors import ModelError
    from ingest.models import resolve_whisper_model

    calls: list[bool] = []

    def fake_download(name: str, local_files_only: bool = False) -> str:
        calls.append(local_files_only)
        if local_files_only or name == "nobody/unreachable":
            raise OSError("not cached" if local_files_only else "Connection refused")
        return f"/cache/{name}"

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert resolve_whisper_model("distil-whisper/distil-large-v3") == "/cache/distil-whisper/distil-large-v3"
    assert calls == [True, False]  # the cache first, then the download
    with pytest.raises(ModelError, match=r"not available offline \(the download .* Connection refused\)"):
        resolve_whisper_model("nobody/unreachable")
    calls.clear()
    with pytest.raises(ModelError, match="MOMENTS_ALLOW_DOWNLOAD=true"):
        resolve_whisper_model("distil-whisper/distil-large-v3", allow_download=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match=r"not available offline \(HF_HUB_OFFLINE is set\)"):
        resolve_whisper_model("distil-whisper/distil-large-v3")
    assert calls == [True, True]  # never a download when told not to, or offline


def test_subtitles_say_who_speaks() -> None:
    """WebVTT voice tags, SRT name prefixes, and the name at each change of speaker in text; a label
    stands in for a speaker without a name; markup in a name is escaped."""
    segs = [
        Segment(0.0, 1.0, "Hi.", speaker="SPEAKER_1"),
        Segment(1.0, 2.0, "Hello.", speaker="SPEAKER_2"),
        Segment(2.0, 3.0, "Go on.", speaker="SPEAKER_2"),
        Segment(3.0, 4.0, "Unknown."),
    ]
    names = {"SPEAKER_1": "Ann <host>"}
    vtt = render_transcript(segs, "vtt", speakers=names)
    assert "00:00:00.000 --> 00:00:01.000\n<v Ann &lt;host&gt;>Hi.\n" in vtt
    assert "00:00:01.000 --> 00:00:02.000\n<v SPEAKER_2>Hello.\n" in vtt
    assert "00:00:03.000 --> 00:00:04.000\nUnknown.\n" in vtt
    srt = render_transcript(segs, "srt", speakers=names)
    assert "\nAnn <host>: Hi.\n" in srt and "\nSPEAKER_2: Go on.\n" in srt
    assert render_transcript(segs, "txt", speakers=names) == "Ann <host>: Hi.\nSPEAKER_2: Hello.\nGo on.\nUnknown.\n"
