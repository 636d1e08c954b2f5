import ParleyTestSupport
import ParleyWebRTC
import ParleyWire
import Testing

@Test func bothSidesInitiatingConnects() {
    let pair = SCTPAssociationPair()
    #expect(pair.connect())
    #expect(pair.client.isEstablished && pair.server.isEstablished)
    // One handshake round trip on a 10 ms path; no retransmission needed.
    #expect(pair.now < Instant(nanoseconds: 1_000_000_000) + .milliseconds(100))
}

@Test func oneSideInitiatingConnects() {
    let pair = SCTPAssociationPair()
    pair.server.connect(now: pair.now)
    #expect(pair.run(until: { $0.clientEvents == [.connected] && $0.serverEvents == [.connected] }, limit: .seconds(1)))
}

@Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
func bothSidesInitiatingConnectsOverALossyPath(seed: UInt64) {
    let pair = SCTPAssociationPair(lossRate: 0.3, seed: seed)
    #expect(pair.connect(limit: .seconds(60)))
    #expect(pair.clientEvents.filter { $0 == .connected }.count == 1)
    #expect(pair.serverEvents.filter { $0 == .connected }.count == 1)
    // The association works after the crossed handshake.
    let stream = try? pair.client.openChannel(label: "after-crossed-init", now: pair.now)
    #expect(pair.run(until: { $0.clientEvents.contains { if case .channelOpened = $0 { true } else { false } } },
                     limit: .seconds(60)))
    #expect(stream == 0)
}

@Test func thousandOrderedMessagesArriveCompleteAndInOrderOverTenPercentLoss() throws {
    let pair = SCTPAssociationPair(lossRate: 0.1, seed: 42)
    #expect(pair.connect(limit: .seconds(30)))
    let stream = try pair.client.openChannel(label: "ordered", now: pair.now)
    let sent = (0..<1000).map { DataChannel.Message.text("message \($0)") }
    for message in sent { try pair.client.send(message, on: stream, now: pair.now) }
    let big = (0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    try pair.client.send(.binary(big), on: stream, now: pair.now)
    #expect(pair.run(until: { $0.serverMessages(on: stream).count == 1001 }, limit: .seconds(120)))
    #expect(pair.serverMessages(on: stream) == sent + [.binary(big)])
    #expect(pair.packetsLost > 10)
    #expect(pair.run(until: { $0.client.bufferedAmount == 0 }, limit: .seconds(30)))
}

@Test func sixtyFourKiBMessageArrivesWholeOverTenPercentLossFromTheServer() throws {
    let pair = SCTPAssociationPair(lossRate: 0.1, seed: 9)
    #expect(pair.connect(limit: .seconds(30)))
    let stream = try pair.server.openChannel(label: "big", now: pair.now)
    #expect(stream % 2 == 1)
    let big = (0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
    try pair.server.send(.binary(big), on: stream, now: pair.now)
    #expect(pair.run(until: { $0.clientMessages(on: stream).count == 1 }, limit: .seconds(60)))
    #expect(pair.clientMessages(on: stream) == [.binary(big)])
}

@Test func unorderedChannelDeliversEverythingOutOfOrderUnderLoss() throws {
    let pair = SCTPAssociationPair(lossRate: 0.1, seed: 5)
    #expect(pair.connect(limit: .seconds(30)))
    let stream = try pair.client.openChannel(label: "unordered", ordered: false, now: pair.now)
    #expect(pair.run(until: { $0.clientEvents.contains { if case .channelOpened = $0 { true } else { false } } },
                     limit: .seconds(30)))
    let sent = (0..<300).map { DataChannel.Message.text("u\($0)") }
    for message in sent { try pair.client.send(message, on: stream, now: pair.now) }
    #expect(pair.run(until: { $0.serverMessages(on: stream).count == 300 }, limit: .seconds(60)))
    let received = pair.serverMessages(on: stream)
    #expect(Set(received) == Set(sent))
    #expect(received != sent, "with loss, unordered delivery overtakes retransmissions")
}

