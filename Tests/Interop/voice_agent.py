#!/usr/bin/env python3
"""Talks to a voice agent behind Parley's call API with aiortc: a scripted microphone (a
voiced stand-in tone and quiet noise on a schedule), every returned RTP packet timed on
arrival with its level, and the `oai-events` data channel created before the offer.

Scenarios:
  events           session.created first; session.update -> the whole merged session in
                   session.updated within 2 s; a bad field -> error naming it; unique event_ids
  turn             0.2 s quiet, 1.5 s voice, 2.5 s quiet: the agent answers after the
                   utterance ends, with 1.5 s (+-0.3 s) of voiced audio; with events,
                   speech_started ... output_audio_buffer.stopped in a sensible order
  barge-in         1 s voice, quiet until the answer is heard, voice again 0.3 s into it:
                   the answer stops within 0.2 s of the barge-in being detectable (with
                   events: of speech_started's arrival), output_audio_buffer.cleared; the
                   barge-in utterance is then answered in full
  backend-failure  (needs --backend-pid: the server's external backend) a turn is answered,
                   then the backend is killed: an `error` event (backend_failed), the call
                   ends within 5 s and the server's parley_sessions gauge returns to 0

Event assertions run only when the server accepted the data channel; otherwise the report
says "events": "channel not negotiated" and that fails only with --require-events.
Prints one JSON line; exit 0 on pass, 1 on failure (with "reason")."""

import argparse
import asyncio
import os
import signal
import sys
import time

import peers

CONNECT_TIMEOUT = 15.0
CHANNEL_OPEN_TIMEOUT = 5.0
SESSION_UPDATED_WITHIN = 2.0
VOICED_LENGTH_TOLERANCE = 0.3
# Quiet that ends a turn (the agent's 500 ms) minus slack: an answer sooner than this after
# the utterance ended is not a turn-taking agent (an echo, say).
EARLIEST_ANSWER = 0.3
LATEST_ANSWER = 2.0
# Voiced frames the server's detector needs before it declares speech (3 x 20 ms).
DETECTION_TIME = 0.06
BARGE_IN_STOP_WITHIN = 0.2
MIN_ANSWER_PACKETS = 3
CALL_END_WITHIN = 5.0
SESSIONS_ZERO_WITHIN = 5.0

TURN_DETECTION = {"type": "server_vad", "threshold": 0.6, "prefix_padding_ms": 200, "silence_duration_ms": 400}


class Failure(Exception):
    """A scenario's assertion failed; the message says which and by how much."""


def seconds(value):
    return None if value is None else round(value, 3)


