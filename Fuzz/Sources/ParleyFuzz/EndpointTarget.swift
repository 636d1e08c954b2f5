import ParleyAgent
import ParleyEndpoint
import ParleyRouting
import ParleyWebRTC
import ParleyWire

/// The transceiver's sans-IO endpoint with one call signaled from Parley's own client role
/// (ICE controlling, as the load generator), the built-in agent as its backend. The first
/// byte says whether the client first connects for real (ICE, DTLS, SRTP, SCTP, `oai-events`);
/// then a program of datagrams from the client, through an allowed relay and from a relay
/// that is not allowed, client packets changed in flight, valid checks from new addresses,
/// data-channel and sideband events, audio with any payload, hang-ups and time.
enum EndpointTarget {
    static let target = FuzzTarget(name: "endpoint", run: run, seeds: Seeds.endpoint)

    static let endpointAddress = PeerAddress("192.0.2.10:3478")!
    static let clientAddress = PeerAddress("198.51.100.7:50000")!
    static let relay = PeerAddress("198.18.0.1:3480")!
    static let strangerRelay = PeerAddress("203.0.113.9:3480")!
    static let serverCertificate = try! DTLSCertificate.generateSelfSigned()
    static let clientCertificate = try! DTLSCertificate.generateSelfSigned(commonName: "client")

