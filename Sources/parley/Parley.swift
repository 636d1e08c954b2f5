import ArgumentParser
import Foundation
import Logging
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

    @Option(help: "The UDP socket all sessions share, IP:PORT.")
    var udp: PeerAddressArgument = .init(PeerAddress("127.0.0.1:3478")!)

    @Option(help: "An address written into answers as a host candidate, IP:PORT (repeatable; default: the UDP address).")
    var advertise: [PeerAddressArgument] = []

    @Option(help: "New calls beyond this many get 503.")
    var maxSessions: Int = 1_000

    @Option(help: "An API key callers must send as 'Authorization: Bearer KEY' (repeatable; also PARLEY_API_KEYS, comma separated). Required off loopback.")
    var apiKey: [String] = []

    @Option(help: "Where calls go: 'agent' (the built-in agent), 'echo', or a ws:// URL of a backend speaking docs/backend-protocol.md.")
    var backend: BackendKindArgument = .init(.agent)

    @Option(help: "Accept relay-encapsulated datagrams from this address or CIDR (repeatable).")
    var relay: [IPNetworkArgument] = []

    @Option(help: "The cluster this transceiver's routing tokens name (0-65535).")
    var cluster: UInt16 = 0

    @Option(help: "The address routing tokens name, where relays send packets (default: the UDP address).")
    var routingAddress: PeerAddressArgument?

    @OptionGroup var routingKeys: RoutingKeyOptions

    @Option(help: "Seconds live calls may continue after SIGTERM.")
    var drainSeconds: Int = 30

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func makeConfiguration() throws -> TransceiverConfiguration {
        let environmentKeys = ProcessInfo.processInfo.environment["PARLEY_API_KEYS"]?
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } ?? []
        return TransceiverConfiguration(
            httpAddress: http.address, udpAddress: udp.address,
            advertisedAddresses: advertise.map(\.address), maxSessions: maxSessions,
            bearerKeys: Set(apiKey + environmentKeys), drainDeadline: .seconds(drainSeconds),
            backend: backend.kind,
            relayNetworks: relay.map(\.network),
            routingKeyring: try routingKeys.load(developmentAllowed: udp.address.ip.isLoopback && relay.allSatisfy(\.network.address.isLoopback)).keyring,
            cluster: cluster,
            routingAddress: routingAddress?.address)
    }

    func run(name: String) async throws {
        var logger = Logger(label: "parley.\(name)")
        logger.logLevel = logLevel
        let configuration = try makeConfiguration()
        if configuration.tokenAddress.ip.isUnspecified {
            throw ValidationError("--udp \(udp.address) is a wildcard: give --routing-address with the address relays reach")
        }
        let transceiver = try Transceiver(configuration: configuration, logger: logger)
        logger.info("signaling listening", metadata: ["http": "http://\(http.address)"])
        try await transceiver.run()
    }
}

struct TransceiverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transceiver",
        abstract: "Terminate WebRTC calls: HTTP signaling, ICE-lite, DTLS, SRTP, Opus, on one UDP port.")

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
