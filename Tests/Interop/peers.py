"""Shared helpers for Parley's interop tests: real WebRTC calls made with aiortc against
Parley's call API (POST /v1/realtime/calls with an SDP offer, DELETE the Location), a
48 kHz tone source, a recorder for the returned audio, and spectrum measurements.

Every network wait here has a timeout; nothing here starts processes.
"""

import asyncio
import fractions
import ipaddress
import json
import socket
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
                 content_type: Optional[str] = None, timeout: float = 10.0):
    """One HTTP request; returns (status, headers, body) for any status, raises PeerError
    only when the server cannot be reached."""
    request = urllib.request.Request(url, data=body, method=method)
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()
    except (urllib.error.URLError, OSError) as error:
        raise PeerError(f"{method} {url}: {error}") from error


def post_offer(base_url: str, offer_sdp: str, timeout: float = 10.0):
    """POSTs an SDP offer; returns (answer_sdp, absolute_location_url)."""
    url = base_url.rstrip("/") + CALLS_PATH
    status, headers, body = http_request(url, "POST", offer_sdp.encode(), "application/sdp", timeout)
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
            "error": self.error,
        }


async def echo_call(base_url: str, frequency: float, seconds: float = 3.0,
                    timeout: float = 20.0, settle_seconds: float = 0.5) -> EchoCall:
    """Makes one call that sends a tone and records what comes back for `seconds` after
    the first returned frame; analyses the audio after skipping `settle_seconds` (codec
    and jitter-buffer start-up). Never raises for call failures: sets `error` instead."""
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
            asyncio.to_thread(post_offer, base_url, pc.localDescription.sdp, timeout), timeout + 1)
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
