"""What a person does in the web client, as Playwright steps (the browser tests' vocabulary).

Each helper acts through the page as a user would (labels, buttons, the keyboard) and waits for
what the user would see; none reads the API or the database behind the page's back.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

PASSWORD = "correct horse battery 9"
PASSPHRASE = "seven sea otters hold hands"
TIMEOUT_MS = 20_000


def register(page: Any, name: str, *, passphrase: str = PASSPHRASE, path: str = "/register") -> None:
    """Registers `name` (username and email from it); ends on the main screen, connected."""
    go(page, path)
    if not page.locator("input[name=email]").input_value():
        page.fill("input[name=email]", f"{name}@example.com")
    page.fill("input[name=username]", name)
    page.fill("input[name=full_name]", name.title())
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=passphrase]", passphrase)
    page.get_by_role("button", name="Create account").click()
    expect_connected(page)


def log_in(page: Any, name: str) -> None:
    page.goto(_origin(page) + "/login")
    page.fill("input[name=login]", name)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Log in").click()


def expect_connected(page: Any) -> None:
    expect(page.locator("#conn")).to_have_text("Connected", timeout=TIMEOUT_MS)


def _origin(page: Any) -> str:
    match = re.match(r"^(https?://[^/]+)", page.url)
    assert match, page.url
    return match.group(1)


def go(page: Any, path: str) -> None:
    page.goto(_origin(page) + path)


def request_contact(page: Any, username: str) -> None:
    go(page, "/contacts")
    page.fill("input[name=q]", username)
    page.get_by_role("button", name="Search").click()
    page.locator("ul.results li", has_text=f"@{username}").get_by_role("button", name="Add contact").click()
    expect(page.locator("[data-contact]", has_text=f"@{username}")).to_contain_text(
        "Cancel", timeout=TIMEOUT_MS
    )


def accept_contact(page: Any, username: str) -> None:
    go(page, "/contacts")
    row = page.locator(f"[data-contact='{username}']")
    row.get_by_role("button", name="Accept").click()
    expect(page.locator(f"[data-contact='{username}']").get_by_role("link", name="Message")).to_be_visible(
        timeout=TIMEOUT_MS
    )


def block_contact(page: Any, username: str) -> None:
    go(page, "/contacts")
    page.locator(f"[data-contact='{username}']").get_by_role("button", name="Block").click()
    expect(page.locator(f"[data-contact='{username}']").get_by_role("button", name="Unblock")).to_be_visible(
        timeout=TIMEOUT_MS
    )


# What the page shows when its own code failed (a TypeError's message), never meant for a person.
SCRIPT_ERROR = re.compile(r"is not a function|is not defined|Cannot read properties|is not iterable")


def expect_no_script_error(page: Any) -> None:
    """The chat's status line holds a sentence for the user or nothing, never a script's error."""
    expect(page.locator("#send-status")).not_to_have_text(SCRIPT_ERROR)


def open_chat(page: Any, display_name: str) -> None:
    go(page, "/")
    page.locator(".sidebar a.row", has_text=display_name).first.click()
    expect(page.locator(".bar h2")).to_contain_text(display_name, timeout=TIMEOUT_MS)
    expect(page.locator("textarea[name=message]")).to_be_enabled()
    expect_no_script_error(page)


def open_group(page: Any, name: str) -> None:
    go(page, "/")
    page.get_by_role("tab", name="Groups").click()
    page.locator(".sidebar a.row", has_text=name).click()
    expect(page.locator(".bar h2")).to_have_text(name, timeout=TIMEOUT_MS)


def send(page: Any, text: str, *, attach: str | None = None) -> None:
    if attach:
        page.set_input_files("input[name=attachment]", attach)
    page.fill("textarea[name=message]", text)
    page.keyboard.press("Enter")
    if not attach:
        expect(page.locator(".msg.mine p.text", has_text=text).last).to_be_visible(timeout=TIMEOUT_MS)


def texts(page: Any, who: str = "theirs") -> list[str]:
    return page.locator(f".msg.{who} p.text").all_inner_texts()


def expect_texts(page: Any, expected: list[str], who: str = "theirs") -> None:
    expect(page.locator(f".msg.{who} p.text")).to_have_text(expected, timeout=TIMEOUT_MS)
    expect_no_script_error(page)


def create_group(page: Any, name: str, member_names: list[str]) -> None:
    go(page, "/")
    page.get_by_role("tab", name="Groups").click()
    page.get_by_role("button", name="+ New group").click()
    page.fill("input[name=group_name]", name)
    for member in member_names:
        page.get_by_label(re.compile(re.escape(member))).check()
    page.get_by_role("button", name="Create group").click()
    expect(page.locator(".bar h2")).to_have_text(name, timeout=TIMEOUT_MS)
