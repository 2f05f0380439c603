"""The ``moments`` command line. It only parses arguments, wires components and prints results."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.backend import Backend, RemoteError, connect
from api.schemas import ChapterPublic, SpeakerPublic
from api.services import Services, index_config
from api.settings import Settings
from ingest.errors import IngestError
from ingest.formats import MEDIA_SUFFIXES
from ingest.subtitles import FORMATS, chapters_vtt, format_timestamp, render_transcript, segments_as_dicts
from retrieval.errors import IndexUnavailableError, RetrievalError
from retrieval.types import SearchMode

app = typer.Typer(
    help="Search what was said in your video and audio library, and jump to the moment.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
media_app = typer.Typer(help="List and remove media.", no_args_is_help=True)
models_app = typer.Typer(help="Model weights for offline machines.", no_args_is_help=True)
app.add_typer(media_app, name="media")
app.add_typer(models_app, name="models")

out = Console()
err = Console(stderr=True)
T = TypeVar("T")
USER_ERRORS = (IngestError, RetrievalError, RemoteError)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def guarded(fn: Callable[[], T]) -> T:
    """Run ``fn``; a user-facing error becomes one line on stderr and exit status 1, not a traceback."""
    try:
        return fn()
    except USER_ERRORS as exc:
        fail(str(exc))


class _MigrationBar:
    """The one-time move of an older embedded index to the current layout (Qdrant Edge, compact vectors), as a
    progress bar on stderr."""

    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.progress is None:
            err.print(
                "Moving the embedded index to its current layout (once; nothing is re-transcribed or re-embedded)."
            )
            self.progress = Progress(TextColumn("moving"), BarColumn(), TaskProgressColumn(), console=err)
            self.progress.start()
            self.task = self.progress.add_task("moving", total=max(1, total))
        assert self.task is not None
        self.progress.update(self.task, completed=done)
        if done >= total:
            self.progress.stop()


def services() -> Services:
    try:
        return Services(Settings(), on_migration=_MigrationBar())
    except ValidationError as exc:  # a bad MOMENTS_ variable
        fail(f"invalid configuration: {exc}")


def backend(svc: Services) -> Backend:
    """This process's index, or the server that owns it (said once, on stderr)."""
    return guarded(lambda: connect(svc, announce=err.print))


def expand(paths: list[Path]) -> Iterator[Path]:
    """Files as given; folders walked for media files by extension."""
    for p in paths:
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in MEDIA_SUFFIXES)
        else:
            yield p


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Media files and folders.")],
    watch: Annotated[bool, typer.Option("--watch", help="Keep watching the folders for new files.")] = False,
    interval_s: Annotated[float, typer.Option("--interval", help="Seconds between scans with --watch.")] = 5.0,
    title: Annotated[str | None, typer.Option(help="Title for a single file.")] = None,
) -> None:
    """Transcribe and index media files and folders, with a progress bar per file and overall."""
    svc = services()
    for p in paths:
        if not p.exists():
            fail(f"{p}: no such file or folder")
    seen: set[Path] = set()
    failures = 0
    target: Backend | None = None
    while True:
        files = [f for f in expand(paths) if f.resolve() not in seen]
        if files:
            target = target or backend(svc)
            failures += _ingest_files(target, files, title if len(files) == 1 and not watch else None, svc)
            seen.update(f.resolve() for f in files)
        if not watch:
            break
        time.sleep(interval_s)
    if target is not None:
        target.close()
    svc.close()
    if failures:
        raise typer.Exit(1)


def _expected(svc: Services, path: Path) -> str | None:
    """How long the file should take, before it starts (None for a file that is not media: the ingest
    says why)."""
    from ingest.media import probe_media
    from ingest.pipeline import media_id_for

    try:
        info = probe_media(path, max_duration_s=svc.settings.max_duration_s, name=path.name)
        if svc.catalog.find_media(media_id_for(path)) is not None:
            return None  # indexed already: nothing to wait for
    except (IngestError, OSError):
        return None
    return svc.expectation_line(info.duration_s)


