"""Long-form narration: a book (Markdown or plain text) -> one audio file, chapter markers, subtitles.

    chapters = read_book("book.md")
    with Engine() as engine:
        report = narrate(engine, chapters, "book.mp3")

Memory stays constant however long the book is: each chapter is streamed segment by segment into the
encoder (a temporary file, renamed into place at the end), and subtitle cues are written as they come.
Chapters start at Markdown headings of level 1-2 (or at "Chapter 7" / "第七章" lines in plain text);
each chapter's title is spoken, followed by a pause; paragraphs get the frontend's paragraph pause.
Next to the audio: ``BOOK.srt`` and ``BOOK.vtt`` (one cue per spoken segment, timed to the samples
written), ``BOOK.ffmetadata`` (for ``ffmpeg -i BOOK.mp3 -i BOOK.ffmetadata -map_metadata 1 ...``) and
``BOOK.cue``.
"""

from __future__ import annotations

import glob
import re
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ..energy.accounting import EnergySum
from ..errors import EmptyTextError, InputError
from ..serving.client import EngineClient
from ..serving.records import Record, RequestLog, new_id
from ..runtime import audio as audio_io
from ..runtime.files import AtomicFile, write_atomic
from ..settings import SynthesisSettings, validated
from ..text.normalize import is_han

__all__ = ["Chapter", "read_book", "parse_markdown", "parse_text", "narrate", "Narration", "SUBTITLE_FORMATS",
           "MARKER_FORMATS", "CueWriter"]

SUBTITLE_FORMATS = ("srt", "vtt")
MARKER_FORMATS = ("ffmetadata", "cue")
CUE_LINE_CHARS = 42  # subtitle line length (Latin); Han text wraps at half of it
CUE_MAX_LINES = 2

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_NUMBER = (r"(\d+|[IVXLC]+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
           r"fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty)")
_TXT_HEADING = re.compile(
    r"^\s*((?:Chapter|CHAPTER|Part|PART|Book|BOOK)\s+" + _NUMBER + r"\b(?:[.:—-][^\n]{0,60}|\s*)"
    r"|(?:Prologue|PROLOGUE|Epilogue|EPILOGUE|Interlude|INTERLUDE)(?:[.:—-][^\n]{0,60})?"
    r"|第[0-9０-９零〇一二三四五六七八九十百千两]+[章回节卷部][^\n]{0,40})\s*$")
_LINK = re.compile(r"(!?)\[([^\]\n]*)\]\(([^)\n]*)\)")


@dataclass(frozen=True)
class Chapter:
    title: str
    text: str

    def spoken(self) -> str:
        return f"{self.title}\n\n{self.text}" if self.title else self.text


def read_book(path: str | Path) -> list[Chapter]:
    """Chapters of a ``.md``/``.markdown`` (headings) or any other text file (chapter lines)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the book {path}: {exc}") from None
    chapters = parse_markdown(text) if path.suffix.lower() in (".md", ".markdown") else parse_text(text)
    if not chapters:
        raise EmptyTextError(f"{path} contains no text to narrate")
    return chapters


def parse_markdown(text: str) -> list[Chapter]:
    """Chapters from ``#``/``##`` headings; markup is removed (links keep their text, code is skipped)."""
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)  # front matter
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    lines: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    chapters: list[Chapter] = []
    title, body = "", []
    for i, line in enumerate(lines):
        m = _MD_HEADING.match(line)
        setext = i + 1 < len(lines) and line.strip() and re.fullmatch(r"=+\s*", lines[i + 1] or "-")
        if (m and len(m[1]) <= 2) or setext:
            _add(chapters, title, body)
            title, body = _inline_md(m[2] if m else line.strip()), []
        elif re.fullmatch(r"=+\s*", line) and body == [] and title:
            continue  # the underline of a setext heading
        elif m:  # a deeper heading: its own paragraph
            body += ["", _inline_md(m[2]), ""]
        else:
            body.append(_block_md(line))
    _add(chapters, title, body)
    return chapters


