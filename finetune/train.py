"""Training entry point: ``python -m finetune.train CONFIG`` or ``accelerate launch -m finetune.train CONFIG``.

Reads the YAML config written by the launcher (or by hand), trains, and reports to the run tracker
named in the config. Exit status: 0 completed or stopped, 1 failed, 2 bad config. When it ends it
starts the next queued run for the same device, so the queue moves without the UI open.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m finetune.train", description=__doc__.splitlines()[0])
    parser.add_argument("config", help="YAML training config")
    parser.add_argument("--no-queue", action="store_true", help="do not start the next queued run at the end")
    args = parser.parse_args(argv)
    from finetune.signals import STOP

    STOP.install()  # before torch loads: a stop during start-up must not kill the process
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    from finetune.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from finetune.reporting import RunReporter
    from finetune.trainer import Trainer

    reporter = RunReporter.for_run(config.database_url, config.run_id)
    code = 0
    try:
        trainer = Trainer(config, reporter)
    except Exception:  # the accelerator or the output folder could not be set up: say why, then fail
        logging.getLogger("finetune.train").exception("training could not start")
        if os.environ.get("RANK", "0") == "0":  # under accelerate launch, the first process reports
            reporter.failed(traceback.format_exc())
        reporter.close()
        trainer, code = None, 1
    if trainer is not None and not trainer.accelerator.is_main_process:
        logging.getLogger("finetune").setLevel(logging.WARNING)  # one process logs progress; all log errors
    try:
        if trainer is not None:
            trainer.run()  # reports and logs its own failures
    except Exception:
        code = 1
    finally:
        sys.stdout.flush()
    if config.database_url and not args.no_queue:
        try:
            from finetune.launcher import start_next_queued

            start_next_queued(config.database_url)
        except Exception as exc:  # the queue is retried by the UI's refresh; never mask our status
            logging.getLogger("finetune.train").warning("could not start the next queued run: %s", exc)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
