"""Shared helpers for Parley's interop tests: real WebRTC calls made with aiortc against
Parley's call API (POST /v1/realtime/calls with an SDP offer, DELETE the Location), a
48 kHz tone source, a recorder for the returned audio, and spectrum measurements.

Every network wait here has a timeout; nothing here starts processes.
"""

import asyncio
import fractions
import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Optional

import aioice.ice
import av
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

CALLS_PATH = "/v1/realtime/calls"
SAMPLE_RATE = 48000
FRAME_SAMPLES = 960  # 20 ms at 48 kHz
FULL_SCALE = 32767.0


class PeerError(Exception):
    """A call could not be made or did not behave; the message says which step and why."""


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port that is free on 127.0.0.1 right now (TCP by default, UDP with SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pin_ice_to_loopback_if_local(base_url: str) -> bool:
    """aioice never gathers 127.0.0.1 and offers the machine's other interfaces instead.
    When the server is on loopback, gather only 127.0.0.1 so the call stays on loopback.
    Returns whether gathering was pinned."""
    host = urllib.parse.urlsplit(base_url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    return loopback


# ---------------------------------------------------------------- HTTP signaling


def http_request(url: str, method: str, body: Optional[bytes] = None,
                 content_type: Optional[str] = None, timeout: float = 10.0, headers: Optional[dict] = None):
    """One HTTP request; returns (status, headers, body) for any status, raises PeerError
    only when the server cannot be reached."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()
    except (urllib.error.URLError, OSError) as error:
        raise PeerError(f"{method} {url}: {error}") from error


def post_offer(base_url: str, offer_sdp: str, timeout: float = 10.0, headers: Optional[dict] = None):
    """POSTs an SDP offer (with `headers`, when given); returns (answer_sdp, absolute_location_url)."""
    url = base_url.rstrip("/") + CALLS_PATH
    status, headers, body = http_request(url, "POST", offer_sdp.encode(), "application/sdp", timeout, headers)
    if status != 201:
        raise PeerError(f"POST {url}: expected 201, got {status}: {body[:300].decode(errors='replace')}")
    location = headers.get("Location")
    if not location:
        raise PeerError(f"POST {url}: 201 without a Location header")
    if headers.get_content_type() != "application/sdp":
        raise PeerError(f"POST {url}: answer Content-Type is {headers.get('Content-Type')!r}, not application/sdp")
    return body.decode(), urllib.parse.urljoin(url, location)


def delete_call(location: str, timeout: float = 5.0) -> int:
    """DELETEs a call; returns the HTTP status."""
    status, _, _ = http_request(location, "DELETE", timeout=timeout)
    return status


def read_metrics(base_url: str, timeout: float = 5.0) -> str:
    status, _, body = http_request(base_url.rstrip("/") + "/metrics", "GET", timeout=timeout)
    if status != 200:
        raise PeerError(f"GET /metrics: status {status}")
    return body.decode()


def metric_sum(metrics_text: str, name: str) -> float:
    """Sum of all samples of one metric (any labels) in Prometheus text format."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("#"):
            continue
        if line == name or line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(None, 1)[-1])
    return total


# ---------------------------------------------------------------- audio


class ToneTrack(MediaStreamTrack):
    """A sine tone at 48 kHz in 20 ms frames, paced in real time. Frames are stereo with the
    same samples on both channels: aiortc always encodes stereo Opus, so what this track
    produces is exactly what gets encoded, and loudness can be compared like with like."""

    kind = "audio"

    def __init__(self, frequency: float, amplitude: float = 0.25):
        super().__init__()
        self.frequency = frequency
        self.amplitude = amplitude
        self._pts = 0
        self._start: Optional[float] = None

    @property
    def encoded_rms_dbfs(self) -> float:
        """RMS level of the frames this track produces (a sine: peak / sqrt 2)."""
        return 20 * np.log10(self.amplitude / np.sqrt(2))

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._pts / SAMPLE_RATE
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        t = (self._pts + np.arange(FRAME_SAMPLES)) / SAMPLE_RATE
        mono = np.round(self.amplitude * FULL_SCALE * np.sin(2 * np.pi * self.frequency * t)).astype(np.int16)
        stereo = np.repeat(mono, 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._pts += FRAME_SAMPLES
        return frame


def frame_samples(frame: av.AudioFrame) -> np.ndarray:
    """A decoded frame as float samples in [-1, 1], shape (samples, channels)."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        samples = data.T
    else:
        samples = data.reshape(-1, channels)
    scale = FULL_SCALE if data.dtype == np.int16 else 1.0
    return samples.astype(np.float64) / scale


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS over all samples of all channels, in dB relative to full scale."""
    rms = float(np.sqrt(np.mean(np.square(samples)))) if samples.size else 0.0
    return 20 * np.log10(max(rms, 1e-12))


def spectrum(samples: np.ndarray, sample_rate: int = SAMPLE_RATE):
    """Power spectrum of the channel mix with a Hann window: (frequencies, power)."""
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    windowed = mono * np.hanning(len(mono))
    power = np.abs(np.fft.rfft(windowed)) ** 2
    return np.fft.rfftfreq(len(mono), 1 / sample_rate), power


def dominant_frequency(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    frequencies, power = spectrum(samples, sample_rate)
    power[frequencies < 20] = 0  # ignore DC and rumble
    return float(frequencies[int(np.argmax(power))])


def band_level_db(frequencies: np.ndarray, power: np.ndarray, center: float, half_width: float = 10.0) -> float:
    """Energy in [center - half_width, center + half_width], in dB (relative; compare bands)."""
    band = (frequencies >= center - half_width) & (frequencies <= center + half_width)
    return 10 * np.log10(max(float(power[band].sum()), 1e-20))


# ---------------------------------------------------------------- one echo call


@dataclass
class EchoCall:
    """Measurements of one call; times are milliseconds from the start of the POST."""
    frequency: float
    post_ms: Optional[float] = None
    ice_connected_ms: Optional[float] = None
    dtls_connected_ms: Optional[float] = None
    first_audio_ms: Optional[float] = None
    received_seconds: float = 0.0
    dominant_hz: Optional[float] = None
    received_rms_dbfs: Optional[float] = None
    encoded_rms_dbfs: Optional[float] = None
    delete_status: Optional[int] = None
    error: Optional[str] = None
    answer_candidates: list = field(default_factory=list)
    samples: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)), repr=False)

    def summary(self) -> dict:
        def rounded(value):
            return None if value is None else round(value, 1)
        return {
            "frequency": self.frequency,
            "post_ms": rounded(self.post_ms),
            "ice_connected_ms": rounded(self.ice_connected_ms),
            "dtls_connected_ms": rounded(self.dtls_connected_ms),
            "first_audio_ms": rounded(self.first_audio_ms),
            "received_seconds": round(self.received_seconds, 2),
            "dominant_hz": rounded(self.dominant_hz),
            "received_rms_dbfs": rounded(self.received_rms_dbfs),
            "encoded_rms_dbfs": rounded(self.encoded_rms_dbfs),
            "delete_status": self.delete_status,
            "answer_candidates": self.answer_candidates,
            "error": self.error,
        }


