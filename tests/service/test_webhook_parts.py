"""The parts of webhook runs on their own: the payload's ids, the coalescer (a fake timer),
the Basic check, the ``webhooks:`` config section and the playbook's ``triggers`` key."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from halo_automate.config import settings_from_mapping
from halo_automate.config.webhooks import WebhookSettings
from halo_automate.core.playbook import load_playbook_text
from halo_automate.errors import ConfigError, PlaybookError
from halo_automate.service.webhook_runs import Coalescer, WebhookRuns
from halo_automate.service.webhooks import WebhookServer, ticket_ids

SETTINGS = WebhookSettings(username="halo", password=SecretStr("a-long-webhook-password"))


@pytest.mark.parametrize(
    ("payload", "ids"),
    [
        ({"event": "New Ticket Logged", "ticket": {"id": 7, "summary": "x"}}, [7]),
        ({"id": 7, "summary": "a bare ticket"}, [7]),
        ([{"id": 7}, {"ticket": {"id": 8}}, {"id": 7}], [7, 8]),
        ({"ticket": {"id": "7"}}, []),  # ids are integers in Halo's JSON; nothing is guessed
        ({"ticket": {"id": True}}, []),
        ({"ticket": {"id": -1}}, []),
        ({"ticket": None, "id": 3}, []),  # a ticket key that is no ticket: no id taken
        ("just text", []),
        ([1, 2, 3], []),
        ({"action": {"ticket_id": 5}}, []),  # only a ticket's own id counts
    ],
)
def test_ticket_ids_come_only_from_ticket_objects(payload: Any, ids: list[int]) -> None:
    """The ids of ``{"ticket": {...}}``, a bare ticket or a list of them; nothing else."""
    assert ticket_ids(payload) == ids


class FakeTimer:
    """Timers that fire only when the test says so."""

    def __init__(self) -> None:
        self.armed: list[tuple[float, Callable[[], None], list[bool]]] = []

    def __call__(self, seconds: float, fire: Callable[[], None]) -> Any:
        state = [False]  # cancelled
        self.armed.append((seconds, fire, state))
        timer = type("T", (), {})()
        timer.start = lambda: None
        timer.cancel = lambda: state.__setitem__(0, True)
        return timer

    def fire_all(self) -> None:
        for _, fire, cancelled in list(self.armed):
            if not cancelled[0]:
                cancelled[0] = True
                fire()


def test_deliveries_within_the_window_are_handed_on_once_each_id_once() -> None:
    """500 deliveries about 20 tickets within one window: one timer, one batch of 20 ids."""
    timer, batches = FakeTimer(), []
    coalescer = Coalescer(0.5, batches.append, timer=timer)
    for n in range(500):
        coalescer.add([n % 20, (n * 7) % 20])
    assert batches == [] and len(timer.armed) == 1 and timer.armed[0][0] == 0.5
    timer.fire_all()
    assert batches == [list(range(20))]
    assert coalescer.pending == 0 and coalescer.deliveries == 500
    coalescer.add([3])  # a later delivery opens a new window
    assert len(timer.armed) == 2
    timer.fire_all()
    assert batches[-1] == [3]


def test_a_full_window_is_handed_on_at_once() -> None:
    """``max_ids`` distinct ids flush without waiting for the timer (which is cancelled)."""
    timer, batches = FakeTimer(), []
    coalescer = Coalescer(0.5, batches.append, max_ids=3, timer=timer)
    coalescer.add([1, 2])
    coalescer.add([2, 3])
    assert batches == [[1, 2, 3]]
    timer.fire_all()
    assert batches == [[1, 2, 3]]


def test_batches_waiting_for_the_worker_merge_into_one() -> None:
    """While a batch waits for the daemon's one worker, later batches join it: one job."""
    jobs: list[Callable[[], Any]] = []
    scheduler = type("S", (), {"add_job": lambda self, func, **o: jobs.append(func)})()
    ran: list[list[int]] = []
    runs = WebhookRuns(SETTINGS, service=None, scheduler=scheduler)  # type: ignore[arg-type]
    runs.run_batch = lambda ids: ran.append(list(ids)) or []  # type: ignore[method-assign]
    runs.enqueue([1, 2])
    runs.enqueue([2, 3])
    assert len(jobs) == 1
    jobs[0]()
    assert ran == [[1, 2, 3]]
    runs.enqueue([4])
    assert len(jobs) == 2


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_credentials_are_checked_whole() -> None:
    """Only the configured user *and* password pass; malformed headers are refused."""
    server = WebhookServer("127.0.0.1", 0, SETTINGS, lambda ids: None)
    try:
        assert server.authorised(basic("halo", "a-long-webhook-password"))
        for header in [
            None,
            "",
            basic("halo", "a-long-webhook-passwor"),
            basic("halo", "a-long-webhook-password "),
            basic("hal", "a-long-webhook-password"),
            basic("", ""),
            "Basic not-base64!",
            "Bearer " + base64.b64encode(b"halo:a-long-webhook-password").decode(),
            "Basic " + base64.b64encode(b"haloa-long-webhook-password").decode(),
        ]:
            assert not server.authorised(header), header
    finally:
        server.server_close()


