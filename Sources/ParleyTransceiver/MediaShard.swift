import Glibc
import Logging
import ParleyAgent
import ParleyEndpoint
import ParleyNIO
import ParleyWire

/// One shard's endpoint as its `UDPDriver` drives it: the sans-IO `TransceiverEndpoint` plus
/// what the runtime does with its events (metrics, the placement ledger, logs). Lives on the
/// shard's event loop for its whole life.
final class MediaShard: DatagramEndpoint {
    let index: Int
    let endpoint: TransceiverEndpoint
    private let metrics: TransceiverMetrics
    private let shardMetrics: TransceiverMetrics.Shard
    private let placement: CallPlacement
    private let logger: Logger
    /// Datagrams counted since the last flush: the process totals are shared by every
    /// shard's thread, so they advance once per batch rather than once per datagram.
    private var received: Int64 = 0
    private var sent: Int64 = 0
    /// Drops counted since the last flush, by reason: a flood of dropped datagrams touches the
    /// shared counters once per batch, not once per datagram.
    private var dropped: [TransceiverEndpoint.DropReason: Int] = [:]
    /// The sidebands watching each call, by the id `attachSideband` gave them.
    private var sidebands: [SessionID: [Int: Sideband.Continuation]] = [:]
    private var nextSidebandID = 0
    /// Whether this shard's loop keeps up (`ShardPressure`); nil when overload control is off.
    private var pressure: ShardPressure?
    /// The verdict the placement ledger has.
    private var reportedPressure = false
    /// The table sizes last published (`parley_shard_table_entries`).
    private var publishedTables: TransceiverEndpoint.TableSizes?

    init(index: Int, endpoint: TransceiverEndpoint, metrics: TransceiverMetrics, placement: CallPlacement,
         overloadLimits: ShardPressure.Limits?, logger: Logger) {
        self.index = index
        self.endpoint = endpoint
        self.metrics = metrics
        self.placement = placement
        self.logger = logger
        shardMetrics = metrics.shard(index)
        pressure = overloadLimits.map { ShardPressure(limits: $0, now: .now) }
    }

    // MARK: DatagramEndpoint

    var maxTransmitLength: Int { TransceiverEndpoint.maxTransmitLength }

    func handle(_ datagram: UnsafeRawBufferPointer, from source: PeerAddress, now: Instant) {
        received += 1
        endpoint.handle(datagram, from: source, now: now)
    }

    func handleTimeout(now: Instant) {
        if let due = endpoint.nextDeadline(), due <= now {
            pressure?.timerRan(due: due, now: now)
        }
        endpoint.handleTimeout(now: now)
    }

    func pollTransmit(into buffer: UnsafeMutableRawBufferPointer) -> OutgoingDatagram? {
        guard let datagram = endpoint.pollTransmit(into: buffer) else { return nil }
        sent += 1
        return datagram
    }

    func nextDeadline() -> Instant? {
        endpoint.nextDeadline()
    }

    func didFlush() {
        if let ends = pressure?.windowEnds, Instant.now >= ends {
            judgePressure()
        }
        while let event = endpoint.pollEvent() {
            record(event)
        }
        for (reason, count) in dropped {
            metrics.drop(reason.rawValue, count: count)
        }
        dropped.removeAll(keepingCapacity: true)
        publishTableSizes()
        if received > 0 {
            metrics.packetsReceived.increment(by: received)
            shardMetrics.packetsReceived.increment(by: received)
            received = 0
        }
        if sent > 0 {
            metrics.packetsSent.increment(by: sent)
            shardMetrics.packetsSent.increment(by: sent)
            sent = 0
        }
    }

    /// Publishes the endpoint's table sizes when they changed: after every batch, so the
    /// gauges are current even when the last call ends and the shard falls silent.
    private func publishTableSizes() {
        let sizes = endpoint.tableSizes
        guard sizes != publishedTables else { return }
        publishedTables = sizes
        for (table, entries) in sizes.named {
            shardMetrics.tableEntries[table]?.set(Int64(entries))
        }
    }

    /// Closes the pressure window: publishes the loop's late-timer share and utilisation,
    /// and tells the placement ledger when the verdict changed.
    private func judgePressure() {
        guard var judged = pressure else { return }
        judged.closeWindow(now: .now, threadDemand: Self.threadDemand())
        pressure = judged
        shardMetrics.lateTimerShare.set(judged.lastLateShare)
        shardMetrics.loopUtilisation.set(judged.lastUtilisation)
        guard judged.isUnderPressure != reportedPressure else { return }
        reportedPressure = judged.isUnderPressure
        placement.setPressure(judged.isUnderPressure, onShard: index)
        logger.warning(judged.isUnderPressure ? "shard overloaded: new calls go elsewhere or get 503" : "shard caught up: taking calls",
                       metadata: ["shard": "\(index)", "utilisation": "\(judged.lastUtilisation)",
                                  "lateTimerShare": "\(judged.lastLateShare)"])
    }

