import ParleyWire

/// One load-generator run: where to call, how many calls, how fast, for how long, and what
/// each call sends.
public struct LoadgenConfiguration: Sendable {
    public enum AudioMode: String, Sendable, Codable {
        /// A one-second loop of Opus frames encoded once at start (the default; cheap).
        case preEncoded = "pre-encoded"
        /// A live Opus encoder per call (`--opus`).
        case live = "live-opus"
        /// Calls connect and send no audio (`--idle`), for memory per idle session.
        case idle
    }

    public var url: SignalingURL
    public var sessions: Int
    /// New calls started per second during the ramp.
    public var rampPerSecond: Double
    /// Length of the steady phase, which starts once every call connected or failed.
    public var duration: Duration
    public var audio: AudioMode
    /// Decode the echo and check the call's own tone dominates it.
    public var echoCheck: Bool
    /// Event loops (threads) the calls are spread over.
    public var threads: Int
    /// The server's process on this machine, for CPU and resident memory from `/proc`.
    public var serverPID: Int32?
    public var bearerKey: String?
    /// Local IP each call's UDP socket binds (port chosen by the kernel, one per call).
    public var bindHost: String
    /// A call not keyed for SRTP this long after its offer was posted fails.
    public var setupTimeout: Duration
    /// How long echoes are waited for after sending stops.
    public var drain: Duration
    /// Talk to a voice agent in turns (tone, then silence for its answer) instead of
    /// sending a tone to be echoed.
    public var turns: TurnPattern?
    /// Open the `oai-events` data channel and count the agent's `response.done` events.
    public var events: Bool
    /// With `events`, offer our SCTP INIT in `a=sctp-init` (SNAP, draft-hancke-tsvwg-snap-00),
    /// so a server that answers with its own skips the SCTP handshake; false (`--no-snap`)
    /// offers the handshake only, to compare the two.
    public var snap: Bool
    /// During the steady phase each call hangs up after a lifetime drawn from this range and
    /// its place dials a new call (`HangUpStyle` says how each one hangs up).
    public var callLifetime: SecondsRange?
    /// Offer SPED (the `sped` ICE option) and, when the answer accepts it, carry the DTLS
    /// handshake in the ICE checks (draft-hancke-webrtc-sped).
    public var sped: Bool

    public init(
        url: SignalingURL, sessions: Int, rampPerSecond: Double, duration: Duration, audio: AudioMode = .preEncoded,
        echoCheck: Bool = false, threads: Int = 1, serverPID: Int32? = nil, bearerKey: String? = nil,
        bindHost: String = "0.0.0.0", setupTimeout: Duration = .seconds(10), drain: Duration = .seconds(1),
        turns: TurnPattern? = nil, events: Bool = false, snap: Bool = true, callLifetime: SecondsRange? = nil,
        sped: Bool = true
    ) {
        self.sped = sped
        self.url = url
        self.sessions = sessions
        self.rampPerSecond = rampPerSecond
        self.duration = duration
        self.audio = audio
        self.echoCheck = echoCheck
        self.threads = threads
        self.serverPID = serverPID
        self.bearerKey = bearerKey
        self.bindHost = bindHost
        self.setupTimeout = setupTimeout
        self.drain = drain
        self.turns = turns
        self.events = events
        self.snap = snap
        self.callLifetime = callLifetime
    }
}
