"""What python_features.py (legacy) and python_features_stateless.py share: the client's
answers to the backend's questions, and the progress-then-cancel exercise of lib_slow."""
import anyio
import mcp_types as types

README = "gigmcp://lib/doc://readme"
WAIT = 10  # seconds to wait for anything the gateway should deliver


def answering_callbacks(asked: dict):
    """Elicitation and sampling callbacks that answer ("Ana", "4") and record in `asked` what
    they were asked and under which request id (at 2026-07-28: the inputRequests key)."""

    async def on_elicit(context, params):
        asked["elicitation"] = params.message
        asked["elicitation_key"] = str(context.request_id)
        return types.ElicitResult(action="accept", content={"name": "Ana"})

    async def on_sample(context, params):
        asked["sampling"] = params.messages[0].content.text
        asked["sampling_key"] = str(context.request_id)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="4"), model="test-model"
        )

    return on_elicit, on_sample


async def slow_then_cancel(client, out: dict) -> None:
    """Calls lib_slow with a progress callback and cancels it (an anyio cancel scope) at the
    first progress; then polls lib_cancelled until the backend lists the cancellation (it may
    reach the backend a moment later: a POSTed notification, or the gateway noticing the closed
    stream)."""
    progress: list[dict] = []
    with anyio.move_on_after(WAIT) as timeout, anyio.CancelScope() as call:

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append({"progress": value, "total": total, "message": message})
            call.cancel()

        await client.call_tool("lib_slow", {}, progress_callback=on_progress)
        out["slow_returned"] = True  # never: lib_slow only ends when cancelled
    out["slow_timed_out"] = timeout.cancelled_caught
    out["slow_cancelled"] = call.cancelled_caught
    out["progress"] = progress
    seen = ""
    with anyio.move_on_after(WAIT):
        while not seen:
            seen = (await client.call_tool("lib_cancelled", {})).content[0].text
            if not seen:
                await anyio.sleep(0.1)
    out["cancelled_seen"] = seen.splitlines()
