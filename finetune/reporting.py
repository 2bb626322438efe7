"""What the training process tells the tracker: status changes, metrics, checkpoints, samples.

A run launched by hand without a database gets a reporter that only logs (``RunReporter.none()``).
Stop requests are polled from the tracker at most every ``poll_s`` seconds.
"""
from __future__ import annotations

import os
import time

from studio.db import utcnow



class RunReporter:
    def __init__(self, tracker=None, run_id: str = "", *, poll_s: float = 2.0, flush_s: float = 2.0) -> None:
        self.tracker = tracker
        self.run_id = run_id
        self.poll_s = poll_s
        self._last_poll = 0.0
        self._stop = False
        self.writer = None
        if tracker is not None:
            from finetune.tracker import MetricWriter

            self.writer = MetricWriter(tracker.db, run_id, interval_s=flush_s)

    @classmethod
    def none(cls) -> "RunReporter":
        return cls(None)

    @classmethod
    def for_run(cls, database_url: str, run_id: str) -> "RunReporter":
        if not (database_url and run_id):
            return cls.none()
        from finetune.tracker import RunTracker
        from studio.db import Database

        return cls(RunTracker(Database(database_url)), run_id)

    @property
    def active(self) -> bool:
        return self.tracker is not None

    def started(self, *, device: str, host: str, total_steps: int, resumed_from: int) -> None:
        if not self.active:
            return
        self.tracker.transition(
            self.run_id, "running", f"resumed at step {resumed_from}" if resumed_from else "training started",
            only_from=("queued", "starting", "running", "stopped", "failed"),
            pid=os.getpid(), host=host, device=device, total_steps=total_steps, step=resumed_from,
            started_at=utcnow(), heartbeat_at=utcnow(), error=None, finished_at=None,
        )

    def metrics(self, step: int, values: dict[str, float]) -> None:
        if self.writer is not None:
            self.writer.log(step, values)

    def flush(self, step: int | None = None) -> None:
        if self.writer is not None:
            self.writer.flush(step)

    def checkpoint(self, step: int, path: str) -> None:
        if self.active:
            self.flush(step)
            self.tracker.add_checkpoint(self.run_id, step, path)

    def checkpoint_removed(self, path: str) -> None:
        if self.active:
            self.tracker.remove_checkpoint(self.run_id, path)

    def samples(self, step: int, items: list[tuple[str, str]]) -> None:
        if self.active and items:
            self.tracker.add_samples(self.run_id, step, items)

    def stop_requested(self) -> bool:
        if not self.active or self._stop:
            return self._stop
        now = time.monotonic()
        if now - self._last_poll >= self.poll_s:
            self._last_poll = now
            self._stop = self.tracker.stop_requested(self.run_id)
        return self._stop

    def completed(self, step: int, result_path: str | None) -> None:
        if self.active:
            self.flush(step)
            self.tracker.transition(self.run_id, "completed", f"finished at step {step}",
                                    finished_at=utcnow(), result_path=result_path, step=step)

    def stopped(self, step: int) -> None:
        if self.active:
            self.flush(step)
            self.tracker.transition(self.run_id, "stopped", f"stopped at step {step}; resume continues here",
                                    finished_at=utcnow(), stop_requested=False, step=step)

    def failed(self, message: str) -> None:
        if self.active:
            try:
                self.flush()
            except Exception:  # the database may be what failed; the status write below may still work
                pass
            self.tracker.transition(self.run_id, "failed", message, finished_at=utcnow(),
                                    error=message[-4000:])

    def close(self) -> None:
        if self.active:
            try:
                self.flush()
            except Exception:
                pass
            self.tracker.db.dispose()
            self.tracker = None
            self.writer = None