def _ingest_files(target: Backend, files: list[Path], title: str | None, svc: Services) -> int:
    failures = 0
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        overall = progress.add_task(f"[bold]{len(files)} file(s)", total=len(files))
        for n, path in enumerate(files):
            task = progress.add_task(f"  {path.name}: hash", total=1.0)
            expected = _expected(svc, path)
            if expected is not None:
                progress.console.print(f"  [dim]{escape(path.name)}: {escape(expected)}[/]", highlight=False)

            def report(stage: str, fraction: float, task: TaskID = task, name: str = path.name) -> None:
                progress.update(task, completed=fraction, description=f"  {name}: {stage}")

            try:
                done = target.ingest(path, title, report)
            except USER_ERRORS as exc:
                failures += 1
                progress.update(task, description=f"  [red]✗ {path.name}")
                progress.console.print(f"[bold red]error:[/] {exc}", highlight=False)
            else:
                progress.update(
                    task, completed=1.0, description=f"  [green]✓ {path.name}[/] ({done.detail}) {done.media_id}"
                )
            progress.update(overall, completed=n + 1)
    return failures


@app.command()
def search(
    query: Annotated[str, typer.Argument(help='What was said; put "exact phrases" in quotes.')],
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
    mode: Annotated[str, typer.Option(help="hybrid, semantic or keyword.")] = "hybrid",
    media_id: Annotated[str | None, typer.Option("--media-id")] = None,
    kind: Annotated[str | None, typer.Option(help="audio or video.")] = None,
    speaker: Annotated[
        str | None, typer.Option(help="Only what this speaker said: a display name or a label (SPEAKER_1).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The /api/search response shape.")] = False,
) -> None:
    """Find the moments where something was said."""
    svc = services()
    if mode not in ("hybrid", "semantic", "keyword"):
        fail(f"unknown mode {mode!r}; use hybrid, semantic or keyword", 2)
    mode_t: SearchMode = mode  # type: ignore[assignment]
    target = backend(svc)
    result = guarded(
        lambda: target.search(query, limit=limit, mode=mode_t, media_id=media_id, kind=kind, speaker=speaker)
    )
    target.close()
    if as_json:
        sys.stdout.write(result.model_dump_json(exclude_none=True) + "\n")
        return
    if result.speakers:
        out.print(f"[dim]What {escape(' and '.join(result.speakers))} said:[/]")
    if not result.results:
        out.print("No moments found.")
        return
    for m in result.results:
        rendered, pos = "", 0
        heard = {tuple(span) for span in m.sounds_like}
        for s, e in m.highlights:
            # a word that only sounds like the query (a name Whisper wrote as it heard it) says so with ~
            sounds = "[dim]~[/]" if (s, e) in heard else ""
            rendered += escape(m.text[pos:s]) + f"[bold yellow]{escape(m.text[s:e])}[/]{sounds}"
            pos = e
        rendered += escape(m.text[pos:])
        span = f"{_clock(m.start)}-{_clock(m.end)}"
        out.print(
            f"[bold]{escape(m.title)}[/] [dim]({escape(m.filename)}, {m.media_id})[/]  [cyan]{span}[/]  "
            f"[dim]score {m.score:.3f}[/]"
        )
        who = f"[magenta]{escape(m.speaker)}:[/] " if m.speaker else ""
        out.print(f"   {who}{rendered}", highlight=False)
        if m.chapter is not None:
            story = f" · from the story's start; the sentence is at {_clock(m.match.start)}" if m.match else ""
            out.print(f"   [dim]in: {escape(m.chapter.title)}{story}[/]")
        out.print(f"   [dim]{m.url}[/]")
    out.print(f"[dim]{len(result.results)} moments in {result.took_ms:.0f} ms[/]")


def _clock(seconds: float) -> str:
    return format_timestamp(seconds, always_hours=False)[:-4]


