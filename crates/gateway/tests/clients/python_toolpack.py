"""Calls tools of a Gig'MCP profile with the official Python MCP SDK client.

Usage: python_toolpack.py URL TOKEN CALLS   (CALLS: a JSON file, a list of {"name", "arguments"})

Connects (auto mode), lists the tools, calls each in order and prints one JSON object:
{"protocol", "tools": [names], "results": [{"name", "isError", "text", "structured"}]}.
"""
import asyncio
import json
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def main(url: str, token: str, calls_file: str) -> None:
    with open(calls_file, encoding="utf-8") as f:
        calls = json.load(f)
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with Client(streamable_http_client(url, http_client=http), mode="auto") as client:
        tools = await client.list_tools()
        results = []
        for call in calls:
            result = await client.call_tool(call["name"], call["arguments"])
            texts = [c.text for c in result.content if getattr(c, "type", None) == "text"]
            results.append({
                "name": call["name"],
                "isError": bool(result.is_error),
                "text": "\n".join(texts),
                "structured": result.structured_content,
            })
        print(json.dumps({
            "protocol": getattr(client, "protocol_version", None),
            "tools": sorted(t.name for t in tools.tools),
            "results": results,
        }))


asyncio.run(main(*sys.argv[1:4]))
