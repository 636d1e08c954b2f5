import ParleyAgent
import ParleyEndpoint
import ParleyRouting
import ParleyWire

/// Seed inputs made with Parley's own encoders, so a corpus starts from well-formed packets
/// that the real peers' captures (Fuzz/Corpus) do not cover. `scripts/fuzz-seeds.sh` writes
/// them into Fuzz/Corpus/<target>/ with the prefix `gen-`.
enum Seeds {
    typealias Seed = (name: String, bytes: [UInt8])

    static let clientPassword = Array("client-password-0123456789".utf8)

    static func stun() -> [Seed] {
        var random = FuzzRandom(state: 11)
        let request = STUNMessage(class: .request, transactionID: .random(using: &random), attributes: [
            .username("AQAAAQrAAgEPoA2Ha1qXQ2Vx3kPzTkA:cli1"), .priority(1_853_824_767), .iceControlling(random.next()),
            .useCandidate,
        ])
        let success = STUNMessage(class: .successResponse, transactionID: .random(using: &random),
                                  attributes: [.xorMappedAddress(PeerAddress("198.51.100.7:50000")!)])
        let successIPv6 = STUNMessage(class: .successResponse, transactionID: .random(using: &random),
                                      attributes: [.xorMappedAddress(PeerAddress("[2001:db8::7]:50000")!)])
        let failure = STUNMessage(class: .errorResponse, transactionID: .random(using: &random),
                                  attributes: [.errorCode(code: 487, reason: "Role Conflict"), .iceControlled(random.next())])
        let unknown = STUNMessage(class: .indication, transactionID: .random(using: &random),
                                  attributes: [.unknown(type: 0x8022, value: Array("parley".utf8))])
        // SPED: a check carrying acknowledgements and a DTLS handshake record (content type 22).
        let embedding = STUNMessage(class: .request, transactionID: .random(using: &random), attributes: [
            .username("AQAAAQrAAgEPoA2Ha1qXQ2Vx3kPzTkA:cli1"), .iceControlling(random.next()),
            .dtlsInSTUNAcknowledgement([0x1234_5678, 0x9ABC_DEF0]),
            .dtlsInSTUN([22, 0xFE, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0]),
        ])
        // The first byte 1 asks the target to fix FINGERPRINT up after mutations.
        return [
            ("gen-binding-request", [1] + request.encoded(integrityKey: clientPassword, fingerprint: true)),
            ("gen-binding-request-no-fingerprint", [0] + request.encoded(integrityKey: clientPassword, fingerprint: false)),
            ("gen-success-ipv4", [1] + success.encoded(integrityKey: clientPassword, fingerprint: true)),
            ("gen-success-ipv6", [1] + successIPv6.encoded(integrityKey: clientPassword, fingerprint: true)),
            ("gen-error-487", [1] + failure.encoded(integrityKey: clientPassword, fingerprint: true)),
            ("gen-indication-unknown-attribute", [0] + unknown.encoded(integrityKey: nil, fingerprint: false)),
            ("gen-binding-request-sped", [1] + embedding.encoded(integrityKey: clientPassword, fingerprint: true)),
        ]
    }

    static func rtp() -> [Seed] {
        let opus = RTPPacket(marker: true, payloadType: 111, sequenceNumber: 4_711, timestamp: 960, ssrc: 0x1234_5678,
                             extensionProfile: RTPPacket.oneByteExtensionProfile,
                             extensions: [RTPHeaderExtension(id: 1, data: [0x9F]), RTPHeaderExtension(id: 4, data: Array("0".utf8))],
                             payload: [0x78] + [UInt8](repeating: 0xA5, count: 40))
        let twoByte = RTPPacket(payloadType: 111, sequenceNumber: 1, timestamp: 1, ssrc: 9,
                                extensionProfile: RTPPacket.twoByteExtensionProfile,
                                extensions: [RTPHeaderExtension(id: 200, data: []), RTPHeaderExtension(id: 3, data: [1, 2, 3])],
                                payload: [0xF8, 0xFF, 0xFE])
        let padded = RTPPacket(payloadType: 0, sequenceNumber: 65_535, timestamp: 0xFFFF_FFFF, ssrc: 1,
                               csrcs: [2, 3, 4], extensionProfile: 0xABCD, extensionData: [1, 2, 3, 4],
                               payload: [1, 2, 3], paddingLength: 4)
        // RFC 4733: digit 5, end bit, volume 10, duration 800.
        let dtmf = RTPPacket(marker: true, payloadType: 126, sequenceNumber: 7, timestamp: 8_000, ssrc: 5,
                             payload: [5, 0x8A, 0x03, 0x20])
        return [("gen-opus-one-byte-extensions", opus.encoded()), ("gen-two-byte-extensions", twoByte.encoded()),
                ("gen-csrc-padding", padded.encoded()), ("gen-telephone-event", dtmf.encoded())]
    }

