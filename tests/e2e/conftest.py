"""Real-browser tests: headless Chromium (Debian's package) driven by Playwright's sync API against
pytest-django's live server.

Without /usr/bin/chromium the tests skip with the reason, except in CI (`CI=true`), where a missing
browser is a failure: CI must run them.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import connection
from django.test.testcases import LiveServerThread

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize


class _SerialOnSQLiteServer(ThreadedWSGIServer):
    """The live server, one request at a time on SQLite.

    With an in-memory SQLite test database, Django hands the live server's threads the test's own
    connection; two requests at once (a page and its htmx fragments, a beacon and a form) then interleave
    their savepoints on that one connection ("no such savepoint", "table is locked"). PostgreSQL gives
    each thread its own connection and keeps the threaded server."""

    def set_app(self, application: Any) -> None:
        if connection.vendor != "sqlite":
            super().set_app(application)
            return
        lock = threading.Lock()

        def serial(environ: Any, start_response: Any) -> Any:
            with lock:
                return application(environ, start_response)

        super().set_app(serial)


LiveServerThread.server_class = _SerialOnSQLiteServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}
CSP_VIOLATION = re.compile(r"Content Security Policy|Refused to (apply|execute|load)", re.I)


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    """Playwright's sync API runs an event loop in this thread, and Django's ORM refuses to run while a
    loop is running unless told that this synchronous use is intended. Only for these tests: the
    variable must not leak into other tests (or the processes they start, like `check --deploy`)."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)."
        if os.environ.get("CI") == "true":
            pytest.fail(f"Browser tests must run in CI, but {reason}")
        pytest.skip(reason)
    return str(CHROMIUM)


class BrowserProblems:
    """Console errors, CSP violations and uncaught exceptions seen by the page."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def console(self, message: Any) -> None:
        if message.type == "error" or CSP_VIOLATION.search(message.text):
            self.errors.append(f"console {message.type}: {message.text}")

    def page_error(self, error: Any) -> None:
        self.errors.append(f"page error: {error}")


@pytest.fixture
def browser_problems() -> BrowserProblems:
    return BrowserProblems()


@pytest.fixture
def page(chromium_executable: str, tmp_path: Path, browser_problems: BrowserProblems) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    # A loaded CI machine (tests in parallel, the Swagger bundle, schema generation) can take seconds.
    expect.set_options(timeout=15_000)

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "chromium-profile"),
            executable_path=chromium_executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
            locale="en-US",
            timezone_id="UTC",
        )
        context.set_default_timeout(15_000)
        page = context.pages[0] if context.pages else context.new_page()
        page.on("console", browser_problems.console)
        page.on("pageerror", browser_problems.page_error)
        try:
            yield page
        finally:
            context.close()


class CustomerSite:
    """A customer's website: static files served on http://127.0.0.1:<port>, another origin than the
    live server (http://localhost:<port>)."""

    def __init__(self, root: Path, origin: str) -> None:
        self.root = root
        self.origin = origin

    def write(self, name: str, html: str) -> str:
        """Publish a page; returns its URL."""
        (self.root / name).write_text(html)
        return f"{self.origin}/{name}"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def customer_site(tmp_path: Path) -> Iterator[CustomerSite]:
    root = tmp_path / "site"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield CustomerSite(root, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()


def eventually(check: Callable[[], Any], timeout: float = 20) -> Any:
    """Poll `check` until it returns something true, while the live server writes: SQLite's shared
    test database may refuse a read with "table is locked" meanwhile, which is a reason to look again."""
    from django.db import OperationalError

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except OperationalError:
            value = None
        if value:
            return value
        time.sleep(0.2)
    return check()
