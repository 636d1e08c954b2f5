import Foundation
import ParleyRelay
import ParleyRouting
import ParleyTestSupport
import ParleyWire
import Testing

/// The relay's TCP workers on loopback, with real sockets: an ICE-TCP client (RFC 6544,
/// RFC 4571 frames) reaches a fake transceiver through the relay and back, a bad first frame
/// is answered with nothing but a close, and a client that stops reading costs the relay a
/// bounded queue. The hostile cases in detail are `RelayTCPCoreTests`.
@Suite("Relay ICE-TCP on loopback")
struct RelayTCPForwardingTests {
    /// How long a step may take: other suites run alongside and can keep both cores busy.
    static let patience: Duration = .seconds(10)

    @Test func framesCrossTheRelayBothWaysMarkedTCP() async throws {
        let harness = try RelayHarness(workers: 1, acceptsTCP: true)
        let publicTCP = try #require(harness.relay.publicTCPAddress)
        let request = bindingRequest(serverUfrag: harness.token())
        let transceiver = harness.transceiver
        let patience = Self.patience
        // The client's steps on a thread of their own, in real time.
        let (client, relayed, media, replies) = await onOwnThread {
            let client = TestTCPClient(connectingTo: publicTCP)
            // The first frame in two pieces, then a media frame in the same write as its end.
            let stream = RFC4571Framing.frame(request) + RFC4571Framing.frame(mediaPacket(1))
            client.send(Array(stream.prefix(7)))
            usleep(20_000)
            client.send(Array(stream.dropFirst(7)))
            let relayed = transceiver.receiveBlocking(timeout: patience)
            let media = transceiver.receiveBlocking(timeout: patience)
            // Replies, marked TCP, come back framed on the connection, in order.
            for marker: UInt8 in 2...4 {
                guard let source = relayed?.source else { break }
                transceiver.send(RelayEncapsulation.encapsulate(mediaPacket(marker, length: 90), client: client.address,
                                                                transport: .tcp), to: source)
            }
            let replies = (2...4).map { _ in client.receiveFrame(timeout: patience) }
            return (client, relayed, media, replies)
        }
        let first = try #require(relayed)
        let (clientAddress, transport, payload) = try #require(RelayEncapsulation.parse(first.bytes))
        #expect(clientAddress == client.address && transport == .tcp && Array(payload) == request)
        #expect(harness.relay.tcpInternalAddresses.contains(first.source))
        #expect(media.flatMap { RelayEncapsulation.parse($0.bytes).map { Array($0.payload) } } == mediaPacket(1))
        #expect(replies == (UInt8(2)...4).map { mediaPacket($0, length: 90) })
        // The UDP workers never saw any of it.
        #expect(await harness.eventuallyTCP {
            $0.admitted == 1 && $0.forwarded(.clientToTransceiver) == 2 && $0.forwarded(.transceiverToClient) == 3
                && $0.connections == 1
        })
        #expect(harness.relay.statistics().received(.publicPort) == 0 && harness.relay.statistics().flows == 0)
        await harness.relay.stop()
    }

    @Test func aBadFirstFrameGetsOnlyAClose() async throws {
        let harness = try RelayHarness(workers: 1, acceptsTCP: true)
        let publicTCP = try #require(harness.relay.publicTCPAddress)
        let patience = Self.patience
        let outcomes = await onOwnThread {
            let forged = TestTCPClient(connectingTo: publicTCP)
            forged.send(RFC4571Framing.frame(bindingRequest(serverUfrag: "forged-ufrag")))
            let oversize = TestTCPClient(connectingTo: publicTCP)
            oversize.send([0xFF, 0xFF] + Array(repeating: 0, count: 100))
            return [forged, oversize].map { $0.waitForClose(timeout: patience) }
        }
        #expect(outcomes.allSatisfy { $0.closed && $0.bytesBeforeClose == 0 }, "\(outcomes)")
        #expect(await harness.transceiver.staysSilent())
        #expect(await harness.eventuallyTCP {
            $0.closed(.badToken) == 1 && $0.closed(.oversizeFrame) == 1 && $0.connections == 0 && $0.admitted == 0
        })
        await harness.relay.stop()
    }

    /// The client stops reading (its window closes): the relay keeps at most its send queue
    /// and the kernel's unsent limit per connection, and drops and counts the rest.
    @Test func aClientThatStopsReadingCostsABoundedQueue() async throws {
        let harness = try RelayHarness(workers: 1, acceptsTCP: true, tcpSendQueueBytes: 8_192)
        let publicTCP = try #require(harness.relay.publicTCPAddress)
        let request = bindingRequest(serverUfrag: harness.token())
        let transceiver = harness.transceiver
        let patience = Self.patience
        let (client, relayed) = await onOwnThread {
            let client = TestTCPClient(connectingTo: publicTCP, receiveBuffer: 4_096)
            client.send(RFC4571Framing.frame(request))
            let relayed = transceiver.receiveBlocking(timeout: patience)
            if let source = relayed?.source {
                let reply = RelayEncapsulation.encapsulate(mediaPacket(9, length: 1_000), client: client.address, transport: .tcp)
                for index in 0..<4_000 {
                    transceiver.send(reply, to: source)
                    if index.isMultiple(of: 100) { usleep(2_000) }
                }
            }
            return (client, relayed)
        }
        #expect(relayed != nil)
        #expect(await harness.eventuallyTCP {
            $0.dropped(.sendQueueFull) > 1_000
        })
        let statistics = try #require(harness.relay.tcpStatistics())
        // What was written is the queue (8 KiB), the kernel's unsent limit (8 KiB) and the
        // client's small window: about 23 KB here, whatever the transceiver sends.
        #expect(statistics.forwardedBytes(.transceiverToClient) < 64 * 1_024, "\(statistics.forwardedBytes(.transceiverToClient))")
        // The connection stayed open, unread, all along.
        withExtendedLifetime(client) {}
        await harness.relay.stop()
    }
}