def config(**webhooks: Any) -> dict[str, Any]:
    halo = {"base_url": "https://x.halopsa.com", "client_id": "c", "client_secret": "s"}
    return {"halo": halo, "webhooks": webhooks}


def test_the_webhooks_section_loads_and_refuses_weak_settings() -> None:
    """``webhooks:`` loads with its defaults; a short password, a relative path or an unknown
    key are config errors naming the key."""
    settings = settings_from_mapping(
        config(username="halo", password="a-long-webhook-password", path="/hooks/halo-9f3e")
    )
    assert settings.webhooks is not None
    assert settings.webhooks.listen == "127.0.0.1:8781" and not settings.webhooks.allow_remote
    assert settings.webhooks.coalesce_seconds == 0.5
    assert "a-long" not in repr(settings.webhooks)
    assert settings_from_mapping(config(username="u", password="p" * 12)).webhooks is not None
    with pytest.raises(ValidationError, match="at least 12 characters"):
        WebhookSettings(username="halo", password=SecretStr("short"))
    with pytest.raises(ValidationError, match="absolute URL path"):
        WebhookSettings(username="h", password=SecretStr("p" * 12), path="hooks")
    with pytest.raises(ValidationError):
        WebhookSettings(username="h", password=SecretStr("p" * 12), secret="x")  # type: ignore[call-arg]


PLAYBOOK = """
name: fast-spam
{triggers}
select: {{open_only: true}}
where:
  user_email: {{domain: [news.example]}}
actions:
  - close: {{}}
"""


def test_a_playbook_may_run_on_webhooks_with_or_without_a_schedule() -> None:
    """``triggers: [webhook]`` is read (repeats once); a playbook without it has none; an
    unknown trigger is a problem at its line."""
    pb = load_playbook_text(PLAYBOOK.format(triggers="triggers: [webhook, webhook]"))
    assert pb.triggers == ("webhook",) and pb.schedule is None
    both = "triggers: [webhook]\nschedule: every 5m"
    pb = load_playbook_text(PLAYBOOK.format(triggers=both))
    assert pb.triggers == ("webhook",) and pb.schedule is not None
    assert load_playbook_text(PLAYBOOK.format(triggers="")).triggers == ()
    with pytest.raises(PlaybookError, match=r"<playbook>:3:\d+: triggers\.0"):
        load_playbook_text(PLAYBOOK.format(triggers="triggers: [cron]"))


def test_the_webhook_password_comes_from_the_environment() -> None:
    """``password: ${HALO_WEBHOOK_PASSWORD}`` expands from the environment; unset, the config
    still loads (commands that serve no webhooks run without it, like the client secret) and
    reading it, as the listener does when it starts, fails with one line naming the
    variable (the daemon would otherwise accept no one)."""
    data = config(username="halo", password="${HALO_WEBHOOK_PASSWORD}")
    settings = settings_from_mapping(data, env={"HALO_WEBHOOK_PASSWORD": "from-the-env-123"})
    assert settings.webhooks is not None
    assert settings.webhooks.password.get_secret_value() == "from-the-env-123"
    unset = settings_from_mapping(data, env={})
    assert unset.webhooks is not None
    with pytest.raises(ConfigError, match="HALO_WEBHOOK_PASSWORD") as caught:
        unset.webhooks.check_secret()
    assert "\n" not in str(caught.value)
    assert "webhooks.password" in str(caught.value)
