#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOCore
import ParleyAgent
import ParleyEndpoint
import ParleyNIO
import ParleyRouting
import ParleyWebRTC
import ParleyWire
import Synchronization

/// The media side of a transceiver: one shard per event loop, each a `UDPDriver` (one UDP
/// socket, one timer) driving its own `TransceiverEndpoint`. Signaling places each new call
/// on the least-loaded shard, where it stays for life; the call's routing token names that
/// shard's socket, so relays deliver its packets to the thread that owns it. No lock and no
/// cross-thread hop per packet: shards share nothing but the placement ledger (touched per
/// call, not per packet) and the metrics.
public final class MediaEngine: Sendable {
    public let configuration: TransceiverConfiguration
    public let metrics: TransceiverMetrics
    /// The routing keys and API keys in force (`configuration`'s at start, then reloads).
    public let credentials: TransceiverCredentials
    let certificate: DTLSCertificate
    private let logger: Logger
    private let drivers: [UDPDriver<MediaShard>]
    private let placement: CallPlacement
    private let draining = Atomic<Bool>(false)

    /// Opus complexity 5 instead of libopus's default 10: at 100 echo calls on one core,
    /// 10 saturated the core where 5 used 0.8 of it (BENCHMARKS.md). The environment variable
    /// `PARLEY_OPUS_COMPLEXITY` (0-10) overrides it, so benchmarks can compare the two.
    static let opusComplexity: Int32 = {
        guard let text = getenv("PARLEY_OPUS_COMPLEXITY"), let value = Int32(String(cString: text)),
              (0...10).contains(value) else { return 5 }
        return value
    }()

    /// One shard per address of `configuration.shardUDPAddresses`, shard i on
    /// `eventLoops[i % eventLoops.count]` (give as many loops as shards for one thread each).
    public init(configuration: TransceiverConfiguration, metrics: TransceiverMetrics, eventLoops: [any EventLoop], logger: Logger) throws(DTLSError) {
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        credentials = TransceiverCredentials(routingKeyring: configuration.routingKeyring, apiKeys: configuration.bearerKeys)
        let certificate = try DTLSCertificate.generateSelfSigned()
        self.certificate = certificate
        SRTPSession.prepareLibrary()
        let addresses = configuration.shardUDPAddresses
        let placement = CallPlacement(shards: addresses.count, limit: configuration.maxSessions)
        self.placement = placement
        drivers = addresses.indices.map { index in
            var endpointConfiguration = TransceiverEndpoint.Configuration(
                certificate: certificate,
                tokenAddress: configuration.tokenAddress(forShard: index, boundAt: addresses[index]),
                cluster: configuration.cluster, routingKeyring: configuration.routingKeyring,
                candidates: configuration.candidates(forShardBoundAt: addresses[index]),
                tcpCandidates: configuration.advertisedTCPAddresses,
                relayNetworks: configuration.relayNetworks,
                mediaMode: configuration.backend == .packetEcho ? .packetEcho : .decoded,
                opusComplexity: Self.opusComplexity, controlAddress: configuration.controlAddress)
            endpointConfiguration.playoutCapacity = max(1, Int(configuration.backendLimits.playoutLimit / PacedAudioOutput.frameDuration))
            let endpoint = TransceiverEndpoint(configuration: endpointConfiguration)
            let shard = MediaShard(index: index, endpoint: endpoint, metrics: metrics, placement: placement,
                                   overloadLimits: configuration.overloadLimits, logger: logger)
            return UDPDriver(endpoint: shard, eventLoop: eventLoops[index % eventLoops.count])
        }
    }

    /// One shard on `eventLoop`.
    public convenience init(configuration: TransceiverConfiguration, metrics: TransceiverMetrics, eventLoop: any EventLoop, logger: Logger) throws(DTLSError) {
        try self.init(configuration: configuration, metrics: metrics, eventLoops: [eventLoop], logger: logger)
    }

    public var shardCount: Int { drivers.count }

