import ArgumentParser
import Foundation
import Logging
import ParleyEndpoint
import ParleyTransceiver
import ParleyWire

@main
struct Parley: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Parley: a WebRTC edge for voice AI.",
        subcommands: [DemoCommand.self, TransceiverCommand.self, RelayCommand.self, LoadgenCommand.self, TokenCommand.self])
}

/// Options every transceiver-like command shares.
struct TransceiverOptions: ParsableArguments {
    @Option(help: "Signaling HTTP listener, IP:PORT.")
    var http: PeerAddressArgument = .init(PeerAddress("127.0.0.1:8080")!)

    @Option(help: ArgumentHelp(
        "The first shard's UDP socket, IP:PORT (default 127.0.0.1:3478); shard i binds PORT+i, and port 0 gives each shard a port of its own.",
        discussion: "A comma list, or --udp repeated, names every shard's socket instead."))
    var udp: [PeerAddressListArgument] = []

    @Option(help: "Shards: event-loop threads, each with its own UDP socket and its own calls (default: the CPUs this process may use, by affinity and cgroup quota).")
    var shards: Int?

    @Option(help: "An address written into answers as a host candidate, IP:PORT (repeatable; default: each shard's own UDP address).")
    var advertise: [PeerAddressArgument] = []

    @Option(name: .customLong("advertise-tcp"),
            help: "A relay's public TCP address (its --public-tcp), written into answers as a 'tcptype passive' host candidate below the UDP ones, IP:PORT (repeatable).")
    var advertiseTCP: [PeerAddressArgument] = []

    @Option(name: .customLong("region-ingress"),
            help: "REGION=IP:PORT[,IP:PORT...]: the relays (UDP, highest priority first) answers carry for a caller whose ingress sets 'Parley-Client-Region: REGION' (repeatable).")
    var regionIngress: [RegionAddressesArgument] = []

    @Option(name: .customLong("region-ingress-tcp"),
            help: "REGION=IP:PORT[,IP:PORT...]: the relays' ICE-TCP addresses answers carry for a caller of REGION (repeatable).")
    var regionIngressTCP: [RegionAddressesArgument] = []

    @Option(name: .customLong("overload-utilisation"),
            help: "A shard whose loop thread is on the CPU or waiting for it for more than this share of a second takes no new calls; with every loaded shard so, new calls get 503 'overloaded' (0: overload control off).")
    var overloadUtilisation: Double = 0.8

    @Option(name: .customLong("overload-lateness-ms"),
            help: "A shard running a tenth of its timers later than this over a second takes no new calls either.")
    var overloadLatenessMilliseconds: Int = 10

    @Option(help: "New calls beyond this many get 503.")
    var maxSessions: Int = 1_000

    @Option(name: .customLong("http-max-connections"),
            help: "Signaling connections open at once; a newcomer beyond takes the place of the oldest one still without a request head after 100 ms, else gets 503 with Retry-After.")
    var httpMaxConnections: Int = SignalingLimits().maxConnections

    @Option(name: .customLong("http-read-timeout"),
            help: "Seconds a signaling connection has to send its first request head, and an offer its body; then 408.")
    var httpReadTimeout: Double = 10

    @Option(name: .customLong("http-idle-timeout"),
            help: "Seconds a keep-alive signaling connection may wait for its next request before it is closed.")
    var httpIdleTimeout: Double = 75

    @Option(name: .customLong("http-max-body-bytes"), help: "Request bodies larger than this get 413.")
    var httpMaxBodyBytes: Int = SignalingLimits().maxBodyBytes

    @Option(name: .customLong("max-pending-offers"),
            help: "Offers being read or answered at once; more get 503 'too_many_pending_offers' with Retry-After.")
    var maxPendingOffers: Int = SignalingLimits().maxPendingOffers

    @Option(name: .customLong("udp-receive-buffer-bytes"),
            help: "Each shard socket's receive buffer (SO_RCVBUF; the kernel caps it at net.core.rmem_max): how long datagrams may wait for a busy shard.")
    var udpReceiveBufferBytes: Int = 4 * 1_024 * 1_024

