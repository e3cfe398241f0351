"""Links act with their creator's current access; owners list an artifact's links (both stacks).

Also: a download URL that outlives the store's cap is the hub's, and stops at the delete.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from tests.integration.api_support import Api, api

__all__ = ["api"]


def _code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


async def _link(api: Api, role: str, artifact_id: str) -> dict[str, str]:
    response = await api.request(role, "POST", f"/v1/artifacts/{artifact_id}/links")
    assert response.status_code == 201, response.text
    link: dict[str, str] = response.json()
    return link


async def _share(api: Api, artifact_id: str, action: str, **who: list[str]) -> None:
    response = await api.request("owner", "POST", f"/v1/artifacts/{artifact_id}/{action}", json=who)
    assert response.status_code == 200, response.text


async def _get(api: Api, url: str) -> httpx.Response:
    return await api.client.get(url)  # no key: the link is the credential


async def test_a_link_made_through_a_share_ends_with_the_share(api: Api) -> None:
    artifact = await api.push(data=b"shared bytes")
    await _share(api, artifact["id"], "share", agents=["carol"])
    theirs = await _link(api, "reader", artifact["id"])
    mine = await _link(api, "owner", artifact["id"])
    assert (await _get(api, theirs["url"])).content == b"shared bytes"

    await _share(api, artifact["id"], "unshare", agents=["carol"])
    assert _code(await _get(api, theirs["url"]))[0] == 404
    assert (await _get(api, mine["url"])).content == b"shared bytes"  # the owner's still works

    await _share(api, artifact["id"], "share", agents=["carol"])  # given back: works again
    assert (await _get(api, theirs["url"])).content == b"shared bytes"


async def test_a_link_made_through_a_group_ends_with_the_group_share(api: Api) -> None:
    artifact = await api.push(data=b"group bytes")
    await _share(api, artifact["id"], "share", groups=["readers"])
    link = await _link(api, "member", artifact["id"])
    assert (await _get(api, link["url"])).content == b"group bytes"
    await _share(api, artifact["id"], "unshare", groups=["readers"])
    assert _code(await _get(api, link["url"]))[0] == 404


async def test_a_link_ends_when_its_creators_keys_are_revoked(api: Api) -> None:
    artifact = await api.push(data=b"admin read")
    link = await _link(api, "admin", artifact["id"])  # admin reads it without a share
    assert (await _get(api, link["url"])).content == b"admin read"
    assert await api.hub.accounts.revoke_key(api.key_ids["admin"])
    assert _code(await _get(api, link["url"]))[0] == 404


async def test_owner_lists_an_artifacts_links_paged(api: Api) -> None:
    artifact = await api.push()
    await _share(api, artifact["id"], "share", agents=["carol"])
    made = [await _link(api, "owner", artifact["id"]) for _ in range(2)]
    made.append(await _link(api, "reader", artifact["id"]))
    url = f"/v1/artifacts/{artifact['id']}/links"

    first = await api.request("owner", "GET", url, params={"limit": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["data"]) == 2 and page["next_cursor"]
    second = await api.request(
        "owner", "GET", url, params={"limit": 2, "cursor": page["next_cursor"]}
    )
    rest = second.json()
    assert rest["next_cursor"] is None
    listed = page["data"] + rest["data"]
    assert sorted(item["id"] for item in listed) == sorted(link["id"] for link in made)
    assert [item["created_at"] for item in listed] == sorted(
        (item["created_at"] for item in listed), reverse=True
    )
    by_id = {item["id"]: item for item in listed}
    assert by_id[made[2]["id"]]["created_by"] == "carol"
    assert all(item["active"] and "url" not in item for item in listed)

    # Each one revocable with the existing endpoint; revoked ones leave the default list.
    revoked = made[2]["id"]
    assert (await api.request("owner", "DELETE", f"/v1/links/{revoked}")).status_code == 204
    assert _code(await _get(api, made[2]["url"])) == (404, "link_not_found")
    active = (await api.request("owner", "GET", url)).json()["data"]
    assert revoked not in {item["id"] for item in active}
    everything = (
        await api.request("owner", "GET", url, params={"include_inactive": "true"})
    ).json()["data"]
    gone = next(item for item in everything if item["id"] == revoked)
    assert gone["active"] is False and gone["revoked_at"] is not None

    # The tenant's admin may list; the reader it was shared with may not; others see nothing.
    assert (await api.request("admin", "GET", url)).status_code == 200
    assert _code(await api.request("reader", "GET", url)) == (403, "forbidden")
    assert _code(await api.request("peer", "GET", url))[0] == 404
    assert _code(await api.request("stranger", "GET", url))[0] == 404
    assert (await api.request(None, "GET", url)).status_code == 401
    bad = await api.request("owner", "GET", url, params={"cursor": "not-a-cursor"})
    assert _code(bad) == (400, "invalid_request")
    assert (await api.request("owner", "GET", url, params={"limit": 0})).status_code in (400, 422)


async def test_a_long_download_url_is_the_hubs_and_ends_with_the_artifact(api: Api) -> None:
    artifact = await api.push(data=b"soon deleted")
    response = await api.request(
        "owner",
        "GET",
        f"/v1/artifacts/{artifact['id']}/download-url",
        params={"expires_in": 7 * 86400},
    )
    assert response.status_code == 200, response.text
    url = response.json()["url"]
    # Never a 7-day presigned S3 URL: the hub's, checked at every use.
    assert urlsplit(url).path == f"/v1/artifacts/{artifact['id']}/1".replace(
        "/v1/artifacts/", "/v1/signed/"
    )
    assert (await _get(api, url)).status_code in (200, 307)
    deleted = await api.request("owner", "DELETE", f"/v1/artifacts/{artifact['id']}")
    assert deleted.status_code in (200, 204), deleted.text
    assert _code(await _get(api, url)) == (410, "artifact_already_deleted")


async def test_a_download_url_made_through_a_share_ends_with_the_share(api: Api) -> None:
    """A hub-signed download URL names its maker under the signature and reads as the maker
    can now: withdrawing the share ends it, as it ends the maker's links."""
    artifact = await api.push(data=b"shared download")
    await _share(api, artifact["id"], "share", agents=["carol"])
    response = await api.request(
        "reader",
        "GET",
        f"/v1/artifacts/{artifact['id']}/download-url",
        params={"expires_in": 7 * 86400},  # past any store URL's cap: the hub's URL
    )
    assert response.status_code == 200, response.text
    url = response.json()["url"]
    assert "by=carol" in url
    assert (await _get(api, url)).status_code in (200, 307)
    # The maker is signed: naming the owner instead is a forged URL.
    forged = url.replace("by=carol", "by=alice")
    assert _code(await _get(api, forged)) == (403, "forbidden")

    await _share(api, artifact["id"], "unshare", agents=["carol"])
    assert _code(await _get(api, url))[0] == 404
    await _share(api, artifact["id"], "share", agents=["carol"])  # given back: works again
    assert (await _get(api, url)).status_code in (200, 307)
