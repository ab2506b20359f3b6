"""HTTP routes: thin handlers that parse, call the service on ``request.app.state``, and shape replies."""

from __future__ import annotations

import functools
import re
import shutil
import tempfile
import threading
import uuid
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..errors import GreenTTSError, VoiceError
from ..serving.client import EngineClient
from .auth import caller_namespace
from ..voices.store import check_voice_name, valid_voice_name
from .schemas import MODELS, OPENAI_VOICES, DialogueRequest, SpeechRequest, TimestampsRequest, responses
from .errors import HTTPError, namespaced, status_for
from .serving import Job, SpeechService, media_type

router = APIRouter()


def service(request: Request) -> SpeechService:
    return request.app.state.service


# -- speech ------------------------------------------------------------------------------------------

@router.post("/v1/audio/speech", responses=responses(400, 401, 413, 429, 500, 503, audio=True))
async def speech(body: SpeechRequest, request: Request, ns: str = Depends(caller_namespace)) -> Response:
    svc = service(request)
    ticket = svc.admit()
    release = functools.partial(svc.release, ticket)
    try:
        stream, record, encoder = await anyio.to_thread.run_sync(svc.open, body, ns, ticket)
    except BaseException:
        release()
        raise
    if not body.stream and body.stream_format == "audio":  # whole file: the energy travels in headers
        try:
            data = b"".join([part async for part in svc.chunks(stream, record, encoder)])
        except GreenTTSError as exc:
            status, kind = status_for(exc)
            raise HTTPError(status, str(exc), kind) from None
        finally:
            release()
        return Response(data, media_type=media_type(body.response_format), headers=svc.energy_headers(record))

    headers = {"x-request-id": record.id, "x-greentts-tier": record.tier, "x-greentts-backend": record.backend,
               "x-greentts-energy": f"/v1/requests/{record.id}", "Cache-Control": "no-store"}
    if record.notes:
        headers["x-greentts-notes"] = "; ".join(record.notes)[:500]
    if body.stream_format == "sse":
        gen = svc.sse(stream, record, encoder, input_chars=len(body.input))
        return _Released(gen, release, media_type="text/event-stream", headers=headers)
    return _Released(svc.audio(stream, record, encoder), release, media_type=media_type(body.response_format),
                     headers=headers)


_ELEVEN_FORMATS = re.compile(r"(mp3|pcm|wav|opus|flac)_(\d{4,5})(?:_\d+)?")


@router.post("/v1/text-to-speech/{voice_id}/with-timestamps", responses=responses(400, 401, 413, 429, 500, 503))
async def with_timestamps(voice_id: str, body: TimestampsRequest, request: Request, output_format: str = "mp3_44100_128",
                          ns: str = Depends(caller_namespace)) -> dict[str, Any]:
    """ElevenLabs-compatible: ``{audio_base64, alignment, normalized_alignment}``; the alignments give each
    character of the text (and of the words spoken for it) its start and end in seconds."""
    import base64

    from ..result import character_alignment

    m = _ELEVEN_FORMATS.fullmatch(output_format)
    if not m:
        raise HTTPError(400, f"output_format must be like mp3_44100_128, pcm_24000, wav_24000, opus_48000 or "
                             f"flac_24000, not {output_format!r}", param="output_format")
    speed = (body.voice_settings or {}).get("speed", 1.0)
    try:
        req = SpeechRequest(model="kokoro", input=body.text, voice=voice_id, response_format=m[1],
                            sample_rate=int(m[2]), language=body.language_code or "auto", stream=False,
                            speed=speed)
    except ValueError as exc:  # pydantic's ValidationError
        raise HTTPError(400, f"invalid request: {exc.errors()[0]['msg'] if hasattr(exc, 'errors') else exc}") from None
    svc = service(request)
    ticket = svc.admit(first_audio=False)
    try:
        stream, record, encoder = await anyio.to_thread.run_sync(svc.open, req, ns, ticket)
        data = b"".join([part async for part in svc.chunks(stream, record, encoder)])
    except GreenTTSError as exc:
        status, kind = status_for(exc)
        raise HTTPError(status, str(exc), kind) from None
    finally:
        svc.release(ticket)
    words = stream.words
    spoken = [(w, a, b) for seg in stream.segments for w, _, a, b in seg.spoken_words]
    normalized, cursor, timed = "", 0, []
    for w, a, b in spoken:
        normalized += ("" if not normalized or _cjk_join(normalized[-1], w[:1]) else " ") + w
        timed.append({"word": w, "start": a, "end": b, "char_start": len(normalized) - len(w),
                      "char_end": len(normalized)})
    return {"audio_base64": base64.b64encode(data).decode(), "alignment": character_alignment(body.text, words),
            "normalized_alignment": character_alignment(normalized, timed),
            "greentts": {"words": words, "energy": record.as_dict().get("energy")}}