    static func run(_ input: [UInt8]) {
        var reader = FuzzInput(input)
        var random = FuzzRandom(state: 3)
        var now = Instant(nanoseconds: 1_000_000_000)
        let endpoint = TransceiverEndpoint(
            configuration: .init(certificate: serverCertificate, tokenAddress: endpointAddress,
                                 routingKeyring: .development(), candidates: [endpointAddress],
                                 relayNetworks: [IPNetwork("198.18.0.0/15")!], recentlyEndedLimit: 16),
            random: FuzzRandom(state: 4))
        let ice = ICECredentials.random(using: &random)
        guard let offer = try? SDPOffer(parsing: SDPOfferBuilder.offer(with: SDPOfferParameters(
                iceUfrag: ice.ufrag, icePassword: ice.password,
                fingerprint: DTLSFingerprintLine(algorithm: clientCertificate.fingerprint.algorithm,
                                                 digest: clientCertificate.fingerprint.bytes),
                sessionID: 7, audioSSRC: 1_234, cname: "client", offerApplication: true))),
              let answer = try? endpoint.createCall(offer: offer, now: now, makeBackend: { _ in AgentBackend() }),
              let sdp = try? SDPAnswer(parsing: answer.sdp),
              let connection = try? PeerConnection(
                configuration: .init(
                    localICE: ice,
                    ice: .controlling(remote: ICECredentials(ufrag: sdp.iceUfrag, password: sdp.icePassword),
                                      candidates: [endpointAddress], tieBreaker: random.next()),
                    certificate: clientCertificate,
                    remoteFingerprint: DTLSFingerprint(algorithm: sdp.fingerprint.algorithm, hex: sdp.fingerprint.value)!,
                    dtlsRole: sdp.setup == .active ? .server : .client,
                    audioPayloadType: sdp.audio.opusPayloadType, localSSRC: 4_321, cname: "client",
                    dataChannels: SCTPAssociation.Configuration(isDTLSClient: sdp.setup != .active)),
                now: now, using: &random)
        else { fatalError("the endpoint target's call setup failed") }

        var buffer = [UInt8](repeating: 0, count: TransceiverEndpoint.maxTransmitLength)
        var lastFromClient: [UInt8] = []
        var eventsChannel: UInt16?
        var mutateNext = false

        func deliverToEndpoint(_ bytes: [UInt8], from source: PeerAddress) {
            endpoint.handle(bytes, from: source, now: now)
        }

        func shuttle() {
            for _ in 0..<64 {
                var moved = false
                while let transmit = connection.pollTransmit() {
                    moved = true
                    var bytes = transmit.payload
                    lastFromClient = bytes
                    if mutateNext, !bytes.isEmpty {
                        mutateNext = false
                        bytes[Int(reader.uint16()) % bytes.count] ^= max(1, reader.byte())
                    }
                    deliverToEndpoint(bytes, from: clientAddress)
                }
                while let datagram = buffer.withUnsafeMutableBytes({ endpoint.pollTransmit(into: $0) }) {
                    moved = true
                    if datagram.destination == clientAddress {
                        _ = connection.handle(Array(buffer[..<datagram.length]), from: endpointAddress, now: now)
                    }
                }
                while let event = connection.pollEvent() {
                    switch event {
                    case .dataChannel(.connected):
                        _ = try? connection.openDataChannel(label: "oai-events", now: now)
                    case .dataChannel(.channelOpened(let info)) where info.label == "oai-events":
                        eventsChannel = info.streamID
                    default: break
                    }
                }
                while endpoint.pollEvent() != nil {}
                if !moved { return }
            }
        }

        func advance(by duration: Duration) {
            let end = now + duration
            var steps = 0
            while steps < 2_000, let deadline = [connection.nextDeadline(), endpoint.nextDeadline()].compactMap({ $0 }).min(),
                  deadline <= end {
                steps += 1
                now = max(now, deadline)
                connection.handleTimeout(now: now)
                endpoint.handleTimeout(now: now)
                shuttle()
            }
            now = end
        }

        if reader.bool() {
            connection.handleTimeout(now: now)
            shuttle()
            var elapsed = 0
            while eventsChannel == nil, elapsed < 3_000 {
                advance(by: .milliseconds(20))
                elapsed += 20
            }
        }
        var operations = 0
        while !reader.isEmpty, operations < 48 {
            operations += 1
            switch reader.choose(11) {
            case 0:
                deliverToEndpoint(reader.chunk(), from: clientAddress)
            case 1:
                let client = reader.bool() ? clientAddress : PeerAddress(ip: clientAddress.ip, port: reader.uint16())
                deliverToEndpoint(RelayEncapsulation.encapsulate(reader.chunk(), client: client, transport: reader.bool() ? .tcp : .udp),
                                  from: reader.bool() ? relay : strangerRelay)
            case 2:
                // The last client packet again, changed in one byte, or as it was (a replay).
                guard !lastFromClient.isEmpty else { continue }
                var bytes = lastFromClient
                if reader.bool() { bytes[Int(reader.uint16()) % bytes.count] ^= max(1, reader.byte()) }
                deliverToEndpoint(bytes, from: clientAddress)
            case 3:
                mutateNext = true
            case 4:
                // A connectivity check that verifies, from an address the fuzzer picks.
                var attributes: [STUNAttribute] = [.username("\(sdp.iceUfrag):\(ice.ufrag)"), .priority(reader.uint32()),
                                                   .iceControlling(1)]
                if reader.bool() { attributes.append(.useCandidate) }
                let request = STUNMessage(class: .request, transactionID: .random(using: &random), attributes: attributes)
                    .encoded(integrityKey: Array(sdp.icePassword.utf8), fingerprint: reader.bool())
                let source = PeerAddress(ip: reader.bool() ? clientAddress.ip : .v4(0xC633_6409), port: reader.uint16())
                if reader.bool() {
                    deliverToEndpoint(RelayEncapsulation.encapsulate(request, client: source), from: relay)
                } else {
                    deliverToEndpoint(request, from: source)
                }
            case 5:
                guard let channel = eventsChannel else { continue }
                let text = String(decoding: reader.chunk(limit: 4_096), as: UTF8.self)
                try? connection.sendDataChannelMessage(reader.bool() ? .text(text) : .binary(Array(text.utf8)), on: channel, now: now)
            case 6:
                if let event = try? RealtimeEvent(json: reader.chunk(limit: 4_096)) {
                    _ = endpoint.receiveClientEvent(event, for: answer.id, now: now)
                }
            case 7:
                connection.sendAudio(reader.chunk(limit: 400), mediaTime: reader.uint32(), marker: reader.bool(), now: now)
            case 8, 9:
                advance(by: .milliseconds(Int64(reader.uint16() % 8_000)))
            default:
                if reader.bool() { _ = endpoint.endCall(answer.id, now: now) } else { connection.close(now: now) }
            }
            shuttle()
        }
        advance(by: .seconds(1))
    }
}
