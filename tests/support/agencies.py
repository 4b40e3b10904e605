"""The sample agencies pointed at real local receivers (webhook and SMTP), in a scratch folder."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import NamedTuple

from referral_devstack.agencies import local_agencies
from referral_devstack.receivers import MailReceiver, WebhookReceiver
from referral_devstack.workers import temp_workdir


class LocalAgencies(NamedTuple):
    """The running receivers, the scratch folder, the directory file and the workers' settings for them."""

    web: WebhookReceiver
    mail: MailReceiver
    work: Path
    directory: Path
    env: dict[str, str]


@contextlib.asynccontextmanager
async def receiving_agencies(prefix: str) -> AsyncIterator[LocalAgencies]:
    """Receivers started, the sample directory pointed at them under temp_workdir(prefix); all stopped after."""
    web, mail = WebhookReceiver(), MailReceiver()
    await web.start()
    mail.start()
    try:
        with temp_workdir(prefix) as work:
            directory, env = local_agencies(work, web, mail)
            yield LocalAgencies(web, mail, work, directory, env)
    finally:
        await web.stop()
        mail.stop()