async def echo_call(base_url: str, frequency: float, seconds: float = 3.0,
                    timeout: float = 20.0, settle_seconds: float = 0.5, headers: Optional[dict] = None) -> EchoCall:
    """Makes one call that sends a tone and records what comes back for `seconds` after
    the first returned frame; analyses the audio after skipping `settle_seconds` (codec
    and jitter-buffer start-up). `headers` go with the POST. Never raises for call
    failures: sets `error` instead."""
    result = EchoCall(frequency=frequency)
    tone = ToneTrack(frequency)
    result.encoded_rms_dbfs = tone.encoded_rms_dbfs
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    frames: list = []
    enough = asyncio.Event()
    started = time.monotonic()
    location = None

    def since_start() -> float:
        return (time.monotonic() - started) * 1000

    @pc.on("iceconnectionstatechange")
    def on_ice_state():
        if pc.iceConnectionState in ("connected", "completed") and result.ice_connected_ms is None:
            result.ice_connected_ms = since_start()

    @pc.on("connectionstatechange")
    def on_connection_state():
        # aiortc reports "connected" once every DTLS transport is connected.
        if pc.connectionState == "connected" and result.dtls_connected_ms is None:
            result.dtls_connected_ms = since_start()
        if pc.connectionState == "failed":
            enough.set()

    async def record(track):
        wanted = int(seconds * SAMPLE_RATE)
        received = 0
        try:
            while received < wanted:
                frame = await track.recv()
                if result.first_audio_ms is None:
                    result.first_audio_ms = since_start()
                samples = frame_samples(frame)
                frames.append(samples)
                received += len(samples)
        except MediaStreamError:
            pass
        enough.set()

    @pc.on("track")
    def on_track(track):
        if track.kind == "audio":
            asyncio.ensure_future(record(track))

    try:
        pc.addTrack(tone)
        await asyncio.wait_for(pc.setLocalDescription(await pc.createOffer()), timeout)
        started = time.monotonic()
        answer, location = await asyncio.wait_for(
            asyncio.to_thread(post_offer, base_url, pc.localDescription.sdp, timeout, headers), timeout + 1)
        result.answer_candidates = [f"{fields[4]}:{fields[5]}" for fields in
                                    (line.split() for line in answer.splitlines() if line.startswith("a=candidate:"))]
        result.post_ms = since_start()
        await asyncio.wait_for(pc.setRemoteDescription(RTCSessionDescription(answer, "answer")), timeout)
        remaining = timeout - (time.monotonic() - started)
        try:
            await asyncio.wait_for(enough.wait(), max(remaining, 0.1))
        except asyncio.TimeoutError:
            pass
        if pc.connectionState == "failed":
            raise PeerError("connection failed (ICE or DTLS)")
        if not frames:
            step = "ICE" if result.ice_connected_ms is None else "DTLS" if result.dtls_connected_ms is None else "audio"
            raise PeerError(f"no audio came back within {timeout:.0f} s (stuck at: {step})")
        samples = np.concatenate(frames)
        result.received_seconds = len(samples) / SAMPLE_RATE
        analysed = samples[int(settle_seconds * SAMPLE_RATE):]
        if len(analysed) < SAMPLE_RATE // 4:
            raise PeerError(f"only {result.received_seconds:.2f} s of audio came back within {timeout:.0f} s")
        result.samples = analysed
        result.dominant_hz = dominant_frequency(analysed)
        result.received_rms_dbfs = rms_dbfs(analysed)
    except PeerError as error:
        result.error = str(error)
    except asyncio.TimeoutError:
        result.error = f"timed out after {timeout:.0f} s"
    except Exception as error:  # report any aiortc failure as this call's failure
        result.error = f"{type(error).__name__}: {error}"
    finally:
        try:
            await asyncio.wait_for(pc.close(), 5)
        except (asyncio.TimeoutError, Exception):
            pass
        if location:
            try:
                result.delete_status = await asyncio.to_thread(delete_call, location)
            except PeerError as error:
                result.error = result.error or str(error)
    return result


