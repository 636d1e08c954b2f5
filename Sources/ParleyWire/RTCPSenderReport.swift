/// A sender report, RTCP packet type 200 (RFC 3550 §6.4.1). Profile-specific extensions after
/// the report blocks are not kept.
public struct RTCPSenderReport: Sendable, Equatable {
    public var ssrc: UInt32
    /// The 64-bit NTP timestamp of this report (RFC 3550 §4).
    public var ntpTimestamp: UInt64
    /// The same instant in the RTP clock of the stream.
    public var rtpTimestamp: UInt32
    public var packetCount: UInt32
    public var octetCount: UInt32
    /// At most 31 (a five-bit count); more are not written.
    public var reportBlocks: [RTCPReportBlock]

    public init(ssrc: UInt32, ntpTimestamp: UInt64, rtpTimestamp: UInt32, packetCount: UInt32, octetCount: UInt32,
                reportBlocks: [RTCPReportBlock] = []) {
        self.ssrc = ssrc
        self.ntpTimestamp = ntpTimestamp
        self.rtpTimestamp = rtpTimestamp
        self.packetCount = packetCount
        self.octetCount = octetCount
        self.reportBlocks = reportBlocks
    }

    static let packetType: UInt8 = 200

    init?(count: Int, body reader: inout BigEndianReader) {
        guard let ssrc = reader.read(UInt32.self), let ntp = reader.read(UInt64.self),
              let rtp = reader.read(UInt32.self), let packets = reader.read(UInt32.self),
              let octets = reader.read(UInt32.self),
              let blocks = RTCPReceiverReport.readBlocks(count: count, from: &reader) else { return nil }
        self.init(ssrc: ssrc, ntpTimestamp: ntp, rtpTimestamp: rtp, packetCount: packets, octetCount: octets,
                  reportBlocks: blocks)
    }

    func append(to bytes: inout [UInt8]) {
        let blocks = reportBlocks.prefix(31)
        var body: [UInt8] = []
        body.appendBigEndian(ssrc)
        body.appendBigEndian(ntpTimestamp)
        body.appendBigEndian(rtpTimestamp)
        body.appendBigEndian(packetCount)
        body.appendBigEndian(octetCount)
        for block in blocks { block.append(to: &body) }
        RTCPCompoundPacket.appendPacket(count: blocks.count, packetType: Self.packetType, body: body, to: &bytes)
    }
}

/// A receiver report, RTCP packet type 201 (RFC 3550 §6.4.2). Profile-specific extensions are
/// not kept.
public struct RTCPReceiverReport: Sendable, Equatable {
    public var ssrc: UInt32
    /// At most 31 (a five-bit count); more are not written.
    public var reportBlocks: [RTCPReportBlock]

    public init(ssrc: UInt32, reportBlocks: [RTCPReportBlock] = []) {
        self.ssrc = ssrc
        self.reportBlocks = reportBlocks
    }

    static let packetType: UInt8 = 201

    init?(count: Int, body reader: inout BigEndianReader) {
        guard let ssrc = reader.read(UInt32.self),
              let blocks = Self.readBlocks(count: count, from: &reader) else { return nil }
        self.init(ssrc: ssrc, reportBlocks: blocks)
    }

    static func readBlocks(count: Int, from reader: inout BigEndianReader) -> [RTCPReportBlock]? {
        guard reader.remaining >= count * RTCPReportBlock.size else { return nil }
        var blocks: [RTCPReportBlock] = []
        for _ in 0..<count {
            guard let block = RTCPReportBlock(reading: &reader) else { return nil }
            blocks.append(block)
        }
        return blocks
    }

    func append(to bytes: inout [UInt8]) {
        let blocks = reportBlocks.prefix(31)
        var body: [UInt8] = []
        body.appendBigEndian(ssrc)
        for block in blocks { block.append(to: &body) }
        RTCPCompoundPacket.appendPacket(count: blocks.count, packetType: Self.packetType, body: body, to: &bytes)
    }
}