    @Option(name: .customLong("backend-send-queue-bytes"),
            help: "Bytes per call waiting for a WebSocket backend to read; beyond, the oldest caller audio is dropped (counted).")
    var backendSendQueueBytes: Int = BackendLimits().sendQueueBytes

    @Option(name: .customLong("backend-stall-seconds"),
            help: "A WebSocket backend that takes nothing for this long while data waits is unresponsive: the call ends with 'backend_unresponsive'.")
    var backendStallSeconds: Double = 5

    @Option(name: .customLong("backend-playout-seconds"),
            help: "Seconds of the backend's audio a call queues for the caller; beyond, the oldest is dropped (counted).")
    var backendPlayoutSeconds: Int = 60

    @Option(help: "An API key callers must send as 'Authorization: Bearer KEY' (repeatable; also PARLEY_API_KEYS, comma separated). Required off loopback.")
    var apiKey: [String] = []

    @Option(name: .customLong("api-keys"), help: "A file of API keys (one per line or comma separated), re-read when it changes: rotation without a restart.")
    var apiKeysFile: String?

    @Option(name: .customLong("secret-reload-seconds"), help: "How often the --keys and --api-keys files are checked for changes.")
    var secretReloadSeconds: Double = 5

    @Flag(help: "Accept an API key from a browser page (a request with Origin); by default pages must use ephemeral client secrets.")
    var allowBrowserApiKeys = false

    @Option(help: "Where calls go: 'agent' (the built-in agent), 'echo', or a ws:// URL of a backend speaking docs/backend-protocol.md.")
    var backend: BackendKindArgument = .init(.agent)

    @Option(help: "Accept relay-encapsulated datagrams from this address or CIDR (repeatable).")
    var relay: [IPNetworkArgument] = []

    @Option(help: "The cluster this transceiver's routing tokens name (0-65535).")
    var cluster: UInt16 = 0

    @Option(help: "The address routing tokens name, where relays send packets; shard i's tokens name PORT+i (default: each shard's own UDP address).")
    var routingAddress: PeerAddressArgument?

    @Option(help: "Where the other transceivers of the cluster reach this one's signaling, IP:PORT: call ids name it (signed), so a DELETE, hangup or sideband that reaches another transceiver is forwarded here.")
    var controlAddress: PeerAddressArgument?

    @OptionGroup var routingKeys: RoutingKeyOptions

    @Option(help: "Seconds live calls may continue after SIGTERM.")
    var drainSeconds: Int = 30

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    /// Every --udp address, comma lists flattened.
    var udpAddresses: [PeerAddress] {
        let listed = udp.flatMap(\.addresses)
        return listed.isEmpty ? [PeerAddress("127.0.0.1:3478")!] : listed
    }

    /// Shards: one per listed socket, else --shards, else the CPUs this process may use.
    func shardCount() throws -> Int {
        let listed = udpAddresses
        if listed.count > 1 {
            if let shards, shards != listed.count {
                throw ValidationError("--shards \(shards) but --udp lists \(listed.count) sockets")
            }
            return listed.count
        }
        let count = shards ?? CPUBudget.available()
        guard count >= 1 else { throw ValidationError("--shards must be at least 1") }
        for (name, address) in [("--udp", listed[0]), ("--routing-address", routingAddress?.address)] {
            if let address, address.port != 0, Int(address.port) + count - 1 > Int(UInt16.max) {
                throw ValidationError("\(name) \(address) leaves no room for \(count) consecutive ports")
            }
        }
        return count
    }

