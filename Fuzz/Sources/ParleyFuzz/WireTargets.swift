import ParleyWire

/// STUN (RFC 8489): `STUNMessage(parsing:)` and the relay's zero-copy `STUNPeek`, which must
/// agree on USERNAME; a parsed message re-encodes to one that parses to the same message.
/// The first byte chooses whether to fix FINGERPRINT up, so mutations get past the CRC.
enum STUNTarget {
    static let target = FuzzTarget(name: "stun", run: run, seeds: Seeds.stun)

    static func run(_ input: [UInt8]) {
        guard let mode = input.first else { return }
        var datagram = Array(input.dropFirst())
        if mode & 1 == 1 { fixFingerprint(&datagram) }
        let peeked = datagram.withUnsafeBytes { STUNPeek.username(in: $0) }
        guard let message = try? STUNMessage(parsing: datagram) else { return }
        _ = message.hasValidMessageIntegrity(key: Array("fuzz-password-0123456789".utf8))
        _ = (message.username, message.priority, message.useCandidate, message.iceControlling, message.iceControlled,
             message.xorMappedAddress, message.errorCode, message.fingerprint)
        if message.messageClass == .request, message.method == .binding, let username = message.username,
           username.utf8.count <= 513 {
            // Whenever the full parser accepts a Binding request, the relay finds the same USERNAME.
            require(peeked.map { Array(datagram[$0]) } == Array(username.utf8), "STUNPeek and STUNMessage disagree on USERNAME")
        }
        let encoded = message.encoded(integrityKey: message.messageIntegrity == nil ? nil : [1, 2, 3], fingerprint: true)
        require((try? STUNMessage(parsing: encoded)) != nil, "a re-encoded STUN message does not parse")
    }

    /// When the datagram ends with a FINGERPRINT attribute, writes the right CRC into it.
    static func fixFingerprint(_ datagram: inout [UInt8]) {
        let count = datagram.count
        guard count >= 28, datagram[count - 8] == 0x80, datagram[count - 7] == 0x28 else { return }
        let crc = CRC32.isoHDLC.checksum(datagram[..<(count - 8)]) ^ STUNMessage.fingerprintXOR
        for index in 0..<4 { datagram[count - 4 + index] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * index)) }
    }
}

/// SDP offers (RFC 8866, JSEP RFC 8829): the session description, `SDPOffer` and, for an offer
/// that parses, the answer Parley would send, which must parse as an answer again; standalone
/// candidate and fingerprint lines, and `SDPAnswer` for the client role.
enum SDPTarget {
    static let target = FuzzTarget(name: "sdp-offer", run: run)

    static let parameters = SDPAnswerParameters(
        iceUfrag: "AQAAAQrAAgEPoA2Ha1qXQ2Vx3kPzTkA", icePassword: "fuzzfuzzfuzzfuzzfuzzfuzz",
        fingerprint: DTLSFingerprintLine(algorithm: "sha-256", digest: [UInt8](repeating: 0xAB, count: 32)),
        candidates: [PeerAddress("192.0.2.10:3478")!], tcpCandidates: [PeerAddress("192.0.2.10:443")!],
        sessionID: 42, audioSSRC: 1_234, cname: "parley", acceptApplication: true)

    static func run(_ input: [UInt8]) {
        let text = String(decoding: input, as: UTF8.self)
        if let description = try? SessionDescription(parsing: text) {
            _ = try? SessionDescription(parsing: description.serialized())
        }
        if let offer = try? SDPOffer(parsing: text) {
            let answer = SDPAnswerBuilder.answer(to: offer, with: parameters)
            do {
                _ = try SDPAnswer(parsing: answer)
            } catch {
                fatalError("property failed: the answer to an accepted offer does not parse: \(error)\n\(answer)")
            }
        }
        _ = try? SDPAnswer(parsing: text)
        for line in text.split(separator: "\n").prefix(64) {
            let value = String(line.drop { $0 != ":" }.dropFirst())
            if line.hasPrefix("a=candidate:") { _ = try? SDPCandidate(parsing: value) }
            if line.hasPrefix("a=fingerprint:") { _ = try? DTLSFingerprintLine(parsing: value) }
        }
    }
}

/// RTP (RFC 3550 §5.1, RFC 8285): a parsed packet re-encodes to the same packet, and DTMF
/// (RFC 4733) from its payload.
enum RTPTarget {
    static let target = FuzzTarget(name: "rtp", run: run, seeds: Seeds.rtp)

    static func run(_ input: [UInt8]) {
        guard let packet = try? RTPPacket(parsing: input) else { return }
        _ = TelephoneEvent(payload: packet.payload)?.key
        let again = try? RTPPacket(parsing: packet.encoded())
        require(again == packet, "an RTP packet does not survive encode and parse")
    }
}

