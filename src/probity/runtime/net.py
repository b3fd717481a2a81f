"""Small network helpers: a free loopback port, and waiting for an HTTP endpoint to answer."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import requests

__all__ = ["free_port", "wait_for_http"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on *host* that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, timeout: float, still_running: Callable[[], bool]) -> requests.Response | None:
    """GET *url* until it answers below 500, the deadline passes, or *still_running* says the server died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and still_running():
        try:
            response = requests.get(url, timeout=2)
        except requests.RequestException:
            time.sleep(0.1)
            continue
        if response.status_code < 500:
            return response
        time.sleep(0.1)
    return None
