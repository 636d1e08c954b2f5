/// What one call measured. Setup times count from the moment its offer was about to be posted.
public struct CallResult: Sendable {
    public var index: Int
    public var frequency: Int
    public var failure: String?
    /// Offer posted → answer received.
    public var signaling: Duration?
    /// Call start → ICE connected (first authenticated check response, RFC 8445 §7.2.5).
    public var ice: Duration?
    /// Call start → DTLS handshake done and SRTP keyed (RFC 5764 §4.2).
    public var dtls: Duration?
    /// Call start → first echoed audio packet received.
    public var firstAudio: Duration?
    /// Call start → `oai-events` open (acknowledged by the server, RFC 8832 §6), with events.
    public var eventsChannel: Duration?
    public var packetsSent: UInt64 = 0
    public var packetsReceived: UInt64 = 0
    /// Our packets sent after the first echo came back, whose echoes were waited for.
    public var echoExpected: UInt64 = 0
    public var echoReceived: UInt64 = 0
    /// Cumulative loss of our stream as the server's last RTCP report block gave it (RFC 3550 §6.4.1).
    public var upstreamLostRTCP: Int64?
    public var upstreamJitterMilliseconds: Double?
    /// Loss and interarrival jitter of the echo stream by its sequence numbers (RFC 3550 A.3, A.8).
    public var downstreamExpected: Int64?
    public var downstreamLost: Int64?
    public var downstreamJitterMilliseconds: Double?
    public var roundTripTime: Duration?
    public var toneCheck: ToneCheck?
    /// Times the sender fell 200 ms behind its 20 ms schedule and skipped ahead.
    public var paceResyncs = 0
    /// Datagrams the peer connection refused, by reason.
    public var drops: [String: Int] = [:]
    /// With turns (`TurnTaking`): turns whose pause ended, those the agent answered, the
    /// packets heard in pauses and, per answered turn, end of speech to the answer's first packet.
    public var turnsTaken = 0
    public var turnsAnswered = 0
    public var answerPackets: UInt64 = 0
    public var answerLatencies: [Duration] = []
    /// With events: whether `oai-events` opened, and the `response.done` events it carried.
    public var eventsChannelOpened = false
    public var responsesDone = 0
    /// How the data channels' SCTP association came up: "snap" (draft-hancke-tsvwg-snap-00)
    /// or "handshake" (RFC 9260 §5.1); nil when it did not.
    public var sctpSetup: String?
    /// How the call hung up when it did so before the end of the run.
    public var hangUp: HangUpStyle?

    public init(index: Int, frequency: Int) {
        self.index = index
        self.frequency = frequency
    }
}