    static func rtcp() -> [Seed] {
        let block = RTCPReportBlock(ssrc: 0x1234_5678, fractionLost: 12, cumulativeLost: -3, extendedHighestSequence: 70_000)
        let senderReport = RTCPPacket.senderReport(RTCPSenderReport(
            ssrc: 1, ntpTimestamp: 0xE8F0_0000_8000_0000, rtpTimestamp: 96_000, packetCount: 50, octetCount: 4_000,
            reportBlocks: [block]))
        let receiverReport = RTCPPacket.receiverReport(RTCPReceiverReport(ssrc: 2, reportBlocks: [block, block]))
        let description = RTCPPacket.sourceDescription(RTCPSourceDescription(ssrc: 1, cname: "WBgF/hW4sIob5eya"))
        let bye = RTCPPacket.bye(RTCPBye(sources: [1, 2], reason: "done"))
        let nack = RTCPPacket.genericNACK(RTCPGenericNACK(senderSSRC: 1, mediaSSRC: 2, lostSequenceNumbers: [10, 11, 13, 40, 65_535]))
        return [
            ("gen-sr-sdes", RTCPCompoundPacket.encode([senderReport, description])),
            ("gen-rr-bye", RTCPCompoundPacket.encode([receiverReport, bye])),
            ("gen-rr-nack", RTCPCompoundPacket.encode([receiverReport, nack])),
        ]
    }

    static let sctpHeader = SCTPCommonHeader(sourcePort: 5_000, destinationPort: 5_000, verificationTag: 0x0102_0304)

    /// One chunk of each kind Parley reads, as a data channel peer would send them.
    static let sctpChunks: [(name: String, chunk: SCTPChunk)] = [
        ("init", .initiation(SCTPInitChunk(initiateTag: 0xCAFE_BABE, advertisedReceiverWindowCredit: 131_072, outboundStreams: 1_024,
                                           inboundStreams: 1_024, initialTSN: 17,
                                           parameters: [.forwardTSNSupported, .supportedExtensions([0x82, 0xC0]),
                                                        .unknown(type: 0x8008, value: [1, 2, 3])]))),
        ("init-ack", .initiationAck(SCTPInitChunk(initiateTag: 7, advertisedReceiverWindowCredit: 65_536, outboundStreams: 16,
                                                  inboundStreams: 16, initialTSN: 99,
                                                  parameters: [.stateCookie([UInt8](repeating: 0x5C, count: 48))]))),
        ("data-dcep-open", .data(SCTPDataChunk(tsn: 17, streamID: 1, streamSequenceNumber: 0, payloadProtocolIdentifier: 50,
                                               userData: DCEPMessage.open(DCEPOpen(channelType: .reliable, label: "oai-events")).serialized()))),
        ("data-text-fragment", .data(SCTPDataChunk(tsn: 18, streamID: 1, streamSequenceNumber: 1, payloadProtocolIdentifier: 51,
                                                   isUnordered: true, isEnding: false, userData: Array("{\"type\":".utf8)))),
        ("sack", .selectiveAck(SCTPSelectiveAck(cumulativeTSNAck: 16, advertisedReceiverWindowCredit: 100_000,
                                                gapAckBlocks: [.init(start: 2, end: 3)], duplicateTSNs: [15]))),
        ("heartbeat", .heartbeat(info: [0, 1, 0, 8, 1, 2, 3, 4])),
        ("abort", .abort(reflectedTag: true, causes: [SCTPErrorCause(code: 12, information: Array("bye".utf8))])),
        ("shutdown", .shutdown(cumulativeTSNAck: 40)),
        ("cookie-echo", .cookieEcho(cookie: [UInt8](repeating: 0x5C, count: 48))),
        ("forward-tsn", .forwardTSN(SCTPForwardTSN(newCumulativeTSN: 30, skippedStreams: [.init(streamID: 1, streamSequenceNumber: 4)]))),
        ("reconfig", .reconfig([.outgoingResetRequest(requestSequence: 1, responseSequence: 0, senderLastAssignedTSN: 29, streams: [1, 3]),
                                .response(responseSequence: 9, result: SCTPReconfigResult(rawValue: 1))])),
        ("operation-error", .operationError(causes: [SCTPErrorCause(code: 6, information: [0x80, 0x0A, 0, 4])])),
    ]