    /// Binds every shard's socket; returns the bound addresses, by shard (a port is chosen
    /// where 0 was asked).
    public func start() async throws -> [PeerAddress] {
        var bound: [PeerAddress] = []
        for (driver, address) in zip(drivers, configuration.shardUDPAddresses) {
            var options = UDPSocketOptions.batched
            options.receiveBufferBytes = configuration.udpReceiveBufferBytes
            let local = try await driver.bind(to: address.socketAddress, options: options)
            let configuration = configuration
            try await driver.run { shard, _ in shard.bound(to: local, configuration: configuration) }
            bound.append(local)
        }
        return bound
    }

    /// Replaces the routing keys (`text` as in a keys file, docs/routing-token.md) without a
    /// restart: new calls' tokens, call ids and client secrets are signed with the new signing
    /// key, and everything signed with a key still listed keeps verifying. Text that does not
    /// load is refused and the old keys stay; counted either way.
    public func reloadRoutingKeys(text: String) throws -> RoutingKeyring {
        let keyring: RoutingKeyring
        do {
            keyring = try RoutingKeyring.load(text: text)
        } catch {
            metrics.secretReloaded("routing_keys", applied: false)
            throw error
        }
        credentials.replaceRoutingKeyring(keyring)
        for driver in drivers {
            driver.execute { shard, _ in shard.endpoint.configuration.routingKeyring = keyring }
        }
        metrics.secretReloaded("routing_keys", applied: true)
        return keyring
    }

    /// Replaces the server API keys with those in `text` (`APIKeyList`) plus `fixed` (keys
    /// given on the command line) without a restart; text with no key is refused (it would
    /// open the API) and the old keys stay; counted either way.
    public func reloadAPIKeys(text: String, keeping fixed: Set<String> = []) throws -> Set<String> {
        let keys: Set<String>
        do {
            keys = try APIKeyList.load(text: text)
        } catch {
            metrics.secretReloaded("api_keys", applied: false)
            throw error
        }
        credentials.replaceAPIKeys(keys.union(fixed))
        metrics.secretReloaded("api_keys", applied: true)
        return keys.union(fixed)
    }

    public func stop() async {
        for driver in drivers { await driver.close() }
    }

    /// Live calls (and calls being set up) over all shards.
    public var sessionCount: Int {
        get async { placement.total }
    }

    /// Live calls by shard.
    public var sessionsByShard: [Int] {
        get async { placement.loads }
    }

    /// The Prometheus exposition, with `parley_session_utilisation` brought up to date.
    public func metricsExposition() -> String {
        metrics.sessionUtilisation.set(Double(placement.total) / Double(max(1, configuration.maxSessions)))
        metrics.placementEntries.set(Double(placement.mappedCalls))
        return metrics.exposition()
    }

    public var isAcceptingCalls: Bool {
        get async { !draining.load(ordering: .relaxed) }
    }

    /// True when every shard with calls is under pressure (`ShardPressure`): new calls get 503
    /// `overloaded` and `/readyz` says so, until a shard catches up.
    public var isOverloaded: Bool {
        placement.isOverloaded
    }

    // MARK: Signaling

    /// Answers an SDP offer (RFC 8829 §5.3) and creates the call on the least-loaded shard.
    /// `session`, when given, is applied as the call's first `session.update`; `maxDuration`
    /// ends the call after that long (a client secret's limit); `caller` describes who called
    /// (the credential's claims) for the backend's `parley.call.started`; `clientRegion`,
    /// the caller's region as the ingress named it, picks the relays the answer carries
    /// (`TransceiverConfiguration.regionIngress`; the advertised ones for no or an unknown
    /// region, counted in `parley_region_steering_total{result}`).
    public func createCall(offerSDP: String, session: RealtimeEvent? = nil, maxDuration: Duration? = nil,
                           caller: [String: JSONValue] = [:], clientRegion: String? = nil) async throws -> CallAnswer {
        let offer: SDPOffer
        do {
            offer = try SDPOffer(parsing: offerSDP)
        } catch {
            throw CallSetupError.offer(error)
        }
        guard !draining.load(ordering: .relaxed) else { throw CallSetupError.draining }
        let candidates = steer(clientRegion)
        let index = try placement.reserve()
        let driver = drivers[index]
        do {
            return try await driver.run { shard, now in
                try shard.createCall(offer: offer, settings: session, maxDuration: maxDuration, candidates: candidates,
                                     now: now) { id in
                    self.makeBackend(for: id, on: driver, metadata: [
                        "caller": .object(caller), "cluster": .number(Double(self.configuration.cluster)),
                        "shard": .number(Double(index)),
                    ])
                }
            }
        } catch {
            placement.release(shard: index)
            throw error
        }
    }

