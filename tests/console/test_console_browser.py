"""The console in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

A hub is served by uvicorn on loopback (embedded mode); two tenants' keys; artifacts of every
previewable type, versions and lineage. The browser signs in, lists, filters, searches, opens,
previews, pages a grid, diffs, follows the lineage graph, shares, creates and revokes a link,
watches the live feed; a second tenant's key then sees none of it. Screenshots go to
``tests/console/screenshots/`` (one of them is ``docs/console.png``).

Playwright's own browser download is never used: ``executable_path`` points at the system
Chromium. Without it the tests skip (fail with ``ARTIFACT_HUB_REQUIRE_SERVICES=1``);
``scripts/test`` installs it with apt-get when it can.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.live_server import LiveHub, live_hub
from tests.services import unavailable

from artifact_hub.schemas.lineage import Lineage, LineageInput

SHOTS = Path(__file__).parent / "screenshots"
WIDTH, HEIGHT = 1400, 900


def _chromium() -> str:
    found = os.environ.get("ARTIFACT_HUB_CHROMIUM") or shutil.which("chromium")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    if found is None:
        unavailable("no chromium executable (apt-get install chromium, or ARTIFACT_HUB_CHROMIUM)")
    return found


def _png(width: int = 64, height: int = 40) -> bytes:
    """A small gradient PNG, written by hand (no imaging library needed)."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 4 % 256, y * 6 % 256, 160)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _parquet() -> bytes | None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None
    buffer = io.BytesIO()
    table = pa.table({"epoch": list(range(1, 61)), "loss": [1 / n for n in range(1, 61)]})
    pq.write_table(table, buffer)
    return buffer.getvalue()


async def _seed(live: LiveHub) -> dict[str, str]:
    hub = live.hub
    owner = await hub.accounts.authenticate(live.keys["owner"])
    ids: dict[str, str] = {}

    async def push(name: str, data: bytes, content_type: str, **fields: Any) -> str:
        artifact = await hub.service.push(
            owner, data, name=name, content_type=content_type, **fields
        )
        ids[name] = artifact.artifact_id
        return artifact.artifact_id

    weather = "city,temp,day\n" + "".join(f"city{i},{i % 30},{i}\n" for i in range(130))
    await push(
        "weather.csv",
        weather.encode(),
        "text/csv",
        session_id="run-42",
        tags=["daily"],
        labels={"team": "ml"},
        kind="dataset",
    )
    config = await push(
        "config.json",
        json.dumps({"model": {"lr": 0.1, "layers": [64, 32]}, "seed": 1}).encode(),
        "application/json",
        session_id="run-42",
    )
    await hub.service.add_version(
        owner,
        config,
        json.dumps({"model": {"lr": 0.05, "layers": [64, 32, 16]}, "seed": 1}).encode(),
    )
    await push("README.md", b"# Results\n\nAccuracy **0.93** on the test set.\n", "text/markdown")
    await push("chart.png", _png(), "image/png")
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["## Analysis"]},
            {
                "cell_type": "code",
                "execution_count": 1,
                "metadata": {},
                "source": ["print(6 * 7)"],
                "outputs": [{"output_type": "stream", "name": "stdout", "text": ["42\n"]}],
            },
        ],
    }
    await push("analysis.ipynb", json.dumps(notebook).encode(), "application/x-ipynb+json")
    parquet = _parquet()
    if parquet is not None:
        await push("metrics.parquet", parquet, "application/vnd.apache.parquet")
    lineage = Lineage(
        run_id="run-42",
        workflow_id="train",
        step_id="fit",
        inputs=[
            LineageInput(artifact_id=ids["weather.csv"], version=1),
            LineageInput(artifact_id=config, version=2),
        ],
    )
    await push("model.txt", b"weights v1\n", "text/plain", lineage=lineage)
    return ids


@pytest.fixture(scope="module")
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveHub, dict[str, str]]]:
    with live_hub(request, tmp_path_factory.mktemp("console"), "sqlite-local") as live:
        yield live, live.run(_seed(live))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield launched
        finally:
            launched.close()


