"""Request and response bodies. The speech request is OpenAI's ``/v1/audio/speech`` schema plus
greentts extensions (``language``, ``sample_rate``, ``pronunciations``, ``tier``, ``stream``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..runtime.audio import MEDIA_TYPES

__all__ = ["SpeechRequest", "DialogueRequest", "TimestampsRequest", "ErrorBody", "error_body", "responses", "OPENAI_VOICES", "MODELS",
           "PRESET_WORDS"]

# OpenAI's voice names -> the Kokoro voice that plays the part (most have a namesake in Kokoro v1.0).
OPENAI_VOICES = {"alloy": "af_alloy", "echo": "am_echo", "fable": "bm_fable", "onyx": "am_onyx",
                 "nova": "af_nova", "shimmer": "af_bella", "ash": "am_adam", "ballad": "bm_lewis",
                 "coral": "af_heart", "sage": "af_sarah", "verse": "am_michael"}
# model id -> tier ("auto": the tier with the lowest measured energy that can speak the request)
MODELS = {"tts-1": "standard", "tts-1-hd": "standard", "gpt-4o-mini-tts": "standard", "kokoro": "standard",
          "greentts": "standard", "greentts-eco": "eco", "hibari": "eco", "greentts-auto": "auto"}
# words in ``instructions`` -> prosody preset (first match wins; none -> instructions are not applied)
PRESET_WORDS = {
    "cheerful": ("cheerful", "happy", "excited", "upbeat", "joyful", "enthusiastic", "friendly", "开心", "高兴"),
    "calm": ("calm", "soothing", "relaxed", "gentle", "soft", "quiet", "平静", "温柔"),
    "serious": ("serious", "formal", "stern", "grave", "authoritative", "严肃"),
    "news": ("news", "anchor", "broadcast", "announcer", "reporter", "新闻", "播报"),
    "storytelling": ("story", "narrat", "fairy", "bedtime", "故事", "讲述"),
    "neutral": ("neutral", "plain", "flat", "中性"),
}


ModelName = Literal[tuple(MODELS)]  # type: ignore[valid-type]  # the model ids, as an enum in the schema


class SpeechRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: ModelName = Field(..., description="tts-1, tts-1-hd, gpt-4o-mini-tts, kokoro (standard tier), "
                                              "greentts-eco / hibari (eco), greentts-auto (auto)")
    input: str = Field(..., min_length=1, description="the text to speak (English, Mandarin or both); at most "
                                                     "the server's max_input_chars (4096 by default), else 413")
    voice: str = Field(..., min_length=1, description="an OpenAI voice name, a stock or enrolled voice, or a "
                                                      "blend a:0.6,b:0.4")
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = "mp3"
    speed: float = Field(1.0, ge=0.5, le=2.0, description="0.5-2.0 here (OpenAI allows 0.25-4.0)")
    instructions: str | None = Field(None, description="mapped to a prosody preset when it names a style")
    stream_format: Literal["audio", "sse"] = "audio"
    # greentts extensions
    language: Literal["auto", "en", "zh"] = "auto"
    sample_rate: int | None = Field(None, ge=8000, le=48000, description="output rate, 8000-48000 Hz (default 24000)")
    pronunciations: list[dict[str, Any]] = Field(default_factory=list,
                                                 description="per-request dictionary entries")
    tier: Literal["standard", "eco", "auto"] | None = Field(None, description="overrides the model's tier")
    prosody: Literal["neutral", "news", "storytelling", "cheerful", "calm", "serious"] | None = None
    stream: bool = Field(True, description="false: send the whole file at once, with the energy in headers")
    input_format: Literal["auto", "text", "ssml"] = Field(
        "auto", description="ssml: input is SSML (docs/ssml.md); auto: SSML when input starts with <speak")
    ssml_strict: bool = Field(True, description="unknown SSML elements are a 400 (false: read and report them)")
    cache: bool = Field(True, description="false: render afresh, neither reading nor filling the server's audio "
                        "cache (when it has one: --audio-cache-mb)")


class DialogueRequest(BaseModel):
    """``POST /v1/dialogue``: a multi-speaker script -> one mixed recording (+ per-turn timestamps)."""

    model_config = ConfigDict(extra="forbid")

    script: str | dict[str, Any] = Field(..., description="'[S1] text' / 'Name: text' lines, or "
                                                          "{speakers: {...}, turns: [{speaker, text}, ...]}")
    voices: dict[str, str] = Field(default_factory=dict, description="speaker -> voice (stock, blend, enrolled)")
    auto_voices: bool = Field(False, description="give unmapped speakers distinct stock voices")
    response_format: Literal["mp3", "opus", "flac", "wav", "pcm"] = "mp3"
    sample_rate: int | None = Field(None, ge=8000, le=48000, description="output rate, 8000-48000 Hz (default 24000)")
    gap_scale: float = Field(1.0, ge=0.0, le=5.0, description="scales the turn-taking gaps")
    tier: Literal["standard", "eco"] = "standard"
    timestamps: bool = Field(False, description="true: reply JSON {audio_base64, media_type, turns, ...}")


class TimestampsRequest(BaseModel):
    """``POST /v1/text-to-speech/{voice_id}/with-timestamps`` (the ElevenLabs request shape)."""

    model_config = ConfigDict(extra="ignore")  # ElevenLabs clients send settings that have no meaning here

    text: str = Field(..., min_length=1, description="the text to speak (plain text or SSML)")
    model_id: str | None = Field(None, description="accepted and ignored (Kokoro-82M speaks)")
    language_code: Literal["en", "zh"] | None = Field(None, description="en or zh (default: detected)")
    voice_settings: dict[str, Any] | None = Field(None, description="'speed' (0.5-2) is used; the rest ignored")


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


def error_body(message: str, type: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """OpenAI's error JSON: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": ErrorBody(message=message, type=type, param=param, code=code).model_dump()}


_DESCRIPTIONS = {
    400: "invalid request: the message names the field and the problem",
    401: "missing or invalid API key (only when the server has keys)",
    404: "no such record, job or voice for this key",
    413: "input, script or upload too large",
    429: "busy: first audio would wait too long, or too many requests; see Retry-After",
    500: "internal error",
    501: "the server lacks an optional extra (e.g. cloning)",
    503: "the engine is closed or the models are not loaded",
}
AUDIO_TYPES = (*dict.fromkeys(MEDIA_TYPES.values()), "text/event-stream")


def responses(*codes: int, audio: bool = False, metrics: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route: each error status with the OpenAI error body, and for audio
    routes the media types of a 200."""
    out: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorResponse, "description": _DESCRIPTIONS[code]} for code in codes}
    if audio:
        out[200] = {"description": "the audio (or JSON with base64 audio and timestamps for dialogue)",
                    "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in AUDIO_TYPES}
                    | {"application/json": {"schema": {"type": "object"}}}}
    if metrics:
        out[200] = {"description": "Prometheus text exposition",
                    "content": {"text/plain": {"schema": {"type": "string"}}}}
    return out


class ErrorResponse(BaseModel):
    """OpenAI's error JSON."""

    error: ErrorBody
