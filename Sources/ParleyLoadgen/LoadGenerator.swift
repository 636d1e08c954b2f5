import Logging
import NIOCore
import ParleyNIO
import NIOPosix
import ParleyWebRTC
import ParleyWire
import Synchronization

/// Runs many real WebRTC calls against a Parley signaling URL and measures them.
///
/// Phases: idle baseline of the server (`/proc`), ramp (calls started at `rampPerSecond`),
/// settle (until every call is keyed for SRTP or failed), steady (`duration`, the window the
/// server's CPU is measured over), drain (sending stops, echoes are waited for), results,
/// then hang-up (DELETE and close of every call).
public final class LoadGenerator: Sendable {
    public let configuration: LoadgenConfiguration
    private let logger: Logger
    private let stage = Mutex("start")

    public init(configuration: LoadgenConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs the whole test; `progress` receives one status line per second.
    public func run(progress: @escaping @Sendable (String) -> Void) async throws -> LoadReport {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.threads))
        let signalingGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let report: Result<LoadReport, any Error>
        do {
            report = .success(try await run(group: group, signalingGroup: signalingGroup, progress: progress))
        } catch {
            report = .failure(error)
        }
        try? await group.shutdownGracefully()
        try? await signalingGroup.shutdownGracefully()
        return try report.get()
    }

    private func run(
        group: MultiThreadedEventLoopGroup, signalingGroup: MultiThreadedEventLoopGroup,
        progress: @escaping @Sendable (String) -> Void
    ) async throws -> LoadReport {
        let configuration = configuration
        let loops = Array(group.makeIterator())
        let signaling = SignalingClient(url: configuration.url, bearerKey: configuration.bearerKey, group: signalingGroup)
        let settings = try makeSettings()
        let calls = try (0..<configuration.sessions).map { index in
            LoadgenCall.Handle(index: index, driver: UDPDriver(
                endpoint: try LoadgenCall(index: index, settings: settings), eventLoop: loops[index % loops.count]))
        }
        let baseline = configuration.serverPID.flatMap { ProcessSample.read(pid: $0) }
        if let pid = configuration.serverPID, baseline == nil {
            logger.warning("cannot read /proc for the server process", metadata: ["pid": "\(pid)"])
        }

        let reporter = Task {
            await self.reportProgress(calls: calls, loops: loops, progress: progress)
        }
        defer { reporter.cancel() }

        setStage("ramp")
        await ramp(calls, settings: settings, signaling: signaling)
        setStage("settle")
        await settle(calls, loops: loops)

        setStage("steady")
        let serverBefore = configuration.serverPID.flatMap { ProcessSample.read(pid: $0) }
        let loadgenBefore = ProcessSample.read(pid: 0)
        let steadyStart = ContinuousClock.now
        try? await Task.sleep(for: configuration.duration)
        let steadySeconds = seconds(ContinuousClock.now - steadyStart)
        let serverAfter = configuration.serverPID.flatMap { ProcessSample.read(pid: $0) }
        let loadgenAfter = ProcessSample.read(pid: 0)

        setStage("drain")
        _ = await onLoops(loops, calls) { call, _ in call.stopAudio() }
        if configuration.audio != .idle {
            try? await Task.sleep(for: configuration.drain)
        }
        var results = await collect(calls, loops: loops)

        setStage("hang-up")
        let hangUpFailures = await hangUp(calls, signaling: signaling)
        for (index, reason) in hangUpFailures where results[index].failure == nil {
            results[index].failure = reason
        }
        reporter.cancel()

        let connected = results.filter { $0.dtls != nil }.count
        var server: LoadReport.ServerUsage?
        if let pid = configuration.serverPID, let baseline, let serverBefore, let serverAfter {
            let cpu = serverAfter.cpuSeconds - serverBefore.cpuSeconds
            let cores = steadySeconds > 0 ? cpu / steadySeconds : 0
            server = LoadReport.ServerUsage(
                pid: pid, baselineRSSKiB: baseline.residentKiB, endRSSKiB: serverAfter.residentKiB,
                steadyCPUSeconds: cpu, steadySeconds: steadySeconds, cpuCores: cores,
                cpuPercentPerSession: connected > 0 ? cores * 100 / Double(connected) : nil,
                kibPerSession: connected > 0 ? Double(serverAfter.residentKiB - baseline.residentKiB) / Double(connected) : nil)
        }
        var loadgenCores: Double?
        if let loadgenBefore, let loadgenAfter, steadySeconds > 0 {
            loadgenCores = (loadgenAfter.cpuSeconds - loadgenBefore.cpuSeconds) / steadySeconds
        }
        return LoadReport(configuration: configuration, results: results, server: server, loadgenCPUCores: loadgenCores)
    }

    private func makeSettings() throws -> CallSettings {
        var preEncoded: [Int: [[UInt8]]] = [:]
        if configuration.audio == .preEncoded {
            for frequency in Set((0..<configuration.sessions).map(ToneAudio.frequency(forCall:))) {
                preEncoded[frequency] = try ToneAudio.preEncodedSecond(frequency: frequency)
            }
        }
        SRTPSession.prepareLibrary()
        return CallSettings(
            certificate: try DTLSCertificate.generateSelfSigned(commonName: "parley-loadgen"),
            audio: configuration.audio, echoCheck: configuration.echoCheck,
            bindHost: configuration.bindHost, setupTimeout: configuration.setupTimeout, preEncoded: preEncoded)
    }

    // MARK: Phases

    /// Starts call `i` at `i / rampPerSecond` seconds; returns once every offer was answered or failed.
    private func ramp(_ calls: [LoadgenCall.Handle], settings: CallSettings, signaling: SignalingClient) async {
        let start = ContinuousClock.now
        let rate = max(configuration.rampPerSecond, 0.001)
        await withTaskGroup(of: Void.self) { tasks in
            for call in calls {
                let due = start + .nanoseconds(Int64(Double(call.index) / rate * 1e9))
                try? await Task.sleep(until: due, clock: .continuous)
                tasks.addTask { await LoadgenCall.start(call, settings: settings, signaling: signaling) }
            }
        }
    }

    /// Waits until every call has SRTP keys or failed (each call's own setup timer bounds this).
    private func settle(_ calls: [LoadgenCall.Handle], loops: [any EventLoop]) async {
        let limit = ContinuousClock.now + configuration.setupTimeout + .seconds(15)
        while ContinuousClock.now < limit {
            let unsettled = await count(calls, loops: loops) { $0.phase < .media }
            if unsettled == 0 { return }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// DELETEs every call the server answered, at most 32 at once, then closes it.
    /// Returns the calls whose hang-up went wrong, with the reason.
    private func hangUp(_ calls: [LoadgenCall.Handle], signaling: SignalingClient) async -> [(Int, String)] {
        await withTaskGroup(of: (Int, String)?.self) { tasks in
            var failures: [(Int, String)] = []
            var running = 0
            for call in calls {
                if running >= 32, let finished = await tasks.next() {
                    running -= 1
                    if let finished { failures.append(finished) }
                }
                running += 1
                tasks.addTask {
                    let location = try? await call.driver.run { call, _ -> String? in
                        call.beginHangUp()
                        return call.location
                    }
                    var failure: (Int, String)?
                    if let location = location ?? nil {
                        do {
                            let status = try await signaling.deleteCall(at: location)
                            if status != 204 { failure = (call.index, "DELETE answered \(status)") }
                        } catch {
                            failure = (call.index, "DELETE failed: \(error)")
                        }
                    }
                    _ = try? await call.driver.run { call, now in call.close(now: now) }
                    return failure
                }
            }
            for await finished in tasks {
                if let finished { failures.append(finished) }
            }
            return failures
        }
    }

    // MARK: Loop access

    /// Runs `body` on every call, one task per event loop for all of its calls.
    private func onLoops<Result: Sendable>(
        _ loops: [any EventLoop], _ calls: [LoadgenCall.Handle],
        _ body: @escaping @Sendable (LoadgenCall, Instant) -> Result
    ) async -> [Result] {
        var results: [Result] = []
        for loop in loops {
            results += (try? await loop.submit {
                calls.filter { $0.eventLoop === loop }.map { $0.driver.runOnLoop(body) }
            }.get()) ?? []
        }
        return results
    }

    private func count(_ calls: [LoadgenCall.Handle], loops: [any EventLoop], where predicate: @escaping @Sendable (LoadgenCall) -> Bool) async -> Int {
        await onLoops(loops, calls) { call, _ in predicate(call) }.filter { $0 }.count
    }

    private func collect(_ calls: [LoadgenCall.Handle], loops: [any EventLoop]) async -> [CallResult] {
        var results: [CallResult] = calls.map { CallResult(index: $0.index, frequency: ToneAudio.frequency(forCall: $0.index)) }
        for result in await onLoops(loops, calls, { call, _ in call.result() }) {
            results[result.index] = result
        }
        return results
    }

    // MARK: Progress

    private struct Tally: Sendable {
        var started = 0
        var connecting = 0
        var media = 0
        var failed = 0
        var sent: UInt64 = 0
        var received: UInt64 = 0

        static func + (lhs: Tally, rhs: Tally) -> Tally {
            Tally(started: lhs.started + rhs.started, connecting: lhs.connecting + rhs.connecting,
                  media: lhs.media + rhs.media, failed: lhs.failed + rhs.failed,
                  sent: lhs.sent + rhs.sent, received: lhs.received + rhs.received)
        }
    }

    private func reportProgress(calls: [LoadgenCall.Handle], loops: [any EventLoop], progress: @Sendable (String) -> Void) async {
        let start = ContinuousClock.now
        var previous = Tally()
        let serverPID = configuration.serverPID
        var previousServer = serverPID.flatMap { ProcessSample.read(pid: $0) }
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            if Task.isCancelled { return }
            let tally = await onLoops(loops, calls) { call, _ in
                var tally = Tally()
                if call.phase > .pending { tally.started += 1 }
                if call.failure != nil {
                    tally.failed += 1
                } else if call.phase == .signaling || call.phase == .connecting {
                    tally.connecting += 1
                } else if call.phase == .media || call.phase == .stopped {
                    tally.media += 1
                }
                tally.sent = call.framesSent
                tally.received = call.echoesReceived
                return tally
            }.reduce(Tally(), +)
            var line = "[\(Int(seconds(ContinuousClock.now - start)))s \(stage.withLock { $0 })] "
                + "started \(tally.started)/\(configuration.sessions), setting up \(tally.connecting), "
                + "in media \(tally.media), failed \(tally.failed) | audio tx \(tally.sent - previous.sent)/s "
                + "rx \(tally.received - previous.received)/s"
            if let serverPID, let sample = ProcessSample.read(pid: serverPID) {
                if let previousServer {
                    line += " | server CPU \(Int(((sample.cpuSeconds - previousServer.cpuSeconds) * 100).rounded()))%"
                }
                line += " RSS \(sample.residentKiB / 1024) MiB"
                previousServer = sample
            }
            previous = tally
            progress(line)
        }
    }

    private func setStage(_ name: String) {
        stage.withLock { $0 = name }
        logger.info("stage", metadata: ["stage": "\(name)"])
    }

    private func seconds(_ duration: Duration) -> Double {
        Double(duration.nanosecondsRounded) / 1e9
    }
}
