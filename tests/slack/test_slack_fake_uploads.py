"""The fake Slack's files API follows files_upload_v2's three steps the way Slack documents them."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes.block_kit import block_errors
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.fakes.slack_contract import manifest_bot_scopes

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def test_upload_v2_shares_the_files_in_the_channel_and_serves_them(fake: FakeSlack) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=fake.api_url)
    response = client.files_upload_v2(file_uploads=[
        {"content": PNG, "filename": "loss.png", "title": "Loss", "alt_txt": "a falling line"},
        {"content": b"second", "filename": "notes.txt", "title": "Notes"}], channel="CADMINS",
        initial_comment="Charts of run 3")
    files = response["files"]
    assert [f["title"] for f in files] == ["Loss", "Notes"] and files[0]["mimetype"] == "image/png"
    assert [c.method or c.path.split("/")[1] for c in fake.calls if c.method != "auth.test"] == [
        "files.getUploadURLExternal", "files.getUploadURLExternal", "upload", "upload",
        "files.completeUploadExternal"]
    assert fake.calls_to("files.getUploadURLExternal")[0].body["length"] == str(len(PNG))
    [shared] = fake.messages["CADMINS"]
    assert shared["text"] == "Charts of run 3" and [f["id"] for f in shared["files"]] == [f["id"] for f in files]
    info = client.files_info(file=files[0]["id"])["file"]
    assert info["alt_txt"] == "a falling line"
    download = urllib.request.Request(info["url_private"], headers={"Authorization": f"Bearer {BOT_TOKEN}"})
    assert urllib.request.urlopen(download).read() == PNG


def test_without_a_channel_the_file_stays_private(fake: FakeSlack) -> None:
    WebClient(token=BOT_TOKEN, base_url=fake.api_url).files_upload_v2(content=PNG, filename="a.png")
    assert not fake.messages and len(fake.files) == 1


def test_uploads_need_files_write(fake: FakeSlack) -> None:
    assert "files:write" in manifest_bot_scopes(), "the shipped manifest asks for it"
    fake.scopes = manifest_bot_scopes() - {"files:write"}
    with pytest.raises(SlackApiError, match="missing_scope") as raised:
        WebClient(token=BOT_TOKEN, base_url=fake.api_url).files_upload_v2(content=PNG, filename="a.png")
    assert raised.value.response["needed"] == "files:write"


def test_contract_errors(fake: FakeSlack) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=fake.api_url)
    with pytest.raises(SlackApiError, match="missing_argument"):
        client.files_getUploadURLExternal(filename="empty.txt", length=0)
    with pytest.raises(SlackApiError, match="alt_txt_too_large"):
        client.files_getUploadURLExternal(filename="a.png", length=3, alt_txt="x" * 1001)
    started = client.files_getUploadURLExternal(filename="a.png", length=3)
    with pytest.raises(SlackApiError, match="file_not_found"):  # nothing was uploaded yet
        client.files_completeUploadExternal(files=[{"id": started["file_id"]}])
    with pytest.raises(SlackApiError, match="file_not_found"):
        client.files_completeUploadExternal(files=[{"id": "FNOSUCH"}])
    with pytest.raises(urllib.error.HTTPError) as refused:  # more bytes than the declared length
        urllib.request.urlopen(urllib.request.Request(started["upload_url"], data=b"four", method="POST"))
    assert refused.value.code == 400
    accepted = urllib.request.urlopen(urllib.request.Request(started["upload_url"], data=b"abc", method="POST"))
    assert accepted.read() == b"OK - 3"
    assert client.files_completeUploadExternal(files=[{"id": started["file_id"]}])["files"][0]["title"] == "a.png"
    with pytest.raises(SlackApiError, match="file_not_found"):  # completed already
        client.files_completeUploadExternal(files=[{"id": started["file_id"]}])


def test_a_refused_upload_post_raises_urllib_s_error_from_the_sdk(fake: FakeSlack) -> None:
    """slack_sdk POSTs with urllib's urlopen, which raises HTTPError before the SDK's own status check."""
    client = WebClient(token=BOT_TOKEN, base_url=fake.api_url)
    original = fake.receive_upload
    fake.receive_upload = lambda file_id, content: original(file_id, content + b"x")  # type: ignore[method-assign]
    with pytest.raises(urllib.error.HTTPError, match="400"):
        client.files_upload_v2(content=b"abc", filename="a.txt")
    assert not fake.calls_to("files.completeUploadExternal")


def test_image_blocks_need_alt_text_and_one_source() -> None:
    assert block_errors([{"type": "image", "alt_text": "loss", "slack_file": {"id": "F1"}}]) == []
    assert block_errors([{"type": "image", "alt_text": "loss"}]) == [
        "must provide exactly one of image_url or slack_file [json-pointer:/blocks/0]"]
    assert block_errors([{"type": "image", "slack_file": {"name": "x"}}]) == [
        "missing required field: alt_text [json-pointer:/blocks/0]",
        "must provide id or url [json-pointer:/blocks/0/slack_file]"]