def _cjk_join(a: str, b: str) -> bool:
    return "\u4e00" <= a <= "\u9fff" or "\u4e00" <= b <= "\u9fff"


@router.post("/v1/dialogue", responses=responses(400, 401, 413, 429, 500, 503, audio=True))
async def dialogue(body: DialogueRequest, request: Request, ns: str = Depends(caller_namespace)) -> Response:
    """A multi-speaker script -> one recording; ``timestamps: true`` -> JSON with the audio and the turns."""
    svc = service(request)
    ticket = svc.admit(first_audio=False)
    try:
        data, report, record = await anyio.to_thread.run_sync(svc.dialogue, body, ns)
    finally:
        svc.release(ticket)
    headers = {**svc.energy_headers(record), "x-greentts-audio-seconds": f"{report['duration_s']:.3f}"}
    if body.timestamps:
        import base64

        return JSONResponse({**report, "media_type": media_type(body.response_format),
                             "audio_base64": base64.b64encode(data).decode("ascii")}, headers=headers)
    return Response(data, media_type=media_type(body.response_format), headers=headers)


class _Released(StreamingResponse):
    """A streamed body that gives its admission slot back however the response ends, also when the client
    left before the body started (then nothing was queued: segments are submitted as the body is read)."""

    def __init__(self, content: Any, release: Any, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._release = release

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


@router.get("/v1/requests/{request_id}", responses=responses(401, 404))
async def request_report(request_id: str, request: Request, ns: str = Depends(caller_namespace)) -> dict[str, Any]:
    record = await anyio.to_thread.run_sync(service(request).record, request_id, ns)
    if record is None:
        raise HTTPError(404, f"no finished request {request_id!r} (reports of the last "
                             f"{service(request).config.keep_reports} requests are kept)", code="not_found")
    return record.as_dict()


# -- models and voices -------------------------------------------------------------------------------

@router.get("/v1/models", responses=responses(401))
async def models(_: str = Depends(caller_namespace)) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "greentts",
                                        "tier": tier} for m, tier in MODELS.items()]}


@router.get("/v1/voices", responses=responses(401))
async def voices(request: Request, ns: str = Depends(caller_namespace)) -> dict[str, Any]:
    engine = service(request).engine
    out = []
    for v in engine.list_voices():
        name = str(v["name"])
        if v.get("enrolled"):
            if ns and not name.startswith(ns):
                continue
            if not ns and namespaced(name) and request.app.state.auth:
                continue
            name = name[len(ns):]
        out.append({**v, "name": name})
    return {"object": "list", "data": out}


@router.post("/v1/voices", status_code=202, responses=responses(400, 401, 413, 501))
async def enroll(request: Request, file: UploadFile = File(...), name: str = Form(...),
                 text: str | None = Form(None), language: str | None = Form(None),
                 steps: int | None = Form(None, ge=0, le=200, description="refinement steps (default 32)"),
                 ns: str = Depends(caller_namespace)) -> JSONResponse:
    svc = service(request)
    cfg = svc.config
    try:
        from ..clone import require

        require("torch")
    except GreenTTSError as exc:
        raise HTTPError(501, str(exc), "server_error", code="clone_extra_missing") from None
    check_bare_name(svc.engine, name)  # the name as the caller wrote it, before the key's prefix
    limit = int(cfg.max_upload_mb * 1024 * 1024)
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise HTTPError(413, f"the upload is over {cfg.max_upload_mb:g} MB", param="file", code="upload_too_large")
    full = ns + name
    try:
        svc.engine.check_new_voice_name(full)  # before the upload is stored
    except GreenTTSError as exc:
        raise HTTPError(400, str(exc), param="name") from None
    folder = Path(tempfile.mkdtemp(prefix="greentts-upload-"))
    tmp = folder / f"clip{_upload_suffix(file.filename)}"
    try:
        tmp.write_bytes(data)
        _check_upload(tmp, cfg.max_upload_s)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    job = Job(uuid.uuid4().hex[:16], name, owner=ns)
    svc.jobs[job.id] = job

    def progress(stage: str, done: int, total: int) -> None:
        job.status = {"analyse": "analysing", "preview": "preview", "refine": "refining"}.get(stage, job.status)
        job.stage, job.done, job.total = stage, done, total
        svc.job_changed(job)

    def run() -> None:
        try:
            job.status = "analysing"
            enrollment = svc.engine.enroll(tmp, full, text=text or None, lang=language or None, steps=steps,
                                           progress=progress)
            job.meta = {**enrollment.meta, "name": name}
            job.status = "done"
        except GreenTTSError as exc:
            job.status, job.error = "error", str(exc)
        except Exception as exc:  # noqa: BLE001 - reported on the job, never lost
            job.status, job.error = "error", f"enrollment failed: {exc!r}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            svc.job_changed(job)

    svc.job_changed(job)
    threading.Thread(target=run, name=f"greentts-http-enroll-{job.id}", daemon=True).start()
    return JSONResponse(job.as_dict() | {"status_url": f"/v1/voices/jobs/{job.id}"}, status_code=202)