def print_json(payload: dict) -> None:
    print(json.dumps(payload, sort_keys=False), flush=True)


def report_verdict(report: dict, reason: str) -> int:
    """Prints `report` with `pass` and `reason` (None when it passed); the exit status."""
    report["pass"] = not reason
    report["reason"] = reason or None
    print_json(report)
    return 0 if not reason else 1


# ---------------------------------------------------------------- voice-agent calls

VOICE_DBFS = -20.0  # the scripted microphone's voiced level (RMS)
QUIET_DBFS = -60.0  # its background noise between utterances (RMS)
VOICED_THRESHOLD_DBFS = -40.0  # received packets louder than this count as speech
VOICE_HARMONICS = (1.0, 0.5, 0.33, 0.25, 0.2)  # relative amplitudes of 220, 440, ... Hz


class ScriptedMicrophone(MediaStreamTrack):
    """A microphone that follows a script: segments of "voice" (220 Hz and four harmonics at
    VOICE_DBFS, a voiced stand-in) and "quiet" (white noise at QUIET_DBFS), played in order,
    then quiet for as long as the call lasts. More segments can be queued while it plays.
    48 kHz stereo 20 ms frames with consistent sample_rate/pts/time_base, paced in real time
    from the first frame aiortc asks for (after DTLS connects).

    `started` records, for each segment, the monotonic time its first frame was handed to
    the encoder: the moment that audio leaves for the server."""

    kind = "audio"

    def __init__(self, script=(), fundamental: float = 220.0, seed: int = 7):
        super().__init__()
        self.fundamental = fundamental
        self._segments: list = []  # [kind, frames left, index]
        self.started: list = []  # (kind, seconds, monotonic start) per segment, in order
        self._pts = 0
        self._start: Optional[float] = None
        self._noise = np.random.default_rng(seed)
        harmonics = [(k + 1, a) for k, a in enumerate(VOICE_HARMONICS)]
        self._harmonics = harmonics
        # RMS of a sum of sines is sqrt(sum a^2 / 2); scale the sum to VOICE_DBFS.
        self._voice_scale = 10 ** (VOICE_DBFS / 20) / np.sqrt(sum(a * a for _, a in harmonics) / 2)
        for kind, seconds in script:
            self.queue(kind, seconds)

    def queue(self, kind: str, seconds: float) -> None:
        """Appends a segment ("voice" or "quiet"); it starts at the next frame boundary after
        what is queued before it."""
        if kind not in ("voice", "quiet"):
            raise ValueError(f"segment kind {kind!r}")
        frames = max(1, round(seconds * SAMPLE_RATE / FRAME_SAMPLES))
        self._segments.append([kind, frames])
        self.started.append([kind, frames * FRAME_SAMPLES / SAMPLE_RATE, None])

    def segment_start(self, index: int) -> Optional[float]:
        return self.started[index][2]

    def segment_end(self, index: int) -> Optional[float]:
        kind, seconds, start = self.started[index]
        return None if start is None else start + seconds

    def _samples(self, kind: str) -> np.ndarray:
        if kind == "voice":
            t = (self._pts + np.arange(FRAME_SAMPLES)) / SAMPLE_RATE
            wave = sum(a * np.sin(2 * np.pi * self.fundamental * k * t) for k, a in self._harmonics)
            return wave * self._voice_scale
        return self._noise.normal(0.0, 10 ** (QUIET_DBFS / 20), FRAME_SAMPLES)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._pts / SAMPLE_RATE
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        kind = "quiet"
        if self._segments:
            segment = self._segments[0]
            kind = segment[0]
            index = len(self.started) - len(self._segments)
            if self.started[index][2] is None:
                self.started[index][2] = time.monotonic()
            segment[1] -= 1
            if segment[1] == 0:
                self._segments.pop(0)
        mono = np.round(np.clip(self._samples(kind), -1, 1) * FULL_SCALE).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(mono, 2).reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._pts += FRAME_SAMPLES
        return frame


