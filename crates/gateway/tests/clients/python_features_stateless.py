"""Drives the gateway's per-call features in the stateless 2026-07-28 revision with the official
Python MCP SDK client.

Usage: python_features_stateless.py URL TOKEN [MODE]   (a profile whose one server is `library`,
`lib`; MODE: 2026-07-28 (the default) or auto, which settles on it)

Connects with mode="2026-07-28" (no initialize, no session: every POST carries the `_meta`
envelope) and exercises:
  discover  server/discover, sent by the SDK (send_discover: raw result, no adopt);
  progress  lib_slow with a progress callback, cancelled (anyio cancel scope) after the first
            progress: at 2026-07-28 the transport aborts the call's own SSE response stream,
            which is the cancellation; then lib_cancelled, which lists the cancellations the
            backend received;
  ask       lib_ask: the backend's elicitation/create comes back as an InputRequiredResult,
            which the SDK answers through the elicitation callback and a retry carrying
            inputResponses + requestState;
  sample    lib_sample, the same with sampling/createMessage and the sampling callback;
  listen    Client.listen (subscriptions/listen) with resourceSubscriptions
            [gigmcp://lib/doc://readme] and toolsListChanged: the acknowledgment, the
            ResourceUpdated event after lib_touch, the ToolsListChanged event after lib_grow,
            and lib_grown in the next tools/list.
Every request the SDK sends is recorded (method, progressToken, inputResponses keys, whether it
carried a requestState) so the Rust test can check the InputRequiredResult rounds on the wire,
and so is any Mcp-Session-Id a response carries (there should be none).
Prints one JSON object with what happened (the Rust test asserts on it).
"""
import json
import sys

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.client.subscriptions import ResourceUpdated, ToolsListChanged
from mcp.shared._httpx_utils import MCP_DEFAULT_SSE_READ_TIMEOUT, MCP_DEFAULT_TIMEOUT

from features_common import README, WAIT, answering_callbacks, slow_then_cancel

VERSION = "2026-07-28"


async def main(url: str, token: str, mode: str = VERSION) -> None:
    out: dict = {}
    wire: list[dict] = []

    async def record(request: httpx2.Request) -> None:
        if request.method != "POST":
            wire.append({"http": request.method})
            return
        try:
            body = json.loads(request.content)
        except (ValueError, httpx2.RequestNotRead):
            return
        params = body.get("params") or {}
        meta = params.get("_meta") or {}
        entry = {"method": body.get("method"), "header": request.headers.get("mcp-method")}
        if "name" in params:
            entry["name"] = params["name"]
        if "progressToken" in meta:
            entry["progressToken"] = meta["progressToken"]
        if "inputResponses" in params:
            entry["inputResponses"] = sorted(params["inputResponses"])
        if "requestState" in params:
            entry["requestState"] = True
        entry["envelope"] = meta.get("io.modelcontextprotocol/protocolVersion")
        wire.append(entry)

    sessions: list[str] = []

    async def session_header(response: httpx2.Response) -> None:
        if "mcp-session-id" in response.headers:
            sessions.append(response.headers["mcp-session-id"])

    asked: dict = {}
    on_elicit, on_sample = answering_callbacks(asked)

    notes: list[dict] = []

    async def on_message(message) -> None:
        if isinstance(message, Exception):
            notes.append({"exception": repr(message)})
            return
        notes.append({"method": getattr(message, "method", type(message).__name__)})

    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx2.Timeout(MCP_DEFAULT_TIMEOUT, read=MCP_DEFAULT_SSE_READ_TIMEOUT),
        event_hooks={"request": [record], "response": [session_header]},
    )
    async with http, Client(
        streamable_http_client(url, http_client=http),
        mode=mode,
        message_handler=on_message,
        elicitation_callback=on_elicit,
        sampling_callback=on_sample,
    ) as client:
        out["protocol"] = client.protocol_version
        discovered = await client.session.send_discover(VERSION)
        out["discover"] = {
            "supportedVersions": discovered.get("supportedVersions"),
            "resultType": discovered.get("resultType"),
            "serverInfo": (discovered.get("_meta") or {}).get("io.modelcontextprotocol/serverInfo", {}).get("name"),
        }
        out["tools_before"] = sorted(t.name for t in (await client.list_tools()).tools)

        # (a) progress, then cancellation by the caller after the first progress
        await slow_then_cancel(client, out)

        # (b) the backend's elicitation and sampling requests, answered by our callbacks through
        # InputRequiredResult rounds the SDK drives itself
        out["ask"] = (await client.call_tool("lib_ask", {})).content[0].text
        out["sample"] = (await client.call_tool("lib_sample", {})).content[0].text
        out["asked"] = asked

        # (c) and (d): one listen stream for the readme's updates and the tool list's changes
        events: list[dict] = []
        updated = anyio.Event()
        tools_changed = anyio.Event()
        async with client.listen(tools_list_changed=True, resource_subscriptions=[README]) as sub:
            out["listen_id"] = str(sub.subscription_id)
            out["honored"] = sub.honored.model_dump(mode="json", by_alias=True, exclude_none=True)

            async def consume() -> None:
                async for event in sub:
                    if isinstance(event, ResourceUpdated):
                        events.append({"event": "ResourceUpdated", "uri": event.uri})
                        updated.set()
                    elif isinstance(event, ToolsListChanged):
                        events.append({"event": "ToolsListChanged"})
                        tools_changed.set()
                    else:
                        events.append({"event": type(event).__name__})

            async with anyio.create_task_group() as tg:
                tg.start_soon(consume)
                # The acknowledgment comes once the backend is subscribed: one touch should do
                # (the legacy script may need more, its GET stream opening in the background).
                touches = 0
                while not updated.is_set() and touches < 3:
                    touches += 1
                    out["touch"] = (await client.call_tool("lib_touch", {})).content[0].text
                    with anyio.move_on_after(WAIT / 2):
                        await updated.wait()
                out["touches"] = touches
                out["updated"] = updated.is_set()

                out["grow"] = (await client.call_tool("lib_grow", {})).content[0].text
                with anyio.move_on_after(WAIT):
                    await tools_changed.wait()
                out["tools_changed"] = tools_changed.is_set()
                tg.cancel_scope.cancel()
        out["events"] = events
        out["tools_after"] = sorted(t.name for t in (await client.list_tools()).tools)
        if "lib_grown" in out["tools_after"]:
            out["grown"] = (await client.call_tool("lib_grown", {})).content[0].text

    out["wire"] = wire
    out["session_ids"] = sessions
    out["notifications"] = notes
    print(json.dumps(out))


anyio.run(main, *sys.argv[1:4])
