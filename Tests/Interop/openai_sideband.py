#!/usr/bin/env python3
"""A sideband joins a live call with the official `openai` Python SDK
(`AsyncOpenAI.realtime.connect(call_id=...)`), as an application server does while a browser
holds the media (here aiortc, with the `oai-events` channel): it starts from
`session.created`, changes the instructions (the caller's channel sees the same
`session.updated`), declares a tool, asks for a response that calls it
(`response.function_call_arguments.done`), answers with a `function_call_output` item and
a `response.create`, and the caller hears the spoken response start; when the caller's
call is hung up, the sideband's socket closes saying the call ended.

Prints one JSON line; exit 0 when every step did what it should."""

import argparse
import asyncio
import json
import sys
import time

import openai

import peers

TOOL = {"type": "function", "name": "lookup_order", "description": "Finds an order.",
        "parameters": {"type": "object", "properties": {}}}


class Failure(Exception):
    pass


class SidebandLog:
    """Every event the sideband receives, parsed by the SDK, in order."""

    def __init__(self, connection):
        self.connection = connection
        self.events: list = []
        self.closed_reason = None
        self._changed = asyncio.Event()

    async def pump(self) -> None:
        try:
            async for event in self.connection:
                self.events.append(event)
                self._changed.set()
        except openai.OpenAIError as error:
            self.closed_reason = f"error: {error}"
        except Exception as error:  # the socket closing: websockets' ConnectionClosed
            self.closed_reason = str(error)
        else:
            # The SDK ends its iteration on a normal close; the socket keeps code and reason.
            socket = getattr(self.connection, "_connection", None)
            self.closed_reason = f"{getattr(socket, 'close_code', None)} {getattr(socket, 'close_reason', '')}"
        self._changed.set()

    def of_type(self, event_type: str) -> list:
        return [event for event in self.events if event.type == event_type]

    async def wait(self, condition, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while not (result := condition()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Failure(f"sideband: no {what} within {timeout:.0f} s (got {[e.type for e in self.events]})")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass
        return result


async def run(url: str, key: str, timeout: float) -> dict:
    peers.pin_ice_to_loopback_if_local(url)
    report: dict = {"sdk": openai.__version__}
    call = peers.AgentCall(url)
    await call.connect(timeout)
    if not await call.events.wait_open(timeout):
        raise Failure("the caller's oai-events channel did not open")
    call_id = call.location.rsplit("/", 1)[-1]
    client = openai.AsyncOpenAI(base_url=url.rstrip("/") + "/v1", api_key=key, max_retries=0, timeout=timeout)
    try:
        async with client.realtime.connect(call_id=call_id) as connection:
            log = SidebandLog(connection)
            pump = asyncio.ensure_future(log.pump())
            await log.wait(lambda: log.events, timeout, "first event")
            report["first_event"] = log.events[0].type
            if log.events[0].type != "session.created":
                raise Failure(f"the sideband's first event is {log.events[0].type}, not session.created")

            # Instructions and a tool, set by the server while the browser holds the call.
            since = time.monotonic()
            await connection.send({"type": "session.update", "session": {
                "type": "realtime", "instructions": "Look orders up before answering.", "tools": [TOOL]}})
            updated = await log.wait(lambda: [e for e in log.of_type("session.updated")
                                             if e.session.instructions == "Look orders up before answering."],
                                     timeout, "session.updated with the new instructions")
            _, seen = await call.events.wait_for("session.updated", timeout, since)
            if not seen or seen.get("session", {}).get("instructions") != "Look orders up before answering.":
                raise Failure(f"the caller did not see the sideband's instructions: {seen}")
            if seen.get("event_id") != updated[0].event_id:
                raise Failure("the caller and the sideband saw different session.updated events")
            report["instructions"] = "changed on both sides"

            # The tool-call round trip.
            await connection.send({"type": "response.create", "response": {
                "tool_choice": {"type": "function", "name": TOOL["name"]}}})
            calls = await log.wait(lambda: log.of_type("response.function_call_arguments.done"),
                                   timeout, "response.function_call_arguments.done")
            function_call = calls[0]
            report["function_call"] = {"name": function_call.name, "call_id": function_call.call_id}
            if function_call.name != TOOL["name"]:
                raise Failure(f"the function call names {function_call.name}")
            json.loads(function_call.arguments)
            since = time.monotonic()
            await connection.send({"type": "conversation.item.create", "item": {
                "type": "function_call_output", "call_id": function_call.call_id, "output": '{"status": "shipped"}'}})
            await log.wait(lambda: [e for e in log.of_type("conversation.item.done")
                                    if getattr(e.item, "type", None) == "function_call_output"],
                           timeout, "conversation.item.done for the function output")
            await connection.send({"type": "response.create"})
            started = await log.wait(lambda: log.of_type("output_audio_buffer.started"), timeout,
                                     "output_audio_buffer.started of the spoken answer")
            _, heard = await call.events.wait_for("output_audio_buffer.started", timeout, since)
            if not heard or heard.get("response_id") != started[0].response_id:
                raise Failure("the caller's channel did not see the spoken answer start")
            report["answer"] = "spoken after the tool output"

            # The call ends: the sideband's socket closes with the reason.
            await asyncio.to_thread(peers.delete_call, call.location)
            await log.wait(lambda: log.closed_reason is not None, timeout, "close after the call ended")
            report["sideband_closed"] = log.closed_reason
            if "call ended" not in log.closed_reason:
                raise Failure(f"the sideband closed without saying the call ended: {log.closed_reason}")
            await pump
            ids = [e.event_id for e in log.events]
            if len(set(ids)) != len(ids) or not all(ids):
                raise Failure("sideband events without unique event_ids")
            report["sideband_events"] = len(log.events)
    finally:
        await call.close()
    return report


async def refusals(url: str, timeout: float) -> dict:
    """A sideband for a call that does not exist gets an error event saying so, then a
    close (1008)."""
    client = openai.AsyncOpenAI(base_url=url.rstrip("/") + "/v1", api_key="x", max_retries=0, timeout=timeout)
    async with client.realtime.connect(call_id="rtc_000000000000000000000000") as connection:
        event = await asyncio.wait_for(connection.recv(), timeout)
        if event.type != "error" or event.error.code != "no_such_call":
            raise Failure(f"a sideband for a missing call got {event.type} {getattr(event, 'error', None)}, not error no_such_call")
        try:
            await asyncio.wait_for(connection.recv(), timeout)
            raise Failure("a refused sideband stayed open")
        except openai.OpenAIError:
            pass
        except Exception as error:
            if "1008" not in str(error):
                raise Failure(f"a refused sideband closed with {error}, not 1008")
    return {"missing_call": "error no_such_call, then 1008"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="a built-in-agent transceiver's base URL")
    parser.add_argument("--key", default="parley-interop", help="server API key (any value when the server has none)")
    parser.add_argument("--timeout", type=float, default=15.0)
    args = parser.parse_args()

    async def both():
        report = await run(args.url, args.key, args.timeout)
        report.update(await refusals(args.url, args.timeout))
        return report

    try:
        report = {"test": "openai_sideband", "pass": True, **asyncio.run(both())}
    except (Failure, peers.PeerError, openai.OpenAIError) as error:
        report = {"test": "openai_sideband", "pass": False, "reason": f"{type(error).__name__}: {error}"}
    peers.print_json(report)
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
