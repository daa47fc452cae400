"""Issue 18's must-show scenarios: people using Messenger in Chromium, end to end, encrypted on
their devices, against a real-mode server (tests/browser/conftest.py: PostgreSQL, Redis, moto's
S3, a Celery worker). Each test ends with the privacy proof over every plaintext its browsers
typed, and takes screenshots of the screens it passes through (SCREENSHOT_DIR).

Plaintexts carry a uuid so that they are unique and long enough to search for (privacy.py).
"""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path

from playwright.sync_api import expect

from tests.browser import client

PHONE = {"viewport": {"width": 390, "height": 844}}
DESKTOP = {"viewport": {"width": 1100, "height": 720}}


def typed(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:12]}"


def test_alice_and_bob_chat_live_and_bob_catches_up_after_being_offline(
    messenger_app, open_device, screenshot
):
    alice = open_device("alice", **DESKTOP)
    bob = open_device("bob", **DESKTOP)
    screenshot(alice, "01-login")
    client.register(alice, "alice")
    client.register(bob, "bob")

    # The verification email's link lands in the client, which verifies on a click.
    link = messenger_app.wait_for_link("alice@example.com", "/verify-email")
    alice.goto(link)
    alice.get_by_role("button", name="Confirm my email").click()
    expect(alice.get_by_role("status")).to_have_text(
        "Thank you, alice: your email address is confirmed.", timeout=client.TIMEOUT_MS
    )
    screenshot(alice, "02-email-confirmed")

    client.request_contact(alice, "bob")
    client.accept_contact(bob, "alice")
    screenshot(bob, "03-contacts")

    client.open_chat(alice, "Bob")
    client.open_chat(bob, "Alice")
    first, reply = typed("Hello Bob, lunch today?"), typed("Hi Alice, yes at noon")
    client.send(alice, first)
    client.expect_texts(bob, [first])  # live: Bob's open chat shows it without a reload
    client.send(bob, reply)
    client.expect_texts(alice, [reply])
    # Bob's page marked it read as it showed it: Alice's own message says so.
    expect(alice.locator(".msg.mine .receipt").first).to_have_text("✓✓ Read", timeout=client.TIMEOUT_MS)
    screenshot(alice, "04-chat")

    # Bob goes offline; Alice sends three; Bob comes back and sees each once, in order.
    bob.context.set_offline(True)
    expect(bob.locator("#conn")).to_have_text("Offline: reconnecting", timeout=client.TIMEOUT_MS)
    # The client closed its socket (Chromium would keep it open through set_offline): the server
    # saw Bob go, and Alice's header says so.
    expect(alice.locator("#chat-sub")).to_have_text("offline", timeout=client.TIMEOUT_MS)
    missed = [
        typed("While you were away one"),
        typed("While you were away two"),
        typed("While you were away three"),
    ]
    for text in missed:
        client.send(alice, text)
    assert client.texts(bob) == [first]  # stored, not delivered: Bob's page has no socket
    bob.context.set_offline(False)
    client.expect_connected(bob)
    client.expect_texts(bob, [first, *missed])
    # A message sent after the catch-up arrives after it: nothing of the catch-up came twice.
    after = typed("Welcome back Bob")
    client.send(alice, after)
    client.expect_texts(bob, [first, *missed, after])
    screenshot(bob, "05-bob-back-online")

    messenger_app.assert_plaintexts_absent([first, reply, *missed, after, client.PASSPHRASE])


def _image(tmp_path: Path) -> Path:
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (640, 420), (38, 104, 196))
    draw = ImageDraw.Draw(picture)
    draw.ellipse((230, 120, 410, 300), fill=(250, 200, 40))
    draw.rectangle((0, 330, 640, 420), fill=(24, 140, 90))
    path = tmp_path / f"sunset-at-the-lake-{uuid.uuid4().hex[:8]}.png"
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


