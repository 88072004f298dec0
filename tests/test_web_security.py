"""The web page's guards, checked over HTTP without a browser: a token beyond loopback, the
host a request names, forms from other sites."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

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


def _post(url: str, body: dict[str, str], origin: str) -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(
        url, data=urllib.parse.urlencode(body).encode(), headers={"Origin": origin}
    )
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def test_the_page_can_neither_set_a_cluster_address_nor_run_a_scenario_that_names_one(
    tmp_path: Path,
) -> None:
    """Saving a scenario with solver.execution.address from the page and pressing Run made
    the server's worker connect out to any host (which answers with pickles) and retry for
    ever. The form has no such field, a submitted one is not saved, and a scenario file that
    names a cluster is refused by the page (403, saying why) and started by no job."""
    runs, data, scenarios = _folders(tmp_path)
    (scenarios / "base.yaml").write_text(Path("scenarios/base.yaml").read_text())
    remote = (
        Path("scenarios/base.yaml")
        .read_text()
        .replace(
            "solver: {backend: auto, time_limit_s: 120, mip_gap: 0.001}",
            "solver: {backend: lagrangian, execution: {engine: ray, address: 'evil.example:6379'}}",
        )
    )
    assert "evil.example" in remote
    (scenarios / "remote.yaml").write_text(remote)
    app = create_app(runs, data, scenarios)
    with serving(app) as base:
        form = urllib.request.urlopen(f"{base}/scenarios/base").read().decode()
        assert 'name="solver.execution.engine"' in form
        assert "solver.execution.address" not in form
        from engine.web.forms import form_values, scenario_form

        groups = scenario_form()
        values = form_values(yaml.safe_load(Path("scenarios/base.yaml").read_text()), groups)
        values |= {"solver.execution.address": "evil.example:6379", "save_as": "copied"}
        status, _, _ = _post(f"{base}/scenarios/base", values, base)
        assert status == 303
        assert "evil.example" not in (scenarios / "copied.yaml").read_text()
        status, page, _ = _post(f"{base}/scenarios/remote/run", {}, base)
        assert status == 403 and "runs only from the command line" in page
        status, page, _ = _post(
            f"{base}/frontier",
            {"scenario": "remote", "parameter": "weekly_budget", "levels": "1,2"},
            base,
        )
        assert status == 403 and "solver.execution.address" in page
    assert not (runs / ".jobs").exists() or not list((runs / ".jobs").glob("*.json"))


def test_a_cluster_that_does_not_answer_fails_at_once_saying_where() -> None:
    """Ray retries an unreachable address for ever; the engine checks it answers first and
    fails within the stated time, naming it."""
    import socket
    import time

    from optimization.ray_groups import reachable

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.perf_counter()
    with pytest.raises(
        ConnectionError, match=f"cannot reach the Ray cluster at '127.0.0.1:{port}'"
    ):
        reachable(f"127.0.0.1:{port}", timeout=5)
    assert time.perf_counter() - started < 5