@app.command()
def transcript(
    media_id: Annotated[str, typer.Argument()],
    fmt: Annotated[str, typer.Option("--format", "-f", help="srt, vtt, json or txt.")] = "txt",
    words: Annotated[bool, typer.Option("--words", help="vtt: each word's time as a cue timestamp.")] = False,
) -> None:
    """Print a media item's transcript."""
    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", 2)
    svc = services()
    segments = guarded(lambda: svc.catalog.get_segments(media_id))
    speakers = svc.catalog.get_speakers(media_id)
    if fmt == "json":
        body: dict[str, object] = {"segments": segments_as_dicts(segments)}
        if speakers:
            body["speakers"] = [SpeakerPublic.of(s).model_dump() for s in speakers]
        sys.stdout.write(json.dumps(body, ensure_ascii=False) + "\n")
    else:
        names = {s.label: s.display for s in speakers}
        sys.stdout.write(render_transcript(segments, fmt, word_times=words, speakers=names))


@app.command()
def speakers(
    media_id: Annotated[str, typer.Argument()],
    name: Annotated[
        list[str] | None,
        typer.Option(
            "--name", "-n", help="Give a speaker a display name: SPEAKER_1=Alice (repeatable; SPEAKER_1= clears)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The /api/media/{id}/speakers response shape.")] = False,
) -> None:
    """List who speaks in a media item (and for how long), or name them; search then finds the names."""
    svc = services()
    found = guarded(lambda: svc.catalog.get_speakers(media_id))
    if name:
        names: dict[str, str | None] = {}
        for pair in name:
            label, sep, value = pair.partition("=")
            if not sep:
                fail(f"--name wants SPEAKER_N=Name, not {pair!r}", 2)
            names[label.strip().upper()] = " ".join(value.split()) or None
        found = guarded(lambda: svc.catalog.rename_speakers(media_id, names))
    if as_json:
        rows = [SpeakerPublic.of(s).model_dump() for s in found]
        sys.stdout.write(json.dumps({"media_id": media_id, "speakers": rows}, ensure_ascii=False) + "\n")
    elif not found:
        out.print("No speakers (found at ingest with MOMENTS_SPEAKERS=true; none in a file without speech).")
    else:
        for sp in found:
            shown = f"{escape(sp.name)} [dim]({sp.label})[/]" if sp.name else sp.label
            out.print(
                f"{shown}  [cyan]{_clock(sp.speaking_s)}[/] spoken in {sp.segments} segments, first at "
                f"{_clock(sp.first_s)}",
                highlight=False,
            )


@app.command()
def chapters(
    media_id: Annotated[str, typer.Argument()],
    fmt: Annotated[str, typer.Option("--format", "-f", help="txt, json or vtt (a WebVTT chapters track).")] = "txt",
) -> None:
    """Print a media item's chapters: where each topic starts, and its title."""
    if fmt not in ("txt", "json", "vtt"):
        fail(f"unknown format {fmt!r}; use txt, json or vtt", 2)
    svc = services()
    found = guarded(lambda: svc.catalog.get_chapters(media_id))
    if fmt == "json":
        rows = [ChapterPublic.of(c).model_dump() for c in found]
        sys.stdout.write(json.dumps({"media_id": media_id, "chapters": rows}, ensure_ascii=False) + "\n")
    elif fmt == "vtt":
        sys.stdout.write(chapters_vtt(found))
    elif not found:
        out.print("No chapters (media ingested before chapters existed get them with `moments reindex`).")
    else:
        for c in found:
            out.print(f"[cyan]{_clock(c.start_s)}[/]  {escape(c.title)}", highlight=False)


