import ParleyTestSupport
import ParleyWebRTC
import ParleyWire
import Testing

@Suite struct DTLSEndpointTests {
    @Test func handshakeConnectsBothSidesWithMirroredGCMKeys() throws {
        let pair = try DTLSTestPair.make()
        let connected = pair.run { $0.bothConnected }
        #expect(connected)
        let client = try #require(pair.clientKeys)
        let server = try #require(pair.serverKeys)
        #expect(client.profile == .aeadAES128GCM)
        #expect(server.profile == .aeadAES128GCM)
        #expect(client.localKey == server.remoteKey)
        #expect(client.localSalt == server.remoteSalt)
        #expect(client.remoteKey == server.localKey)
        #expect(client.remoteSalt == server.localSalt)
        #expect(client.localKey.count == 16 && client.localSalt.count == 12)
        #expect(client.localKey != client.remoteKey)
        #expect(pair.client.isConnected && pair.server.isConnected)
        #expect(pair.dropped == 0)
    }

    @Test func serverPreferenceChoosesGCMAndCMWorksWhenOnlyOffered() throws {
        let server = try #require(TestCertificates.server)
        let cmFirst = try DTLSCertificate.generateSelfSigned(srtpProfiles: [.aes128CMHMACSHA1_80, .aeadAES128GCM])
        let preferred = try DTLSTestPair(clientCertificate: cmFirst, serverCertificate: server)
        #expect(preferred.run { $0.bothConnected })
        #expect(preferred.serverKeys?.profile == .aeadAES128GCM)

        let cmOnly = try DTLSCertificate.generateSelfSigned(srtpProfiles: [.aes128CMHMACSHA1_80])
        let pair = try DTLSTestPair(clientCertificate: cmOnly, serverCertificate: server)
        #expect(pair.run { $0.bothConnected })
        let keys = try #require(pair.clientKeys)
        #expect(keys.profile == .aes128CMHMACSHA1_80)
        #expect(keys.localKey.count == 16 && keys.localSalt.count == 14)
        #expect(keys.localSalt == pair.serverKeys?.remoteSalt)
    }

    @Test func clientRejectsServerWithWrongFingerprint() throws {
        let client = try #require(TestCertificates.client)
        let server = try #require(TestCertificates.server)
        let stranger = try #require(TestCertificates.stranger)
        let pair = try DTLSTestPair(clientCertificate: client, serverCertificate: server, clientExpects: stranger.fingerprint)
        pair.run(limit: .seconds(3)) { pair in
            !DTLSTestPair.failures(in: pair.clientEvents).isEmpty && !DTLSTestPair.failures(in: pair.serverEvents).isEmpty
        }
        #expect(DTLSTestPair.failures(in: pair.clientEvents) == [.fingerprintMismatch])
        #expect(DTLSTestPair.failures(in: pair.serverEvents).count == 1)
        #expect(pair.clientKeys == nil && pair.serverKeys == nil)
        #expect(!pair.client.isConnected && !pair.server.isConnected)
    }

    @Test func serverRejectsClientWithWrongFingerprint() throws {
        let client = try #require(TestCertificates.client)
        let server = try #require(TestCertificates.server)
        let stranger = try #require(TestCertificates.stranger)
        let pair = try DTLSTestPair(clientCertificate: client, serverCertificate: server, serverExpects: stranger.fingerprint)
        pair.run(limit: .seconds(3)) { pair in
            !DTLSTestPair.failures(in: pair.serverEvents).isEmpty && !DTLSTestPair.failures(in: pair.clientEvents).isEmpty
        }
        #expect(DTLSTestPair.failures(in: pair.serverEvents) == [.fingerprintMismatch])
        #expect(pair.clientKeys == nil && pair.serverKeys == nil)
    }

    @Test func completesOverPathLosingTenPercent() throws {
        // A handshake is about a dozen datagrams, so some seeds lose none; twenty seeds lose several.
        var totalDropped = 0
        let clock = ContinuousClock()
        let start = clock.now
        for seed: UInt64 in 1...20 {
            let pair = try DTLSTestPair.make(path: LinkConditions(loss: .random(0.1)), seed: seed)
            #expect(pair.run { $0.bothConnected }, "seed \(seed)")
            #expect(pair.clientKeys?.localKey == pair.serverKeys?.remoteKey)
            totalDropped += pair.dropped
        }
        #expect(totalDropped >= 5)
        #expect(clock.now - start < .seconds(10))
    }