def check_bare_name(engine: EngineClient, name: str) -> None:
    """400 unless ``name`` (without the key's prefix) may name an enrolled voice: the full pattern, not a
    stock voice or an OpenAI voice name (either would hide the enrolled voice), not a key's prefix."""
    try:
        check_voice_name(name)
    except VoiceError as exc:
        raise HTTPError(400, str(exc), param="name") from None
    if name in engine.stock_voice_names() or name in OPENAI_VOICES:
        raise HTTPError(400, f"{name!r} is a stock voice name; choose another name for the enrolled voice",
                        param="name")
    if namespaced(name):
        raise HTTPError(400, f"voice names may not start like an API key's namespace (k + 8 hex digits + _): "
                             f"{name!r}", param="name")


def _upload_suffix(filename: str | None) -> str:
    """The upload's extension if it is a short plain one (the decoder looks at it), else none."""
    suffix = Path(filename or "").suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ".audio"


def _check_upload(path: Path, max_s: float) -> None:
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as exc:  # noqa: BLE001 - libsndfile's errors vary
        raise HTTPError(400, f"the upload is not readable audio: {exc}", param="file", code="bad_audio") from None
    if info.frames / info.samplerate > max_s:
        raise HTTPError(413, f"the upload is {info.frames / info.samplerate:.0f} s long; the limit is {max_s:g} s "
                             "(its cleanest 5-8 s of speech is used)", param="file", code="upload_too_long")


@router.get("/v1/voices/jobs/{job_id}", responses=responses(401, 404))
async def job_status(job_id: str, request: Request, ns: str = Depends(caller_namespace)) -> dict[str, Any]:
    job = await anyio.to_thread.run_sync(service(request).job, job_id, ns)
    if job is None:
        raise HTTPError(404, f"no enrollment job {job_id!r}", code="not_found")
    return job.as_dict()


@router.delete("/v1/voices/{name}", responses=responses(400, 401, 404))
async def delete_voice(name: str, request: Request, ns: str = Depends(caller_namespace)) -> dict[str, Any]:
    engine = service(request).engine
    if name in engine.stock_voice_names():
        raise HTTPError(400, f"{name!r} is a stock voice and cannot be deleted", param="name")
    if not valid_voice_name(name):
        raise HTTPError(404, f"no enrolled voice named {name!r}", param="name", code="not_found")
    try:
        engine.delete_voice(ns + name)
    except VoiceError:
        raise HTTPError(404, f"no enrolled voice named {name!r}", param="name", code="not_found") from None
    return {"deleted": name}


# -- operations --------------------------------------------------------------------------------------

@router.get("/metrics", responses=responses(401, metrics=True))
async def metrics(request: Request) -> Response:
    return Response(service(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "loading, or the models failed to load"}})
async def readyz(request: Request) -> Response:
    state = request.app.state
    if state.ready.is_set():
        return JSONResponse({"status": "ready", "model_load_s": state.load_s})
    if state.load_error:
        return JSONResponse({"status": "failed", "error": state.load_error}, status_code=503)
    return JSONResponse({"status": "loading"}, status_code=503)


@router.get("/v1/stats", responses=responses(401))
async def stats(request: Request, _: str = Depends(caller_namespace)) -> dict[str, Any]:
    return service(request).totals()


@router.get("/", response_class=HTMLResponse)
async def ui() -> HTMLResponse:
    return HTMLResponse(_page())


@lru_cache(maxsize=1)
def _page() -> str:
    return (files("greentts.server") / "web" / "index.html").read_text(encoding="utf-8")
