"""Drives a Gig'MCP profile endpoint with the official Python MCP SDK client.

Usage: python_client.py URL TOKEN MODE   (MODE: auto | legacy | 2026-07-28)
Prints one JSON object: the tool names it listed and the text of echo_echo("hello").
"""
import asyncio
import json
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def main(url: str, token: str, mode: str) -> None:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        tools = await client.list_tools()
        result = await client.call_tool("echo_echo", {"message": "hello"})
        print(json.dumps({
            "protocol": client.protocol_version if hasattr(client, "protocol_version") else None,
            "tools": [t.name for t in tools.tools],
            "text": result.content[0].text,
        }))


asyncio.run(main(*sys.argv[1:4]))
