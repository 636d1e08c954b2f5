#!/usr/bin/env python3
"""A Parley backend (docs/backend-protocol.md, version 1) in one small file.

Run it, then point a transceiver at it:
    python3 backend.py --listen 127.0.0.1:9000
    parley demo --backend ws://127.0.0.1:9000

For each call it listens to the caller's audio, finds the end of each utterance with a
simple energy detector, and answers. `transcribe`, `think` and `synthesize` are where your
speech recognition, model and speech synthesis go; as shipped they play the utterance back.
"""

import argparse
import asyncio
import json
import struct

import numpy as np
import websockets

SAMPLE_RATE = 24_000
HEADER = struct.Struct("!BBHII")  # version, kind, reserved, sequence, media time
SILENCE_FRAMES_TO_END = 25  # 500 ms of 20 ms frames
SPEECH_DBFS = -45.0


def transcribe(audio: np.ndarray) -> str:
    """Speech recognition goes here. The example keeps the audio itself as the 'text'."""
    return ""


def think(text: str) -> str:
    """Your model goes here."""
    return text


def synthesize(text: str, utterance: np.ndarray) -> np.ndarray:
    """Speech synthesis goes here. The example answers with what the caller said."""
    return utterance


def level_dbfs(samples: np.ndarray) -> float:
    rms = np.sqrt(np.mean((samples.astype(np.float64) / 32768.0) ** 2)) if len(samples) else 0.0
    return 20 * np.log10(rms) if rms > 0 else -100.0


async def call(socket):
    send_sequence = 0
    utterance: list = []
    quiet = 0
    responses = 0

    async def send_event(event: dict):
        await socket.send(json.dumps(event))

    async def play(samples: np.ndarray):
        nonlocal send_sequence
        for start in range(0, len(samples), SAMPLE_RATE // 10):  # 100 ms per frame
            chunk = samples[start:start + SAMPLE_RATE // 10].astype("<i2").tobytes()
            await socket.send(HEADER.pack(1, 1, 0, send_sequence, 0) + chunk)
            send_sequence += 1

    async for message in socket:
        if isinstance(message, str):
            event = json.loads(message)
            if event.get("type") == "session.update":
                await send_event({"type": "session.updated", "session": event.get("session", {})})
            elif event.get("type") == "parley.dtmf":
                # A key the caller pressed (backend protocol v2): tell the caller it was heard.
                await send_event({"type": "parley.dtmf", "key": event.get("key"), "heard_by": "example backend"})
            continue
        version, kind, _, _, _ = HEADER.unpack_from(message)
        if version != 1 or kind != 1:
            continue
        samples = np.frombuffer(message[HEADER.size:], dtype="<i2")
        speaking = level_dbfs(samples) > SPEECH_DBFS
        if speaking and not utterance:
            await send_event({"type": "input_audio_buffer.speech_started"})
        if utterance or speaking:
            utterance.append(samples)
            quiet = 0 if speaking else quiet + 1
        if utterance and quiet >= SILENCE_FRAMES_TO_END:
            audio = np.concatenate(utterance)
            utterance, quiet = [], 0
            await send_event({"type": "input_audio_buffer.speech_stopped"})
            responses += 1
            response_id = f"resp_{responses}"
            await send_event({"type": "response.created", "response": {"id": response_id, "status": "in_progress"}})
            await play(synthesize(think(transcribe(audio)), audio))
            await send_event({"type": "response.done", "response": {"id": response_id, "status": "completed"}})


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:9000", help="HOST:PORT to listen on")
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    async with websockets.serve(call, host, int(port), max_size=2**20):
        print(f"backend listening on ws://{host}:{port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