    static func sctpPacket() -> [Seed] {
        // The first byte 1 asks the target to fix the CRC-32c up after mutations.
        sctpChunks.map { ("gen-\($0.name)", [1] + SCTPPacket(header: sctpHeader, chunks: [$0.chunk]).serialized()) }
            + [("gen-sack-data", [1] + SCTPPacket(header: sctpHeader, chunks: [sctpChunks[4].chunk, sctpChunks[3].chunk]).serialized())]
    }

    static func sctpChunk() -> [Seed] {
        sctpChunks.map { name, chunk in
            var bytes: [UInt8] = []
            chunk.append(to: &bytes)
            let length = Int(bytes[2]) << 8 | Int(bytes[3])
            return ("gen-\(name)", [bytes[0], bytes[1]] + Array(bytes[4..<length]))
        }
    }

    static func dcep() -> [Seed] {
        [
            ("gen-open-reliable", DCEPMessage.open(DCEPOpen(channelType: .reliable, label: "oai-events")).serialized()),
            ("gen-open-retransmit", DCEPMessage.open(DCEPOpen(channelType: .partialReliableRetransmitUnordered, priority: 512,
                                                              reliabilityParameter: 3, label: "lossy", protocol: "json")).serialized()),
            ("gen-open-timed", DCEPMessage.open(DCEPOpen(channelType: .partialReliableTimed, reliabilityParameter: 500,
                                                         label: "")).serialized()),
            ("gen-ack", DCEPMessage.ack.serialized()),
        ]
    }

    /// Two bytes of length and the bytes, as `FuzzInput.chunk` reads them.
    static func lengthPrefixed(_ bytes: [UInt8]) -> [UInt8] {
        [UInt8(bytes.count >> 8), UInt8(truncatingIfNeeded: bytes.count)] + bytes
    }

    static func relayEncapsulation() -> [Seed] {
        let frames = RFC4571Framing.frame(Array("first".utf8)) + RFC4571Framing.frame([UInt8](repeating: 7, count: 300))
        // Pieces of 3, 50 and the rest (`byte() + 1` long each).
        let pieces = [2] + frames[0..<3] + [49] + frames[3..<53] + [255] + frames[53...]
        return [
            ("gen-udp-ipv4", lengthPrefixed(RelayEncapsulation.encapsulate([0, 1, 0, 0], client: PeerAddress("198.51.100.7:50000")!))
                + [0x05, 0xDC] + pieces),
            ("gen-tcp-ipv6", lengthPrefixed(RelayEncapsulation.encapsulate([0x80, 111], client: PeerAddress("[2001:db8::7]:50000")!,
                                                                           transport: .tcp)) + [0x00, 0x40] + pieces),
        ]
    }