def parse_text(text: str) -> list[Chapter]:
    """Chapters from heading lines such as "Chapter 3: The Storm", "PART TWO", "Prologue", "第三章 风暴".

    A Latin heading must start a block (first line, or after a blank line) and is a capitalised keyword
    with a number, so a wrapped line such as "part of the crew went ashore." is never one. Else one chapter.
    """
    chapters: list[Chapter] = []
    title, body = "", []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        starts_block = i == 0 or not lines[i - 1].strip() or line.strip().startswith("第")
        if starts_block and _TXT_HEADING.match(line):  # not a line inside a wrapped paragraph
            _add(chapters, title, body)
            title, body = line.strip(), []
        else:
            body.append(line)
    _add(chapters, title, body)
    return chapters


def _add(chapters: list[Chapter], title: str, body: list[str]) -> None:
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(body)).strip()
    if title or text:
        chapters.append(Chapter(title, text))


def _inline_md(text: str) -> str:
    def link(m: re.Match[str]) -> str:
        if m[1]:
            return ""  # images are not read out
        target = m[3].strip()
        return m[0] if target.startswith("/") and target.endswith("/") else m[2]  # keep [word](/phonemes/)

    text = _LINK.sub(link, text)
    text = re.sub(r"`([^`]*)`", r"\1", text)
    text = re.sub(r"(\*\*|__|\*|~~)(?=\S)(.+?)(?<=\S)\1", r"\2", text)
    text = re.sub(r"(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)", r"\1", text)
    text = re.sub(r"<[^>\n]+>", "", text)
    return re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", text))


def _block_md(line: str) -> str:
    s = line.strip()
    if re.fullmatch(r"([-*_]\s*){3,}", s) or re.fullmatch(r"\|?[\s:|-]+\|?", s) and "-" in s:
        return ""  # a rule or a table's separator row: a paragraph break
    s = re.sub(r"^(>\s*)+", "", s)
    s = re.sub(r"^([-*+]|\d+[.)])\s+", "", s)
    s = s.strip("|").replace("|", ", ") if s.startswith("|") else s
    return _inline_md(s)


@dataclass
class Narration:
    """What ``narrate`` wrote and what it cost."""

    path: Path
    duration_s: float
    chapters: list[dict[str, Any]]
    cues: int
    files: list[Path]
    wall_s: float
    energy: dict[str, Any] = field(default_factory=dict)

    @property
    def rtf(self) -> float:
        return self.wall_s / self.duration_s if self.duration_s else 0.0