def test_a_group_of_three_an_image_and_a_blocked_sender(messenger_app, open_device, screenshot, tmp_path):
    alice = open_device("alice", **DESKTOP)
    bob = open_device("bob", **DESKTOP)
    carol = open_device("carol", **PHONE)
    for page, name in [(alice, "alice"), (bob, "bob"), (carol, "carol")]:
        client.register(page, name)
    client.request_contact(alice, "bob")
    client.accept_contact(bob, "alice")
    client.request_contact(carol, "alice")
    client.accept_contact(alice, "carol")

    # A three-person group chat.
    client.create_group(alice, "Weekend trip", ["bob", "carol"])
    plan, yes_bob, yes_carol = (
        typed("Leaving Saturday at nine"),
        typed("Bob is in"),
        typed("Carol brings snacks"),
    )
    client.send(alice, plan)
    client.open_group(bob, "Weekend trip")
    client.open_group(carol, "Weekend trip")
    client.expect_texts(bob, [plan])
    client.expect_texts(carol, [plan])
    client.send(bob, yes_bob)
    client.send(carol, yes_carol)
    client.expect_texts(alice, [yes_bob, yes_carol])
    client.expect_texts(bob, [plan, yes_carol])
    client.expect_texts(carol, [plan, yes_bob])
    screenshot(carol, "06-group-phone")
    screenshot(alice, "07-group")

    # An image: encrypted before upload, shown to the recipient inline with its thumbnail.
    image = _image(tmp_path)
    caption = typed("The view from the cabin")
    client.open_chat(alice, "Bob")
    client.open_chat(bob, "Alice")
    client.send(alice, caption, attach=str(image))
    figure = bob.locator(".msg.theirs figure.attachment")
    expect(figure.locator("img")).to_be_visible(timeout=client.TIMEOUT_MS)
    expect(figure.locator("figcaption")).to_contain_text(image.name)
    assert bob.evaluate("(img) => img.naturalWidth", figure.locator("img").element_handle()) == 240
    figure.get_by_role("button", name=f"Open image {image.name}").click()
    full = bob.locator(".msg.theirs img.full")
    expect(full).to_be_visible(timeout=client.TIMEOUT_MS)
    assert full.evaluate("(img) => img.naturalWidth") == 640  # the whole image, decrypted
    screenshot(bob, "08-image")

    # Bob blocks Alice: her next message is refused, and she reads why as a sentence.
    client.block_contact(bob, "alice")
    client.open_chat(alice, "Bob")
    refused = typed("Are you still there")
    alice.fill("textarea[name=message]", refused)
    alice.keyboard.press("Enter")
    error = alice.locator("#send-status")
    expect(error).to_have_class(re.compile(r"\berror\b"), timeout=client.TIMEOUT_MS)
    expect(error).to_have_text("You cannot message this user.")
    screenshot(alice, "09-blocked")

    messenger_app.assert_plaintexts_absent(
        [plan, yes_bob, yes_carol, caption, refused, image.read_bytes(), image.name, client.PASSPHRASE]
    )


def test_a_second_device_reads_history_only_after_restoring_the_key_backup(
    messenger_app, open_device, screenshot
):
    alice = open_device("alice", **DESKTOP)
    bob = open_device("bob", **DESKTOP)
    client.register(alice, "alice")
    client.register(bob, "bob")
    client.request_contact(alice, "bob")
    client.accept_contact(bob, "alice")
    client.open_chat(alice, "Bob")
    client.open_chat(bob, "Alice")
    mine, theirs = typed("Note to self and Bob"), typed("Bob answers Alice")
    client.send(alice, mine)
    client.expect_texts(bob, [mine])
    client.send(bob, theirs)
    client.expect_texts(alice, [theirs])

    # Alice's laptop: her account, but none of her keys.
    laptop = open_device("alice-laptop", **DESKTOP)
    client.log_in(laptop, "alice")
    expect(
        laptop.get_by_text("Without the backup, old messages cannot be read on this device.")
    ).to_be_visible(timeout=client.TIMEOUT_MS)
    screenshot(laptop, "10-restore")
    laptop.get_by_role("button", name="Continue without my keys").click()
    client.go(laptop, "/")
    laptop.locator(".sidebar a.row", has_text="Bob").first.click()
    unreadable = laptop.locator(".msg .unreadable")
    expect(unreadable).to_have_count(2, timeout=client.TIMEOUT_MS)
    expect(unreadable.first).to_contain_text("cannot be read on this device")
    expect(laptop.locator("textarea[name=message]")).to_be_disabled()
    screenshot(laptop, "11-no-keys")

    # The wrong passphrase is refused in a sentence; the right one restores, and history reads.
    client.go(laptop, "/restore")
    laptop.fill("input[name=passphrase]", "not my passphrase at all")
    laptop.get_by_role("button", name="Restore my keys").click()
    expect(laptop.get_by_role("alert")).to_have_text(
        "That passphrase does not open this key backup.", timeout=client.TIMEOUT_MS
    )
    laptop.fill("input[name=passphrase]", client.PASSPHRASE)
    laptop.get_by_role("button", name="Restore my keys").click()
    client.expect_connected(laptop)
    client.open_chat(laptop, "Bob")
    client.expect_texts(laptop, [mine], who="mine")
    client.expect_texts(laptop, [theirs])
    # And the laptop can write: Bob reads it on his open chat.
    from_laptop = typed("Sent from my laptop")
    client.send(laptop, from_laptop)
    client.expect_texts(bob, [mine, from_laptop])
    screenshot(laptop, "12-restored-history")

    messenger_app.assert_plaintexts_absent([mine, theirs, from_laptop, client.PASSPHRASE])