class Scenario:
    """Shared scaffolding: the call, the report, the data-channel verdict."""

    def __init__(self, args, script=()):
        self.args = args
        self.call = peers.AgentCall(args.url, script)
        self.report: dict = {}
        self.events_checked = False

    async def open_events(self) -> bool:
        """True when the data channel opened; records the verdict in the report and raises
        when events are required but unavailable."""
        if not self.call.data_channel_in_answer:
            verdict = "channel not negotiated"
        elif await self.call.events.wait_open(CHANNEL_OPEN_TIMEOUT):
            self.events_checked = True
            self.report["events"] = "checked"
            self.report["channel_open_ms"] = self.call.ms(self.call.events.opened_at)
            return True
        else:
            verdict = f"channel negotiated but not open within {CHANNEL_OPEN_TIMEOUT:.0f} s"
            self.report["events"] = verdict
            raise Failure(f"events: {verdict}")
        self.report["events"] = verdict
        if self.args.require_events:
            raise Failure(f"events: {verdict} (--require-events)")
        return False

    async def speak_turn(self, voice: float, quiet_after: float) -> int:
        """Queues voice then quiet; returns the index of the voice segment."""
        index = len(self.call.microphone.started)
        self.call.microphone.queue("voice", voice)
        self.call.microphone.queue("quiet", quiet_after)
        return index

    async def voice_times(self, index: int, timeout: float):
        """Waits until segment `index` has been played; returns (start, end)."""
        deadline = time.monotonic() + timeout
        microphone = self.call.microphone
        while microphone.segment_end(index) is None or time.monotonic() < microphone.segment_end(index):
            if time.monotonic() > deadline:
                raise Failure(f"microphone segment {index} did not play within {timeout:.0f} s")
            await asyncio.sleep(0.01)
        return microphone.segment_start(index), microphone.segment_end(index)

    def require_listening(self, voice_start: float, voice_end: float) -> None:
        """A turn-taking agent is quiet while the caller speaks (an echo is not). The first
        0.1 s after the voice ends may still carry an earlier answer's tail."""
        talking = self.call.recorder.voiced(voice_start + 0.1, voice_end)
        if len(talking) >= MIN_ANSWER_PACKETS:
            raise Failure(f"{len(talking) * 0.02:.2f} s of voiced agent audio arrived while the caller was speaking")

    def answer_after(self, voice_end: float, label: str, expected: float):
        """The first voiced spurt after `voice_end`: checks when it began and its voiced
        length; returns (first arrival, last arrival, packets)."""
        spurts = self.call.recorder.spurts(since=voice_end)
        answers = [spurt for spurt in spurts if spurt[2] >= MIN_ANSWER_PACKETS]
        if not answers:
            raise Failure(f"{label}: no agent audio after the utterance ended")
        first, last, count = answers[0]
        # Voiced fragments shorter than an answer, e.g. codec state from a cleared answer
        # that leaks into the first packet of the next one.
        stray = [spurt for spurt in spurts if spurt[2] < MIN_ANSWER_PACKETS and spurt[0] < last]
        if stray:
            self.report[f"{label}_stray_voiced_ms"] = [self.call.ms(start) for start, _, _ in stray]
        voiced = count * 0.02
        self.report[f"{label}_delay_s"] = seconds(first - voice_end)
        self.report[f"{label}_voiced_s"] = seconds(voiced)
        self.report[f"{label}_span_s"] = seconds(last - first + 0.02)
        if first - voice_end < EARLIEST_ANSWER:
            raise Failure(f"{label}: agent audio began {first - voice_end:.3f} s after the utterance ended, "
                          f"before the turn could be over ({EARLIEST_ANSWER} s)")
        if first - voice_end > LATEST_ANSWER:
            raise Failure(f"{label}: agent audio began {first - voice_end:.3f} s after the utterance ended "
                          f"(limit {LATEST_ANSWER} s)")
        if abs(voiced - expected) > VOICED_LENGTH_TOLERANCE:
            raise Failure(f"{label}: {voiced:.2f} s of voiced agent audio, expected {expected:.2f} "
                          f"+- {VOICED_LENGTH_TOLERANCE} s")
        return first, last, count

    def check_order(self, since: float, expected: list) -> dict:
        """Each event type in `expected` arrived after `since`; pairs (a, b) in the order list
        arrived a before b. Returns {type: arrival} of the first of each."""
        events = self.call.events
        arrivals = {}
        for event_type in expected:
            at, _ = events.first(event_type, since)
            if at is None:
                raise Failure(f"events: no {event_type} (got {[t for _, t in events.timeline(self.call.origin)]})")
            arrivals[event_type] = at
        return arrivals

    def require_before(self, arrivals: dict, pairs: list) -> None:
        for earlier, later in pairs:
            if arrivals[earlier] > arrivals[later]:
                raise Failure(f"events: {later} arrived {1000 * (arrivals[earlier] - arrivals[later]):.0f} ms "
                              f"before {earlier}")