@Test func maxRetransmitsZeroLosesSomeMessagesButTheAssociationGoesOn() throws {
    let pair = SCTPAssociationPair(lossRate: 0.1, seed: 11)
    #expect(pair.connect(limit: .seconds(30)))
    let lossy = try pair.client.openChannel(label: "lossy", reliability: .maxRetransmits(0), now: pair.now)
    let reliable = try pair.client.openChannel(label: "reliable", now: pair.now)
    #expect(pair.run(until: { $0.clientEvents.filter { if case .channelOpened = $0 { true } else { false } }.count == 2 },
                     limit: .seconds(30)))
    let sent = (0..<500).map { DataChannel.Message.text("p\($0)") }
    for message in sent { try pair.client.send(message, on: lossy, now: pair.now) }
    // Everything sent is acknowledged or abandoned: FORWARD-TSN moved the peer's cumulative TSN.
    #expect(pair.run(until: { $0.client.bufferedAmount == 0 }, limit: .seconds(60)))
    pair.advance(by: .seconds(2))
    let received = pair.serverMessages(on: lossy)
    #expect(received.count < sent.count && received.count > sent.count / 2)
    // What arrived is in order (an ordered channel skips, it does not reorder).
    #expect(received == sent.filter { received.contains($0) })
    try pair.client.send(.text("still here"), on: reliable, now: pair.now)
    try pair.client.send(.text("after the losses"), on: lossy, now: pair.now)
    #expect(pair.run(until: { $0.serverMessages(on: reliable) == [.text("still here")] }, limit: .seconds(30)))
}

@Test func maxLifetimeAbandonsMessagesThatCannotBeDeliveredInTime() throws {
    let pair = SCTPAssociationPair(seed: 3)
    #expect(pair.connect())
    let stream = try pair.client.openChannel(label: "timed", reliability: .maxLifetime(milliseconds: 50), now: pair.now)
    #expect(pair.run(until: { $0.clientEvents.contains { if case .channelOpened = $0 { true } else { false } } },
                     limit: .seconds(1)))
    pair.lossRate = 1
    try pair.client.send(.text("lost in time"), on: stream, now: pair.now)
    pair.advance(by: .milliseconds(500))
    pair.lossRate = 0
    try pair.client.send(.text("on time"), on: stream, now: pair.now)
    #expect(pair.run(until: { $0.serverMessages(on: stream) == [.text("on time")] }, limit: .seconds(10)))
    #expect(pair.run(until: { $0.client.bufferedAmount == 0 }, limit: .seconds(10)))
}

@Test func channelsOpenFromEachSideWithDCEPAcknowledgement() throws {
    let pair = SCTPAssociationPair()
    #expect(pair.connect())
    let fromClient = try pair.client.openChannel(label: "oai-events", protocol: "json", now: pair.now)
    let fromServer = try pair.server.openChannel(label: "server", ordered: false, reliability: .maxRetransmits(3), now: pair.now)
    #expect(fromClient == 0 && fromServer == 1)
    #expect(pair.run(until: { $0.clientEvents.count == 3 && $0.serverEvents.count == 3 }, limit: .seconds(1)))
    let clientOpen = DataChannel.Info(streamID: 0, label: "oai-events", protocol: "json", openedByPeer: false)
    let serverOpen = DataChannel.Info(streamID: 1, label: "server", ordered: false, reliability: .maxRetransmits(3),
                                      openedByPeer: false)
    var clientSeen = clientOpen
    clientSeen.openedByPeer = true
    var serverSeen = serverOpen
    serverSeen.openedByPeer = true
    #expect(Set(pair.clientEvents.dropFirst()) == [.channelOpened(clientOpen), .channelOpened(serverSeen)])
    #expect(Set(pair.serverEvents.dropFirst()) == [.channelOpened(serverOpen), .channelOpened(clientSeen)])
    try pair.client.send(.text(""), on: fromServer, now: pair.now)
    try pair.client.send(.binary([]), on: fromServer, now: pair.now)
    try pair.server.send(.binary([1, 2]), on: fromClient, now: pair.now)
    #expect(pair.run(until: { $0.serverMessages(on: 1).count == 2 && $0.clientMessages(on: 0).count == 1 }, limit: .seconds(1)))
    #expect(Set(pair.serverMessages(on: 1)) == [.text(""), .binary([])])
    #expect(pair.clientMessages(on: 0) == [.binary([1, 2])])
}

