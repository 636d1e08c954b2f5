import Benchmark
import Foundation
import ParleyRelay
import ParleyRouting
import ParleyWebRTC
import ParleyWire

/// Per-packet costs on Parley's hot paths: what a relay does to the first packet of a flow
/// (STUN parse, routing-token verify) and to every later one (flow-table lookup), and what a
/// transceiver does to every media packet (SRTP protect/unprotect, RTP parse). Each reports
/// wall time, instructions and mallocs per operation.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .instructions, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000)

    let keyring = RoutingKeyring.development()
    let transceiver = PeerAddress(ip: .v4(0x0A00_0005), port: 40_000)
    var generator = SystemRandomNumberGenerator()
    let serverUfrag = RoutingToken.issue(transceiver: transceiver, cluster: 7, keyring: keyring, using: &generator)
    let bindingRequest = STUNMessage(
        class: .request, transactionID: STUNTransactionID.random(),
        attributes: [.username(serverUfrag + ":abcd"), .priority(1_853_766_911), .iceControlling(42), .useCandidate]
    ).encoded(integrityKey: Array("0123456789abcdefghijklmn".utf8), fingerprint: true)

    Benchmark("STUN binding request parse") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? STUNMessage(parsing: bindingRequest))
        }
    }

    Benchmark("Routing token verify (bytes in place)") { benchmark in
        var ufrag = serverUfrag
        ufrag.withUTF8 { bytes in
            let raw = UnsafeRawBufferPointer(bytes)
            for _ in benchmark.scaledIterations {
                blackHole(RoutingToken.verify(raw, keyring: keyring))
            }
        }
    }

    let flowCount = 10_000
    let clients = (0..<flowCount).map { PeerAddress(ip: .v4(0xC633_6400 &+ UInt32($0)), port: UInt16(10_000 + $0 % 50_000)) }
    Benchmark("Relay flow table lookup (10k flows)") { benchmark in
        var table = FlowTable(capacity: flowCount, idleTimeout: .seconds(30))
        for client in clients {
            _ = table.insert(RelayFlow(client: client, nextHop: transceiver, lastActivity: .zero))
        }
        var next = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let index = table.index(of: clients[next])
            blackHole(index.flatMap { table[$0] }?.nextHop)
            next = next == flowCount - 1 ? 0 : next + 1
        }
    }

    let keyA = [UInt8](repeating: 0x11, count: 16), saltA = [UInt8](repeating: 0x22, count: 12)
    let keyB = [UInt8](repeating: 0x33, count: 16), saltB = [UInt8](repeating: 0x44, count: 12)
    let opusPayload = [UInt8](repeating: 0x5A, count: 80)
    func rtp(_ sequence: UInt16) -> [UInt8] {
        RTPPacket(payloadType: 111, sequenceNumber: sequence, timestamp: UInt32(sequence) &* 960, ssrc: 0x1234_5678,
                  payload: opusPayload).encoded()
    }

    Benchmark("SRTP protect (AES-128-GCM, 80-byte Opus)") { benchmark in
        let sender = try SRTPSession(keying: SRTPKeyingMaterial(
            profile: .aeadAES128GCM, localKey: keyA, localSalt: saltA, remoteKey: keyB, remoteSalt: saltB))
        let packets = (0..<UInt16(1024)).map(rtp)
        var sequence = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            // libsrtp refuses to protect one sequence number twice; rewrite it each time.
            var packet = packets[sequence & 1023]
            packet[2] = UInt8(truncatingIfNeeded: sequence >> 8)
            packet[3] = UInt8(truncatingIfNeeded: sequence)
            blackHole(try sender.protectRTP(packet))
            sequence &+= 1
        }
    }

    Benchmark("SRTP unprotect (AES-128-GCM, 80-byte Opus)") { benchmark in
        let sender = try SRTPSession(keying: SRTPKeyingMaterial(
            profile: .aeadAES128GCM, localKey: keyA, localSalt: saltA, remoteKey: keyB, remoteSalt: saltB))
        let receiver = try SRTPSession(keying: SRTPKeyingMaterial(
            profile: .aeadAES128GCM, localKey: keyB, localSalt: saltB, remoteKey: keyA, remoteSalt: saltA))
        // One protected packet per sequence number in the replay window's reach, unprotected
        // in order; a fresh receiver per pass keeps the replay check from rejecting repeats.
        let protected = try (0..<UInt16(30_000)).map { try sender.protectRTP(rtp($0)) }
        var current = receiver
        var next = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            if next == protected.count {
                benchmark.stopMeasurement()
                current = try SRTPSession(keying: SRTPKeyingMaterial(
                    profile: .aeadAES128GCM, localKey: keyB, localSalt: saltB, remoteKey: keyA, remoteSalt: saltA))
                next = 0
                benchmark.startMeasurement()
            }
            blackHole(try current.unprotectRTP(protected[next]))
            next += 1
        }
    }

    // Both ends of a DTLS 1.2 handshake (ECDHE, ECDSA P-256 certificates both ways, use_srtp)
    // in memory: the CPU a call's key exchange costs, with no network in between.
    let clientCertificate = try! DTLSCertificate.generateSelfSigned()
    let serverCertificate = try! DTLSCertificate.generateSelfSigned()
    Benchmark("DTLS handshake, both ends in memory",
              configuration: .init(metrics: [.wallClock, .mallocCountTotal], scalingFactor: .one)) { benchmark in
        for _ in benchmark.scaledIterations {
            let now = Instant.zero
            let client = try DTLSEndpoint(role: .client, certificate: clientCertificate,
                                          remoteFingerprint: serverCertificate.fingerprint, now: now)
            let server = try DTLSEndpoint(role: .server, certificate: serverCertificate,
                                          remoteFingerprint: clientCertificate.fingerprint, now: now)
            client.start(now: now)
            server.start(now: now)
            var flights = 0
            while !(client.isConnected && server.isConnected), flights < 20 {
                while let datagram = client.pollTransmit() { server.handle(datagram, now: now) }
                while let datagram = server.pollTransmit() { client.handle(datagram, now: now) }
                flights += 1
            }
            guard client.isConnected, server.isConnected else { fatalError("DTLS handshake did not complete") }
            blackHole((client, server))
        }
    }

    let rtpPacket = rtp(4242)
    Benchmark("RTP parse (80-byte Opus)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try? RTPPacket(parsing: rtpPacket))
        }
    }

    let pcm = (0..<480).map { Int16(8_000 * sin(Double($0) * 2 * Double.pi * 440 / 24_000)) }
    for complexity: Int32 in [5, 10] {
        Benchmark("Opus encode 20 ms at 24 kHz, complexity \(complexity)",
                  configuration: .init(metrics: [.wallClock, .instructions, .mallocCountTotal], scalingFactor: .one)) { benchmark in
            let encoder = try OpusEncoder(sampleRate: 24_000, channels: 1, complexity: complexity)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                blackHole(try encoder.encode(pcm))
            }
        }
    }
}