async def scenario_events(scenario: Scenario) -> None:
    call = scenario.call
    if not await scenario.open_events():
        return
    at, created = await call.events.wait_for("session.created", SESSION_UPDATED_WITHIN)
    if at is None or call.events.events[0][1].get("type") != "session.created":
        first = call.events.events[0][1].get("type") if call.events.events else None
        raise Failure(f"events: the first event on oai-events is {first!r}, not session.created")
    sent = time.monotonic()
    call.events.send({"type": "session.update", "event_id": "evt_voice_agent_1",
                      "session": {"type": "realtime", "instructions": "Answer briefly.",
                                  "x_parley_test": {"kept": True},
                                  "audio": {"input": {"turn_detection": TURN_DETECTION}}}})
    at, event = await call.events.wait_for("session.updated", SESSION_UPDATED_WITHIN, since=sent)
    if at is None:
        errors = [e for _, e in call.events.of_type("error", sent)]
        raise Failure(f"events: no session.updated within {SESSION_UPDATED_WITHIN} s (errors: {errors})")
    scenario.report["session_updated_ms"] = round((at - sent) * 1000, 1)
    session = event.get("session") or {}
    applied = (session.get("audio") or {}).get("input", {}).get("turn_detection") or session.get("turn_detection")
    if not isinstance(applied, dict):
        raise Failure(f"events: session.updated carries no turn_detection: {event}")
    for key in ("threshold", "prefix_padding_ms", "silence_duration_ms"):
        if applied.get(key) != TURN_DETECTION[key]:
            raise Failure(f"events: session.updated turn_detection.{key} is {applied.get(key)!r}, "
                          f"sent {TURN_DETECTION[key]!r}")
    # The whole merged session comes back: the defaults, what was set, and unknown fields.
    if session.get("instructions") != "Answer briefly." or session.get("x_parley_test") != {"kept": True} \
            or session.get("id") != created.get("session", {}).get("id"):
        raise Failure(f"events: session.updated is not the merged session: {session}")
    # A bad field is refused by name, and changes nothing.
    bad = time.monotonic()
    call.events.send({"type": "session.update", "event_id": "evt_voice_agent_2",
                      "session": {"audio": {"input": {"turn_detection": {"threshold": 2}}}}})
    at, error = await call.events.wait_for("error", SESSION_UPDATED_WITHIN, since=bad)
    detail = (error or {}).get("error") or {}
    if detail.get("param") != "session.audio.input.turn_detection.threshold" or detail.get("event_id") != "evt_voice_agent_2":
        raise Failure(f"events: a threshold of 2 got {error!r}, not an error naming the field")
    ids = [event.get("event_id") for _, event in call.events.events]
    if not all(isinstance(i, str) and i for i in ids) or len(set(ids)) != len(ids):
        raise Failure(f"events: server events need unique event_ids, got {ids}")
    scenario.report["events_with_ids"] = len(ids)


async def scenario_turn(scenario: Scenario) -> None:
    call = scenario.call
    events = await scenario.open_events()
    call.microphone.queue("quiet", 0.2)
    voice = await scenario.speak_turn(1.5, 2.5)
    voice_start, voice_end = await scenario.voice_times(voice, 10)
    scenario.report["utterance_s"] = seconds(voice_end - voice_start)
    scenario.require_listening(voice_start, voice_end)
    await asyncio.sleep(2.5)
    await call.recorder.wait_quiet(0.5, 3.0)
    first, last, _ = scenario.answer_after(voice_end, "answer", voice_end - voice_start)
    if not events:
        return
    # Let output_audio_buffer.stopped follow the last packet (the agent's quiet tail plays on).
    await call.events.wait_for("output_audio_buffer.stopped", 2.0, since=voice_start)
    order = ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "response.created",
             "output_audio_buffer.started", "parley.turn_latency", "response.done", "output_audio_buffer.stopped"]
    arrivals = scenario.check_order(voice_start, order)
    scenario.require_before(arrivals, [
        ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"),
        ("input_audio_buffer.speech_stopped", "response.created"),
        ("response.created", "output_audio_buffer.started"),
        ("output_audio_buffer.started", "parley.turn_latency"),
        ("response.created", "response.done"),
        ("output_audio_buffer.started", "output_audio_buffer.stopped"),
    ])
    started_at = arrivals["input_audio_buffer.speech_started"]
    if started_at < voice_start:
        raise Failure("events: speech_started arrived before the utterance was sent")
    if arrivals["input_audio_buffer.speech_stopped"] < voice_end:
        raise Failure("events: speech_stopped arrived before the utterance ended")
    if arrivals["output_audio_buffer.stopped"] < last - 0.1:
        raise Failure("events: output_audio_buffer.stopped arrived while the answer was still playing")
    _, latency = call.events.first("parley.turn_latency", voice_start)
    latency_ms = latency.get("latency_ms")
    scenario.report["turn_latency_ms"] = latency_ms
    if not isinstance(latency_ms, (int, float)) or not 0 <= latency_ms <= 1000:
        raise Failure(f"events: parley.turn_latency latency_ms is {latency_ms!r}")
    ids = {call.events.first(t, voice_start)[1].get("response", {}).get("id") for t in ("response.created", "response.done")}
    ids |= {call.events.first(t, voice_start)[1].get("response_id") for t in
            ("output_audio_buffer.started", "output_audio_buffer.stopped", "parley.turn_latency")}
    if len(ids) != 1 or None in ids:
        raise Failure(f"events: the response is named inconsistently: {sorted(map(str, ids))}")
    scenario.report["speech_started_after_voice_ms"] = round((started_at - voice_start) * 1000, 1)