@dataclass
class ReceivedPacket:
    arrival: float  # monotonic seconds
    sequence: int
    level_dbfs: float

    @property
    def voiced(self) -> bool:
        return self.level_dbfs > VOICED_THRESHOLD_DBFS


class PacketRecorder:
    """Records every audio RTP packet a receiver gets, at the moment it arrives, with the
    level of its decoded audio. It taps aiortc's receiver ahead of its audio jitter buffer,
    which holds back the last four frames of every talk spurt until more packets come: the
    decoded track cannot tell when a server stopped sending. (`_handle_rtp_packet` is an
    aiortc internal; the tap fails loudly if it is gone.)"""

    def __init__(self, receiver):
        from aiortc.codecs.opus import OpusDecoder
        from aiortc.jitterbuffer import JitterFrame

        self.packets: list = []
        self._decoder = OpusDecoder()
        self._frame = JitterFrame
        original = receiver._handle_rtp_packet

        async def tap(packet, arrival_time_ms):
            self._record(packet)
            await original(packet, arrival_time_ms=arrival_time_ms)

        receiver._handle_rtp_packet = tap

    def _record(self, packet) -> None:
        arrival = time.monotonic()
        try:
            frames = self._decoder.decode(self._frame(packet.payload, packet.timestamp))
        except Exception:  # an undecodable packet counts as silence, it is still an arrival
            frames = []
        samples = [frame_samples(frame) for frame in frames]
        level = rms_dbfs(np.concatenate(samples)) if samples else -100.0
        self.packets.append(ReceivedPacket(arrival, packet.sequence_number, level))

    def voiced(self, since: float = 0.0, until: float = float("inf")) -> list:
        return [p for p in self.packets if p.voiced and since <= p.arrival < until]

    def spurts(self, since: float = 0.0, until: float = float("inf"), gap: float = 0.2) -> list:
        """Runs of voiced packets with no gap longer than `gap` seconds between them:
        [(first arrival, last arrival, packet count)]."""
        runs: list = []
        for packet in self.voiced(since, until):
            if runs and packet.arrival - runs[-1][1] <= gap:
                runs[-1] = (runs[-1][0], packet.arrival, runs[-1][2] + 1)
            else:
                runs.append((packet.arrival, packet.arrival, 1))
        return runs

    async def wait_voiced(self, since: float, timeout: float, count: int = 1) -> Optional[float]:
        """Waits until `count` voiced packets arrived after `since`; returns the arrival of
        the first of them, or None on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            voiced = self.voiced(since)
            if len(voiced) >= count:
                return voiced[0].arrival
            await asyncio.sleep(0.005)
        return None

    async def wait_quiet(self, seconds: float, timeout: float) -> bool:
        """Waits until no voiced packet arrived for `seconds`; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            voiced = self.voiced()
            if not voiced or time.monotonic() - voiced[-1].arrival >= seconds:
                return True
            await asyncio.sleep(0.01)
        return False


