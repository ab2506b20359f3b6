"""Which segments a stream offers to the fast lane, without a model (the stream never sees the engine).

A low-latency stream offers its first segment; a whole-text request (``synthesize``) offers its segment
only when the plan has just one, since any other segment could use the other cores instead.
"""

import time
from concurrent.futures import Future
from types import SimpleNamespace

import numpy as np

from greentts.core.stream import StreamRuntime, SynthesisStream
from greentts.energy import CarbonFactors, CpuTimeMeter, EnergyAccountant
from greentts.settings import SynthesisSettings
from greentts.text.frontend import Frontend
from greentts.voices.store import VoiceStore

ONE = "A short prompt."
THREE = "The first sentence is here. A second one follows it. And a third one ends the paragraph."


def _offers(tmp_path, text: str, low_latency: bool) -> list[bool]:
    offered: list[bool] = []

    def submit(seg, voice, backend, settings, tally, fast_lane, priority, speed):  # noqa: ANN001, ANN202
        offered.append(fast_lane)
        fut: Future = Future()
        fut.set_result((np.full(2400, 0.1, np.float32), 0.001, None))
        return fut

    runtime = StreamRuntime(submit, lambda seg, voice: voice,
                            EnergyAccountant(CpuTimeMeter(), CarbonFactors(400.0, 1.0, "test")), None, 4)
    plan = Frontend().plan(text, lang="en", first_max_ids=16 if low_latency else 510)
    backend = SimpleNamespace(name="kokoro", sample_rate=24000)
    stream = SynthesisStream(runtime, plan, VoiceStore(tmp_path).get("af_heart"), backend, SynthesisSettings(),
                             time.perf_counter(), low_latency)
    stream._prepare(False)
    chunks = list(stream)
    assert len(chunks) == len(offered) and stream.status == "complete"
    return offered


def test_whole_requests_offer_their_only_segment_to_the_fast_lane(tmp_path):
    assert _offers(tmp_path, ONE, low_latency=False) == [True]
    assert _offers(tmp_path, THREE, low_latency=False) == [False, False, False]


def test_low_latency_streams_offer_their_first_segment(tmp_path):
    offered = _offers(tmp_path, THREE, low_latency=True)
    assert offered[0] and not any(offered[1:]) and len(offered) >= 3