def test_the_other_screens_invitation_history_typing_deletes_files_roles_logout_and_account_deletion(
    messenger_app, open_device, screenshot, tmp_path
):
    alice = open_device("alice", **DESKTOP)
    client.register(alice, "alice")
    alice.goto(messenger_app.wait_for_link("alice@example.com", "/verify-email"))
    alice.get_by_role("button", name="Confirm my email").click()
    expect(alice.get_by_role("status")).to_contain_text("confirmed", timeout=client.TIMEOUT_MS)

    # An invitation by email; its link opens registration, and Bob becomes Alice's contact.
    client.go(alice, "/contacts")
    alice.fill("input[name=invite]", "bob@example.com")
    alice.get_by_role("button", name="Invite").click()
    expect(alice.get_by_text("Invitation sent to bob@example.com.")).to_be_visible(timeout=client.TIMEOUT_MS)
    invitation = messenger_app.wait_for_link("bob@example.com", "/register")
    bob = open_device("bob", **DESKTOP)
    bob.goto(invitation)
    expect(bob.get_by_text("Alice invited you to Messenger.", exact=False)).to_be_visible(
        timeout=client.TIMEOUT_MS
    )
    expect(bob.locator("input[name=email]")).to_have_value("bob@example.com")
    screenshot(bob, "13-invitation")
    bob.fill("input[name=username]", "bob")
    bob.fill("input[name=full_name]", "Bob")
    bob.fill("input[name=password]", client.PASSWORD)
    bob.fill("input[name=passphrase]", client.PASSPHRASE)
    bob.get_by_role("button", name="Create account").click()
    client.expect_connected(bob)
    client.open_chat(bob, "Alice")
    client.open_chat(alice, "Bob")

    # History: more than a page; scrolling up loads the earlier ones.
    history = [typed(f"History line {n:02d}") for n in range(34)]
    for text in history:
        client.send(alice, text)
    client.go(bob, "/")
    bob.locator(".sidebar a.row", has_text="Alice").first.click()
    expect(bob.locator(".msg.theirs p.text")).to_have_count(30, timeout=client.TIMEOUT_MS)
    bob.locator(".messages-scroll").evaluate("(el) => { el.scrollTop = 0; }")
    client.expect_texts(bob, history)

    # Typing shows in the other's header, live.
    alice.fill("textarea[name=message]", "I am typing something")
    expect(bob.locator("#chat-sub")).to_have_text("typing…", timeout=client.TIMEOUT_MS)
    alice.fill("textarea[name=message]", "")

    # Delete for everyone (the sender): Bob's copy turns into a tombstone, live.
    last = alice.locator(".msg.mine", has_text=history[-1])
    last.hover()
    last.get_by_role("button", name="Delete for everyone").click()
    expect(bob.locator(".msg.theirs").last).to_contain_text(
        "This message was deleted.", timeout=client.TIMEOUT_MS
    )
    # Delete for me (the recipient): gone from Bob's view only.
    first = bob.locator(".msg.theirs", has_text=history[0])
    first.hover()
    first.get_by_role("button", name="Delete for me").click()
    expect(bob.locator(".msg.theirs", has_text=history[0])).to_have_count(0, timeout=client.TIMEOUT_MS)
    expect(alice.locator(".msg.mine", has_text=history[0])).to_have_count(1)

    # A file that is not an image: downloadable, decrypted in the browser, byte for byte.
    notes = tmp_path / f"meeting-notes-{uuid.uuid4().hex[:8]}.txt"
    notes.write_text(typed("Agenda: budget, hiring, the offsite") + "\n")
    client.send(alice, typed("Notes attached"), attach=str(notes))
    download_button = bob.get_by_role("button", name=re.compile(rf"Download {re.escape(notes.name)}"))
    expect(download_button).to_be_visible(timeout=client.TIMEOUT_MS)
    with bob.expect_download() as download:
        download_button.click()
    assert download.value.suggested_filename == notes.name
    assert Path(download.value.path()).read_bytes() == notes.read_bytes()
    screenshot(bob, "14-file")

    # A group: Alice makes Bob an admin, then removes him; his client drops the group.
    client.create_group(alice, "Book club", ["bob"])
    client.open_group(bob, "Book club")
    alice.get_by_role("button", name="Members").click()
    alice.get_by_role("button", name="Make admin").click()
    bob_row = alice.locator(".main .row", has_text="Bob")
    expect(bob_row.get_by_role("button", name="Make member")).to_be_visible(timeout=client.TIMEOUT_MS)
    expect(bob_row.locator("small")).to_have_text("admin")
    screenshot(alice, "15-members")
    alice.locator(".main .row", has_text="Bob").get_by_role("button", name="Remove").click()
    expect(alice.locator(".main .row", has_text="Bob")).to_have_count(0, timeout=client.TIMEOUT_MS)
    bob.get_by_role("tab", name="Groups").click()
    expect(bob.locator(".sidebar a.row", has_text="Book club")).to_have_count(0, timeout=client.TIMEOUT_MS)

    # Log out: back to the login screen, and a reload stays there.
    client.go(bob, "/settings")
    bob.get_by_role("button", name="Log out").click()
    expect(bob.get_by_role("heading", name="Log in")).to_be_visible(timeout=client.TIMEOUT_MS)
    bob.reload()
    expect(bob.get_by_role("heading", name="Log in")).to_be_visible(timeout=client.TIMEOUT_MS)

    # Account deletion, with the password; logging in again is refused in a sentence.
    client.go(alice, "/settings")
    alice.fill("input[name=delete_password]", client.PASSWORD)
    alice.once("dialog", lambda dialog: dialog.accept())
    alice.get_by_role("button", name="Delete my account").click()
    expect(alice.get_by_role("heading", name="Log in")).to_be_visible(timeout=client.TIMEOUT_MS)
    client.log_in(alice, "alice")
    refusal = alice.get_by_role("alert")
    expect(refusal).not_to_have_text("", timeout=client.TIMEOUT_MS)
    assert "{" not in refusal.inner_text()
    screenshot(alice, "16-deleted-account-login")

    messenger_app.assert_plaintexts_absent([*history, notes.read_bytes(), notes.name, client.PASSPHRASE])


