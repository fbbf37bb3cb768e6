"""``offerflow`` commands. The reference channel senders."""

from __future__ import annotations

import argparse
import os

from config.settings import ConfigError, Settings


def register(sub: argparse._SubParsersAction) -> None:
    """Add this group's commands to the ``offerflow`` parser."""
    p = sub.add_parser(
        "senders",
        help="run the reference channel senders",
        description="Consume the decisions topic, deliver (email/SMS to a file outbox, "
        "push/web to Redis inboxes, optional webhook) once per decision id, and publish "
        "deliveries back to the events topic. Ctrl-C stops.",
    )
    p.add_argument("--outbox", default=None, help="outbox directory (<STACK_DIR>/outbox)")
    p.add_argument("--webhook", default=os.environ.get("OFFERFLOW_WEBHOOK_URL", ""), help="URL")
    p.set_defaults(handler=_senders)


def _senders(args: argparse.Namespace) -> int:
    import time

    from offerflow.senders import Senders

    settings = Settings.from_env(need_id_key=False)
    if not settings.sender_key:
        raise ConfigError(
            "senders need OFFERFLOW_SENDER_KEY (or OFFERFLOW_ID_KEY) to sign feedback"
        )
    outbox = args.outbox or os.path.join(settings.stack_dir, "outbox")
    senders = Senders(settings, outbox, webhook_url=args.webhook)
    print(f"delivering decisions from {settings.topic('decisions')}; outbox {outbox}")
    last = time.monotonic()
    try:
        while True:
            senders.poll(0.5)
            if time.monotonic() - last >= 10:
                last = time.monotonic()
                print(f"senders: {dict(sorted(senders.counts.items()))}", flush=True)
    finally:
        senders.close()