    func makeConfiguration() throws -> TransceiverConfiguration {
        let environmentKeys = APIKeyList.parse(ProcessInfo.processInfo.environment["PARLEY_API_KEYS"] ?? "")
        let fileKeys: Set<String> = try apiKeysFile.map { path in
            do {
                return try APIKeyList.load(text: String(contentsOfFile: path, encoding: .utf8))
            } catch {
                throw ValidationError("--api-keys \(path): \(error)")
            }
        } ?? Set()
        var configuration = TransceiverConfiguration(
            httpAddress: http.address, udpAddress: udpAddresses[0], udpAddresses: udpAddresses, shards: try shardCount(),
            advertisedAddresses: advertise.map(\.address), advertisedTCPAddresses: advertiseTCP.map(\.address),
            maxSessions: maxSessions,
            bearerKeys: Set(apiKey).union(environmentKeys).union(fileKeys), allowsBrowserServerKeys: allowBrowserApiKeys,
            drainDeadline: .seconds(drainSeconds),
            backend: backend.kind,
            relayNetworks: relay.map(\.network),
            routingKeyring: try routingKeys.load(developmentAllowed: udpAddresses.allSatisfy(\.ip.isLoopback) && relay.allSatisfy(\.network.address.isLoopback)).keyring,
            cluster: cluster,
            routingAddress: routingAddress?.address,
            controlAddress: controlAddress?.address)
        configuration.regionIngress = try RegionAddressesArgument.ingress(udp: regionIngress, tcp: regionIngressTCP)
        guard overloadLatenessMilliseconds > 0, (0...1).contains(overloadUtilisation) else {
            throw ValidationError("--overload-lateness-ms must be positive and --overload-utilisation between 0 and 1")
        }
        guard httpMaxConnections >= 1, httpReadTimeout > 0, httpIdleTimeout > 0, httpMaxBodyBytes >= 1, maxPendingOffers >= 1 else {
            throw ValidationError("--http-max-connections, --http-read-timeout, --http-idle-timeout, --http-max-body-bytes and --max-pending-offers must be positive")
        }
        guard udpReceiveBufferBytes >= 4_096 else { throw ValidationError("--udp-receive-buffer-bytes must be at least 4096") }
        configuration.udpReceiveBufferBytes = udpReceiveBufferBytes
        configuration.signalingLimits = SignalingLimits(
            maxConnections: httpMaxConnections, readTimeout: .milliseconds(Int64(httpReadTimeout * 1_000)),
            idleTimeout: .milliseconds(Int64(httpIdleTimeout * 1_000)), maxBodyBytes: httpMaxBodyBytes,
            maxPendingOffers: maxPendingOffers)
        guard backendSendQueueBytes >= 1, backendStallSeconds > 0, backendPlayoutSeconds >= 1 else {
            throw ValidationError("--backend-send-queue-bytes, --backend-stall-seconds and --backend-playout-seconds must be positive")
        }
        configuration.backendLimits = BackendLimits(
            sendQueueBytes: backendSendQueueBytes, stallTimeout: .milliseconds(Int64(backendStallSeconds * 1_000)),
            playoutLimit: .seconds(backendPlayoutSeconds))
        configuration.overloadLimits = overloadUtilisation == 0 ? nil
            : .init(lateness: .milliseconds(overloadLatenessMilliseconds), maxUtilisation: overloadUtilisation)
        return configuration
    }

