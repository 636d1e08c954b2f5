import ParleyAgent
import ParleyEndpoint
import ParleyWebRTC
import ParleyWire

/// Two SCTP associations (RFC 9260, data channels RFC 8831/8832) connected in memory with a
/// channel open, then a program: raw chunks into the server under the right tag and checksum
/// (so the fuzzer reaches every chunk handler), raw packets, messages both ways, channel opens
/// and closes, lost packets, shutdown and time.
enum SCTPAssociationTarget {
    static let target = FuzzTarget(name: "sctp-association", run: run, seeds: Seeds.sctpAssociation)

    static func run(_ input: [UInt8]) {
        var reader = FuzzInput(input)
        var random = FuzzRandom(state: 1)
        var now = Instant(nanoseconds: 1_000_000_000)
        let client = SCTPAssociation(configuration: .init(isDTLSClient: true), now: now, using: &random)
        let server = SCTPAssociation(configuration: .init(isDTLSClient: false), now: now, using: &random)
        var lastToServer: [UInt8] = []
        var lose = 0

        func shuttle() {
            for _ in 0..<64 {
                var moved = false
                while let packet = client.pollTransmit() {
                    moved = true
                    lastToServer = packet
                    if lose > 0 { lose -= 1 } else { _ = server.handle(packet, now: now) }
                }
                while let packet = server.pollTransmit() {
                    moved = true
                    if lose > 0 { lose -= 1 } else { _ = client.handle(packet, now: now) }
                }
                while client.pollEvent() != nil {}
                while server.pollEvent() != nil {}
                if !moved { return }
            }
        }

        func advance(by duration: Duration) {
            let end = now + duration
            while let deadline = [client.nextDeadline(), server.nextDeadline()].compactMap({ $0 }).min(), deadline <= end {
                now = max(now, deadline)
                client.handleTimeout(now: now)
                server.handleTimeout(now: now)
                shuttle()
            }
            now = end
        }

        client.connect(now: now)
        server.connect(now: now)
        shuttle()
        var streams: [UInt16] = []
        if let stream = try? client.openChannel(label: "oai-events", now: now) { streams.append(stream) }
        shuttle()
        var operations = 0
        while !reader.isEmpty, operations < 64 {
            operations += 1
            switch reader.choose(9) {
            case 0:
                // Chunks after a common header with the tag the server expects.
                let header = Array(lastToServer.prefix(12))
                guard header.count == 12 else { continue }
                var packet = header + reader.chunk(limit: 1_200)
                SCTPPacketTarget.fixChecksum(&packet)
                _ = server.handle(packet, now: now)
            case 1:
                var packet = reader.chunk(limit: 1_200)
                if reader.bool() { SCTPPacketTarget.fixChecksum(&packet) }
                _ = server.handle(packet, now: now)
            case 2, 3:
                let sender = reader.bool() ? client : server
                let message: DataChannel.Message = reader.bool()
                    ? .text(String(decoding: reader.chunk(limit: 4_096), as: UTF8.self)) : .binary(reader.chunk(limit: 4_096))
                let stream = streams.isEmpty ? 0 : streams[reader.choose(streams.count)]
                try? sender.send(message, on: stream, now: now)
            case 4:
                let opener = reader.bool() ? client : server
                let reliability: DataChannel.Reliability = switch reader.choose(3) {
                case 0: .reliable
                case 1: .maxRetransmits(UInt32(reader.byte()))
                default: .maxLifetime(milliseconds: UInt32(reader.uint16()))
                }
                if let stream = try? opener.openChannel(label: String(decoding: reader.chunk(limit: 64), as: UTF8.self),
                                                        ordered: reader.bool(), reliability: reliability, now: now) {
                    streams.append(stream)
                }
            case 5:
                guard !streams.isEmpty else { continue }
                (reader.bool() ? client : server).closeChannel(streams[reader.choose(streams.count)], now: now)
            case 6:
                lose = Int(reader.byte() % 8)
            case 7:
                advance(by: .milliseconds(Int64(reader.uint16())))
            default:
                switch reader.choose(4) {
                case 0: client.shutdown(now: now)
                case 1: server.shutdown(now: now)
                case 2: client.abort()
                default: server.abort()
                }
            }
            shuttle()
        }
        advance(by: .seconds(30))
    }
}