async def scenario_barge_in(scenario: Scenario) -> None:
    call = scenario.call
    events = await scenario.open_events()
    call.microphone.queue("quiet", 0.2)
    first_voice = await scenario.speak_turn(1.0, 0.0)
    first_start, first_end = await scenario.voice_times(first_voice, 10)
    scenario.require_listening(first_start, first_end)
    heard = await call.recorder.wait_voiced(first_end, LATEST_ANSWER + 1)
    if heard is None:
        raise Failure(f"no agent audio within {LATEST_ANSWER + 1:.0f} s of the first utterance's end")
    scenario.report["answer_delay_s"] = seconds(heard - first_end)
    await asyncio.sleep(max(0.0, heard + 0.3 - time.monotonic()))
    barge = await scenario.speak_turn(1.0, 2.5)
    barge_start, barge_end = await scenario.voice_times(barge, 10)
    scenario.report["agent_heard_before_barge_in_s"] = seconds(barge_start - heard)

    # The answer must have been playing when we barged in, or the check proves nothing.
    if not call.recorder.voiced(barge_start - 0.1, barge_start):
        raise Failure("the agent's answer was not playing when the barge-in began")
    detectable = barge_start + DETECTION_TIME
    during = call.recorder.voiced(barge_start, barge_end)
    last_heard = during[-1].arrival if during else barge_start
    scenario.report["answer_stopped_after_barge_in_ms"] = round((last_heard - barge_start) * 1000, 1)
    if last_heard > detectable + BARGE_IN_STOP_WITHIN:
        raise Failure(f"agent audio went on {1000 * (last_heard - detectable):.0f} ms after the barge-in was "
                      f"detectable (limit {1000 * BARGE_IN_STOP_WITHIN:.0f} ms)")
    cut = call.recorder.spurts(since=first_end, until=barge_end)
    scenario.report["interrupted_answer_voiced_s"] = seconds(sum(count for _, _, count in cut) * 0.02)

    await asyncio.sleep(max(0.0, barge_end + 2.5 - time.monotonic()))
    await call.recorder.wait_quiet(0.5, 3.0)
    scenario.answer_after(barge_end, "barge_in_answer", barge_end - barge_start)

    if not events:
        return
    started_at, _ = call.events.first("input_audio_buffer.speech_started", barge_start)
    if started_at is None:
        raise Failure("events: no speech_started for the barge-in")
    scenario.report["speech_started_after_barge_in_ms"] = round((started_at - barge_start) * 1000, 1)
    if last_heard > started_at + BARGE_IN_STOP_WITHIN:
        raise Failure(f"agent audio went on {1000 * (last_heard - started_at):.0f} ms after speech_started "
                      f"arrived (limit {1000 * BARGE_IN_STOP_WITHIN:.0f} ms)")
    cleared_at, cleared = call.events.first("output_audio_buffer.cleared", barge_start)
    if cleared_at is None:
        raise Failure("events: no output_audio_buffer.cleared after the barge-in")
    scenario.report["cleared_played_ms"] = cleared.get("played_ms")
    cancelled = [e for _, e in call.events.of_type("response.done", barge_start)
                 if (e.get("response") or {}).get("status") == "cancelled"]
    if not cancelled:
        raise Failure("events: the interrupted response did not end with response.done status cancelled")