@media_app.command("ls")
def media_ls(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the media in the library."""
    records = services().catalog.list_media()
    if as_json:
        sys.stdout.write(json.dumps([r.__dict__ for r in records], ensure_ascii=False) + "\n")
        return
    if not records:
        out.print("The library is empty. Add media with `moments ingest PATH`.")
        return
    table = Table("id", "title", "kind", "duration", "language", "status")
    for r in records:
        table.add_row(
            r.id, r.title, r.kind, format_timestamp(r.duration_s, always_hours=False)[:-4], r.language, r.status
        )
    out.print(table)


@media_app.command("rm")
def media_rm(media_ids: Annotated[list[str], typer.Argument()]) -> None:
    """Remove media everywhere: their index points, their transcripts and the files the library kept."""
    svc = services()
    target = backend(svc)
    via = f" (via {target.where})" if target.where else ""
    for media_id in media_ids:
        guarded(lambda media_id=media_id: target.remove(media_id))  # type: ignore[misc]
        out.print(f"removed {media_id}{via}")
    target.close()


@app.command()
def reindex(
    to: Annotated[
        str | None,
        typer.Option("--to", help="Build the index on this Qdrant server instead (moving up from embedded)."),
    ] = None,
    collection: Annotated[
        str | None, typer.Option(help="Collection name on the target (default: MOMENTS_COLLECTION).")
    ] = None,
) -> None:
    """Rebuild the search index from the catalog, re-embedding with the configured model (no re-transcription)."""
    from retrieval.index import QdrantPassageIndex

    svc = services()
    target = guarded(lambda: QdrantPassageIndex(index_config(svc.settings, to, collection)) if to else svc.index)
    ingestor = svc.ingestor_for(target)
    with Progress(TextColumn("reindex"), BarColumn(), TaskProgressColumn(), console=err) as progress:
        task = progress.add_task("reindex", total=max(1, svc.catalog.count_media()))
        total = guarded(lambda: ingestor.reindex(on_progress=lambda n, _t: progress.update(task, completed=n)))
    out.print(f"reindexed {total} passages of {svc.catalog.count_media()} media")
    if to:
        out.print(
            f"To search it: MOMENTS_QDRANT_URL={to}" + (f" MOMENTS_COLLECTION={collection}" if collection else "")
        )
        target.close()
    svc.close()


@app.command()
def worker(
    poll_s: Annotated[float, typer.Option("--poll", help="Seconds between looks at an empty queue.")] = 1.0,
) -> None:
    """Run ingest jobs from the shared queue (several workers can run beside a Qdrant server)."""
    svc = services()
    guarded(svc.open_index)
    runner = svc.runner(poll_s=poll_s)
    err.print(f"worker {runner.worker_id}: waiting for jobs (Ctrl-C stops)")
    runner.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        runner.stop()
    svc.close()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: MOMENTS_HOST (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Default: MOMENTS_PORT (8000).")] = None,
    worker: Annotated[
        bool | None,
        typer.Option(
            "--worker/--no-worker",
            help="Run ingest jobs here (default: MOMENTS_INGEST_WORKER, true). --no-worker serves search and "
            "queues jobs for `moments worker`, without loading Whisper (needs MOMENTS_QDRANT_URL).",
        ),
    ] = None,
) -> None:
    """Serve the web page and the REST API (OpenAPI at /docs), with the ingest worker."""
    import uvicorn

    from api.app import create_app

    svc = services()
    settings = svc.settings
    if worker is not None and worker != settings.ingest_worker:
        try:
            settings = Settings(**{**settings.model_dump(), "ingest_worker": worker})
        except ValidationError as exc:
            fail(exc.errors()[0]["msg"].removeprefix("Value error, "), 2)
    try:  # a locked embedded index is a one-line error here, not a traceback from the server's start-up
        svc.open_index()
    except IndexUnavailableError as exc:  # a Qdrant server may come up later: serve, and say so
        err.print(f"moments: warning: {exc}; /api/ready reports 503 until the server answers")
    except USER_ERRORS as exc:
        fail(str(exc))
    svc.close()
    host = host or settings.host
    port = port or settings.port
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}"
    jobs = "" if settings.ingest_worker else "; search only: jobs are queued for `moments worker`"
    err.print(f"moments: loading models, then serving on [bold]{url}/[/] (API docs at {url}/docs){jobs}")
    try:
        uvicorn.run(create_app(settings, public_url=url), host=host, port=port, log_level="info")
    except USER_ERRORS as exc:
        fail(str(exc))


@models_app.command("prepare-offline")
def models_prepare_offline(
    only: Annotated[list[str] | None, typer.Option("--only", help="whisper-base or whisper-tiny.en")] = None,
) -> None:
    """Convert the installed registry packs with real Whisper weights (the offline-models extra) for transformers."""
    from ingest.models import prepare_offline

    settings = services().settings
    result = guarded(lambda: prepare_offline(settings.resolved_models_dir, only, on_step=err.print))
    for name, path in result.whisper.items():
        out.print(f"{name}\t{path}")
    out.print(f"embedding\t{result.embedding}")
    err.print("Use one with: MOMENTS_WHISPER_MODEL=whisper-base moments ingest PATH")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
