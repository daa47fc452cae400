"""The web client is served by the project itself (issue 18): its page at / and on the paths it
routes in the browser, its static files through whitenoise as every other static file."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

CLIENT_PATHS = [
    "/",
    "/login",
    "/register?invitation=abc",
    "/verify-email?token=abc",
    "/chat/0b7c3c1e-2f4a-4a57-9c55-1b0f7a9c2d10",
    "/group/0b7c3c1e-2f4a-4a57-9c55-1b0f7a9c2d10",
    "/contacts",
    "/settings",
    "/restore",
]


@pytest.mark.parametrize("path", CLIENT_PATHS)
def test_every_client_route_answers_the_one_page(client, db, path):
    page = client.get(path)
    assert page.status_code == 200
    html = page.content.decode()
    assert '<div id="app">' in html
    assert '<script type="module" src="/static/webclient/app.js"></script>' in html
    # A strict policy: scripts only from this origin (plus WebAssembly for argon2id), no inline.
    policy = page["Content-Security-Policy"]
    assert "script-src 'self' 'wasm-unsafe-eval'" in policy
    assert "frame-ancestors 'none'" in policy
    assert page["Referrer-Policy"] == "no-referrer"


def test_other_paths_stay_404_and_the_api_keeps_its_json_404(client, db):
    assert client.get("/nothing-here").status_code == 404
    api = client.get("/api/v1/nothing-here")
    assert api.status_code == 404
    assert api.json()["code"] == "not_found"


def test_the_client_page_only_answers_get(client, db):
    assert client.post("/").status_code == 405


STATIC = Path(settings.BASE_DIR) / "webclient" / "static" / "webclient"


def test_every_module_the_page_imports_is_a_file_of_the_app():
    """The ES modules import each other by relative path: a typo is a blank page in the browser."""
    modules = sorted(STATIC.rglob("*.js"))
    assert modules
    for module in modules:
        for target in re.findall(
            r'^\s*import\s[^"\']*["\'](\.[^"\']+)["\']', module.read_text(), re.MULTILINE
        ):
            assert (module.parent / target).resolve().is_file(), f"{module.name} imports missing {target}"


def test_the_vendored_argon2_is_the_published_file_with_its_licence():
    vendor = STATIC / "vendor" / "hash-wasm"
    assert "MIT" in (vendor / "LICENSE").read_text()
    readme = (vendor / "README.md").read_text()
    assert "4.13.0" in readme
    assert (vendor / "argon2.umd.min.js").read_text().startswith("/*!\n * hash-wasm")


def test_collectstatic_collects_the_client(tmp_path):
    """With DEBUG off whitenoise serves STATIC_ROOT only: `make run` and deploy/ collect first."""
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "messenger.settings",
        "DEBUG": "1",
        "VAR_DIR": str(tmp_path),
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
        timeout=120,
    )
    collected = tmp_path / "static" / "webclient"
    for name in ["app.js", "crypto.js", "style.css", "vendor/hash-wasm/argon2.umd.min.js"]:
        assert (collected / name).is_file(), name
        assert (collected / f"{name}.gz").is_file(), name  # whitenoise's compressed copy