class CueWriter:
    """Subtitles written as cues arrive, to a temporary file renamed into place by ``commit``."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path, self.kind, self.count = path, kind, 0
        self._target = AtomicFile(path)
        self._f: TextIO = self._target.open("w", encoding="utf-8", newline="\n")
        if kind == "vtt":
            self._f.write("WEBVTT\n\n")

    def add(self, start: float, end: float, text: str, speaker: str | None = None,
            words: list[tuple[float, float, str]] | None = None) -> None:
        """One cue; ``speaker`` labels it (SRT: "Name: text", WebVTT: a ``<v Name>`` voice span).
        ``words`` (start, end, word): WebVTT cues get karaoke timestamps (``<00:00:01.250>word``) and
        their text is the words as written; SRT cues keep the text."""
        self.count += 1
        sep = "," if self.kind == "srt" else "."
        head = f"{self.count}\n" if self.kind == "srt" else ""
        label = f"{speaker}: " if speaker and self.kind == "srt" else ""
        body = _wrap(label + text).replace("-->", "->")
        if self.kind == "vtt":  # WebVTT cue text is HTML-like
            esc = lambda x: x.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # noqa: E731
            body = esc(body)
            inside = [w for w in words or [] if start <= w[0] < end]
            if inside:
                body = " ".join((f"<{_clock(w[0], '.')}>" if k else "") + esc(w[2]) for k, w in enumerate(inside))
            if speaker:
                body = f"<v {speaker.replace('>', '')}>{body}"
        self._f.write(f"{head}{_clock(start, sep)} --> {_clock(end, sep)}\n{body}\n\n")

    def finish(self) -> None:
        """Flush to disk (before any file of the narration is renamed into place)."""
        self._f.close()
        self._target.sync()

    def commit(self) -> Path:
        return self._target.commit()

    def discard(self) -> None:
        if not self._f.closed:
            self._f.close()
        self._target.discard()


def _clock(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _wrap(text: str) -> str:
    width = CUE_LINE_CHARS // 2 if sum(map(is_han, text)) > len(text) / 3 else CUE_LINE_CHARS
    if " " in text.strip():
        lines = textwrap.wrap(text, width)
    else:
        lines = [text[i:i + width] for i in range(0, len(text), width)]
    if len(lines) > CUE_MAX_LINES:  # keep every word: rebalance into two long lines rather than cut
        half = (len(text) + 1) // 2
        cut = text.rfind(" ", 0, half + 1)
        cut = cut if cut > 0 else half
        lines = [text[:cut].strip(), text[cut:].strip()]
    return "\n".join(lines) or " "


ProgressFn = Callable[[int, int, float], None]  # (characters done, characters total, audio seconds so far)


def narrate(engine: EngineClient, chapters: list[Chapter], out: str | Path, settings: SynthesisSettings | None = None,
            *, format: str | None = None, subtype: str | None = None, chapter_pause_s: float = 2.0,
            subtitles: tuple[str, ...] = SUBTITLE_FORMATS, markers: tuple[str, ...] = MARKER_FORMATS,
            title: str | None = None, progress: ProgressFn | None = None, log: RequestLog | None = None,
            **overrides: Any) -> Narration:
    """Narrate ``chapters`` into ``out`` (+ subtitles and chapter markers beside it), in constant memory.

    ``settings`` (and ``overrides`` of its fields) are the synthesis settings of every chapter. Each
    chapter is also ended through ``log`` (a :class:`~greentts.serving.records.RequestLog`) as a request
    of route "narrate", like an HTTP request.
    Nothing is left behind if it fails part-way: all files are written to temporary names and renamed
    only when the whole book is done.
    """
    out = Path(out)
    fmt = format or audio_io.format_for_path(out)
    s: SynthesisSettings = validated(SynthesisSettings, settings, **overrides)
    _check(chapters, s, subtitles, markers, chapter_pause_s)
    rate = s.sample_rate or audio_io.default_rate(fmt) or engine.native_rate(s.tier)
    s = s.model_copy(update={"sample_rate": rate})
    engine.phonemize("Hello.", voice=s.voice, lang=s.lang, speed=s.speed, tier=s.tier)  # unknown voice: fail now
    t0 = time.perf_counter()
    total_chars = sum(len(c.spoken()) for c in chapters)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{glob.escape(out.stem)}.*.tmp"):  # left by a killed narration of this book
        stale.unlink(missing_ok=True)
    writer = audio_io.FileWriter(out, rate, fmt, subtype)
    cue_writers = [CueWriter(out.with_suffix(f".{k}"), k) for k in subtitles]
    spans: list[dict[str, Any]] = []
    energy = EnergySum()
    done_chars = 0
    try:
        for i, chapter in enumerate(chapters):
            start = writer.frames / rate
            _speak(engine, chapter, writer, cue_writers, rate, s, energy, log)
            spans.append({"title": chapter.title or f"Part {i + 1}", "start_s": round(start, 3),
                          "end_s": round(writer.frames / rate, 3)})
            if i < len(chapters) - 1:
                writer.write(audio_io.silence(chapter_pause_s, rate))
            done_chars += len(chapter.spoken())
            if progress:
                progress(done_chars, total_chars, writer.frames / rate)
        # every file is complete and on disk before the first rename, so the renames happen back to back
        writer.finish()
        for w in cue_writers:
            w.finish()
        files = [writer.commit()] + [w.commit() for w in cue_writers]
        files += _write_markers(out, fmt, spans, markers, title or out.stem)
    finally:
        writer.close()
        for w in cue_writers:
            w.discard()
    return Narration(out, writer.frames / rate, spans, cue_writers[0].count if cue_writers else 0, files,
                     time.perf_counter() - t0, energy.as_dict())


def _check(chapters: list[Chapter], s: SynthesisSettings, subtitles: tuple[str, ...], markers: tuple[str, ...],
           chapter_pause_s: float) -> None:
    """Refuse a narration that cannot be made, before anything is written."""
    for kind in subtitles:
        if kind not in SUBTITLE_FORMATS:
            raise InputError(f"unknown subtitle format {kind!r}; choose from {', '.join(SUBTITLE_FORMATS)}")
    for kind in markers:
        if kind not in MARKER_FORMATS:
            raise InputError(f"unknown chapter-marker format {kind!r}; choose from {', '.join(MARKER_FORMATS)}")
    if not 0 <= chapter_pause_s <= 30:
        raise InputError(f"chapter_pause_s must be between 0 and 30, got {chapter_pause_s}")
    if s.tier == "eco" and any(is_han(c) for ch in chapters for c in ch.spoken()):
        raise InputError("the eco tier speaks English only and this book contains Chinese characters; "
                         "use tier='standard'")


def _speak(engine: EngineClient, chapter: Chapter, writer: audio_io.FileWriter, cues: list[CueWriter], rate: int,
           settings: SynthesisSettings, energy: EnergySum, log: RequestLog | None = None) -> None:
    received, start = time.perf_counter(), writer.frames
    try:
        stream = engine.stream(chapter.spoken(), settings, low_latency=False, priority="bulk")
    except EmptyTextError:
        return  # a chapter with nothing speakable (only symbols): no audio, no cues
    with stream:
        for chunk in stream:
            begin = writer.frames
            writer.write(chunk.audio)
            seg = chunk.segment
            speech_end = writer.frames - round(seg.pause_s * rate)
            shift = begin / rate - seg.start_s  # the stream's clock -> the file's
            words = [(x["start"] + shift, x["end"] + shift, x["word"]) for x in chunk.words]
            for w in cues:
                w.add(begin / rate, max(begin, speech_end) / rate, seg.text, words=words)
    energy.add(stream.energy)
    if log is not None:
        record = Record(new_id(), "narrate", stream.voice.name, writer.format, status=stream.status, received=received,
                        audio_s=(writer.frames - start) / rate, tier=stream.tier, backend=stream.backend.name,
                        notes=[chapter.title or ""])
        log.done(record, stream.energy.as_dict() if stream.energy is not None else None, "narrate")


def _write_markers(out: Path, fmt: str, spans: list[dict[str, Any]], kinds: tuple[str, ...], title: str
                   ) -> list[Path]:
    files = []
    if "ffmetadata" in kinds:
        def esc(s: str) -> str:
            return re.sub(r"([=;#\\\n])", r"\\\1", s)

        text = f";FFMETADATA1\ntitle={esc(title)}\n" + "".join(
            f"\n[CHAPTER]\nTIMEBASE=1/1000\nSTART={round(c['start_s'] * 1000)}\nEND={round(c['end_s'] * 1000)}\n"
            f"title={esc(c['title'])}\n" for c in spans)
        path = out.with_suffix(".ffmetadata")
        write_atomic(path, text)
        files.append(path)
    if "cue" in kinds:
        kind = {"mp3": "MP3", "wav": "WAVE", "flac": "WAVE"}.get(fmt, "WAVE")

        def q(s: str) -> str:
            return s.replace('"', "'")

        lines = [f'TITLE "{q(title)}"', f'FILE "{q(out.name)}" {kind}']
        for n, c in enumerate(spans, 1):
            frames = round(c["start_s"] * 75)
            mm, rest = divmod(frames, 75 * 60)
            ss, ff = divmod(rest, 75)
            lines += [f"  TRACK {n:02d} AUDIO", f'    TITLE "{q(c["title"])}"', f"    INDEX 01 {mm:02d}:{ss:02d}:{ff:02d}"]
        path = out.with_suffix(".cue")
        write_atomic(path, "\n".join(lines) + "\n")
        files.append(path)
    return files