    /// Time the calling thread (this shard's loop) has run or waited in the run queue to run:
    /// the first two fields of `/proc/thread-self/schedstat` (Linux `CONFIG_SCHED_INFO`).
    /// A loop that wants the CPU but shares its core with another process waits instead of
    /// running, and that wait is load too. Where the file cannot be read, the thread's CPU
    /// time alone.
    private static func threadDemand() -> Duration {
        let fd = open("/proc/thread-self/schedstat", O_RDONLY)
        if fd >= 0 {
            defer { close(fd) }
            var bytes = [UInt8](repeating: 0, count: 96)
            let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                let fields = bytes[..<count].split(whereSeparator: { $0 == 0x20 || $0 == 0x0A }).prefix(2)
                    .compactMap { UInt64(String(decoding: $0, as: UTF8.self)) }
                if fields.count == 2 { return .nanoseconds(Int64(clamping: fields[0] &+ fields[1])) }
            }
        }
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
    }

    // MARK: Signaling

    /// Creates a call on this shard (its place was reserved in `placement`).
    func createCall(offer: SDPOffer, settings: RealtimeEvent?, maxDuration: Duration?, candidates: AnswerCandidates?,
                    now: Instant, makeBackend: (SessionID) -> any CallBackend) throws(CallSetupError) -> CallAnswer {
        let answer = try endpoint.createCall(offer: offer, settings: settings, maxDuration: maxDuration, candidates: candidates,
                                             now: now, makeBackend: makeBackend)
        placement.placed(answer.id, onShard: index)
        metrics.sessions.increment()
        metrics.sessionsCreated.increment()
        shardMetrics.sessions.increment()
        shardMetrics.sessionsCreated.increment()
        if let setup = answer.sctpSetup { metrics.dataChannelSetup(setup.rawValue) }
        logger.debug("call created", metadata: [
            "session": "\(answer.id)", "shard": "\(index)", "sctp": "\(answer.sctpSetup?.rawValue ?? "none")",
        ])
        return answer
    }

    // MARK: Sidebands

    /// Starts mirroring call `id`'s server events into `continuation`, the current session
    /// first; returns the sideband's number on this shard, or nil when the call is not live.
    func attachSideband(_ id: SessionID, continuation: Sideband.Continuation) -> Int? {
        guard let created = endpoint.attachSideband(id) else { return nil }
        nextSidebandID += 1
        sidebands[id, default: [:]][nextSidebandID] = continuation
        deliver(.event(created), to: id, sideband: nextSidebandID)
        metrics.sidebands.increment()
        return nextSidebandID
    }

    func detachSideband(_ id: SessionID, sideband: Int) {
        guard sidebands[id]?.removeValue(forKey: sideband) != nil else { return }
        if sidebands[id]?.isEmpty == true { sidebands[id] = nil }
        endpoint.detachSideband(id)
        metrics.sidebands.decrement()
    }

    /// Hands a sideband one message; one that fell a whole buffer behind is cut off (the
    /// stream ends without `.ended`) and counted, rather than losing events unseen.
    private func deliver(_ message: Sideband.Message, to id: SessionID, sideband: Int) {
        guard let continuation = sidebands[id]?[sideband] else { return }
        if case .dropped = continuation.yield(message) {
            continuation.finish()
            metrics.drop("sideband_too_slow")
            detachSideband(id, sideband: sideband)
        }
    }

    /// The socket is bound: tokens and candidates of new calls name it where the
    /// configuration left them to the bound address.
    func bound(to address: PeerAddress, configuration: TransceiverConfiguration) {
        endpoint.configuration.tokenAddress = configuration.tokenAddress(forShard: index, boundAt: address)
        endpoint.configuration.candidates = configuration.candidates(forShardBoundAt: address)
    }

    private func record(_ event: TransceiverEndpoint.Event) {
        switch event {
        case .iceConnected(_, let after):
            metrics.iceConnectedAfter.record(after)
        case .dtlsConnected(_, let after, let embeddedInSTUN):
            metrics.dtlsConnectedAfter.record(after)
            metrics.dtlsHandshake(carriedBy: embeddedInSTUN ? "stun" : "records")
        case .firstAudio(_, let after):
            metrics.firstAudioAfter.record(after)
        case .turnLatency(_, let latency):
            metrics.turnLatency.record(latency)
        case .callEnded(let id, let reason):
            metrics.sessionEnded(reason)
            metrics.sessions.decrement()
            shardMetrics.sessions.decrement()
            placement.ended(id, onShard: index)
            for continuation in (sidebands.removeValue(forKey: id) ?? [:]).values {
                continuation.yield(.ended(reason: reason))
                continuation.finish()
                metrics.sidebands.decrement()
            }
            logger.debug("call ended", metadata: ["session": "\(id)", "reason": "\(reason)", "shard": "\(index)"])
        case .dropped(let reason):
            dropped[reason, default: 0] += 1
        case .audioRepaired(let repair, let frames):
            metrics.audioFramesRepaired(repair.rawValue, frames: frames)
        case .serverEvent(let id, let event):
            for sideband in sidebands[id]?.keys.sorted() ?? [] {
                deliver(.event(event), to: id, sideband: sideband)
            }
        }
    }
}
