import ParleyTestSupport
import ParleyWebRTC
import ParleyWire
import Testing

@Suite struct SRTPSessionTests {
    /// Client and server keys from a real in-memory DTLS handshake that agreed on `profile`.
    static func handshakeKeys(_ profile: SRTPProfile) throws -> (client: SRTPKeyingMaterial, server: SRTPKeyingMaterial) {
        let client = try DTLSCertificate.generateSelfSigned(srtpProfiles: [profile])
        let server = try #require(TestCertificates.server)
        let pair = try DTLSTestPair(clientCertificate: client, serverCertificate: server)
        #expect(pair.run { $0.bothConnected })
        let clientKeys = try #require(pair.clientKeys)
        let serverKeys = try #require(pair.serverKeys)
        #expect(clientKeys.profile == profile)
        return (clientKeys, serverKeys)
    }

    static func rtpPacket(sequence: UInt16, payload: [UInt8] = Array(0..<160).map { UInt8($0) }) -> [UInt8] {
        let timestamp = UInt32(sequence) * 960
        let ssrc: UInt32 = 0x1234_5678
        return [0x80, 111, UInt8(sequence >> 8), UInt8(sequence & 0xFF)]
            + [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: timestamp >> $0) }
            + [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: ssrc >> $0) }
            + payload
    }

    /// A receiver report with one report block (RFC 3550 §6.4.2).
    static let rtcpReceiverReport: [UInt8] = [0x81, 201, 0, 7, 0x12, 0x34, 0x56, 0x78] + Array(repeating: 0x5A, count: 24)

    static let tagLength: [SRTPProfile: Int] = [.aeadAES128GCM: 16, .aes128CMHMACSHA1_80: 10]

    @Test(arguments: [SRTPProfile.aeadAES128GCM, .aes128CMHMACSHA1_80])
    func rtpAndRTCPRoundTripBothWays(profile: SRTPProfile) throws {
        let keys = try Self.handshakeKeys(profile)
        let client = try SRTPSession(keying: keys.client)
        let server = try SRTPSession(keying: keys.server)
        let tag = try #require(Self.tagLength[profile])
        for sequence: UInt16 in [1, 2, 3, 65535] {
            let packet = Self.rtpPacket(sequence: sequence)
            let protected = try client.protectRTP(packet)
            #expect(protected.count == packet.count + tag)
            #expect(protected.prefix(12) == packet.prefix(12))
            #expect(protected[12...].prefix(160) != packet[12...].prefix(160))
            #expect(try server.unprotectRTP(protected) == packet)
            #expect(try client.unprotectRTP(try server.protectRTP(packet)) == packet)
        }
        let report = Self.rtcpReceiverReport
        let protectedReport = try server.protectRTCP(report)
        #expect(protectedReport.count == report.count + 4 + tag)
        #expect(try client.unprotectRTCP(protectedReport) == report)
        #expect(try server.unprotectRTCP(try client.protectRTCP(report)) == report)
    }

    @Test(arguments: [SRTPProfile.aeadAES128GCM, .aes128CMHMACSHA1_80])
    func tamperedReplayedAndTruncatedPacketsAreRejected(profile: SRTPProfile) throws {
        let keys = try Self.handshakeKeys(profile)
        let client = try SRTPSession(keying: keys.client)
        let server = try SRTPSession(keying: keys.server)

        var tampered = try client.protectRTP(Self.rtpPacket(sequence: 10))
        tampered[20] ^= 0x01
        #expect(throws: SRTPError.authenticationFailed) { try server.unprotectRTP(tampered) }

        let protected = try client.protectRTP(Self.rtpPacket(sequence: 11))
        #expect(try server.unprotectRTP(protected) == Self.rtpPacket(sequence: 11))
        #expect(throws: SRTPError.replay) { try server.unprotectRTP(protected) }

        let protectedReport = try client.protectRTCP(Self.rtcpReceiverReport)
        var tamperedReport = protectedReport
        tamperedReport[10] ^= 0x80
        #expect(throws: SRTPError.authenticationFailed) { try server.unprotectRTCP(tamperedReport) }
        _ = try server.unprotectRTCP(protectedReport)
        #expect(throws: SRTPError.replay) { try server.unprotectRTCP(protectedReport) }

        let fresh = try client.protectRTP(Self.rtpPacket(sequence: 12))
        for length in 0..<fresh.count {
            #expect(throws: SRTPError.self) { try server.unprotectRTP(Array(fresh.prefix(length))) }
        }
        let freshReport = try client.protectRTCP(Self.rtcpReceiverReport)
        for length in 0..<freshReport.count {
            #expect(throws: SRTPError.self) { try server.unprotectRTCP(Array(freshReport.prefix(length))) }
        }
        // The session still works after all that.
        #expect(try server.unprotectRTP(fresh) == Self.rtpPacket(sequence: 12))
    }

    @Test func randomAndMutatedPacketsNeverCrash() throws {
        let keys = try Self.handshakeKeys(.aeadAES128GCM)
        let client = try SRTPSession(keying: keys.client)
        let server = try SRTPSession(keying: keys.server)
        var random = SeededGenerator(seed: 2024)
        for sequence: UInt16 in 100..<1100 {
            var packet: [UInt8]
            if Bool.random(using: &random) {
                packet = (0..<Int.random(in: 0...300, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            } else {
                packet = try client.protectRTP(Self.rtpPacket(sequence: sequence))
                let index = Int.random(in: 0..<packet.count, using: &random)
                packet[index] ^= UInt8.random(in: 1...255, using: &random)
            }
            #expect(throws: SRTPError.self) { try server.unprotectRTP(packet) }
            #expect(throws: SRTPError.self) { try server.unprotectRTCP(packet) }
        }
    }

    @Test func malformedInputAndBadKeysAreRejected() throws {
        let keys = SRTPKeyingMaterial(
            profile: .aeadAES128GCM, localKey: Array(repeating: 1, count: 16), localSalt: Array(repeating: 2, count: 12),
            remoteKey: Array(repeating: 3, count: 16), remoteSalt: Array(repeating: 4, count: 12)
        )
        let session = try SRTPSession(keying: keys)
        #expect(throws: SRTPError.malformed) { try session.protectRTP([0x80, 111, 0, 1]) }
        #expect(throws: SRTPError.malformed) { try session.protectRTP([0x40] + Array(repeating: 0, count: 20)) }
        #expect(throws: SRTPError.malformed) { try session.protectRTCP([0x80, 200]) }
        #expect(throws: SRTPError.malformed) { try session.unprotectRTP([]) }

        var wrongSalt = keys
        wrongSalt.localSalt = Array(repeating: 2, count: 14)
        #expect(throws: SRTPError.invalidKeyLength) { try SRTPSession(keying: wrongSalt) }

        // Keys that do not match the sender's fail authentication.
        var otherKeys = keys
        otherKeys.remoteKey = Array(repeating: 9, count: 16)
        let sender = try SRTPSession(keying: SRTPKeyingMaterial(
            profile: .aeadAES128GCM, localKey: keys.remoteKey, localSalt: keys.remoteSalt,
            remoteKey: keys.localKey, remoteSalt: keys.localSalt
        ))
        let protected = try sender.protectRTP(Self.rtpPacket(sequence: 5))
        #expect(try session.unprotectRTP(protected) == Self.rtpPacket(sequence: 5))
        #expect(throws: SRTPError.authenticationFailed) { try SRTPSession(keying: otherKeys).unprotectRTP(protected) }
    }
}