def _sign_in(browser: Any, live: LiveHub, role: str, target: str = "/console/") -> Any:
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(live.url + target)
    assert "/console/login" in page.url  # deep link: sign in first, then come back
    page.fill("#api_key", live.keys[role])
    page.click("button[type=submit]")
    page.wait_for_url(live.url + target)
    return page


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def test_browse_preview_diff_lineage_share_links(
    served: tuple[LiveHub, dict[str, str]], browser: Any
) -> None:
    live, ids = served
    page = _sign_in(browser, live, "owner")
    page.goto(live.url + "/console/login")  # the sign-in page itself, for the record
    _shot(page, "01-sign-in")
    page.goto(live.url + "/console/")
    rows = page.locator("#artifact-table tbody tr")
    assert rows.count() == len(ids)
    _shot(page, "02-list")

    # Filters (htmx swaps the rows and pushes the URL: the filtered list is a deep link).
    page.fill("input[name=tag]", "daily")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/console/?*tag=daily*")
    assert page.locator("#artifact-table tbody tr").count() == 1
    assert "weather.csv" in page.inner_text("#artifact-table")
    page.goto(live.url + "/console/?content_type=application/json")
    assert page.locator("a.artifact-link").all_inner_texts() == ["config.json"]
    page.goto(live.url + "/console/?q=weather&mode=lexical")
    assert "weather.csv" in page.inner_text("#artifact-table")

    # Open the CSV: a paged grid; the next page comes through htmx.
    page.goto(live.url + "/console/?session_id=run-42")
    page.click("text=weather.csv")
    page.wait_for_url(f"**/console/artifacts/{ids['weather.csv']}")
    assert page.locator("table.grid tbody tr").count() == 50
    page.click("#grid-next")
    page.wait_for_selector("#grid-paging:has-text('Page 2 of 3')")
    assert "city50" in page.inner_text("table.grid")
    _shot(page, "03-artifact-csv")

    # Previews of the other types.
    page.goto(live.url + f"/console/artifacts/{ids['config.json']}")
    assert "layers" in page.inner_text("#json-tree")
    page.goto(live.url + f"/console/artifacts/{ids['config.json']}?version=1")
    assert "0.1" in page.inner_text("#json-tree")
    page.goto(live.url + f"/console/artifacts/{ids['README.md']}")
    assert page.inner_text("#markdown strong") == "0.93"
    page.goto(live.url + f"/console/artifacts/{ids['chart.png']}")
    page.wait_for_function("document.querySelector('.preview-image').naturalWidth === 64")
    page.goto(live.url + f"/console/artifacts/{ids['analysis.ipynb']}")
    assert "42" in page.inner_text("#notebook pre.output")
    assert page.inner_text("#notebook h2") == "Analysis"
    if "metrics.parquet" in ids:
        page.goto(live.url + f"/console/artifacts/{ids['metrics.parquet']}")
        assert page.locator("table.grid tbody tr").count() == 50
        assert "epoch" in page.inner_text("table.grid thead")

    # Diff of the two JSON versions.
    page.goto(live.url + f"/console/artifacts/{ids['config.json']}")
    page.click("#diff-link")
    page.wait_for_selector("#json-diff")
    changes = page.inner_text("#json-diff")
    assert "$.model.lr" in changes and "$.model.layers[2]" in changes
    assert page.locator("#text-diff tr.replace").count() >= 1
    _shot(page, "04-diff")

    # Lineage: dagre lays the graph out; a click on an input opens its page.
    page.goto(live.url + f"/console/artifacts/{ids['model.txt']}/lineage")
    page.wait_for_selector("#lineage-graph.ready")
    assert page.get_attribute("#lineage-graph", "data-nodes") == "3"
    assert page.get_attribute("#lineage-graph", "data-edges") == "2"
    _shot(page, "05-lineage")
    position = page.evaluate(
        "(id) => window.artifactHubLineage.getElementById(id).renderedPosition()",
        ids["weather.csv"],
    )
    box = page.locator("#lineage-graph").bounding_box()
    page.mouse.click(box["x"] + position["x"], box["y"] + position["y"])
    page.wait_for_url(f"**/console/artifacts/{ids['weather.csv']}")

    # Share with bob; he sees it.
    page.fill("#share-agents", "bob")
    page.click("#share-button")
    page.wait_for_selector("#access-list:has-text('bob')")

    # A link: created, downloads, revoked, then refused.
    page.click("#create-link")
    page.wait_for_selector("#new-link")
    href = page.get_attribute("#new-link a", "href")
    assert page.request.get(live.url + href).body().startswith(b"city,temp")
    _shot(page, "06-artifact-links")
    page.click("#links-table button.revoke")
    page.wait_for_selector("#links-table td.state:has-text('revoked')")
    assert page.request.get(live.url + href).status == 404

    # Downloads go through a signed URL.
    with page.expect_download() as download:
        page.evaluate("document.getElementById('download').click()")
    assert Path(download.value.path()).read_bytes().startswith(b"city,temp")

    # A write without the CSRF token is refused, even with the session cookie.
    refused = page.request.post(
        live.url + f"/console/artifacts/{ids['weather.csv']}/share", form={"agents": "eve"}
    )
    assert refused.status == 403

    # The live feed: a new push shows up without a reload.
    page.goto(live.url + "/console/events")
    page.wait_for_selector("#feed-state:has-text('live')")

    async def push_late() -> None:
        owner = await live.hub.accounts.authenticate(live.keys["owner"])
        await live.hub.service.push(owner, b"late", name="late-arrival.txt")

    live.run(push_late())
    page.wait_for_selector("#events-body tr.new:has-text('late-arrival.txt')")
    _shot(page, "07-events")
    page.context.close()

    peer = _sign_in(browser, live, "peer")
    assert peer.locator("a.artifact-link").all_inner_texts() == ["weather.csv"]
    peer.context.close()


def test_a_second_tenant_sees_none_of_it(
    served: tuple[LiveHub, dict[str, str]], browser: Any
) -> None:
    live, ids = served
    page = _sign_in(browser, live, "stranger")
    assert page.locator("#no-artifacts").count() == 1
    for url in (
        f"/console/artifacts/{ids['weather.csv']}",
        f"/console/artifacts/{ids['config.json']}/diff",
        f"/console/artifacts/{ids['model.txt']}/lineage",
        "/console/sessions/run-42",
    ):
        response = page.goto(live.url + url)
        assert response is not None and response.status == 404, url
        assert page.inner_text("#error-code") in ("artifact_not_found", "session_not_found")
    page.goto(live.url + "/console/sessions")
    assert "run-42" not in page.inner_text("#sessions-table")
    page.goto(live.url + "/console/events")
    assert "weather.csv" not in page.inner_text("#events-table")
    page.goto(live.url + "/console/?q=weather&mode=lexical")
    assert page.locator("a.artifact-link").count() == 0
    page.goto(live.url + f"/console/artifacts/{ids['weather.csv']}")
    _shot(page, "08-other-tenant")
    page.context.close()
