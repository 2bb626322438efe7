"""The process-wide stop flag: SIGTERM/SIGINT ask the trainer to checkpoint and stop after this step."""
from __future__ import annotations

import logging
import signal

log = logging.getLogger("finetune.train")


class StopFlag:
    """Set by SIGTERM/SIGINT (handler installed first thing in the process); checked between steps."""

    def __init__(self) -> None:
        self.set = False
        self.installed = False

    def install(self) -> None:
        if self.installed:
            return

        def handler(signum, _frame):
            log.info("signal %s received: stopping after this step", signum)
            self.set = True

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        self.installed = True


#: one per process: finetune.train installs it before the slow imports, so an early stop is not a kill
STOP = StopFlag()
