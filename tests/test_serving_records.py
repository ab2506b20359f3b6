"""Every front end ends its requests the same way: batch items and narrated chapters go through the
serving layer's RequestLog, with the fields of an HTTP request's record, and into the server's metrics."""

import json
from dataclasses import fields

import pytest

from greentts.jobs import Chapter, LocalRenderer, TaskDefaults, load_tasks, narrate, run_batch
from greentts.serving.records import Record, RequestLog

pytestmark = pytest.mark.model


def test_batch_items_and_chapters_are_recorded_and_counted_like_speech_requests(engine, tmp_path):
    pytest.importorskip("prometheus_client")
    from prometheus_client.parser import text_string_to_metric_families

    from greentts.server.metrics import Metrics

    metrics = Metrics(engine)
    log = RequestLog(100, [metrics])
    rows = [{"input_text": "Good morning.", "output_name": "a"}, {"input_text": "早上好。", "output_name": "b"},
            {"input_text": "Good morning.", "output_name": "c"},  # the same request: a copy, no synthesis
            {"input_text": "Hello.", "output_name": "d", "voice": "af_heart:0.5,af_bella:0.5", "speed": 1.5}]
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    tasks, bad = load_tasks(tmp_path / "t.jsonl", TaskDefaults())
    renderer = LocalRenderer(engine)
    try:
        summary = run_batch(renderer, tasks, tmp_path / "out", log=log)
    finally:
        renderer.close()
    assert summary.ok == 4 and not bad
    book = [Chapter("One", "The boats came in at dawn."), Chapter("Two", "今天下雨了。")]
    narration = narrate(engine, book, tmp_path / "book.wav", log=log)

    records = list(log.records.values())
    batch = [r for r in records if r.model == "batch"]
    chapters = [r for r in records if r.model == "narrate"]
    assert len(batch) == 4 and len(chapters) == 2
    speech_fields = {f.name for f in fields(Record)}  # the record an HTTP speech request gets
    for r in batch + chapters:
        assert isinstance(r, Record) and {f.name for f in fields(r)} == speech_fields
        assert r.status == "complete" and r.audio_s > 0.3 and r.total_s is not None and r.backend == "kokoro"
        assert r.energy is not None and r.energy["method"] == "estimated"
        assert set(r.as_dict()) == set(Record("x", "m", "v", "wav").as_dict())
    copied = [r for r in batch if r.energy.get("reused_from")]
    assert len(copied) == 1 and copied[0].energy["joules"] == 0.0  # a copy cost nothing and says so
    assert all(r.energy["joules"] > 0 for r in batch + chapters if r not in copied)
    # the same sum the batch summary and the narration report give
    assert sum(r.energy["joules"] for r in batch) == pytest.approx(summary.energy.joules, rel=1e-6)
    assert sum(r.energy["joules"] for r in chapters) == pytest.approx(narration.energy["joules"], rel=1e-6)
    assert log.totals()["request_joules"] == pytest.approx(summary.energy.joules + narration.energy["joules"], rel=1e-6)

    fams = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    counts = {s.labels["route"]: s.value for s in fams["greentts_request_duration_seconds"].samples
              if s.name.endswith("_count")}
    assert counts == {"batch": 4, "narrate": 2}
    joules = sum(s.value for s in fams["greentts_energy_joules"].samples if s.name.endswith("_total"))
    assert joules == pytest.approx(log.totals()["request_joules"], rel=1e-6)
    audio = sum(s.value for s in fams["greentts_audio_seconds"].samples if s.name.endswith("_total"))
    assert audio == pytest.approx(sum(r.audio_s for r in records), rel=1e-6)


def test_a_failed_batch_item_is_recorded_as_an_error(engine, tmp_path, monkeypatch):
    import greentts.jobs.batch as batch_mod

    def broken(engine, task, voice):
        raise RuntimeError("the node went away")

    monkeypatch.setattr(batch_mod, "render_task", broken)
    (tmp_path / "t.jsonl").write_text(json.dumps({"input_text": "Hi.", "output_name": "x"}) + "\n")
    tasks, _ = load_tasks(tmp_path / "t.jsonl")
    log = RequestLog()
    renderer = LocalRenderer(engine)
    try:
        summary = run_batch(renderer, tasks, tmp_path / "out", log=log)
    finally:
        renderer.close()
    assert summary.failed == 1
    (record,) = log.records.values()
    assert record.status == "error" and record.energy is None and "the node went away" in record.notes[-1]
