"""Driving the portal in a browser (Playwright page objects), shared by the browser tests and
`make screenshots`."""
from __future__ import annotations


class LoginRefused(AssertionError):
    """The login form did not let the user in; the message is the page's."""


def login(page, base_url: str, username: str, password: str) -> None:
    """Log in through the real form at /accounts/login/; raises LoginRefused with the page's message."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    with page.expect_navigation():
        page.click('form[action="/accounts/login/"] button[type="submit"]')
    if "/accounts/login/" in page.url:
        error = page.locator(".error")
        message = error.first.text_content() if error.count() else page.title()
        raise LoginRefused(f"login as {username!r} failed: {message}")
