"""The inbox in a real headless Chromium (Debian's package, driven by Playwright) through the real broker and workers.

A provincial police unit without IT signs in, declines one referral with a reason (the case then
reaches another recipient), accepts another and completes it with an outcome; a second inbox user
gets 403 on the first one's referral (and on one that does not exist, with the same page); a POST
without a CSRF token is refused; an e-mail recipient's signed link opens its referral after sign-in
(and a tampered one is refused). The run saves screenshots of the inbox to a temporary folder, or to
docs/images/ with `--refresh-docs-images`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from referral_bus import topics
from referral_bus.codec import Codec
from referral_devstack.inbox import inbox_env, use_inbox, write_inbox_secrets
from referral_devstack.workers import Workers, free_port
from tests.support.agencies import receiving_agencies
from tests.support.polling import poll
from tests.support.reports import key_of, valid_report

playwright = pytest.importorskip("playwright.async_api")
pytestmark = [pytest.mark.kafka, pytest.mark.e2e]

CHROMIUM = "/usr/bin/chromium"
POLICE, CHILD, HOTLINE = "vn-police-ha-noi", "vn-child-protection-ha-noi", "vn-child-hotline-111"


async def _states(page: Any, base: str) -> dict[str, str]:
    """Referral id → lifecycle state, as the list page shows it (reloaded)."""
    await page.goto(f"{base}/inbox/")
    rows = await page.query_selector_all("tr.referral")
    out = {}
    for row in rows:
        cell = await row.query_selector("td.state")
        out[await row.get_attribute("data-id")] = await cell.get_attribute("data-state")
    return out


async def _sign_in(page: Any, base: str, recipient_id: str, password: str) -> None:
    await page.goto(f"{base}/inbox/")
    await page.fill("input[name=recipient_id]", recipient_id)
    await page.fill("input[name=password]", password)
    await page.click("#signin button")
    assert await page.inner_text("#who") == recipient_id


async def _produce(kafka: str, reports: list[dict[str, Any]]) -> None:
    codec = Codec()
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        for r in reports:
            await producer.send_and_wait(topics.name(topics.INTAKE), codec.encode("CaseReport", r), key=key_of(r))
    finally:
        await producer.stop()


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium missing: `make chromium` installs it")
@pytest.mark.timeout(420)
async def test_inbox_in_a_real_browser(kafka: str, namespace: str, screenshots: Path) -> None:
    async with receiving_agencies("inbox-") as (web, mail, work, directory, env):
        use_inbox(directory, (POLICE, CHILD))
        passwords = write_inbox_secrets(directory, work / "secrets", iterations=2_000)
        port = free_port()
        env.update(inbox_env(directory, work / "secrets", port))
        workers = Workers(work, namespace, {"KAFKA_BOOTSTRAP_SERVERS": kafka, **env})
        workers.ports["inbox"] = port
        base = f"http://127.0.0.1:{port}"
        try:
            for service in ("intake", "routing", "notifier", "inbox"):
                workers.start(service)
            workers.wait_ready(timeout=150)
            reports = [valid_report(severity="HIGH"), valid_report(severity="IMMINENT_DANGER")]
            await _produce(kafka, reports)
            async with playwright.async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                police = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
                await police.goto(f"{base}/inbox/lang?set=en&next=/inbox/")
                await police.screenshot(path=str(screenshots / "inbox-signin.png"))
                await _sign_in(police, base, POLICE, passwords[POLICE])
                states: dict[str, str] = {}
                for _ in range(300):
                    states = await _states(police, base)
                    if len(states) >= 2:
                        break
                    await police.wait_for_timeout(300)
                assert len(states) == 2, workers.tail("notifier") + workers.tail("inbox")
                await police.screenshot(path=str(screenshots / "inbox-list.png"))
                accepted, declined = sorted(states)

                # accept one, then complete it with an outcome
                await police.goto(f"{base}/inbox/referrals/{accepted}")
                await police.click("#act-ACCEPTED button")
                await _until_state(police, base, accepted, "ACCEPTED")
                await police.goto(f"{base}/inbox/referrals/{accepted}")
                await police.select_option("#act-COMPLETED select[name=outcome_code]", "investigation_opened")
                await police.click("#act-COMPLETED button")
                await _until_state(police, base, accepted, "COMPLETED")
                await police.goto(f"{base}/inbox/referrals/{accepted}")
                assert "investigation_opened" in await police.inner_text("#history")
                await police.goto(f"{base}/inbox/lang?set=vi&next=/inbox/referrals/{accepted}")
                await police.screenshot(path=str(screenshots / "inbox-referral-vi.png"), full_page=True)

                # a POST without the CSRF token is refused, and changes nothing
                refused = await police.request.post(
                    f"{base}/inbox/referrals/{declined}/act", form={"action": "DECLINED", "reason_code": "other"}
                )
                assert refused.status == 403
                assert (await _states(police, base))[declined] == "DELIVERED"

                # another inbox user: 403 on the police unit's referral, the same 403 on one that does not exist
                child = await (await browser.new_context()).new_page()
                await _sign_in(child, base, CHILD, passwords[CHILD])
                theirs = await child.goto(f"{base}/inbox/referrals/{declined}")
                assert theirs is not None and theirs.status == 403
                theirs_page = await theirs.text()
                missing = await child.goto(f"{base}/inbox/referrals/ref-does-not-exist")
                assert missing is not None and missing.status == 403
                assert await missing.text() == theirs_page

                # decline the other with a reason: the case then goes on to another recipient
                before = {d.recipient_id for d in web.deliveries} | {POLICE, CHILD}
                await police.goto(f"{base}/inbox/lang?set=en&next=/inbox/referrals/{declined}")
                declined_case = await police.get_attribute("#referral", "data-case")
                await police.screenshot(path=str(screenshots / "inbox-referral.png"), full_page=True)
                await police.select_option("#act-DECLINED select[name=reason_code]", "no_capacity")
                await police.click("#act-DECLINED button")
                assert "msg=sent" in police.url
                await _until_state(police, base, declined, "DECLINED")

                # an e-mail recipient's message carries a signed link: it opens the referral after sign-in
                assert await poll(lambda: mail.messages, 60), workers.tail("notifier")
                text = " ".join(
                    bytes(part.get_payload(decode=True)).decode("utf-8")
                    for part in mail.messages[0].walk()
                    if part.get_content_type() == "text/plain"
                )
                found = re.search(r"(http://127\.0\.0\.1:\d+/inbox/link/\S+)", text)
                assert found, text[:300]
                hotline = await (await browser.new_context()).new_page()
                tampered = await hotline.goto(found.group(1).replace("&e=", "&e=9"))
                assert tampered is not None and tampered.status == 403
                await hotline.goto(found.group(1))
                assert "/inbox/signin?next=/inbox/referrals/" in hotline.url
                await hotline.fill("input[name=recipient_id]", HOTLINE)
                await hotline.fill("input[name=password]", passwords[HOTLINE])
                await hotline.click("#signin button")
                assert "/inbox/referrals/" in hotline.url
                assert await hotline.get_attribute("#referral", "data-case")
                await browser.close()

            # the declined case reached a recipient that did not have it before (re-routed by the lifecycle)
            def reached() -> set[str]:
                return {d.recipient_id for d in web.deliveries if d.json()["case_id"] == declined_case} - before

            assert await poll(reached, 90), workers.tail("notifier") + workers.tail("routing")
        finally:
            workers.stop_all()


async def _until_state(page: Any, base: str, referral_id: str, state: str) -> None:
    """Reload the list until the referral shows `state` (the notifier applied the answer, its receipt came back)."""
    seen = None
    for _ in range(200):
        seen = (await _states(page, base)).get(referral_id)
        if seen == state:
            return
        await page.wait_for_timeout(300)
    raise AssertionError(f"referral {referral_id} stayed {seen}, expected {state}")