def test_starting_over_with_new_keys_after_losing_the_backup(messenger_app, open_device, screenshot):
    alice = open_device("alice", **DESKTOP)
    bob = open_device("bob", **DESKTOP)
    client.register(alice, "alice")
    client.register(bob, "bob")
    client.request_contact(alice, "bob")
    client.accept_contact(bob, "alice")
    client.open_chat(alice, "Bob")
    client.open_chat(bob, "Alice")
    before = typed("Sent to the old keys")
    client.send(bob, before)
    client.expect_texts(alice, [before])  # Bob's session with Alice's first identity exists now

    # A new phone, the passphrase forgotten: Alice starts over with new keys.
    phone = open_device("alice-phone", **PHONE)
    client.log_in(phone, "alice")
    phone.get_by_text("No backup, or forgot the passphrase?").click()
    phone.fill("input[name=new_passphrase]", "a brand new passphrase for alice")
    phone.once("dialog", lambda dialog: dialog.accept())
    phone.get_by_role("button", name="Start over with new keys").click()
    client.expect_connected(phone)
    client.open_chat(phone, "Bob")
    expect(phone.locator(".msg.theirs .unreadable")).to_have_count(1, timeout=client.TIMEOUT_MS)

    # Bob's client notices the new identity and makes a new session: both ways work again.
    client.go(bob, "/")
    client.open_chat(bob, "Alice")
    after, answer = typed("Sent to the new keys"), typed("Phone answers Bob")
    client.send(bob, after)
    client.expect_texts(phone, [after])
    client.send(phone, answer)
    client.expect_texts(bob, [answer])
    screenshot(phone, "17-new-keys-phone")

    messenger_app.assert_plaintexts_absent([before, after, answer, "a brand new passphrase for alice"])