@Test func closingAChannelResetsBothStreamsAndFreesTheID() throws {
    let pair = SCTPAssociationPair(lossRate: 0.1, seed: 21)
    #expect(pair.connect(limit: .seconds(30)))
    let stream = try pair.client.openChannel(label: "short-lived", now: pair.now)
    for index in 0..<20 { try pair.client.send(.text("m\(index)"), on: stream, now: pair.now) }
    pair.client.closeChannel(stream, now: pair.now)
    #expect(throws: SCTPAssociation.Error.channelClosing(stream)) { try pair.client.send(.text("late"), on: stream, now: pair.now) }
    #expect(pair.run(until: { $0.clientEvents.contains(.channelClosed(streamID: stream))
            && $0.serverEvents.contains(.channelClosed(streamID: stream)) }, limit: .seconds(60)))
    // Messages queued before the close still arrived, in order, before the reset.
    #expect(pair.serverMessages(on: stream) == (0..<20).map { .text("m\($0)") })
    #expect(pair.client.openChannels.isEmpty && pair.server.openChannels.isEmpty)
    // The stream ID is free again and its sequence numbers start over.
    #expect(try pair.client.openChannel(label: "again", now: pair.now) == stream)
    try pair.client.send(.text("fresh"), on: stream, now: pair.now)
    #expect(pair.run(until: { $0.serverMessages(on: stream).last == .text("fresh") }, limit: .seconds(30)))
}

@Test func resetWaitingForMissingDataCompletesWhenTheDataArrives() throws {
    let pair = SCTPAssociationPair()
    #expect(pair.connect())
    let stream = try pair.client.openChannel(label: "deferred", now: pair.now)
    #expect(pair.run(until: { $0.server.openChannels.count == 1 && $0.client.bufferedAmount == 0 }, limit: .seconds(1)))
    // Lose the first copy of the last message and every repeat of the reset request, so the
    // server must answer "in progress" and then finish the reset on its own (RFC 6525 §5.2.2).
    var droppedData = false
    var requestsSeen = 0
    pair.rewrite = { bytes, toServer in
        guard toServer, let packet = try? SCTPPacket(parsing: bytes) else { return bytes }
        for chunk in packet.chunks {
            if case .data = chunk, !droppedData {
                droppedData = true
                return []
            }
            if case .reconfig(let parameters) = chunk,
               parameters.contains(where: { if case .outgoingResetRequest = $0 { true } else { false } }) {
                requestsSeen += 1
                if requestsSeen > 1 { return [] }
            }
        }
        return bytes
    }
    try pair.client.send(.text("tail"), on: stream, now: pair.now)
    pair.client.closeChannel(stream, now: pair.now)
    #expect(pair.run(until: { $0.clientEvents.contains(.channelClosed(streamID: stream))
            && $0.serverEvents.contains(.channelClosed(streamID: stream)) }, limit: .seconds(30)))
    #expect(pair.serverMessages(on: stream) == [.text("tail")])
    #expect(droppedData && requestsSeen >= 1)
}

@Test func peerClosingAChannelClosesOurSide() throws {
    let pair = SCTPAssociationPair()
    #expect(pair.connect())
    let stream = try pair.client.openChannel(label: "closed-by-server", now: pair.now)
    #expect(pair.run(until: { $0.server.openChannels.count == 1 }, limit: .seconds(1)))
    pair.server.closeChannel(stream, now: pair.now)
    #expect(pair.run(until: { $0.clientEvents.contains(.channelClosed(streamID: stream))
            && $0.serverEvents.contains(.channelClosed(streamID: stream)) }, limit: .seconds(5)))
    #expect(throws: SCTPAssociation.Error.unknownChannel(stream)) { try pair.client.send(.text("x"), on: stream, now: pair.now) }
}