/// RTCP compound packets (RFC 3550 §6, RFC 4585 generic NACK): parsed packets re-encode to
/// packets that parse the same.
enum RTCPTarget {
    static let target = FuzzTarget(name: "rtcp", run: run, seeds: Seeds.rtcp)

    static func run(_ input: [UInt8]) {
        guard let packets = try? RTCPCompoundPacket.parse(input) else { return }
        for case .genericNACK(let nack) in packets { _ = nack.lostSequenceNumbers }
        let again = try? RTCPCompoundPacket.parse(RTCPCompoundPacket.encode(packets))
        require(again == packets, "RTCP packets do not survive encode and parse")
    }
}

/// SCTP packets (RFC 9260 §3): strict and lenient parsing; a strictly parsed packet
/// serializes to one that parses the same. The first byte chooses whether to fix the CRC-32c up.
enum SCTPPacketTarget {
    static let target = FuzzTarget(name: "sctp-packet", run: run, seeds: Seeds.sctpPacket)

    static func run(_ input: [UInt8]) {
        guard let mode = input.first else { return }
        var bytes = Array(input.dropFirst())
        if mode & 1 == 1 { fixChecksum(&bytes) }
        _ = try? SCTPPacket.parseLeniently(bytes)
        guard let packet = try? SCTPPacket(parsing: bytes) else { return }
        let again = try? SCTPPacket(parsing: packet.serialized())
        require(again == packet, "an SCTP packet does not survive serialize and parse")
    }

    static func fixChecksum(_ bytes: inout [UInt8]) {
        guard bytes.count >= 12 else { return }
        bytes.replaceSubrange(8..<12, with: [0, 0, 0, 0])
        let crc = CRC32.castagnoli.checksum(bytes)
        bytes.replaceSubrange(8..<12, with: (0..<4).map { UInt8(truncatingIfNeeded: crc >> (8 * $0)) })
    }
}

/// One SCTP chunk's value (RFC 9260 §3.3, RFC 3758, RFC 6525) without the packet around it:
/// type, flags, then the value; a decoded chunk re-encodes to the same chunk.
enum SCTPChunkTarget {
    static let target = FuzzTarget(name: "sctp-chunk", run: run, seeds: Seeds.sctpChunk)

    static func run(_ input: [UInt8]) {
        var reader = FuzzInput(input)
        let type = reader.byte()
        let flags = reader.byte()
        guard let chunk = try? SCTPChunk(type: type, flags: flags, value: reader.rest()) else { return }
        var bytes: [UInt8] = []
        chunk.append(to: &bytes)
        guard bytes.count >= 4 else { fatalError("property failed: a chunk encodes to \(bytes.count) bytes") }
        let length = Int(bytes[2]) << 8 | Int(bytes[3])
        // Values beyond 65,531 bytes cannot be framed; the encoder truncates the length then.
        guard length == bytes.count - (4 - length % 4) % 4 else { return }
        let again = try? SCTPChunk(type: bytes[0], flags: bytes[1], value: Array(bytes[4..<length]))
        require(again == chunk, "an SCTP chunk does not survive encode and decode: \(chunk)")
    }
}

/// DCEP (RFC 8832): a parsed message serializes to the same bytes.
enum DCEPTarget {
    static let target = FuzzTarget(name: "dcep", run: run, seeds: Seeds.dcep)

    static func run(_ input: [UInt8]) {
        guard let message = try? DCEPMessage(parsing: input) else { return }
        require(message.serialized() == input, "a DCEP message does not serialize to the bytes it came from")
    }
}

/// The relay encapsulation header (docs/relay-encapsulation.md) and RFC 4571 framing, whose
/// decoder gets the rest in pieces of fuzzer-chosen sizes: frames come out whole and in order,
/// and the decoder never holds more than one partial frame.
enum RelayEncapsulationTarget {
    static let target = FuzzTarget(name: "relay-encapsulation", run: run, seeds: Seeds.relayEncapsulation)

    static func run(_ input: [UInt8]) {
        var reader = FuzzInput(input)
        let datagram = reader.chunk()
        if let (client, transport, payload) = RelayEncapsulation.parse(datagram) {
            let back = RelayEncapsulation.parse(RelayEncapsulation.encapsulate(Array(payload), client: client, transport: transport))
            require(back?.client == client && back?.transport == transport && back.map { Array($0.payload) } == Array(payload),
                    "an encapsulated datagram does not parse back")
        }
        let limit = Int(reader.uint16()) % 2_000
        var decoder = RFC4571FrameDecoder(maxFrameLength: limit)
        while !reader.isEmpty {
            let piece = reader.take(Int(reader.byte()) + 1)
            decoder.append(piece)
            while let output = decoder.nextFrame() {
                if case .frame(let frame) = output { require(frame.count <= limit, "a frame over the limit came out") }
            }
            require(decoder.bufferedByteCount <= limit + RFC4571Framing.headerLength,
                    "the decoder holds \(decoder.bufferedByteCount) bytes with a \(limit)-byte limit")
        }
    }
}
