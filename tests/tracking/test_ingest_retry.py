"""A batch whose transaction fails is retried whole: nothing is lost to the GPS filter's memory."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from backend.db import Database, utcnow
from backend.tracking.ingest.decode import PositionFix
from backend.tracking.ingest.pipeline import Inbound
from backend.tracking.ingest.worker import IngestSettings, IngestWorker
from backend.tracking.models import Position


def _batch() -> list[Inbound]:
    now = utcnow()
    return [
        Inbound(
            "T-2001",
            PositionFix(
                vehicle="T-2001",
                ts=now - timedelta(seconds=30 - i),
                lat=30.33,
                lon=120.09 + i * 1e-4,
                acc=5.0,
                seq=900_000 + i,
            ),
            now,
        )
        for i in range(5)
    ]


def test_a_batch_retried_after_a_database_error_is_stored(db: Database, demo, monkeypatch):
    worker = IngestWorker(db, IngestSettings())
    real_process = worker.pipeline.process
    calls = []

    def flaky(session, items):
        report = real_process(session, items)  # the filter has seen the fixes by now
        calls.append(len(items))
        if len(calls) == 1:
            raise OperationalError("COMMIT", {}, Exception("connection lost"))
        return report

    monkeypatch.setattr(worker.pipeline, "process", flaky)
    monkeypatch.setattr("backend.tracking.ingest.worker.time.sleep", lambda s: None)
    report = worker._commit(_batch())
    assert report is not None and report.stored == 5
    with db.session_factory() as session:
        count = session.scalar(
            select(func.count()).select_from(Position).where(Position.seq >= 900_000)
        )
    assert count == 5 and calls == [5, 5]


def test_an_outage_during_one_by_one_retries_instead_of_dropping(db: Database, demo, monkeypatch):
    worker = IngestWorker(db, IngestSettings())
    real_process = worker.pipeline.process
    calls = []

    def failing(session, items):
        calls.append(len(items))
        if len(calls) == 1:
            raise ValueError("a poison message somewhere in the batch")
        if len(calls) == 2:
            raise OperationalError("INSERT", {}, Exception("connection lost"))
        return real_process(session, items)

    monkeypatch.setattr(worker.pipeline, "process", failing)
    monkeypatch.setattr("backend.tracking.ingest.worker.time.sleep", lambda s: None)
    report = worker._commit(_batch())
    # batch fails -> one by one -> outage -> the whole batch again, stored.
    assert report is not None and report.stored == 5 and calls[:3] == [5, 1, 5]
