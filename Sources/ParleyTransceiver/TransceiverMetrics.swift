import Prometheus
import Synchronization

/// The transceiver's Prometheus metrics: sessions, setup times, packets, and drops by reason.
public final class TransceiverMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let sessions: Gauge
    public let sessionsCreated: Counter
    public let packetsReceived: Counter
    public let packetsSent: Counter
    public let signalingDuration: DurationHistogram
    public let iceConnectedAfter: DurationHistogram
    public let dtlsConnectedAfter: DurationHistogram
    public let firstAudioAfter: DurationHistogram
    public let turnLatency: DurationHistogram
    private let drops: Mutex<[String: Counter]> = Mutex([:])
    private let endings: Mutex<[String: Counter]> = Mutex([:])
    private let rejections: Mutex<[String: Counter]> = Mutex([:])

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        sessions = registry.makeGauge(name: "parley_sessions", help: "Live WebRTC sessions")
        sessionsCreated = registry.makeCounter(name: "parley_sessions_created_total", help: "Sessions created by signaling")
        packetsReceived = registry.makeCounter(name: "parley_packets_received_total", help: "UDP datagrams received")
        packetsSent = registry.makeCounter(name: "parley_packets_sent_total", help: "UDP datagrams sent")
        let buckets: [Duration] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000].map { .milliseconds($0) }
        signalingDuration = registry.makeDurationHistogram(
            name: "parley_setup_seconds", labels: [("stage", "signaling")], buckets: buckets,
            help: "Time from the offer's arrival to each setup stage")
        iceConnectedAfter = registry.makeDurationHistogram(
            name: "parley_setup_seconds", labels: [("stage", "ice")], buckets: buckets,
            help: "Time from the offer's arrival to each setup stage")
        dtlsConnectedAfter = registry.makeDurationHistogram(
            name: "parley_setup_seconds", labels: [("stage", "dtls")], buckets: buckets,
            help: "Time from the offer's arrival to each setup stage")
        firstAudioAfter = registry.makeDurationHistogram(
            name: "parley_setup_seconds", labels: [("stage", "first_audio")], buckets: buckets,
            help: "Time from the offer's arrival to each setup stage")
        turnLatency = registry.makeDurationHistogram(
            name: "parley_turn_latency_seconds", buckets: buckets,
            help: "End of the caller's speech (as detected) to the first answer packet sent")
    }

    /// Counts one datagram dropped for `reason` (`parley_packets_dropped_total{reason}`).
    public func drop(_ reason: String) {
        counter(in: drops, name: "parley_packets_dropped_total", label: "reason", value: reason,
                help: "Datagrams dropped, by reason").increment()
    }

    /// Counts one session ended for `reason` (`parley_sessions_ended_total{reason}`).
    public func sessionEnded(_ reason: String) {
        counter(in: endings, name: "parley_sessions_ended_total", label: "reason", value: reason,
                help: "Sessions ended, by reason").increment()
    }

    /// Counts one signaling request refused (`parley_signaling_rejected_total{code}`).
    public func signalingRejected(_ code: String) {
        counter(in: rejections, name: "parley_signaling_rejected_total", label: "code", value: code,
                help: "Signaling requests refused, by error code").increment()
    }

    public func exposition() -> String {
        registry.emitToString()
    }

    private func counter(in cache: borrowing Mutex<[String: Counter]>, name: String, label: String, value: String, help: String) -> Counter {
        cache.withLock { counters in
            if let counter = counters[value] { return counter }
            let counter = registry.makeCounter(name: name, labels: [(label, value)], help: help)
            counters[value] = counter
            return counter
        }
    }
}
