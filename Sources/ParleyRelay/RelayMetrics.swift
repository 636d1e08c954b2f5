import Prometheus
import Synchronization

/// The relay's Prometheus metrics. Workers count into their own plain integers; a scrape sums
/// the published values and moves the Prometheus counters by the difference since the last one.
///
/// Names: `parley_relay_packets_received_total{socket}`, `parley_relay_packets_forwarded_total{direction}`,
/// `parley_relay_bytes_forwarded_total{direction}`, `parley_relay_packets_dropped_total{reason}`,
/// `parley_relay_flows`, `parley_relay_flows_created_total{source}`, `parley_relay_flows_expired_total`,
/// `parley_relay_flow_lookups_requested_total`, `parley_relay_flow_restores_refused_total`, `parley_relay_flow_store_requests_total{operation,result}`,
/// `parley_relay_flow_store_outages_total`, `parley_relay_flow_store_up`, `parley_relay_ready`;
/// for ICE-TCP: `parley_relay_tcp_connections`, `parley_relay_tcp_connections_accepted_total`,
/// `parley_relay_tcp_connections_refused_total{reason}`, `parley_relay_tcp_connections_admitted_total`,
/// `parley_relay_tcp_connections_closed_total{reason}`, `parley_relay_tcp_frames_received_total`,
/// `parley_relay_tcp_frames_forwarded_total{direction}`, `parley_relay_tcp_bytes_forwarded_total{direction}`,
/// `parley_relay_tcp_frames_dropped_total{reason}`; `parley_relay_key_reloads_total{result}`.
final class RelayMetrics: Sendable {
    private struct Reported {
        var workerTotals: [UInt64]
        var tcpTotals: [UInt64]
        var storeTotals: [UInt64]
        var outages: UInt64 = 0
    }

    /// The directions a TCP worker forwards in.
    private static let tcpDirections: [RelayDirection] = [.clientToTransceiver, .clientToPeerRelay, .transceiverToClient, .peerRelayToClient]

    let registry: PrometheusCollectorRegistry
    private let workerCounters: [Int: Counter]
    private let tcpCounters: [Int: Counter]
    private let tcpConnections: Gauge
    private let flows: Gauge
    private let storeCounters: [Counter]
    private let outages: Counter
    private let storeUp: Gauge
    private let ready: Gauge
    /// Routing-key reloads, applied and rejected.
    let keyReloadsApplied: Counter
    let keyReloadsRejected: Counter
    let keyReloadsUnreadable: Counter
    private let reported: Mutex<Reported>