@Test func shutdownDeliversQueuedDataThenClosesBothSides() throws {
    let pair = SCTPAssociationPair(lossRate: 0.05, seed: 8)
    #expect(pair.connect(limit: .seconds(30)))
    let stream = try pair.client.openChannel(label: "bye", now: pair.now)
    for index in 0..<50 { try pair.client.send(.text("last words \(index)"), on: stream, now: pair.now) }
    pair.client.shutdown(now: pair.now)
    #expect(throws: SCTPAssociation.Error.notEstablished) { try pair.client.send(.text("too late"), on: stream, now: pair.now) }
    #expect(pair.run(until: { $0.clientEvents.last == .closed(.shutdown) && $0.serverEvents.last == .closed(.shutdown) },
                     limit: .seconds(60)))
    #expect(pair.serverMessages(on: stream).count == 50)
    #expect(pair.client.nextDeadline() == nil && pair.server.nextDeadline() == nil)
}

@Test func abortEndsThePeerAtOnce() throws {
    let pair = SCTPAssociationPair()
    #expect(pair.connect())
    let stream = try pair.client.openChannel(label: "doomed", now: pair.now)
    #expect(pair.run(until: { $0.server.openChannels.count == 1 }, limit: .seconds(1)))
    pair.client.abort()
    #expect(pair.run(until: { $0.serverEvents.last == .closed(.abortedByPeer(cause: SCTPErrorCause.Code.userInitiatedAbort)) },
                     limit: .seconds(1)))
    #expect(pair.serverEvents.contains(.channelClosed(streamID: stream)))
    #expect(pair.clientEvents.last == .closed(.abortedLocally))
    #expect(pair.injectToServer(pair.lastPacketToServer) == .dropped(.associationClosed))
}

@Test func silentPeerTimesOut() throws {
    let pair = SCTPAssociationPair()
    #expect(pair.connect())
    let stream = try pair.client.openChannel(label: "into the void", now: pair.now)
    pair.lossRate = 1
    try pair.client.send(.text("hello?"), on: stream, now: pair.now)
    #expect(pair.run(until: { $0.clientEvents.last == .closed(.timedOut) }, limit: .seconds(300)))
}

@Test func unansweredInitTimesOut() {
    let pair = SCTPAssociationPair(lossRate: 1)
    pair.client.connect(now: pair.now)
    #expect(pair.run(until: { $0.clientEvents == [.closed(.timedOut)] }, limit: .seconds(600)))
}

@Test func sendingIsBoundedBySizeAndState() throws {
    let pair = SCTPAssociationPair { $0.sendBufferSize = 300_000 }
    #expect(throws: SCTPAssociation.Error.notEstablished) { try pair.client.openChannel(label: "early", now: pair.now) }
    #expect(pair.connect())
    let stream = try pair.client.openChannel(label: "limits", now: pair.now)
    #expect(throws: SCTPAssociation.Error.messageTooLarge(size: 262_145, limit: 262_144)) {
        try pair.client.send(.binary([UInt8](repeating: 1, count: 262_145)), on: stream, now: pair.now)
    }
    try pair.client.send(.binary([UInt8](repeating: 1, count: 262_144)), on: stream, now: pair.now)
    #expect(throws: SCTPAssociation.Error.sendBufferFull) {
        try pair.client.send(.binary([UInt8](repeating: 2, count: 100_000)), on: stream, now: pair.now)
    }
    #expect(throws: SCTPAssociation.Error.unknownChannel(40)) { try pair.client.send(.text("?"), on: 40, now: pair.now) }
    #expect(pair.run(until: { $0.serverMessages(on: stream).count == 1 }, limit: .seconds(10)))
}

@Test func streamIDsAreBoundedByTheNegotiatedCount() throws {
    let pair = SCTPAssociationPair { $0.maxStreams = 4 }
    #expect(pair.connect())
    #expect(try pair.client.openChannel(label: "a", now: pair.now) == 0)
    #expect(try pair.client.openChannel(label: "b", now: pair.now) == 2)
    #expect(throws: SCTPAssociation.Error.noStreamAvailable) { try pair.client.openChannel(label: "c", now: pair.now) }
}
