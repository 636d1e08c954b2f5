import Hummingbird
import Logging
import NIOCore
import ParleyNIO
import NIOPosix
import ParleyWire
import ServiceLifecycle

/// A whole transceiver as services: the media engine and the signaling HTTP server.
/// On SIGTERM it stops taking calls (`/readyz` answers 503) and keeps live sessions until
/// they end or the drain deadline passes, then stops.
///
/// The media shards run on event loop threads of their own, one per shard; signaling runs
/// on NIO's shared group.
public struct Transceiver: Sendable {
    public let engine: MediaEngine
    public let logger: Logger
    private let shardLoops: MultiThreadedEventLoopGroup

    public init(configuration: TransceiverConfiguration, logger: Logger) throws {
        if let problem = configuration.authenticationProblem() {
            throw TransceiverStartupError(message: problem)
        }
        self.logger = logger
        shardLoops = MultiThreadedEventLoopGroup(numberOfThreads: configuration.shardUDPAddresses.count)
        engine = try MediaEngine(
            configuration: configuration, metrics: TransceiverMetrics(),
            eventLoops: Array(shardLoops.makeIterator()), logger: logger)
    }

    /// Runs until SIGTERM or SIGINT, then drains. `alongside`: more services with the same
    /// lifetime (the secret-file watcher).
    public func run(alongside: [any Service] = []) async throws {
        let media = MediaService(engine: engine, logger: logger)
        let api = SignalingAPI(engine: engine, logger: logger)
        let http = Application(
            router: api.makeRouter(),
            server: api.makeServer(),
            configuration: .init(address: .hostname(engine.configuration.httpAddress.ip.description,
                                                     port: Int(engine.configuration.httpAddress.port))),
            logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: alongside.map { .init(service: $0) } + [.init(service: http), .init(service: media)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch {
            try? await shardLoops.shutdownGracefully()
            throw error
        }
        try? await shardLoops.shutdownGracefully()
    }
}

public struct TransceiverStartupError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Owns the media socket's life inside a `ServiceGroup`.
struct MediaService: Service {
    let engine: MediaEngine
    let logger: Logger

    func run() async throws {
        let addresses = try await engine.start()
        for (shard, address) in addresses.enumerated() {
            logger.info("media socket bound", metadata: [
                "shard": "\(shard)", "udp": "\(address)",
                "candidates": "\(engine.configuration.candidates(forShardBoundAt: address))",
                "tcpCandidates": "\(engine.configuration.advertisedTCPAddresses)"])
        }
        try? await gracefulShutdown()
        let live = await engine.sessionCount
        logger.info("draining", metadata: ["sessions": "\(live)"])
        let cut = await engine.drain(deadline: engine.configuration.drainDeadline)
        if cut > 0 {
            logger.warning("calls cut at the drain deadline", metadata: [
                "sessions": "\(cut)", "deadline": "\(engine.configuration.drainDeadline)"])
        }
        await engine.stop()
    }
}
