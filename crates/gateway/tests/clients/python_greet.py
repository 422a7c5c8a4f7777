"""Calls the tools of the Python SDK's own server (`py`, see image_servers.rs) through a Gig'MCP
profile endpoint with the official Python MCP SDK client.

Usage: python_greet.py URL TOKEN MODE   (MODE: auto | legacy | 2026-07-28)
Lists the tools, then calls py_add(2, 3) (a structured result), py_greet (the server asks the
user's name: the elicitation callback answers "Ada") and py_era (the revision the gateway
used with the server). Prints one JSON object with what came back.
"""
import asyncio
import json
import sys

import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def main(url: str, token: str, mode: str) -> None:
    asked: list[str] = []

    async def on_elicit(context, params):
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with Client(
        streamable_http_client(url, http_client=http),
        mode=mode,
        elicitation_callback=on_elicit,
    ) as client:
        tools = await client.list_tools()
        total = await client.call_tool("py_add", {"a": 2, "b": 3})
        greeting = await client.call_tool("py_greet", {})
        era = await client.call_tool("py_era", {})
        print(json.dumps({
            "protocol": client.protocol_version,
            "tools": sorted(t.name for t in tools.tools),
            "sum": total.structured_content,
            "greeting": greeting.content[0].text,
            "asked": asked,
            "era": era.content[0].text,
        }))


asyncio.run(main(*sys.argv[1:4]))
