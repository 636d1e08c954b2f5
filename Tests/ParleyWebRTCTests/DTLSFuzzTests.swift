import ParleyTestSupport
import ParleyWebRTC
import ParleyWire
import Testing

@Suite struct DTLSFuzzTests {
    /// Random bytes, half of them behind a plausible DTLS 1.2 record header so they reach
    /// OpenSSL's record and handshake parsing (RFC 6347 §4.1).
    static func randomDatagram(using random: inout SeededGenerator) -> [UInt8] {
        let length = Int.random(in: 0...1400, using: &random)
        var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
        if Bool.random(using: &random), bytes.count >= 13 {
            bytes[0] = UInt8.random(in: 20...25, using: &random)
            bytes[1] = 0xFE
            bytes[2] = 0xFD
            bytes[3] = 0
            bytes[4] = UInt8.random(in: 0...1, using: &random)
            let body = bytes.count - 13
            let claimed = Bool.random(using: &random) ? body : Int.random(in: 0...0xFFFF, using: &random)
            bytes[11] = UInt8(truncatingIfNeeded: claimed >> 8)
            bytes[12] = UInt8(truncatingIfNeeded: claimed)
            if bytes[0] == 22, bytes.count > 13 { bytes[13] = UInt8.random(in: 0...20, using: &random) }
        }
        return bytes
    }

    @Test func freshServerSurvivesRandomDatagrams() throws {
        let client = try #require(TestCertificates.client)
        let serverCertificate = try #require(TestCertificates.server)
        let server = try DTLSEndpoint(role: .server, certificate: serverCertificate, remoteFingerprint: client.fingerprint, now: .zero)
        var random = SeededGenerator(seed: 42)
        var events: [DTLSEndpoint.Event] = []
        for step in 0..<2_000 {
            let now = Instant(nanoseconds: Int64(step) * 1_000_000)
            server.handle(Self.randomDatagram(using: &random), now: now)
            server.handleTimeout(now: now)
            while server.pollTransmit() != nil {}
            while let event = server.pollEvent() { events.append(event) }
        }
        #expect(!server.isConnected)
        #expect(events.allSatisfy { if case .failed = $0 { true } else { false } })
        #expect(events.count <= 1)
    }

    @Test func freshServersSurviveMutatedClientHellos() throws {
        let clientCertificate = try #require(TestCertificates.client)
        let serverCertificate = try #require(TestCertificates.server)
        let client = try DTLSEndpoint(
            role: .client, certificate: clientCertificate, remoteFingerprint: serverCertificate.fingerprint, now: .zero
        )
        client.start(now: .zero)
        let hello = try #require(client.pollTransmit())
        var random = SeededGenerator(seed: 7)
        for _ in 0..<300 {
            var mutated = hello
            if Bool.random(using: &random) {
                mutated = Array(mutated.prefix(Int.random(in: 0..<mutated.count, using: &random)))
            }
            for _ in 0..<Int.random(in: 0...8, using: &random) where !mutated.isEmpty {
                mutated[Int.random(in: 0..<mutated.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            let server = try DTLSEndpoint(
                role: .server, certificate: serverCertificate, remoteFingerprint: clientCertificate.fingerprint, now: .zero
            )
            server.handle(mutated, now: .zero)
            while server.pollTransmit() != nil {}
            while let event = server.pollEvent() {
                if case .failed = event { continue }
                Issue.record("unexpected event \(event) from a mutated ClientHello")
            }
        }
    }

    @Test func connectedEndpointsIgnoreRandomDatagrams() throws {
        let pair = try DTLSTestPair.make()
        #expect(pair.run { $0.bothConnected })
        pair.collectEvents()
        let before = (pair.clientEvents.count, pair.serverEvents.count)
        var random = SeededGenerator(seed: 99)
        for _ in 0..<2_000 {
            pair.client.handle(Self.randomDatagram(using: &random), now: pair.now)
            pair.server.handle(Self.randomDatagram(using: &random), now: pair.now)
        }
        pair.pump()
        #expect(pair.clientEvents.count == before.0, "\(pair.clientEvents.suffix(1))")
        #expect(pair.serverEvents.count == before.1)
        #expect(pair.client.isConnected && pair.server.isConnected)
        try pair.client.send([9, 9])
        pair.pump()
        #expect(pair.serverEvents.last == .applicationData([9, 9]))
    }

    /// OpenSSL 3.0 would answer this with a fatal alert; the endpoint drops it first.
    @Test func connectedEndpointSurvivesShortForgedAlertRecord() throws {
        let pair = try DTLSTestPair.make()
        #expect(pair.run { $0.bothConnected })
        let forged: [UInt8] = [21, 0xFE, 0xFD, 0, 1, 0, 0, 0, 0, 0, 9, 0, 13] + Array(repeating: 0x41, count: 13)
        pair.client.handle(forged, now: pair.now)
        #expect(pair.client.pollTransmit() == nil)
        #expect(pair.client.isConnected)
        try pair.server.send([5])
        pair.pump()
        #expect(pair.clientEvents.last == .applicationData([5]))
    }

    @Test func fingerprintParsing() throws {
        let certificate = try #require(TestCertificates.server)
        let hex = certificate.fingerprint.hexValue
        #expect(hex.count == 32 * 3 - 1)
        #expect(hex == hex.uppercased())
        #expect(DTLSFingerprint(algorithm: "SHA-256", hex: hex) == certificate.fingerprint)
        #expect(DTLSFingerprint(algorithm: "sha-256", hex: hex.lowercased()) == certificate.fingerprint)
        #expect(DTLSFingerprint(algorithm: "sha-256", hex: String(hex.dropLast(3))) == nil)
        #expect(DTLSFingerprint(algorithm: "sha-256", hex: hex + ":00") == nil)
        #expect(DTLSFingerprint(algorithm: "md5", hex: "AB:CD") == nil)
        #expect(DTLSFingerprint(algorithm: "sha-1", hex: Array(repeating: "0G", count: 20).joined(separator: ":")) == nil)
        #expect(DTLSFingerprint(algorithm: "sha-1", hex: Array(repeating: "0F", count: 20).joined(separator: ":")) != nil)
        #expect(DTLSFingerprint(algorithm: "sha-512", hex: Array(repeating: "A0", count: 64).joined(separator: ":"))?.bytes.count == 64)
        #expect(DTLSFingerprint(algorithm: "sha-256", hex: "") == nil)
        #expect(DTLSFingerprint(algorithm: "sha-256", hex: "+1" + String(hex.dropFirst(2))) == nil)
    }
}