class EventLog:
    """The `oai-events` data channel: every event received, with its arrival time, and a
    sender for client events. A text message that is not a JSON object is logged as an
    event of type "(unparsable)"."""

    def __init__(self, channel):
        self.channel = channel
        self.events: list = []  # (monotonic arrival, event dict)
        self.opened_at: Optional[float] = None
        self._changed = asyncio.Event()

        @channel.on("open")
        def on_open():
            self.opened_at = time.monotonic()
            self._changed.set()

        @channel.on("message")
        def on_message(message):
            try:
                event = json.loads(message)
            except (TypeError, ValueError):
                event = None
            if not isinstance(event, dict):
                event = {"type": "(unparsable)", "raw": str(message)[:200]}
            self.events.append((time.monotonic(), event))
            self._changed.set()

    def send(self, event: dict) -> None:
        self.channel.send(json.dumps(event))

    def of_type(self, event_type: str, since: float = 0.0) -> list:
        return [(at, event) for at, event in self.events if event.get("type") == event_type and at >= since]

    def first(self, event_type: str, since: float = 0.0):
        matches = self.of_type(event_type, since)
        return matches[0] if matches else (None, None)

    async def wait_open(self, timeout: float) -> bool:
        return await self._wait(lambda: self.opened_at is not None, timeout)

    async def wait_for(self, event_type: str, timeout: float, since: float = 0.0):
        """Waits for an event of `event_type` arriving after `since`: (arrival, event) or
        (None, None) on timeout."""
        await self._wait(lambda: bool(self.of_type(event_type, since)), timeout)
        return self.first(event_type, since)

    async def _wait(self, condition, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                return condition()
        return True

    def timeline(self, origin: float) -> list:
        """[[milliseconds since origin, type], ...] for a report."""
        return [[round((at - origin) * 1000), event.get("type")] for at, event in self.events]


def answer_accepts_data_channel(answer_sdp: str) -> bool:
    """True when the answer has an m=application line with a non-zero port (RFC 8866 §5.14:
    port 0 rejects the stream)."""
    for line in answer_sdp.splitlines():
        if line.startswith("m=application "):
            parts = line.split()
            return len(parts) > 1 and parts[1] != "0"
    return False


class AgentCall:
    """One call for talking to a voice agent: a scripted microphone, a packet recorder on
    the returned audio and the `oai-events` data channel, created before the offer as a
    Realtime client does. Times are monotonic seconds; `origin` is when the POST was sent.
    Use `await call.connect()`, then drive `call.microphone`, then `await call.close()`."""

    def __init__(self, base_url: str, script=()):
        self.base_url = base_url
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.microphone = ScriptedMicrophone(script)
        sender = self.pc.addTrack(self.microphone)
        receiver = next(t.receiver for t in self.pc.getTransceivers() if t.sender is sender)
        self.recorder = PacketRecorder(receiver)
        self.events = EventLog(self.pc.createDataChannel("oai-events"))
        self.origin = time.monotonic()
        self.location: Optional[str] = None
        self.data_channel_in_answer = False
        self.connected_at: Optional[float] = None
        self.ended_at: Optional[float] = None
        self.delete_status: Optional[int] = None
        self._drain_task = None

        @self.pc.on("track")
        def on_track(track):
            # The recorder reads packets before the jitter buffer; the decoded track is
            # drained only so that its queue does not grow.
            self._drain_task = asyncio.ensure_future(self._drain(track))

        @self.pc.on("connectionstatechange")
        def on_state():
            if self.pc.connectionState in ("closed", "failed") and self.ended_at is None:
                self.ended_at = time.monotonic()

    @staticmethod
    async def _drain(track):
        try:
            while True:
                await track.recv()
        except MediaStreamError:
            pass

    def ms(self, moment: Optional[float]) -> Optional[float]:
        """A monotonic moment as milliseconds since the POST, for reports."""
        return None if moment is None else round((moment - self.origin) * 1000, 1)

    async def connect(self, timeout: float = 15.0) -> None:
        """Offers, posts, applies the answer and waits for DTLS to connect; raises PeerError."""
        deadline = time.monotonic() + timeout
        await asyncio.wait_for(self.pc.setLocalDescription(await self.pc.createOffer()), timeout)
        self.origin = time.monotonic()
        answer, self.location = await asyncio.wait_for(
            asyncio.to_thread(post_offer, self.base_url, self.pc.localDescription.sdp, timeout), timeout + 1)
        self.data_channel_in_answer = answer_accepts_data_channel(answer)
        await asyncio.wait_for(self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer")), timeout)
        # Connected means the audio transport's DTLS is up. aiortc ignores a rejected (port 0)
        # m=application line and keeps a transport for it that never connects, so its
        # connectionState stays "connecting" against a server that rejects data channels.
        while self.dtls_state() != "connected":
            if self.pc.connectionState == "failed" or self.dtls_state() in ("closed", "failed"):
                raise PeerError("connection failed (ICE or DTLS)")
            if time.monotonic() > deadline:
                raise PeerError(f"not connected within {timeout:.0f} s (ICE {self.pc.iceConnectionState}, "
                                f"DTLS {self.dtls_state()})")
            await asyncio.sleep(0.01)
        self.connected_at = time.monotonic()

    def dtls_state(self) -> Optional[str]:
        """State of the audio transport's DTLS ("new", "connecting", "connected", "closed", "failed")."""
        transports = [t.sender.transport for t in self.pc.getTransceivers() if t.sender.transport]
        return transports[0].state if transports else None

    async def wait_ended(self, timeout: float) -> Optional[float]:
        """Waits until the server ends the call (DTLS closed or failed, or the connection
        closed or failed); returns when that was seen, or None on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ended_at is None and self.dtls_state() in ("closed", "failed"):
                self.ended_at = time.monotonic()
            if self.ended_at is not None:
                return self.ended_at
            await asyncio.sleep(0.01)
        return None

    async def close(self) -> None:
        """Closes the peer connection and DELETEs the call; never raises."""
        try:
            await asyncio.wait_for(self.pc.close(), 5)
        except Exception:
            pass
        if self._drain_task:
            self._drain_task.cancel()
        if self.location:
            try:
                self.delete_status = await asyncio.to_thread(delete_call, self.location)
            except PeerError:
                self.delete_status = None


def rerun_in_own_namespace(script: str, name: str) -> int:
    """Runs `script` again with this process's arguments plus `--inside`, in a network
    namespace of its own (needs root) that is deleted afterwards; returns its exit status."""
    namespace = f"{name}-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        return subprocess.run(["ip", "netns", "exec", namespace, sys.executable, os.path.abspath(script),
                               "--inside", *sys.argv[1:]]).returncode
    finally:
        subprocess.run(["ip", "netns", "delete", namespace], check=False)


# ---------------------------------------------------------------- a watched call (fault tests)


class WatchedCall:
    """An aiortc call that sends a tone for as long as it lives, with the `oai-events` data
    channel open, and watches what comes back packet by packet: every received RTP packet's
    sequence number and arrival time (for loss and pacing), the events on `oai-events`, and
    the loss the server reports of the caller's audio (its RTCP receiver reports).

    `mark()` starts a measurement window; `window()` measures since the last mark."""

    def __init__(self, base_url: str, frequency: float = 440.0, timeout: float = 20.0, post_attempts: int = 1):
        self.base_url = base_url
        self.post_attempts = post_attempts
        self.posts: list = []  # the status or error of each POST attempt
        self.frequency = frequency
        self.timeout = timeout
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.arrivals: list = []  # (monotonic seconds, sequence number)
        self.events: list = []  # (monotonic seconds, parsed JSON) from oai-events
        self.location: Optional[str] = None
        self.closed_at: Optional[float] = None
        self._mark_index = 0
        self._mark_upstream = (0, 0)

    async def start(self, await_audio: bool = True) -> None:
        """Posts the offer and waits for the first echoed packet (or, without `await_audio`,
        for the connection); raises PeerError."""
        pc = self.pc
        pc.addTrack(ToneTrack(self.frequency))
        channel = pc.createDataChannel("oai-events")

        @channel.on("message")
        def on_message(message):
            try:
                self.events.append((time.monotonic(), json.loads(message)))
            except ValueError:
                pass

        @pc.on("connectionstatechange")
        def on_state():
            if pc.connectionState in ("closed", "failed") and self.closed_at is None:
                self.closed_at = time.monotonic()

        receiver = pc.getTransceivers()[0].receiver
        handle = receiver._handle_rtp_packet

        async def watched(packet, arrival_time_ms):
            self.arrivals.append((time.monotonic(), packet.sequence_number))
            await handle(packet, arrival_time_ms)

        receiver._handle_rtp_packet = watched

        @pc.on("track")
        def on_track(track):
            async def drain():
                try:
                    while True:
                        await track.recv()
                except MediaStreamError:
                    pass
            asyncio.ensure_future(drain())

        await asyncio.wait_for(pc.setLocalDescription(await pc.createOffer()), self.timeout)
        # A 503 (the server at a limit) is retried after its Retry-After, as a client should.
        for attempt in range(self.post_attempts):
            try:
                answer, self.location = await asyncio.wait_for(
                    asyncio.to_thread(post_offer, self.base_url, pc.localDescription.sdp, self.timeout), self.timeout + 1)
                self.posts.append(201)
                break
            except PeerError as error:
                self.posts.append(str(error)[:200])
                if "got 503" not in str(error) or attempt + 1 == self.post_attempts:
                    raise
                await asyncio.sleep(1)
        await asyncio.wait_for(pc.setRemoteDescription(RTCSessionDescription(answer, "answer")), self.timeout)
        deadline = time.monotonic() + self.timeout
        while not (self.arrivals if await_audio else pc.connectionState == "connected"):
            if time.monotonic() > deadline or pc.connectionState == "failed":
                raise PeerError(f"no audio came back within {self.timeout:.0f} s (state {pc.connectionState})")
            await asyncio.sleep(0.05)

    async def _upstream(self) -> tuple:
        """(packets sent, packets the server reported lost) of the caller's audio."""
        sent = lost = 0
        for stats in (await self.pc.getTransceivers()[0].sender.getStats()).values():
            if stats.type == "outbound-rtp":
                sent = stats.packetsSent
            elif stats.type == "remote-inbound-rtp":
                lost = stats.packetsLost
        return sent, lost

    async def mark(self) -> None:
        self._mark_index = len(self.arrivals)
        self._mark_upstream = await self._upstream()

    async def window(self) -> dict:
        """Loss both ways and the echoed packets' inter-arrival gaps since the last mark."""
        arrivals = self.arrivals[self._mark_index:]
        # Extend the 16-bit sequence numbers across wraps (RFC 3550 A.1).
        extended, last, cycles = set(), None, 0
        for _, sequence in arrivals:
            if last is not None and sequence < last and last - sequence > 0x8000:
                cycles += 0x10000
            elif last is not None and sequence > last and sequence - last > 0x8000:
                extended.add(sequence + cycles - 0x10000)
                continue
            last = sequence
            extended.add(sequence + cycles)
        sequences = sorted(extended)
        expected = (sequences[-1] - sequences[0] + 1) if sequences else 0
        downstream = 1 - len(sequences) / expected if expected else 1.0
        sent, lost = await self._upstream()
        sent_in_window = sent - self._mark_upstream[0]
        upstream = (lost - self._mark_upstream[1]) / sent_in_window if sent_in_window > 0 else 1.0
        gaps = np.diff([when for when, _ in arrivals]) * 1000 if len(arrivals) > 1 else np.zeros(1)
        return {
            "packets_received": len(arrivals), "downstream_loss": round(max(downstream, 0.0), 4),
            "upstream_packets_sent": sent_in_window, "upstream_loss": round(max(upstream, 0.0), 4),
            "gap_ms_median": round(float(np.median(gaps)), 1), "gap_ms_p99": round(float(np.percentile(gaps, 99)), 1),
            "gap_ms_max": round(float(np.max(gaps)), 1),
            "gaps_under_10ms_share": round(float(np.mean(gaps < 10)), 4),
        }

    def event(self, kind: str) -> Optional[tuple]:
        """The first (time, event) of type `kind` received on oai-events."""
        return next(((when, event) for when, event in self.events if event.get("type") == kind), None)

    async def close(self) -> Optional[int]:
        """Closes the peer connection and DELETEs the call; returns the DELETE status."""
        try:
            await asyncio.wait_for(self.pc.close(), 5)
        except (asyncio.TimeoutError, Exception):
            pass
        if not self.location:
            return None
        try:
            return await asyncio.to_thread(delete_call, self.location)
        except PeerError:
            return None


def start_parley(parley: str, *arguments: str, log_path: str) -> tuple:
    """Starts `parley transceiver` on free loopback ports with `arguments`; waits for
    /healthz. Returns (process, base URL, UDP port). The caller stops it (`stop_process`)."""
    http_port, udp_port = free_port(), free_port(socket.SOCK_DGRAM)
    log = open(log_path, "w")
    process = subprocess.Popen([parley, "transceiver", "--http", f"127.0.0.1:{http_port}",
                                "--udp", f"127.0.0.1:{udp_port}", "--shards", "1", *arguments],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PeerError(f"parley exited with {process.returncode}: {open(log_path).read()[-2000:]}")
        try:
            if http_request(url + "/healthz", "GET", timeout=1)[0] == 200:
                return process, url, udp_port
        except PeerError:
            pass
        time.sleep(0.1)
    stop_process(process)
    raise PeerError("parley was not healthy within 15 s")


def wait_healthy(url: str, process: subprocess.Popen, log_path: str, timeout: float = 20.0) -> None:
    """Waits until URL/healthz answers; raises PeerError with the log's end when the process
    exits first or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PeerError(f"the process exited with {process.returncode}: {open(log_path, errors='replace').read()[-2000:]}")
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise PeerError(f"{url} not healthy within {timeout:.0f} s")


def stop_process(process: subprocess.Popen) -> None:
    """Stops a process this script started, by its PID."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def metric_value(metrics_text: str, name: str, labels: str = "") -> float:
    """One sample, e.g. metric_value(text, "parley_http_rejected_total", 'reason="header_timeout"'); 0 when absent."""
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in metrics_text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(None, 1)[-1])
    return 0.0


def process_rss_kib(pid: int) -> int:
    """Resident memory of a process, KiB (Linux /proc)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