    @Test func completesWhenFirstFlightsAreLost() throws {
        let pair = try DTLSTestPair.make()
        // The ClientHello and the server's whole first flight are lost once each.
        pair.network.drop = { $0.round == 0 }
        let clock = ContinuousClock()
        let start = clock.now
        #expect(pair.run { $0.bothConnected })
        #expect(pair.dropped > 1)
        #expect(clock.now - start < .seconds(10))
        // Retransmission followed the virtual clock: at least the 100 ms first timeout passed.
        #expect(pair.now >= Instant(nanoseconds: 1_100_000_000))
    }

    /// The server's last flight (ChangeCipherSpec, Finished) is lost: the client's timer
    /// resends its own last flight, which makes the server resend its (RFC 6347 §4.2.4).
    @Test func completesWhenTheLastFlightIsLost() throws {
        let pair = try DTLSTestPair.make()
        pair.network.drop = { $0.source == DTLSTestPair.serverAddress && $0.round == 1 }
        #expect(pair.run(limit: .seconds(5)) { $0.bothConnected })
        #expect(pair.dropped >= 1)
        #expect(pair.serverKeys != nil && pair.clientKeys?.localKey == pair.serverKeys?.remoteKey)
        #expect(pair.now >= Instant(nanoseconds: 1_100_000_000))
    }

    @Test func nextDeadlineFollowsInjectedTime() throws {
        let client = try #require(TestCertificates.client)
        let server = try #require(TestCertificates.server)
        let start = Instant(nanoseconds: 5_000_000_000_000)
        let endpoint = try DTLSEndpoint(role: .client, certificate: client, remoteFingerprint: server.fingerprint, now: start)
        #expect(endpoint.nextDeadline() == nil)
        endpoint.start(now: start)
        #expect(endpoint.pollTransmit() != nil)
        #expect(endpoint.nextDeadline() == start + .milliseconds(100))
    }

    /// Retransmission follows injected time alone: nothing before the deadline, the same
    /// ClientHello at it, however far injected time is from the real clock, with the timeout
    /// doubling up to 2 s, until OpenSSL gives up after 12 retransmissions (RFC 6347 §4.2.4.1).
    @Test func retransmitsOnInjectedDeadlineOnly() throws {
        let client = try #require(TestCertificates.client)
        let server = try #require(TestCertificates.server)
        let start = Instant(nanoseconds: 9_000_000_000_000_000)
        let endpoint = try DTLSEndpoint(role: .client, certificate: client, remoteFingerprint: server.fingerprint, now: start)
        endpoint.start(now: start)
        let hello = try #require(endpoint.pollTransmit())
        var deadline = try #require(endpoint.nextDeadline())
        var timeouts: [Duration] = []
        var retransmissions = 0
        var failures: [DTLSError] = []
        while let next = endpoint.nextDeadline(), retransmissions < 20 {
            endpoint.handleTimeout(now: next - .nanoseconds(1))
            #expect(endpoint.pollTransmit() == nil)
            #expect(endpoint.nextDeadline() == next)
            endpoint.handleTimeout(now: next)
            while let datagram = endpoint.pollTransmit() {
                #expect(datagram.count == hello.count)
                retransmissions += 1
            }
            while let event = endpoint.pollEvent() { if case .failed(let error) = event { failures.append(error) } }
            if let following = endpoint.nextDeadline() { timeouts.append(following - next) }
            deadline = next
        }
        #expect(deadline > start)
        #expect(Array(timeouts.prefix(6)) == [200, 400, 800, 1600, 2000, 2000].map { Duration.milliseconds($0) })
        #expect(retransmissions == 12)
        #expect(failures == [.handshakeTimedOut])
    }

    @Test func applicationDataFlowsBothWays() throws {
        let pair = try DTLSTestPair.make()
        #expect(pair.run { $0.bothConnected })
        try pair.client.send([1, 2, 3])
        try pair.server.send(Array(repeating: 7, count: 1000))
        pair.pump()
        #expect(pair.serverEvents.contains(.applicationData([1, 2, 3])))
        #expect(pair.clientEvents.contains(.applicationData(Array(repeating: 7, count: 1000))))
        #expect(throws: DTLSError.applicationDataTooLarge(20_000)) {
            try pair.client.send(Array(repeating: 0, count: 20_000))
        }
    }

    @Test func sendBeforeConnectedThrows() throws {
        let pair = try DTLSTestPair.make()
        #expect(throws: DTLSError.notConnected) { try pair.client.send([1]) }
    }

    @Test func closeNotifyReachesPeer() throws {
        let pair = try DTLSTestPair.make()
        #expect(pair.run { $0.bothConnected })
        pair.client.close()
        pair.pump()
        #expect(pair.serverEvents.last == .closed)
        #expect(!pair.server.isConnected && !pair.client.isConnected)
        #expect(!pair.clientEvents.contains(.closed))
        #expect(throws: DTLSError.notConnected) { try pair.server.send([1]) }
        #expect(pair.server.nextDeadline() == nil)
    }
}
