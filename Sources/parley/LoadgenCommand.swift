import ArgumentParser
import Foundation
import Logging
import ParleyLoadgen

struct LoadgenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadgen",
        abstract: "Make many real WebRTC calls (signaling, ICE, DTLS, SRTP, Opus) and report setup times, loss, jitter, RTT and server cost.",
        discussion: """
            Each call has its own UDP socket and sends a tone of its own frequency at 50 packets per second; \
            the server is expected to echo it. The steady phase starts once every call is up or failed and \
            lasts --duration seconds; --server-pid measures the server's CPU over it and its resident memory \
            at its end against an idle baseline taken before the first call. Exits non-zero if any call failed.

            Against a voice agent (a soak): --turns 1:3 talks in turns (1 s of tone, 3 s of silence in which \
            the agent's answer is expected), --events opens oai-events (offering the SCTP INIT in \
            a=sctp-init so the SCTP handshake is skipped, unless --no-snap) and counts response.done, and \
            --call-lifetime 20-60 hangs each call up after 20 to 60 s during the steady phase (by DELETE, by \
            RTCP BYE alone, or vanishing without a word) and dials a new one in its place.
            """)

    @Option(help: "The signaling URL calls are POSTed to.")
    var url: String = "http://127.0.0.1:8080/v1/realtime/calls"

    @Option(help: "Number of calls.")
    var sessions: Int = 10

    @Option(help: "New calls per second during the ramp.")
    var ramp: Double = 10

    @Option(help: "Seconds of steady phase, once every call is up.")
    var duration: Double = 10

    @Flag(help: "Encode the tone live with one Opus encoder per call (default: loop one pre-encoded second).")
    var opus = false

    @Flag(help: "Decode each echo and check the call's own tone dominates it; pass/fail per call.")
    var echoCheck = false

    @Flag(help: "Calls connect but send no audio (memory per idle session).")
    var idle = false

    @Option(help: ArgumentHelp("Talk to a voice agent in turns: seconds of tone, then seconds of silence for its answer.",
                               valueName: "SPEECH:PAUSE"))
    var turns: TurnPattern?

    @Flag(help: "Open the oai-events data channel and count the agent's response.done events.")
    var events = false

    @Flag(inversion: .prefixedNo,
          help: "With --events, offer the SCTP INIT in the SDP (SNAP, a=sctp-init) so the data channel skips the SCTP handshake.")
    var snap = true

    @Option(help: ArgumentHelp("During the steady phase, hang each call up after MIN to MAX seconds and dial a new one.",
                               valueName: "MIN-MAX"))
    var callLifetime: SecondsRange?

    @Flag(inversion: .prefixedNo, help: "Offer SPED: the DTLS handshake rides the ICE checks when the answer accepts it.")
    var sped = true

    @Flag(help: "Print the report as JSON on stdout.")
    var json = false

    @Option(help: "Event loops (threads) the calls share.")
    var threads: Int = 1

    @Option(help: "PID of the server on this machine, for CPU and RSS from /proc.")
    var serverPid: Int32?

    @Option(help: "Bearer key for the signaling API (also PARLEY_API_KEY).")
    var apiKey: String?

    @Option(help: "Local IP each call's UDP socket binds (port chosen per call).")
    var bind: String = "0.0.0.0"

    @Option(help: "Seconds a call may take from offer to SRTP keys.")
    var setupTimeout: Double = 10

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .warning

    func validate() throws {
        guard SignalingURL(url) != nil else { throw ValidationError("--url must be http://HOST[:PORT]/PATH") }
        guard sessions > 0 else { throw ValidationError("--sessions must be at least 1") }
        guard ramp > 0 else { throw ValidationError("--ramp must be positive") }
        guard duration >= 0 else { throw ValidationError("--duration must not be negative") }
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be 1...64") }
        guard setupTimeout > 0 else { throw ValidationError("--setup-timeout must be positive") }
        guard !(idle && (opus || echoCheck)) else { throw ValidationError("--idle sends no audio: it excludes --opus and --echo-check") }
        guard turns == nil || !(idle || echoCheck) else {
            throw ValidationError("--turns talks to an agent: it excludes --idle and --echo-check")
        }
    }

    func run() async throws {
        guard let signalingURL = SignalingURL(url) else { throw ValidationError("bad --url") }
        var logger = Logger(label: "parley.loadgen")
        logger.logLevel = logLevel
        let configuration = LoadgenConfiguration(
            url: signalingURL, sessions: sessions, rampPerSecond: ramp,
            duration: .nanoseconds(Int64(duration * 1e9)),
            audio: idle ? .idle : (opus ? .live : .preEncoded), echoCheck: echoCheck, threads: threads,
            serverPID: serverPid, bearerKey: apiKey ?? ProcessInfo.processInfo.environment["PARLEY_API_KEY"],
            bindHost: bind, setupTimeout: .nanoseconds(Int64(setupTimeout * 1e9)),
            turns: turns, events: events, snap: snap, callLifetime: callLifetime, sped: sped)
        let report = try await LoadGenerator(configuration: configuration, logger: logger).run { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        print(json ? try report.json() : report.text)
        if report.callsFailed > 0 { throw ExitCode(1) }
    }
}

extension TurnPattern: ExpressibleByArgument {}

extension SecondsRange: ExpressibleByArgument {}