    /// The ingress of `region`, when one is configured for it; nil (the advertised relays)
    /// otherwise. Only when regions are configured is the outcome counted.
    private func steer(_ region: String?) -> AnswerCandidates? {
        guard !configuration.regionIngress.isEmpty else { return nil }
        guard let region else {
            metrics.regionSteering("no_region")
            return nil
        }
        guard let ingress = configuration.regionIngress[region] else {
            metrics.regionSteering("unknown_region")
            return nil
        }
        metrics.regionSteering("steered")
        return ingress
    }

    private func makeBackend(for id: SessionID, on driver: UDPDriver<MediaShard>, metadata: [String: JSONValue]) -> any CallBackend {
        switch configuration.backend {
        case .agent:
            return AgentBackend()
        case .echo, .packetEcho:
            return EchoBackend()
        case .webSocket(let url):
            // The socket's task wakes the call on its shard's loop.
            return WebSocketBackend(url: url, callID: id, metadata: metadata, limits: configuration.backendLimits,
                                    metrics: metrics, logger: logger) {
                driver.execute { shard, now in shard.endpoint.wakeCall(id, now: now) }
            }
        }
    }

    /// Ends a call as the signaling API's DELETE asks; false when there is no such call
    /// (an id that ended lately counts as found: DELETE is idempotent, RFC 9110 §9.2.2).
    public func endCall(_ id: SessionID) async -> Bool {
        if let index = placement.shard(of: id) {
            return (try? await drivers[index].run { shard, now in shard.endpoint.endCall(id, now: now) }) ?? false
        }
        // Not live: ended lately on some shard, or unknown.
        for driver in drivers {
            if (try? await driver.run({ shard, _ in shard.endpoint.knowsCall(id) })) == true { return true }
        }
        return false
    }

    /// True when call `id` is live on some shard.
    public func hasLiveCall(_ id: SessionID) -> Bool {
        placement.shard(of: id) != nil
    }

    /// Joins a sideband to live call `id` on its shard; nil when there is no such call.
    public func attachSideband(_ id: SessionID) async -> Sideband? {
        guard let index = placement.shard(of: id) else { return nil }
        let driver = drivers[index]
        let (messages, continuation) = AsyncStream.makeStream(
            of: Sideband.Message.self, bufferingPolicy: .bufferingOldest(Sideband.bufferLimit))
        guard let number = try? await driver.run({ shard, _ in shard.attachSideband(id, continuation: continuation) }) else {
            continuation.finish()
            return nil
        }
        return Sideband(callID: id, messages: messages, driver: driver, number: number)
    }

    /// Stops taking calls; live sessions continue until they end or `deadline` passes, when
    /// the rest are ended. Returns how many that was (each counted in
    /// `parley_sessions_ended_total{reason="drain_deadline"}`).
    @discardableResult
    public func drain(deadline: Duration) async -> Int {
        draining.store(true, ordering: .relaxed)
        for driver in drivers {
            _ = try? await driver.run { shard, _ in shard.endpoint.drain() }
        }
        let end = Instant.now + deadline
        while await sessionCount > 0, Instant.now < end {
            try? await Task.sleep(for: .milliseconds(100))
        }
        var cut = 0
        for driver in drivers {
            cut += (try? await driver.run { shard, now in shard.endpoint.endCallsAtDrainDeadline(now: now) }) ?? 0
        }
        return cut
    }
}
