"""The health server never prints a raw traceback for a client that hung up (issue 19.10:
"Exception occurred during processing of request from ('127.0.0.1', …)" on stderr)."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from halo_automate.service.health import HealthServer


def test_a_client_hanging_up_is_a_quiet_log_event(capsys: pytest.CaptureFixture[str]) -> None:
    server = HealthServer("127.0.0.1", 0, lambda: (True, {}), lambda: "")
    try:
        with capture_logs() as logs:
            try:
                raise ConnectionResetError(104, "Connection reset by peer")
            except ConnectionResetError:
                server.handle_error(None, ("127.0.0.1", 5555))
            try:
                raise ValueError("a real bug in a handler")
            except ValueError:
                server.handle_error(None, ("127.0.0.1", 5556))
    finally:
        server.server_close()
    captured = capsys.readouterr()
    assert "Exception occurred" not in captured.err and captured.err == ""
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("health_client_gone", "debug"),
        ("health_request_failed", "error"),
    ]
    assert "a real bug in a handler" in logs[1]["error"]
