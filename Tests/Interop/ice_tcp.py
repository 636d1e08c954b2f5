"""An ICE-TCP client for Parley's interop tests (RFC 6544 active side, RFC 4571 framing): it
reads the `tcptype passive` candidate from a real answer, connects to it, and sends the ICE
connectivity check a browser would (USERNAME `serverUfrag:clientUfrag`, PRIORITY,
ICE-CONTROLLING, USE-CANDIDATE, MESSAGE-INTEGRITY under the answer's ice-pwd, FINGERPRINT);
the transceiver's answer must come back framed on the same connection, authenticated, with
the client's TCP address in XOR-MAPPED-ADDRESS. Also the hostile TCP clients: bad first
frames, slow senders, floods. Nothing here starts processes; every wait has a timeout."""

import asyncio
import socket
import struct
import time

from aioice import stun

import peers


def frame(payload: bytes) -> bytes:
    """RFC 4571 §2: the packet behind its 16-bit length."""
    return struct.pack("!H", len(payload)) + payload


def read_exactly(sock: socket.socket, count: int, deadline: float) -> bytes:
    data = b""
    while len(data) < count:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed by the relay")
        data += chunk
    return data


def read_frame(sock: socket.socket, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    (length,) = struct.unpack("!H", read_exactly(sock, 2, deadline))
    return read_exactly(sock, length, deadline)


def answer_field(answer: str, name: str) -> str:
    for line in answer.splitlines():
        if line.startswith(f"a={name}:"):
            return line.split(":", 1)[1].strip()
    raise peers.PeerError(f"answer has no a={name}")


def tcp_candidates(answer: str) -> list:
    """(ip, port) of every `tcptype passive` candidate in the answer."""
    found = []
    for line in answer.splitlines():
        fields = line.split()
        if line.startswith("a=candidate:") and len(fields) >= 10 and fields[2].lower() == "tcp" \
                and "tcptype" in fields and fields[fields.index("tcptype") + 1] == "passive":
            candidate = (fields[4], int(fields[5]))
            if candidate not in found:
                found.append(candidate)
    return found


class Signalled:
    """A call Parley answered for an offer of aiortc's (which never connects it)."""

    def __init__(self, offer: str, answer: str, location: str):
        self.offer = offer
        self.answer = answer
        self.location = location


async def signal(url: str) -> Signalled:
    pc = peers.RTCPeerConnection(peers.RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio")
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    await pc.close()
    answer, location = await asyncio.to_thread(peers.post_offer, url, offer)
    return Signalled(offer, answer, location)


def binding_request(call: Signalled) -> tuple:
    """The connectivity check a controlling agent sends (RFC 8445 §7.2.2): (bytes, transaction id, key)."""
    key = answer_field(call.answer, "ice-pwd").encode()
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    request.attributes["USERNAME"] = f"{answer_field(call.answer, 'ice-ufrag')}:{answer_field(call.offer, 'ice-ufrag')}"
    request.attributes["PRIORITY"] = 1_845_501_695
    request.attributes["ICE-CONTROLLING"] = 0x1234_5678_9ABC_DEF0
    request.attributes["USE-CANDIDATE"] = None
    request.add_message_integrity(key)
    request.add_fingerprint()
    return bytes(request), request.transaction_id, key


def check(call: Signalled, address: tuple, timeout: float = 5.0) -> dict:
    """One ICE-TCP connectivity check through `address`; returns what came back and how fast.
    Raises PeerError when it is not a valid, authenticated success response for us."""
    request, transaction, key = binding_request(call)
    started = time.monotonic()
    with socket.create_connection(address, timeout=timeout) as sock:
        connected = time.monotonic()
        sock.sendall(frame(request))
        try:
            data = read_frame(sock, timeout)
        except (OSError, ConnectionError) as error:
            raise peers.PeerError(f"no framed answer to the ICE-TCP check: {error}") from error
        local = sock.getsockname()
    answered = time.monotonic()
    response = stun.parse_message(data)
    if response.message_class != stun.Class.RESPONSE or response.transaction_id != transaction:
        raise peers.PeerError(f"answer is {response.message_class}, not the success response to our check")
    if not response.check_message_integrity(key):
        raise peers.PeerError("the answer's MESSAGE-INTEGRITY does not verify under the answer's ice-pwd")
    mapped = response.attributes.get("XOR-MAPPED-ADDRESS")
    if mapped is None or tuple(mapped[:2]) != tuple(local[:2]):
        raise peers.PeerError(f"XOR-MAPPED-ADDRESS {mapped}, expected our TCP address {local}")
    return {"connect_ms": round((connected - started) * 1000, 2),
            "check_rtt_ms": round((answered - connected) * 1000, 2), "mapped": f"{mapped[0]}:{mapped[1]}"}


def silently_closed(address: tuple, payload: bytes, timeout: float = 5.0, trickle: float = 0.0,
                    source: str = "127.0.0.1") -> dict:
    """Connects from `source`, sends `payload` (a byte every `trickle` seconds when given) and
    reads until the relay closes: it must close, and send nothing first."""
    started = time.monotonic()
    received = b""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(timeout)
        sock.connect(address)
        try:
            if trickle:
                for byte in payload:
                    sock.send(bytes([byte]))
                    time.sleep(trickle)
            else:
                sock.sendall(payload)
        except OSError:
            pass
        deadline = started + timeout
        closed = False
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = sock.recv(4096)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            received += chunk
    return {"closed": closed, "bytes_back": len(received), "after_s": round(time.monotonic() - started, 2)}