    init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        var counters: [Int: Counter] = [:]
        for reason in RelayDropReason.allCases {
            counters[RelayCounter.drop(reason)] = registry.makeCounter(descriptor: named("parley_relay_packets_dropped_total", "Datagrams the relay dropped, by reason"), labels: [("reason", reason.label)])
        }
        for direction in RelayDirection.allCases {
            counters[RelayCounter.forwarded(direction)] = registry.makeCounter(descriptor: named("parley_relay_packets_forwarded_total", "Datagrams the relay passed on, by direction"), labels: [("direction", direction.label)])
            counters[RelayCounter.forwardedBytes(direction)] = registry.makeCounter(descriptor: named("parley_relay_bytes_forwarded_total", "Bytes the relay passed on, by direction"), labels: [("direction", direction.label)])
        }
        for role in RelaySocketRole.allCases {
            counters[RelayCounter.received(role)] = registry.makeCounter(descriptor: named("parley_relay_packets_received_total", "Datagrams received, by socket"), labels: [("socket", role.label)])
        }
        for source in RelayFlowSource.allCases {
            counters[RelayCounter.created(source)] = registry.makeCounter(descriptor: named("parley_relay_flows_created_total", "Flows created, by what created them"), labels: [("source", source.label)])
        }
        counters[RelayCounter.expired] = registry.makeCounter(descriptor: named("parley_relay_flows_expired_total", "Flows removed after their idle timeout"))
        counters[RelayCounter.lookupsRequested] = registry.makeCounter(descriptor: named("parley_relay_flow_lookups_requested_total", "Flow-store lookups started for datagrams of unknown clients"))
        counters[RelayCounter.restoresRefused] = registry.makeCounter(descriptor: named("parley_relay_flow_restores_refused_total", "Flows from the flow store refused because their next hop is outside the transceiver networks"))
        workerCounters = counters
        var tcp: [Int: Counter] = [:]
        tcp[RelayTCPCounter.accepted] = registry.makeCounter(descriptor: named("parley_relay_tcp_connections_accepted_total", "ICE-TCP connections accepted on the public TCP port (refused ones included)"))
        for reason in RelayTCPRefusal.allCases {
            tcp[RelayTCPCounter.refused(reason)] = registry.makeCounter(descriptor: named("parley_relay_tcp_connections_refused_total", "ICE-TCP connections closed as they were accepted, by limit reached"), labels: [("reason", reason.label)])
        }
        tcp[RelayTCPCounter.admitted] = registry.makeCounter(descriptor: named("parley_relay_tcp_connections_admitted_total", "ICE-TCP connections whose first frame carried a verified routing token"))
        for reason in RelayTCPCloseReason.allCases {
            tcp[RelayTCPCounter.closed(reason)] = registry.makeCounter(descriptor: named("parley_relay_tcp_connections_closed_total", "ICE-TCP connections closed, by reason"), labels: [("reason", reason.label)])
        }
        tcp[RelayTCPCounter.framesReceived] = registry.makeCounter(descriptor: named("parley_relay_tcp_frames_received_total", "Complete RFC 4571 frames received from ICE-TCP clients"))
        for direction in Self.tcpDirections {
            tcp[RelayTCPCounter.forwarded(direction)] = registry.makeCounter(descriptor: named("parley_relay_tcp_frames_forwarded_total", "ICE-TCP frames passed on, by direction"), labels: [("direction", direction.label)])
            tcp[RelayTCPCounter.forwardedBytes(direction)] = registry.makeCounter(descriptor: named("parley_relay_tcp_bytes_forwarded_total", "ICE-TCP bytes passed on, by direction"), labels: [("direction", direction.label)])
        }
        for reason in RelayTCPFrameDropReason.allCases {
            tcp[RelayTCPCounter.dropped(reason)] = registry.makeCounter(descriptor: named("parley_relay_tcp_frames_dropped_total", "ICE-TCP frames dropped, by reason"), labels: [("reason", reason.label)])
        }
        tcpCounters = tcp
        tcpConnections = registry.makeGauge(descriptor: named("parley_relay_tcp_connections", "Open ICE-TCP connections"))
        flows = registry.makeGauge(descriptor: named("parley_relay_flows", "Flows in the workers' tables"))
        storeCounters = FlowStoreBridge.Outcome.allCases.map { outcome in
            registry.makeCounter(
                descriptor: named("parley_relay_flow_store_requests_total", "Flow-store requests, by operation and result"),
                labels: [("operation", outcome.labels.operation), ("result", outcome.labels.result)])
        }
        outages = registry.makeCounter(descriptor: named("parley_relay_flow_store_outages_total", "Times the flow store became unavailable"))
        storeUp = registry.makeGauge(descriptor: named("parley_relay_flow_store_up", "1 while the flow store answers, 0 after a failure"))
        ready = registry.makeGauge(descriptor: named("parley_relay_ready", "1 while the relay takes traffic, 0 while draining"))
        let keyReloads = { (result: String) in
            registry.makeCounter(descriptor: named("parley_relay_key_reloads_total", "Routing-key files re-read after a change, by result"),
                                 labels: [("result", result)])
        }
        keyReloadsApplied = keyReloads("applied")
        keyReloadsRejected = keyReloads("rejected")
        keyReloadsUnreadable = keyReloads("unreadable")
        reported = Mutex(Reported(workerTotals: Array(repeating: 0, count: RelayCounter.count),
                                  tcpTotals: Array(repeating: 0, count: RelayTCPCounter.count),
                                  storeTotals: Array(repeating: 0, count: FlowStoreBridge.Outcome.allCases.count)))
    }

    /// Adds to `counter` what a running `total` grew by since it was last `reported`.
    private static func advance(_ counter: Counter, to total: UInt64, from reported: inout UInt64) {
        guard total > reported else { return }
        counter.increment(by: Int64(total - reported))
        reported = total
    }

    /// Brings the Prometheus metrics up to date and renders them in the text format.
    func exposition(statistics: RelayStatistics, tcpStatistics: RelayTCPStatistics?, store: FlowStoreBridge?,
                    isReady: Bool) -> String {
        reported.withLock { reported in
            for (index, counter) in workerCounters {
                Self.advance(counter, to: statistics.values[index], from: &reported.workerTotals[index])
            }
            if let tcpStatistics {
                for (index, counter) in tcpCounters {
                    Self.advance(counter, to: tcpStatistics.values[index], from: &reported.tcpTotals[index])
                }
                tcpConnections.set(to: Double(tcpStatistics.connections))
            }
            flows.set(to: Double(statistics.flows))
            if let store {
                for outcome in FlowStoreBridge.Outcome.allCases {
                    Self.advance(storeCounters[outcome.rawValue], to: store.total(outcome),
                                 from: &reported.storeTotals[outcome.rawValue])
                }
                Self.advance(outages, to: store.outages, from: &reported.outages)
                storeUp.set(to: store.isAvailable ? 1 : 0)
            }
            ready.set(to: isReady ? 1 : 0)
        }
        return registry.emitToString()
    }
}

/// A full metric name (suffix included) with its help text.
private func named(_ name: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
}
