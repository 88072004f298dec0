"""The web page's guards, checked over HTTP without a browser: a token beyond loopback, the
host a request names, forms from other sites."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from engine.web.app import create_app
from engine.web.threaded import serving


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    for name in ("runs", "data", "scenarios"):
        (tmp_path / name).mkdir()
    return tmp_path / "runs", tmp_path / "data", tmp_path / "scenarios"


def test_a_token_is_asked_for_then_kept_in_a_cookie(tmp_path: Path) -> None:
    app = create_app(*_folders(tmp_path), token="s3cret", host="0.0.0.0")
    with serving(app) as base:
        assert _get(f"{base}/runs")[0] == 401
        assert _get(f"{base}/runs?token=wrong")[0] == 401
        status, headers = _get(f"{base}/runs?token=s3cret")
        assert status == 303 and headers["location"] == "/runs"
        cookie = headers["set-cookie"].split(";")[0]
        assert "HttpOnly" in headers["set-cookie"] and "SameSite=strict" in headers["set-cookie"]
        assert _get(f"{base}/runs", {"Cookie": cookie})[0] == 200
        # Listening on every address, any host name may reach it, with the token.
        assert _get(f"{base}/runs", {"Cookie": cookie, "Host": "shop-planner:8765"})[0] == 200


def test_on_loopback_only_loopback_names_and_same_site_forms_pass(tmp_path: Path) -> None:
    app = create_app(*_folders(tmp_path))
    with serving(app) as base:
        status, headers = _get(f"{base}/runs")
        assert status == 200 and headers["x-frame-options"] == "DENY"
        assert _get(f"{base}/runs", {"Host": "attacker.example"})[0] == 400  # DNS rebinding
        request = urllib.request.Request(
            f"{base}/frontier",
            data=b"scenario=x&parameter=weekly_budget&levels=1,2",
            headers={"Origin": "http://attacker.example"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request)
        assert refused.value.code == 403