    static func routingToken() -> [Seed] {
        var random = FuzzRandom(state: 5)
        let keyring = RoutingKeyring.development()
        let v4 = RoutingToken.issue(transceiver: PeerAddress("10.0.1.1:4000")!, cluster: 0, keyring: keyring, using: &random)
        let v6 = RoutingToken.issue(transceiver: PeerAddress("[fd00::1]:4000")!, cluster: 3, keyring: keyring, using: &random)
        let secret = ClientSecret(issuedAt: 1_700_000_000, expiresAt: 1_700_000_600, maxCallSeconds: 300,
                                  session: Array("{\"voice\":\"alloy\"}".utf8)).encoded(keyring: keyring)
        let ownedCall = SessionID.random(using: &random, owner: PeerAddress("10.0.1.1:8080")!, keyring: keyring)
        let ownedCallIPv6 = SessionID.random(using: &random, owner: PeerAddress("[fd00::1]:8080")!, keyring: keyring)
        return [("gen-token-ipv4", Array(v4.utf8)), ("gen-token-ipv6", Array(v6.utf8)),
                ("gen-username", Array((v4 + ":cli1").utf8)), ("gen-client-secret", Array(secret.utf8)),
                ("gen-call-id-ipv4-owner", Array(ownedCall.rawValue.utf8)),
                ("gen-call-id-ipv6-owner", Array(ownedCallIPv6.rawValue.utf8)),
                ("gen-call-id", Array(SessionID.random(using: &random).rawValue.utf8))]
    }

    static func backendFrame() -> [Seed] {
        [("gen-audio-20ms", BackendAudioFrame(sequence: 1, mediaTime: 480, samples: (0..<480).map { Int16($0 * 50 - 12_000) }).encoded()),
         ("gen-audio-empty", BackendAudioFrame(sequence: 0xFFFF_FFFF, mediaTime: 0, samples: []).encoded())]
    }

    // Stateful targets: programs in the byte language of each target's `run`.

    static func relayUDP() -> [Seed] {
        // usesFlowStore; then per operation: client, kind, operands.
        let firstPacket: [UInt8] = [0, 1, 0, 255]                        // client 0, first packet 0, unchanged
        let reply: [UInt8] = [0, 2] + lengthPrefixed([0, 1, 0, 0]) + [0, 0, 1]   // encapsulated reply from the transceiver
        let backbone: [UInt8] = [1, 3, 1, 255, 0, 1]                      // token for cluster 1 over the backbone
        let media: [UInt8] = [0, 0] + lengthPrefixed([0x80, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9])
        let time: [UInt8] = [0, 5, 0x13, 0x88, 1, 0]                      // 5 s on, restore the lookup
        return [("gen-flow-reply-media", [0] + firstPacket + reply + media + time + media),
                ("gen-flow-store-backbone", [1] + backbone + time + firstPacket + reply)]
    }

    static func relayTCP() -> [Seed] {
        // accept client 0; a framed first packet in pieces of 16 bytes; a reply; time.
        let accept: [UInt8] = [0, 0, 0]
        let framedFirst: [UInt8] = [1, 0, 1, 0, 255] + [UInt8](repeating: 15, count: 12) + [0]
        let reply: [UInt8] = [3, 0] + lengthPrefixed([0, 1, 0, 0]) + [1, 1, 0, 0, 0]
        let time: [UInt8] = [5, 0x07, 0xD0, 0]
        return [("gen-accept-frame-reply", accept + framedFirst + reply + time),
                ("gen-idle-connection", accept + time + time)]
    }

    static func sctpAssociation() -> [Seed] {
        let text = Array("{\"type\":\"response.create\"}".utf8)
        let send: [UInt8] = [2, 1, 1] + lengthPrefixed(text) + [0]          // client sends text on the open channel
        let open: [UInt8] = [4, 0, 1, 3] + lengthPrefixed(Array("lossy".utf8)) + [0]
        let time: [UInt8] = [7, 0x01, 0xF4]
        let lossy: [UInt8] = [6, 2]
        return [("gen-send-open-close", send + open + time + [5, 1, 0] + time),
                ("gen-loss-retransmit", lossy + send + time + time + [8, 0])]
    }

    static func endpoint() -> [Seed] {
        let event = Array("{\"type\":\"response.create\",\"response\":{\"modalities\":[\"text\"]}}".utf8)
        let message: [UInt8] = [5] + lengthPrefixed(event) + [1]
        let time: [UInt8] = [8, 0x03, 0xE8]
        let audio: [UInt8] = [7] + lengthPrefixed([0x78] + [UInt8](repeating: 0x11, count: 60)) + [0, 0, 3, 0xC0, 0]
        return [("gen-connected-event-audio", [1] + message + time + audio + time),
                ("gen-unconnected-checks", [0, 4, 0, 0, 0, 1, 1, 1, 1, 0xC3, 0x50, 0] + time)]
    }
}
