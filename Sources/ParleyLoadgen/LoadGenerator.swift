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
/// then hang-up (DELETE and close of every call). With `callLifetime` calls also hang up
/// during the steady phase, each when its lifetime is over, and their places dial new calls
/// (a soak); the calls dialled last settle before the drain.
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
        let slots = CallSlots(try (0..<configuration.sessions).map { index in
            try LoadgenCall.Handle(index: index, settings: settings, eventLoop: loops[index % loops.count])
        })
        let baseline = configuration.serverPID.flatMap { ProcessSample.read(pid: $0) }
        if let pid = configuration.serverPID, baseline == nil {
            logger.warning("cannot read /proc for the server process", metadata: ["pid": "\(pid)"])
        }

        let reporter = Task {
            await self.reportProgress(slots: slots, loops: loops, progress: progress)
        }
        defer { reporter.cancel() }

        setStage("ramp")
        await ramp(slots, settings: settings, signaling: signaling)
        setStage("settle")
        await settle(slots.current, loops: loops)

        setStage("steady")
        let serverBefore = configuration.serverPID.flatMap { ProcessSample.read(pid: $0) }
        let loadgenBefore = ProcessSample.read(pid: 0)
        let steadyStart = ContinuousClock.now
        if let lifetime = configuration.callLifetime {
            await redial(slots, lifetime: lifetime, until: steadyStart + configuration.duration, loops: loops,
                         settings: settings, signaling: signaling)
        } else {
            try? await Task.sleep(for: configuration.duration)
        }
        let steadySeconds = seconds(ContinuousClock.now - steadyStart)
        let serverAfter = configuration.serverPID.flatMap { ProcessSample.read(pid: $0) }
        let loadgenAfter = ProcessSample.read(pid: 0)
        if configuration.callLifetime != nil {
            setStage("settle")
            await settle(slots.current, loops: loops)
        }

        setStage("drain")
        let calls = slots.current
        _ = await onLoops(loops, calls) { call, _ in call.stopAudio() }
        if configuration.audio != .idle {
            try? await Task.sleep(for: configuration.drain)
        }
        var results = await collect(calls, loops: loops)

        setStage("hang-up")
        let hangUpFailures = await hangUp(calls, signaling: signaling)
        for (index, reason) in hangUpFailures {
            guard let position = results.firstIndex(where: { $0.index == index }), results[position].failure == nil else { continue }
            results[position].failure = reason
        }
        reporter.cancel()
        results = (slots.ended + results).sorted { $0.index < $1.index }

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
            // Calls that redial take indexes past `sessions`: they may have any tone.
            let indexes = configuration.callLifetime == nil ? configuration.sessions : ToneAudio.frequencies.count
            for frequency in Set((0..<indexes).map(ToneAudio.frequency(forCall:))) {
                preEncoded[frequency] = try ToneAudio.preEncodedSecond(frequency: frequency)
            }
        }
        let silence = configuration.audio == .preEncoded && configuration.turns != nil ? try ToneAudio.preEncodedSilence() : []
        SRTPSession.prepareLibrary()
        return CallSettings(
            certificate: try DTLSCertificate.generateSelfSigned(commonName: "parley-loadgen"),
            audio: configuration.audio, echoCheck: configuration.echoCheck,
            bindHost: configuration.bindHost, setupTimeout: configuration.setupTimeout, preEncoded: preEncoded,
            preEncodedSilence: silence, turns: configuration.turns, events: configuration.events,
            sped: configuration.sped, snap: configuration.snap)
    }

    // MARK: Phases

    /// Starts call `i` at `i / rampPerSecond` seconds; returns once every offer was answered or failed.
    private func ramp(_ slots: CallSlots, settings: CallSettings, signaling: SignalingClient) async {
        let start = ContinuousClock.now
        let rate = max(configuration.rampPerSecond, 0.001)
        await withTaskGroup(of: Void.self) { tasks in
            for (slot, call) in slots.current.enumerated() {
                let due = start + .nanoseconds(Int64(Double(call.index) / rate * 1e9))
                try? await Task.sleep(until: due, clock: .continuous)
                slots.replace(slot, with: call)
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

    /// The steady phase of a soak: each place hangs its call up once the lifetime drawn for it
    /// has passed (`HangUpStyle.forCall` says how) and dials a new call at once, until `end`;
    /// a call whose lifetime reaches past `end` lives on to the end of the run.
    private func redial(
        _ slots: CallSlots, lifetime: SecondsRange, until end: ContinuousClock.Instant, loops: [any EventLoop],
        settings: CallSettings, signaling: SignalingClient
    ) async {
        await withTaskGroup(of: Void.self) { tasks in
            for slot in 0..<configuration.sessions {
                tasks.addTask {
                    var random = SystemRandomNumberGenerator()
                    while true {
                        let (call, startedAt) = slots.call(in: slot)
                        let hangUpAt = startedAt + lifetime.random(using: &random)
                        guard hangUpAt < end else { return }
                        try? await Task.sleep(until: hangUpAt, clock: .continuous)
                        let result = await self.hangUpEarly(call, signaling: signaling)
                        let index = slots.nextIndex()
                        guard let handle = try? LoadgenCall.Handle(index: index, settings: settings, eventLoop: loops[slot % loops.count]) else {
                            slots.ended(result)
                            return
                        }
                        slots.replace(slot, with: handle, ending: result)
                        await LoadgenCall.start(handle, settings: settings, signaling: signaling)
                    }
                }
            }
        }
    }

    /// Hangs one call up before the end of the run: sending stops, its echoes drain, its
    /// result is taken, then it goes the way `HangUpStyle.forCall` gives its index.
    private func hangUpEarly(_ call: LoadgenCall.Handle, signaling: SignalingClient) async -> CallResult {
        let style = HangUpStyle.forCall(call.index)
        _ = try? await call.driver.run { call, _ in call.stopAudio() }
        if configuration.audio != .idle {
            try? await Task.sleep(for: configuration.drain)
        }
        let taken = try? await call.driver.run { call, _ -> (CallResult, String?) in
            let result = call.result()
            call.beginHangUp()
            return (result, call.location)
        }
        var result = taken?.0 ?? CallResult(index: call.index, frequency: ToneAudio.frequency(forCall: call.index))
        result.hangUp = style
        switch style {
        case .delete:
            if let location = taken?.1 {
                do {
                    let status = try await signaling.deleteCall(at: location)
                    if status != 204 { result.failure = result.failure ?? "DELETE answered \(status)" }
                } catch {
                    result.failure = result.failure ?? "DELETE failed: \(error)"
                }
            }
            _ = try? await call.driver.run { call, now in call.close(now: now) }
        case .bye:
            _ = try? await call.driver.run { call, now in call.close(now: now) }
        case .vanish:
            _ = try? await call.driver.run { call, _ in call.vanish() }
        }
        return result
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

    /// Each call's result, in the order of `calls`.
    private func collect(_ calls: [LoadgenCall.Handle], loops: [any EventLoop]) async -> [CallResult] {
        var results: [CallResult] = calls.map { CallResult(index: $0.index, frequency: ToneAudio.frequency(forCall: $0.index)) }
        let position = Dictionary(uniqueKeysWithValues: calls.enumerated().map { ($1.index, $0) })
        for result in await onLoops(loops, calls, { call, _ in call.result() }) {
            if let at = position[result.index] { results[at] = result }
        }
        return results
    }

    // MARK: Progress

    struct Tally: Sendable {
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

    private func reportProgress(slots: CallSlots, loops: [any EventLoop], progress: @Sendable (String) -> Void) async {
        let start = ContinuousClock.now
        var previous = Tally()
        let serverPID = configuration.serverPID
        var previousServer = serverPID.flatMap { ProcessSample.read(pid: $0) }
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            if Task.isCancelled { return }
            let tally = await onLoops(loops, slots.current) { call, _ in
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
            }.reduce(slots.endedPackets, +)
            var line = "[\(Int(seconds(ContinuousClock.now - start)))s \(stage.withLock { $0 })] "
                + "started \(tally.started)/\(configuration.sessions), setting up \(tally.connecting), "
                + "in media \(tally.media), failed \(tally.failed)"
                + (configuration.callLifetime == nil ? "" : ", ended \(slots.endedCount)")
                // A call's packets move to the ended tally as they were when it hung up: a few
                // that arrived after that leave the count, so a second may show fewer.
                + " | audio tx \(max(0, Int64(tally.sent) - Int64(previous.sent)))/s "
                + "rx \(max(0, Int64(tally.received) - Int64(previous.received)))/s"
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

/// The calls of a run by place: the call each place has now, with when it was started, and
/// the results of the calls that hung up before the end of the run.
final class CallSlots: Sendable {
    private struct State {
        var current: [(call: LoadgenCall.Handle, startedAt: ContinuousClock.Instant)]
        var ended: [CallResult] = []
        var nextIndex: Int
    }

    private let state: Mutex<State>

    init(_ calls: [LoadgenCall.Handle]) {
        let now = ContinuousClock.now
        state = Mutex(State(current: calls.map { ($0, now) }, nextIndex: calls.count))
    }

    var current: [LoadgenCall.Handle] {
        state.withLock { $0.current.map(\.call) }
    }

    func call(in slot: Int) -> (LoadgenCall.Handle, ContinuousClock.Instant) {
        state.withLock { $0.current[slot] }
    }

    /// Call `call` takes place `slot`, started now.
    func replace(_ slot: Int, with call: LoadgenCall.Handle) {
        state.withLock { $0.current[slot] = (call, .now) }
    }

    /// The index of the next call dialled (indexes are never reused).
    func nextIndex() -> Int {
        state.withLock { state in
            defer { state.nextIndex += 1 }
            return state.nextIndex
        }
    }

    /// Call `next` takes place `slot` from the call that hung up with `result`, started now.
    func replace(_ slot: Int, with next: LoadgenCall.Handle, ending result: CallResult) {
        state.withLock { state in
            state.current[slot] = (next, .now)
            state.ended.append(result)
        }
    }

    func ended(_ result: CallResult) {
        state.withLock { $0.ended.append(result) }
    }

    /// Audio packets the calls that hung up sent and received, for the progress lines.
    var endedPackets: LoadGenerator.Tally {
        state.withLock { state in
            var tally = LoadGenerator.Tally()
            for result in state.ended {
                tally.sent += result.packetsSent
                tally.received += result.packetsReceived
            }
            return tally
        }
    }

    var ended: [CallResult] {
        state.withLock { $0.ended }
    }

    var endedCount: Int {
        state.withLock { $0.ended.count }
    }
}
