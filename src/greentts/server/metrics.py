"""Prometheus metrics, on a registry of the app's own (no process-wide globals)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ..serving.client import EngineClient

__all__ = ["Metrics"]

LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 120.0)
RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)


class Metrics:
    def __init__(self, engine: EngineClient) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("greentts_requests_total", "HTTP requests by route and status", ["route", "status"],
                                registry=r)
        self.first_audio = Histogram("greentts_time_to_first_audio_seconds",
                                     "request received -> first audio byte ready", buckets=LATENCY_BUCKETS, registry=r)
        self.latency = Histogram("greentts_request_duration_seconds", "request received -> last byte ready",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.rtf = Histogram("greentts_rtf", "wall seconds per audio second, per speech request",
                             buckets=RTF_BUCKETS, registry=r)
        self.audio_s = Counter("greentts_audio_seconds_total", "audio produced", ["backend"], registry=r)
        self.energy_j = Counter("greentts_energy_joules_total", "energy attributed to requests",
                                ["method", "backend"], registry=r)
        self.gco2e = Counter("greentts_gco2e_total", "emissions attributed to requests (grams CO2e)",
                             ["backend"], registry=r)
        self.avoided_j = Counter("greentts_energy_avoided_joules_total", "energy not spent: what the segments "
                                 "served from the audio cache cost when first rendered", ["method", "backend"],
                                 registry=r)
        self.part_j = Counter("greentts_energy_part_joules_total", "energy attributed to requests by kind of "
                              "work: speech, fast_lane (rendering), frontend, post, cache, enrollment, other",
                              ["part"], registry=r)
        self.cache_requests = Counter("greentts_audio_cache_requests_total", "requests by how the audio cache "
                                      "served them (hit: every segment, partial, miss: none)", ["result"], registry=r)
        Gauge("greentts_audio_cache_bytes", "size of the on-disk audio cache as this process last saw it",
              registry=r).set_function(lambda: (engine.audio_cache_stats() or {}).get("bytes", 0))
        self.in_flight = Gauge("greentts_requests_in_flight", "speech requests admitted and not finished",
                               registry=r)
        self.rejected = Counter("greentts_rejected_total", "speech requests refused with 429", registry=r)
        self.model_load = Gauge("greentts_model_load_seconds", "seconds to load and warm the models", registry=r)
        Gauge("greentts_queue_depth", "segments waiting in the scheduler", registry=r).set_function(
            lambda: engine.stats()["queue_depth"])
        Gauge("greentts_busy_workers", "scheduler workers running a segment", registry=r).set_function(
            lambda: engine.stats()["busy_workers"])
        Gauge("greentts_workers", "scheduler workers", registry=r).set_function(lambda: engine.workers)
        Gauge("greentts_idle_joules", "idle energy since start (not attributed to requests)",
              registry=r).set_function(lambda: engine.energy().idle_j)
        Gauge("greentts_startup_joules", "model loading and warm-up energy", registry=r).set_function(
            lambda: engine.energy().startup_j)
        Gauge("greentts_energy_total_joules", "all energy since start (idle + attributed + in flight)",
              registry=r).set_function(lambda: engine.energy().total_j)

    def request_done(self, record: Any, route: str) -> None:
        """:class:`~greentts.serving.records.RequestLog`'s sink: every finished request, any front end (its
        route's latency, audio, real-time factor and energy)."""
        wall_s = record.total_s or 0.0
        self.latency.labels(route).observe(wall_s)
        self.audio_s.labels(record.backend).inc(record.audio_s)
        if record.audio_s > 0:
            self.rtf.observe(wall_s / record.audio_s)
        if record.energy is not None:
            self.energy_j.labels(record.energy["method"], record.backend).inc(record.energy["joules"])
            self.gco2e.labels(record.backend).inc(record.energy["gco2e"])
            for part, joules in (record.energy.get("parts") or {}).items():
                self.part_j.labels(part).inc(max(0.0, float(joules)))
            cache = record.energy.get("cache", "off")
            if cache != "off":
                self.cache_requests.labels(cache).inc()
            if record.energy.get("avoided_joules"):
                self.avoided_j.labels(record.energy.get("avoided_method") or record.energy["method"],
                                      record.backend).inc(record.energy["avoided_joules"])

    def render(self) -> bytes:
        return generate_latest(self.registry)