    func run(name: String) async throws {
        var logger = Logger(label: "parley.\(name)")
        logger.logLevel = logLevel
        let configuration = try makeConfiguration()
        if let wildcard = configuration.shardUDPAddresses.first(where: \.ip.isUnspecified), configuration.routingAddress == nil {
            throw ValidationError("--udp \(wildcard) is a wildcard: give --routing-address with the address relays reach")
        }
        let transceiver = try Transceiver(configuration: configuration, logger: logger)
        logger.info("signaling listening", metadata: ["http": "http://\(http.address)"])
        let engine = transceiver.engine
        var watched: [SecretFileWatcher.File] = []
        if let path = routingKeys.keys {
            watched.append(.init(name: "routing keys", path: path, countUnreadable: { engine.metrics.secretUnreadable("routing_keys") }) { text in
                let keyring = try engine.reloadRoutingKeys(text: text)
                return "keys \(keyring.keyIDs), signing \(keyring.signingKeyID)"
            })
        }
        if let path = apiKeysFile {
            // Keys given by flag or environment stay; the file's set is what rotates.
            let fixed = Set(apiKey).union(APIKeyList.parse(ProcessInfo.processInfo.environment["PARLEY_API_KEYS"] ?? ""))
            watched.append(.init(name: "API keys", path: path, countUnreadable: { engine.metrics.secretUnreadable("api_keys") }) { text in
                "\(try engine.reloadAPIKeys(text: text, keeping: fixed).count) keys"
            })
        }
        try await transceiver.run(alongside: watched.isEmpty ? [] : [
            SecretFileWatcher(files: watched, interval: .milliseconds(Int64(secretReloadSeconds * 1_000)), logger: logger),
        ])
    }
}

struct TransceiverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transceiver",
        abstract: "Terminate WebRTC calls: HTTP signaling, ICE-lite, DTLS, SRTP, Opus, on one UDP port per shard.")

    @OptionGroup var options: TransceiverOptions

    func run() async throws {
        try await options.run(name: "transceiver")
    }
}

/// `IP:PORT` or `[IPv6]:PORT` on the command line.
struct PeerAddressArgument: ExpressibleByArgument {
    let address: PeerAddress

    init(_ address: PeerAddress) {
        self.address = address
    }

    init?(argument: String) {
        guard let address = PeerAddress(argument) else { return nil }
        self.address = address
    }

    var defaultValueDescription: String { address.description }
}

/// `REGION=IP:PORT[,IP:PORT...]` on the command line: one region's relay addresses.
struct RegionAddressesArgument: ExpressibleByArgument {
    let region: String
    let addresses: [PeerAddress]

    init?(argument: String) {
        let parts = argument.split(separator: "=", maxSplits: 1)
        guard parts.count == 2, !parts[0].isEmpty, let list = PeerAddressListArgument(argument: String(parts[1])) else { return nil }
        region = String(parts[0])
        addresses = list.addresses
    }

    /// Each region's answer candidates; a region with TCP relays must have UDP ones too.
    static func ingress(udp: [Self], tcp: [Self]) throws -> [String: AnswerCandidates] {
        var ingress: [String: AnswerCandidates] = [:]
        for entry in udp {
            guard ingress[entry.region] == nil else { throw ValidationError("--region-ingress \(entry.region) given twice") }
            ingress[entry.region] = AnswerCandidates(udp: entry.addresses)
        }
        for entry in tcp {
            guard ingress[entry.region] != nil else {
                throw ValidationError("--region-ingress-tcp \(entry.region): that region has no --region-ingress")
            }
            ingress[entry.region]?.tcp += entry.addresses
        }
        return ingress
    }
}

/// `IP:PORT`, or several separated by commas, on the command line.
struct PeerAddressListArgument: ExpressibleByArgument {
    let addresses: [PeerAddress]

    init?(argument: String) {
        let addresses = argument.split(separator: ",").map { PeerAddress(String($0).trimmingCharacters(in: .whitespaces)) }
        guard !addresses.isEmpty, !addresses.contains(where: { $0 == nil }) else { return nil }
        self.addresses = addresses.compactMap { $0 }
    }
}

/// `10.0.0.0/8` or a single address on the command line.
struct IPNetworkArgument: ExpressibleByArgument {
    let network: IPNetwork

    init?(argument: String) {
        guard let network = IPNetwork(argument) else { return nil }
        self.network = network
    }
}

/// `agent`, `echo` or a `ws://` URL on the command line.
struct BackendKindArgument: ExpressibleByArgument {
    let kind: BackendKind

    init(_ kind: BackendKind) {
        self.kind = kind
    }

    init?(argument: String) {
        guard let kind = BackendKind(argument: argument) else { return nil }
        self.kind = kind
    }

    var defaultValueDescription: String { kind.description }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
