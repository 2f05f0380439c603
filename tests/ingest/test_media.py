"""Probe and decode with the real ffmpeg: good files are read, bad input is refused with a clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.errors import CorruptMediaError, EmptyMediaError, MediaTooLongError, UnsupportedMediaError
from ingest.media import decode_audio, probe_media
from tests.conftest import ffmpeg


def test_wav_decodes_to_16k_mono_float32(tone_wav: Path) -> None:
    info = probe_media(tone_wav, max_duration_s=60)
    assert (info.kind, info.format_name) == ("audio", "wav")
    assert info.duration_s == pytest.approx(3.0, abs=0.05)
    audio = decode_audio(tone_wav, max_duration_s=60)
    assert audio.dtype == np.float32
    assert audio.size == pytest.approx(48_000, abs=200)
    assert float(np.abs(audio).max()) == pytest.approx(0.125, abs=0.01)  # lavfi sine amplitude is 1/8


def test_video_container_is_video_and_mp3_with_cover_art_is_audio(tmp_path: Path) -> None:
    mp4 = tmp_path / "clip.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=64x64:d=2",
        "-f",
        "lavfi",
        "-i",
        "sine=duration=2",
        "-shortest",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        str(mp4),
    )
    assert probe_media(mp4, max_duration_s=60).kind == "video"
    cover = tmp_path / "cover.png"
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=32x32", "-frames:v", "1", str(cover))
    mp3 = tmp_path / "song.mp3"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "sine=duration=2",
        "-i",
        str(cover),
        "-map",
        "0:a",
        "-map",
        "1:v",
        "-c:v",
        "png",
        "-disposition:v",
        "attached_pic",
        "-c:a",
        "libmp3lame",
        str(mp3),
    )
    assert probe_media(mp3, max_duration_s=60).kind == "audio"


def test_hls_playlist_renamed_mp4_is_refused_and_never_opens_its_segments(tmp_path: Path, tone_wav: Path) -> None:
    evil = tmp_path / "holiday.mp4"
    evil.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:3.0,\n{tone_wav}\n#EXT-X-ENDLIST\n")
    with pytest.raises(UnsupportedMediaError, match="playlist"):
        probe_media(evil, max_duration_s=60)
    with pytest.raises((UnsupportedMediaError, CorruptMediaError)):
        decode_audio(evil, max_duration_s=60)


def test_ffmpeg_demuxer_allowlist_refuses_hls_even_without_the_sniffing_step(tmp_path: Path) -> None:
    # decode_audio goes straight to ffmpeg: the demuxer allowlist alone must keep the HLS demuxer from
    # opening its segment (here a file that would prove it was read, were it decoded).
    segment = tmp_path / "secret.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-ar", "16000", str(segment))
    evil = tmp_path / "x.mp4"
    evil.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1.0,\n{segment}\n#EXT-X-ENDLIST\n")
    with pytest.raises(UnsupportedMediaError, match="not an audio/video container"):
        decode_audio(evil, max_duration_s=60)


def test_concat_playlist_is_refused(tmp_path: Path, tone_wav: Path) -> None:
    evil = tmp_path / "talk.mkv"
    evil.write_text(f"ffconcat version 1.0\nfile '{tone_wav}'\n")
    with pytest.raises(UnsupportedMediaError):
        probe_media(evil, max_duration_s=60)


def test_protocol_names_in_file_names_are_read_as_files(tmp_path: Path, tone_wav: Path) -> None:
    odd = tmp_path / "concat:a.wav"
    odd.write_bytes(tone_wav.read_bytes())
    assert probe_media(odd, max_duration_s=60).format_name == "wav"


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (b"", EmptyMediaError, "empty"),
        (b"Meeting notes\nWe talked about the budget.\n", UnsupportedMediaError, "text file"),
        (bytes(range(256)) * 64, CorruptMediaError, "cannot be read"),
    ],
    ids=["empty", "text", "random-bytes"],
)
def test_bad_files_get_a_typed_error_that_names_the_file(
    tmp_path: Path, content: bytes, error: type[Exception], message: str
) -> None:
    path = tmp_path / "upload.mp4"
    path.write_bytes(content)
    with pytest.raises(error, match=message) as exc:
        probe_media(path, max_duration_s=60)
    assert "upload.mp4" in str(exc.value)


def test_truncated_mp4_is_corrupt(tmp_path: Path) -> None:
    good = tmp_path / "good.mp4"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=5", "-c:a", "aac", str(good))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(CorruptMediaError):
        probe_media(bad, max_duration_s=60)
    with pytest.raises(CorruptMediaError):
        decode_audio(bad, max_duration_s=60)


def test_video_without_audio_is_refused(tmp_path: Path) -> None:
    silent = tmp_path / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x64:d=1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(silent))
    with pytest.raises(EmptyMediaError, match="no audio"):
        probe_media(silent, max_duration_s=60)


def test_duration_cap(tone_wav: Path) -> None:
    with pytest.raises(MediaTooLongError, match="cap"):
        probe_media(tone_wav, max_duration_s=2.0)
    with pytest.raises(MediaTooLongError):
        decode_audio(tone_wav, max_duration_s=2.0)


def test_a_truncated_mp4_with_its_index_in_front_is_refused_not_half_indexed(tmp_path: Path) -> None:
    """The index (moov) at the front survives a cut, so ffprobe still reads 11 s, but only the first few
    seconds decode: refused with how much was there, rather than indexed silently in part."""
    from ingest.media import check_complete

    whole = tmp_path / "whole.mp4"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=11", "-c:a", "aac", "-movflags", "+faststart", str(whole))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 3 // 10])
    info = probe_media(cut, max_duration_s=60)
    assert info.audio_duration_s is not None and info.audio_duration_s > 10.5
    decoded_s = decode_audio(cut, max_duration_s=60).size / 16_000
    assert decoded_s < 5
    with pytest.raises(CorruptMediaError, match=r"ends early: its audio decodes to \d\.\d s of the 11\.\d s"):
        check_complete(cut.name, info, decoded_s)
    check_complete(
        whole.name, probe_media(whole, max_duration_s=60), decode_audio(whole, max_duration_s=60).size / 16_000
    )
