import Prometheus
import Synchronization

/// The transceiver's Prometheus metrics: sessions, setup times, packets, and drops by reason,
/// for the process; sessions and packets also per shard (`parley_shard_*{shard}`, names of
/// their own so that summing a process metric over its labels never counts twice).
public final class TransceiverMetrics: Sendable {
    /// One shard's share of the process counters.
    public struct Shard: Sendable {
        public let sessions: Gauge
        public let sessionsCreated: Counter
        public let packetsReceived: Counter
        public let packetsSent: Counter
        /// The share of timer runs later than the overload lateness in the last second.
        public let lateTimerShare: Gauge
        /// The share of the last second the shard's loop thread was on the CPU.
        public let loopUtilisation: Gauge
        /// Entries in each of the shard's tables (`TransceiverEndpoint.TableSizes`), by name.
        public let tableEntries: [String: Gauge]
    }

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
    /// Sideband WebSockets joined to live calls.
    public let sidebands: Gauge
    /// Live calls over `--max-sessions` (0–1), set when metrics are read: what an autoscaler
    /// scales on (CPU lags behind calls that are still setting up).
    public let sessionUtilisation: Gauge
    public let clientSecretsIssued: Counter
    /// Open connections to the signaling port (`HTTPConnectionGuard`).
    public let httpConnections: Gauge
    /// Calls in the placement ledger's map from call to shard.
    public let placementEntries: Gauge
    private let drops: Mutex<[String: Counter]> = Mutex([:])
    private let endings: Mutex<[String: Counter]> = Mutex([:])
    private let rejections: Mutex<[String: Counter]> = Mutex([:])
    private let repairs: Mutex<[String: Counter]> = Mutex([:])
    private let secretReloads: Mutex<[String: Counter]> = Mutex([:])
    private let steering: Mutex<[String: Counter]> = Mutex([:])
    private let httpRejections: Mutex<[String: Counter]> = Mutex([:])
    private let backendSendDrops: Mutex<[String: Counter]> = Mutex([:])
    private let dtlsHandshakes: Mutex<[String: Counter]> = Mutex([:])
    private let dataChannelSetups: Mutex<[String: Counter]> = Mutex([:])

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        sessions = registry.makeGauge(descriptor: Self.describe("parley_sessions", "Live WebRTC sessions"))
        sessionsCreated = registry.makeCounter(descriptor: Self.describe("parley_sessions_created_total", "Sessions created by signaling"))
        packetsReceived = registry.makeCounter(descriptor: Self.describe("parley_packets_received_total", "UDP datagrams received"))
        packetsSent = registry.makeCounter(descriptor: Self.describe("parley_packets_sent_total", "UDP datagrams sent"))
        let buckets: [Duration] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000].map { .milliseconds($0) }
        let setupStage = { (stage: String) in
            registry.makeDurationHistogram(
                descriptor: Self.describe("parley_setup_seconds", "Time from the offer's arrival to each setup stage"),
                labels: [("stage", stage)], buckets: buckets)
        }
        signalingDuration = setupStage("signaling")
        iceConnectedAfter = setupStage("ice")
        dtlsConnectedAfter = setupStage("dtls")
        firstAudioAfter = setupStage("first_audio")
        sidebands = registry.makeGauge(descriptor: Self.describe("parley_sidebands", "Sideband WebSockets joined to live calls"))
        sessionUtilisation = registry.makeGauge(descriptor: Self.describe("parley_session_utilisation", "Live calls over the configured maximum (0-1)"))
        clientSecretsIssued = registry.makeCounter(descriptor: Self.describe("parley_client_secrets_issued_total", "Ephemeral client secrets minted"))
        httpConnections = registry.makeGauge(descriptor: Self.describe("parley_http_connections", "Open connections to the signaling port"))
        placementEntries = registry.makeGauge(descriptor: Self.describe("parley_call_placement_entries", "Calls in the map from call to shard"))
        turnLatency = registry.makeDurationHistogram(
            descriptor: Self.describe("parley_turn_latency_seconds", "End of the caller's speech (as detected) to the first answer packet sent"), buckets: buckets)
    }

    /// A secret file re-read after a change (`routing_keys`, `api_keys`), applied or refused:
    /// `parley_secret_reloads_total{secret,result}`.
    public func secretReloaded(_ secret: String, applied: Bool) {
        countSecretReload(secret, result: applied ? "applied" : "rejected")
    }

    /// A secret file that could not be read; the loaded secret stays
    /// (`parley_secret_reloads_total{secret,result="unreadable"}`).
    public func secretUnreadable(_ secret: String) {
        countSecretReload(secret, result: "unreadable")
    }

    private func countSecretReload(_ secret: String, result: String) {
        let counter = secretReloads.withLock { counters in
            if let counter = counters[secret + result] { return counter }
            let counter = registry.makeCounter(
                descriptor: Self.describe("parley_secret_reloads_total", "Secret files re-read after a change, by secret and result"),
                labels: [("secret", secret), ("result", result)])
            counters[secret + result] = counter
            return counter
        }
        counter.increment()
    }

    /// The per-shard metrics of shard `index`.
    public func shard(_ index: Int) -> Shard {
        let label = [("shard", String(index))]
        let tables = ["sessions", "ufrags", "paths", "clients", "deadlines"]
        return Shard(
            sessions: registry.makeGauge(descriptor: Self.describe("parley_shard_sessions", "Live WebRTC sessions, by shard"), labels: label),
            sessionsCreated: registry.makeCounter(descriptor: Self.describe("parley_shard_sessions_created_total", "Sessions created, by shard"), labels: label),
            packetsReceived: registry.makeCounter(descriptor: Self.describe("parley_shard_packets_received_total", "UDP datagrams received, by shard"), labels: label),
            packetsSent: registry.makeCounter(descriptor: Self.describe("parley_shard_packets_sent_total", "UDP datagrams sent, by shard"), labels: label),
            lateTimerShare: registry.makeGauge(descriptor: Self.describe(
                "parley_shard_late_timer_share", "Share of timer runs later than the overload lateness in the last second, by shard"), labels: label),
            loopUtilisation: registry.makeGauge(descriptor: Self.describe(
                "parley_shard_loop_utilisation", "Share of the last second the shard's loop thread ran or waited to run, by shard"), labels: label),
            tableEntries: Dictionary(uniqueKeysWithValues: tables.map { table in
                (table, registry.makeGauge(descriptor: Self.describe(
                    "parley_shard_table_entries", "Entries in each table that follows live calls, by shard and table"),
                    labels: label + [("table", table)]))
            }))
    }

    /// Counts `count` datagrams dropped for `reason` (`parley_packets_dropped_total{reason}`).
    public func drop(_ reason: String, count: Int = 1) {
        counter(in: drops, name: "parley_packets_dropped_total", label: "reason", value: reason,
                help: "Datagrams dropped, by reason").increment(by: Int64(count))
    }

    /// Counts caller audio frames filled for lost packets by `method` ("fec" or "concealment"):
    /// `parley_audio_frames_repaired_total{method}`.
    public func audioFramesRepaired(_ method: String, frames: Int) {
        counter(in: repairs, name: "parley_audio_frames_repaired_total", label: "method", value: method,
                help: "Caller audio frames rebuilt from in-band FEC or concealed, by method").increment(by: Int64(frames))
    }

    /// Counts one completed DTLS handshake by what carried it: "stun" when SPED embedded it in
    /// the ICE checks (draft-hancke-webrtc-sped), "records" for DTLS records on their own:
    /// `parley_dtls_handshakes_total{carrier}`.
    public func dtlsHandshake(carriedBy carrier: String) {
        counter(in: dtlsHandshakes, name: "parley_dtls_handshakes_total", label: "carrier", value: carrier,
                help: "DTLS handshakes completed, by what carried them (SPED's STUN or DTLS records)").increment()
    }

    /// Counts one session ended for `reason` (`parley_sessions_ended_total{reason}`).
    public func sessionEnded(_ reason: String) {
        counter(in: endings, name: "parley_sessions_ended_total", label: "reason", value: reason,
                help: "Sessions ended, by reason").increment()
    }

    /// Counts one call's answer steered to its caller's region ("steered"), or left with the
    /// advertised relays ("no_region", "unknown_region"): `parley_region_steering_total{result}`.
    public func regionSteering(_ result: String) {
        counter(in: steering, name: "parley_region_steering_total", label: "result", value: result,
                help: "Answers by the relays they carry: the caller's region's, or the advertised ones").increment()
    }

    /// Counts one call answered with data channels by how its SCTP association comes up,
    /// "snap" (draft-hancke-tsvwg-snap-00) or "handshake": `parley_data_channel_setups_total{sctp}`.
    public func dataChannelSetup(_ setup: String) {
        counter(in: dataChannelSetups, name: "parley_data_channel_setups_total", label: "sctp", value: setup,
                help: "Calls answered with data channels, by how SCTP is set up: SNAP (INITs in the SDP) or the handshake").increment()
    }

    /// Counts one signaling request refused (`parley_signaling_rejected_total{code}`).
    public func signalingRejected(_ code: String) {
        counter(in: rejections, name: "parley_signaling_rejected_total", label: "code", value: code,
                help: "Signaling requests refused, by error code").increment()
    }

    /// Counts one signaling connection refused or closed before its request reached the API
    /// (`parley_http_rejected_total{reason}`: `connection_limit`, `header_timeout`, `evicted`).
    public func httpRejected(_ reason: String) {
        counter(in: httpRejections, name: "parley_http_rejected_total", label: "reason", value: reason,
                help: "Signaling connections refused or closed before a request reached the API, by reason").increment()
    }

    /// Counts what a call dropped because its WebSocket backend read too slowly, by `kind`
    /// ("audio" frames, "event"s): `parley_backend_send_dropped_total{kind}`.
    public func backendSendDropped(_ kind: String, count: Int) {
        counter(in: backendSendDrops, name: "parley_backend_send_dropped_total", label: "kind", value: kind,
                help: "Messages for WebSocket backends dropped because the backend read too slowly, by kind").increment(by: Int64(count))
    }

    /// A metric name with its help text (no unit suffix beyond what the name carries).
    private static func describe(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    public func exposition() -> String {
        registry.emitToString()
    }

    private func counter(in cache: borrowing Mutex<[String: Counter]>, name: String, label: String, value: String, help: String) -> Counter {
        cache.withLock { counters in
            if let counter = counters[value] { return counter }
            let counter = registry.makeCounter(descriptor: Self.describe(name, help), labels: [(label, value)])
            counters[value] = counter
            return counter
        }
    }
}
