"""Drives the gateway's per-call and session features with the official Python MCP SDK client.

Usage: python_features.py URL TOKEN   (a profile whose one server is `library`, named `lib`)

Connects in legacy mode (initialize handshake, 2025-11-25) and exercises:
  progress  lib_slow with a progress callback, cancelled (anyio cancel scope) after the first
            progress; then lib_cancelled, which lists the cancellations the backend received;
  ask       lib_ask, answered by the elicitation callback;
  sample    lib_sample, answered by the sampling callback;
  resources resources/list, resources/read, resources/subscribe of gigmcp://lib/doc://readme,
            lib_touch, and the notifications/resources/updated the message handler receives;
  grow      lib_grow adds a tool at run time: the notifications/tools/list_changed the message
            handler receives, and lib_grown in the next tools/list.
Prints one JSON object with what happened (the Rust test asserts on it).
"""
import json
import sys
import warnings

import anyio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from features_common import README, WAIT, answering_callbacks, slow_then_cancel



async def main(url: str, token: str) -> None:
    out: dict = {}
    notes: list[dict] = []
    updated = anyio.Event()
    tools_changed = anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, Exception):
            notes.append({"exception": repr(message)})
            return
        params = message.params.model_dump(mode="json", by_alias=True, exclude_none=True) if message.params else None
        notes.append({"method": message.method, "params": params})
        if message.method == "notifications/resources/updated":
            updated.set()
        elif message.method == "notifications/tools/list_changed":
            tools_changed.set()

    asked: dict = {}
    on_elicit, on_sample = answering_callbacks(asked)

    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with Client(
        streamable_http_client(url, http_client=http),
        mode="legacy",
        message_handler=on_message,
        elicitation_callback=on_elicit,
        sampling_callback=on_sample,
    ) as client:
        out["protocol"] = client.protocol_version
        out["tools_before"] = sorted(t.name for t in (await client.list_tools()).tools)

        # (a) progress, then cancellation by the caller after the first progress
        await slow_then_cancel(client, out)

        # (b) the backend's elicitation and sampling requests, answered by our callbacks
        out["ask"] = (await client.call_tool("lib_ask", {})).content[0].text
        out["sample"] = (await client.call_tool("lib_sample", {})).content[0].text
        out["asked"] = asked

        # (c) resources and a subscription
        out["resources"] = [str(r.uri) for r in (await client.list_resources()).resources]
        read = await client.read_resource(README)
        out["read"] = {"uri": str(read.contents[0].uri), "text": read.contents[0].text}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # subscribe_resource is deprecated for 2026-07-28 only
            await client.subscribe_resource(README)
        # The GET stream the notification travels on is opened by the transport in the background
        # after the handshake; by now it is open, but touch again if the first one went nowhere.
        touches = 0
        while not updated.is_set() and touches < 3:
            touches += 1
            out["touch"] = (await client.call_tool("lib_touch", {})).content[0].text
            with anyio.move_on_after(WAIT / 2):
                await updated.wait()
        out["touches"] = touches

        # (d) a tool added at run time
        out["grow"] = (await client.call_tool("lib_grow", {})).content[0].text
        with anyio.move_on_after(WAIT):
            await tools_changed.wait()
        out["tools_changed"] = tools_changed.is_set()
        out["tools_after"] = sorted(t.name for t in (await client.list_tools()).tools)
        if "lib_grown" in out["tools_after"]:
            out["grown"] = (await client.call_tool("lib_grown", {})).content[0].text

    out["notifications"] = notes
    print(json.dumps(out))


anyio.run(main, *sys.argv[1:3])
