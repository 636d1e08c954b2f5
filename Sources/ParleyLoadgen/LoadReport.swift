import Foundation

/// The outcome of a run, human-readable (`text`) and as JSON (`json()`).
public struct LoadReport: Sendable, Codable {
    /// Nearest-rank percentiles of a sample, in milliseconds.
    public struct Distribution: Sendable, Codable, Equatable {
        public var count: Int
        public var p50: Double
        public var p95: Double
        public var p99: Double
        public var max: Double

        init?(_ values: [Double]) {
            guard !values.isEmpty else { return nil }
            let sorted = values.sorted()
            func rank(_ p: Double) -> Double {
                sorted[Swift.max(0, Swift.min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1))]
            }
            count = sorted.count
            p50 = rank(0.50)
            p95 = rank(0.95)
            p99 = rank(0.99)
            max = sorted[sorted.count - 1]
        }
    }

    public struct Setup: Sendable, Codable {
        public var signaling: Distribution?
        public var ice: Distribution?
        public var dtls: Distribution?
        public var firstAudio: Distribution?
        /// With `--events`: the `oai-events` channel open.
        public var eventsChannel: Distribution?
    }

    public struct Packets: Sendable, Codable {
        public var sent: UInt64
        public var received: UInt64
        /// Our packets sent after each call's first echo, whose echoes were waited for.
        public var echoExpected: UInt64
        public var echoReceived: UInt64
        public var echoLoss: Double?
        /// Loss of our streams as the server's RTCP report blocks gave it (RFC 3550 §6.4.1).
        public var upstreamLostRTCP: Int64
        public var upstreamLoss: Double?
        /// Loss of the echo streams by their sequence numbers.
        public var downstreamExpected: Int64
        public var downstreamLost: Int64
        public var downstreamLoss: Double?
    }

    public struct Failure: Sendable, Codable {
        public var call: Int
        public var reason: String
    }

    public struct EchoCheck: Sendable, Codable {
        public var passed: Int
        public var failed: Int
    }

    /// Calls that took turns with a voice agent (`--turns`).
    public struct Conversation: Sendable, Codable {
        public var speechSeconds: Double
        public var pauseSeconds: Double
        /// Turns whose pause ended, and those the agent answered in it.
        public var turnsTaken: Int
        public var turnsAnswered: Int
        /// Connected calls that took at least one turn and heard no answer to any.
        public var callsUnanswered: Int
        /// Connected calls that ended before their first pause did.
        public var callsWithoutTurns: Int
        public var answerPackets: UInt64
        /// End of the caller's speech to the answer's first packet (the agent's end-of-turn
        /// silence window included).
        public var answerLatencyMilliseconds: Distribution?
        /// With `--events`: calls whose `oai-events` channel opened, and `response.done` events.
        public var eventChannelsOpened: Int?
        public var responsesDone: Int?
    }

    /// Calls hanging up and redialling during the steady phase (`--call-lifetime`).
    public struct Redial: Sendable, Codable {
        public var minimumLifetimeSeconds: Double
        public var maximumLifetimeSeconds: Double
        /// Calls hung up before the end of the run, by `HangUpStyle`.
        public var hangUps: [String: Int]
    }

    /// The server's process during the run, from `/proc`.
    public struct ServerUsage: Sendable, Codable {
        public var pid: Int32
        public var baselineRSSKiB: Int
        public var endRSSKiB: Int
        public var steadyCPUSeconds: Double
        public var steadySeconds: Double
        /// CPU seconds per second of the steady phase (1.0 = one core busy).
        public var cpuCores: Double
        public var cpuPercentPerSession: Double?
        public var kibPerSession: Double?
    }

    public var url: String
    /// Calls at once.
    public var sessions: Int
    /// Calls made in all (more than `sessions` when calls redial).
    public var callsStarted: Int
    public var rampPerSecond: Double
    public var durationSeconds: Double
    public var audio: LoadgenConfiguration.AudioMode
    public var echoCheckEnabled: Bool
    public var threads: Int
    public var callsConnected: Int
    public var callsFailed: Int
    public var setupMilliseconds: Setup
    /// With `--events`: calls by how their SCTP association came up, "snap" or "handshake".
    public var sctpSetups: [String: Int]?
    public var packets: Packets
    public var downstreamJitterMilliseconds: Distribution?
    public var upstreamJitterMilliseconds: Distribution?
    public var roundTripMilliseconds: Distribution?
    public var echoCheck: EchoCheck?
    public var conversation: Conversation?
    public var redial: Redial?
    public var failures: [Failure]
    /// Datagrams our peer connections refused, by reason.
    public var drops: [String: Int]
    public var paceResyncs: Int
    public var server: ServerUsage?
    /// This load generator's own CPU use during the steady phase, in cores.
    public var loadgenCPUCores: Double?

    init(configuration: LoadgenConfiguration, results: [CallResult], server: ServerUsage?, loadgenCPUCores: Double?) {
        url = configuration.url.description
        sessions = configuration.sessions
        callsStarted = results.count
        rampPerSecond = configuration.rampPerSecond
        durationSeconds = Double(configuration.duration.nanosecondsRounded) / 1e9
        audio = configuration.audio
        echoCheckEnabled = configuration.echoCheck
        threads = configuration.threads
        callsConnected = results.filter { $0.dtls != nil }.count
        failures = results.compactMap { result in result.failure.map { Failure(call: result.index, reason: $0) } }
        callsFailed = failures.count
        func milliseconds(_ values: [Duration?]) -> Distribution? {
            Distribution(values.compactMap { $0.map { Double($0.nanosecondsRounded) / 1e6 } })
        }
        setupMilliseconds = Setup(
            signaling: milliseconds(results.map(\.signaling)), ice: milliseconds(results.map(\.ice)),
            dtls: milliseconds(results.map(\.dtls)), firstAudio: milliseconds(results.map(\.firstAudio)),
            eventsChannel: milliseconds(results.map(\.eventsChannel)))
        sctpSetups = configuration.events
            ? results.reduce(into: [:]) { counts, result in if let setup = result.sctpSetup { counts[setup, default: 0] += 1 } } : nil
        let sent = results.reduce(0) { $0 + $1.packetsSent }
        let echoExpected = results.reduce(0) { $0 + $1.echoExpected }
        let echoReceived = results.reduce(0) { $0 + $1.echoReceived }
        let upstreamLost = results.reduce(0) { $0 + max(0, $1.upstreamLostRTCP ?? 0) }
        let downstreamExpected = results.reduce(0) { $0 + ($1.downstreamExpected ?? 0) }
        let downstreamLost = results.reduce(0) { $0 + max(0, $1.downstreamLost ?? 0) }
        packets = Packets(
            sent: sent, received: results.reduce(0) { $0 + $1.packetsReceived },
            echoExpected: echoExpected, echoReceived: echoReceived,
            echoLoss: echoExpected > 0 ? 1 - Double(echoReceived) / Double(echoExpected) : nil,
            upstreamLostRTCP: upstreamLost, upstreamLoss: sent > 0 ? Double(upstreamLost) / Double(sent) : nil,
            downstreamExpected: downstreamExpected, downstreamLost: downstreamLost,
            downstreamLoss: downstreamExpected > 0 ? Double(downstreamLost) / Double(downstreamExpected) : nil)
        downstreamJitterMilliseconds = Distribution(results.compactMap(\.downstreamJitterMilliseconds))
        upstreamJitterMilliseconds = Distribution(results.compactMap(\.upstreamJitterMilliseconds))
        roundTripMilliseconds = milliseconds(results.map(\.roundTripTime))
        let checks = results.compactMap(\.toneCheck)
        echoCheck = configuration.echoCheck
            ? EchoCheck(passed: checks.filter(\.passed).count, failed: checks.filter { !$0.passed }.count) : nil
        if let turns = configuration.turns {
            let connected = results.filter { $0.dtls != nil }
            conversation = Conversation(
                speechSeconds: Double(turns.speech.nanosecondsRounded) / 1e9, pauseSeconds: Double(turns.pause.nanosecondsRounded) / 1e9,
                turnsTaken: results.reduce(0) { $0 + $1.turnsTaken }, turnsAnswered: results.reduce(0) { $0 + $1.turnsAnswered },
                callsUnanswered: connected.filter { $0.turnsTaken > 0 && $0.turnsAnswered == 0 }.count,
                callsWithoutTurns: connected.filter { $0.turnsTaken == 0 }.count,
                answerPackets: results.reduce(0) { $0 + $1.answerPackets },
                answerLatencyMilliseconds: milliseconds(results.flatMap(\.answerLatencies)),
                eventChannelsOpened: configuration.events ? results.filter(\.eventsChannelOpened).count : nil,
                responsesDone: configuration.events ? results.reduce(0) { $0 + $1.responsesDone } : nil)
        }
        if let lifetime = configuration.callLifetime {
            redial = Redial(
                minimumLifetimeSeconds: Double(lifetime.lowerBound.nanosecondsRounded) / 1e9,
                maximumLifetimeSeconds: Double(lifetime.upperBound.nanosecondsRounded) / 1e9,
                hangUps: results.reduce(into: [:]) { counts, result in
                    if let style = result.hangUp { counts[style.rawValue, default: 0] += 1 }
                })
        }
        drops = results.reduce(into: [:]) { total, result in total.merge(result.drops, uniquingKeysWith: +) }
        paceResyncs = results.reduce(0) { $0 + $1.paceResyncs }
        self.server = server
        self.loadgenCPUCores = loadgenCPUCores
    }

    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    public var text: String {
        var lines: [String] = []
        lines.append("parley loadgen: \(sessions) calls to \(url), ramp \(format(rampPerSecond))/s, steady \(format(durationSeconds)) s, audio \(audio.rawValue)\(echoCheckEnabled ? " + echo check" : ""), \(threads) thread(s)")
        if let redial {
            let styles = redial.hangUps.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            lines.append("redial: each call lives \(format(redial.minimumLifetimeSeconds))-\(format(redial.maximumLifetimeSeconds)) s; "
                + "\(callsStarted) calls made, hung up before the end: \(styles.isEmpty ? "none" : styles)")
        }
        lines.append("calls: \(callsConnected) connected, \(callsFailed) failed")
        lines.append("setup (ms from offer)        count      p50      p95      p99      max")
        for (name, distribution) in [("signaling (answer)", setupMilliseconds.signaling), ("ICE connected", setupMilliseconds.ice),
                                     ("DTLS/SRTP ready", setupMilliseconds.dtls), ("first echoed audio", setupMilliseconds.firstAudio)] {
            lines.append(row(name, distribution))
        }
        if let sctpSetups {
            lines.append(row("oai-events open", setupMilliseconds.eventsChannel))
            let setups = sctpSetups.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            lines.append("SCTP set up by: \(setups.isEmpty ? "none" : setups)")
        }
        lines.append("packets: sent \(packets.sent), received \(packets.received)")
        if let loss = packets.echoLoss {
            lines.append("echo loss: \(percent(loss)) (\(packets.echoReceived) of \(packets.echoExpected) expected echoes)")
        }
        if let loss = packets.upstreamLoss {
            lines.append("upstream loss (server RTCP): \(percent(loss)) (\(packets.upstreamLostRTCP) lost)")
        }
        if let loss = packets.downstreamLoss {
            lines.append("downstream loss (echo sequence numbers): \(percent(loss)) (\(packets.downstreamLost) of \(packets.downstreamExpected))")
        }
        lines.append("                             count      p50      p95      p99      max")
        lines.append(row("jitter down (ms)", downstreamJitterMilliseconds))
        lines.append(row("jitter up, RTCP (ms)", upstreamJitterMilliseconds))
        lines.append(row("RTT, RTCP (ms)", roundTripMilliseconds))
        if let echoCheck {
            lines.append("echo check: \(echoCheck.passed) passed, \(echoCheck.failed) failed")
        }
        if let conversation {
            lines.append("turns (\(format(conversation.speechSeconds)) s speech, \(format(conversation.pauseSeconds)) s pause): "
                + "\(conversation.turnsAnswered) of \(conversation.turnsTaken) answered, \(conversation.answerPackets) answer packets; "
                + "calls with no answer \(conversation.callsUnanswered), calls that ended before a turn \(conversation.callsWithoutTurns)")
            lines.append(row("answer latency (ms)", conversation.answerLatencyMilliseconds))
            if let opened = conversation.eventChannelsOpened, let done = conversation.responsesDone {
                lines.append("oai-events: opened on \(opened) calls, \(done) response.done")
            }
        }
        if paceResyncs > 0 { lines.append("sender fell behind schedule \(paceResyncs) time(s)") }
        if !drops.isEmpty {
            lines.append("dropped datagrams: " + drops.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if let server {
            lines.append("server pid \(server.pid): CPU \(format(server.cpuCores * 100))% of a core over \(format(server.steadySeconds)) s steady"
                + ", RSS \(server.endRSSKiB) KiB (idle baseline \(server.baselineRSSKiB) KiB)")
            if let cpu = server.cpuPercentPerSession, let kib = server.kibPerSession {
                lines.append("per session: \(String(format: "%.3f", cpu))% CPU, \(format(kib)) KiB")
            }
        }
        if let loadgenCPUCores {
            lines.append("load generator CPU: \(format(loadgenCPUCores * 100))% of a core")
        }
        if !failures.isEmpty {
            lines.append("failed calls:")
            for failure in failures.prefix(50) { lines.append("  call \(failure.call): \(failure.reason)") }
            if failures.count > 50 { lines.append("  ... and \(failures.count - 50) more") }
        }
        return lines.joined(separator: "\n")
    }

    private func row(_ name: String, _ distribution: Distribution?) -> String {
        let label = name.padding(toLength: 26, withPad: " ", startingAt: 0)
        guard let distribution else { return label + "      -" }
        let columns = [distribution.p50, distribution.p95, distribution.p99, distribution.max].map { String(format: "%9.1f", $0) }
        return label + String(format: "%8d", distribution.count) + columns.joined()
    }

    private func percent(_ value: Double) -> String { String(format: "%.2f%%", value * 100) }

    private func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e9 ? String(Int(value)) : String(format: "%.1f", value)
    }
}