async def scenario_backend_failure(scenario: Scenario) -> None:
    call, pid = scenario.call, scenario.args.backend_pid
    events = await scenario.open_events()
    call.microphone.queue("quiet", 0.2)
    voice = await scenario.speak_turn(1.0, 5.0)
    voice_start, voice_end = await scenario.voice_times(voice, 10)
    scenario.require_listening(voice_start, voice_end)
    if await call.recorder.wait_voiced(voice_end, LATEST_ANSWER + 1) is None:
        raise Failure("the backend never answered, so killing it would prove nothing")
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        raise Failure(f"backend process {pid} was already gone")
    killed = time.monotonic()
    scenario.report["backend_killed_ms"] = call.ms(killed)
    ended = await call.wait_ended(CALL_END_WITHIN)
    scenario.report["dtls_state"] = call.dtls_state()
    scenario.report["connection_state"] = call.pc.connectionState
    if ended is None:
        raise Failure(f"the call did not end within {CALL_END_WITHIN:.0f} s of the backend's death "
                      f"(connection {call.pc.connectionState}, DTLS {call.dtls_state()})")
    scenario.report["call_ended_after_kill_ms"] = round((ended - killed) * 1000, 1)
    if events:
        at, error = call.events.first("error", killed)
        if at is None:
            raise Failure("events: no error event after the backend died")
        code = (error.get("error") or {}).get("code")
        scenario.report["error_code"] = code
        if code != "backend_failed":
            raise Failure(f"events: error code {code!r}, expected 'backend_failed'")
    deadline = time.monotonic() + SESSIONS_ZERO_WITHIN
    while True:
        sessions = peers.metric_sum(await asyncio.to_thread(peers.read_metrics, scenario.args.url), "parley_sessions")
        if sessions == 0 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    scenario.report["sessions_after"] = sessions
    if sessions != 0:
        raise Failure(f"parley_sessions is {sessions} {SESSIONS_ZERO_WITHIN:.0f} s after the call ended")


SCENARIOS = {
    "events": scenario_events,
    "turn": scenario_turn,
    "barge-in": scenario_barge_in,
    "backend-failure": scenario_backend_failure,
}


async def run(args) -> dict:
    pinned = peers.pin_ice_to_loopback_if_local(args.url)
    scenario = Scenario(args)
    reason = ""
    try:
        await scenario.call.connect(CONNECT_TIMEOUT)
        await asyncio.wait_for(SCENARIOS[args.scenario](scenario), args.timeout)
    except Failure as failure:
        reason = str(failure)
    except peers.PeerError as error:
        reason = str(error)
    except asyncio.TimeoutError:
        reason = f"scenario did not finish within {args.timeout:.0f} s"
    except Exception as error:  # any aiortc failure is this scenario's failure
        reason = f"{type(error).__name__}: {error}"
    finally:
        await scenario.call.close()
    call = scenario.call
    report = {"test": "voice_agent", "scenario": args.scenario, "pass": not reason, "reason": reason or None,
              "events": scenario.report.pop("events", "channel not negotiated" if not call.data_channel_in_answer
                                             else "not checked"),
              "ice_pinned_to_loopback": pinned, "connected_ms": call.ms(call.connected_at),
              **scenario.report, "delete_status": call.delete_status,
              "event_log": call.events.timeline(call.origin)}
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="server base URL")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    parser.add_argument("--backend-pid", type=int, help="backend-failure: PID of the server's external backend")
    parser.add_argument("--require-events", action="store_true",
                        help="fail when the server does not negotiate the oai-events data channel")
    parser.add_argument("--timeout", type=float, default=30.0, help="limit for the scenario after connecting, seconds")
    args = parser.parse_args()
    if args.scenario == "backend-failure" and not args.backend_pid:
        parser.error("backend-failure needs --backend-pid")
    report = asyncio.run(run(args))
    peers.print_json(report)
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
