import Hummingbird
import Logging
import ServiceLifecycle

extension Relay {
    /// Runs the relay and its admin HTTP listener until SIGTERM or SIGINT; then reports
    /// not-ready on `/readyz` for `drainDeadline` while still forwarding, and stops.
    /// `alongside`: more services with the same lifetime (the secret-file watcher).
    public func run(alongside: [any Service] = []) async throws {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = alongside.map { .init(service: $0) }
        if let admin = configuration.adminAddress {
            let http = Application(
                router: RelayAdminAPI(relay: self).makeRouter(),
                configuration: .init(address: .hostname(admin.ip.description, port: Int(admin.port))),
                logger: logger)
            services.append(.init(service: http))
        }
        // Last in the list, so it is told to shut down first, while the admin API still answers.
        services.append(.init(service: RelayForwardingService(relay: self)))
        let group = ServiceGroup(configuration: .init(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// The workers' life inside a `ServiceGroup`: start, wait for shutdown, drain, stop.
struct RelayForwardingService: Service {
    let relay: Relay

    func run() async throws {
        relay.start()
        try? await gracefulShutdown()
        relay.beginDraining()
        relay.logger.info("draining", metadata: ["deadline": "\(relay.configuration.drainDeadline)",
                                                 "flows": "\(relay.statistics().flows)"])
        try? await Task.sleep(for: relay.configuration.drainDeadline)
        await relay.stop()
        relay.logger.info("relay stopped")
    }
}

/// `/healthz` (the process answers), `/readyz` (503 while draining), `/metrics` (Prometheus).
struct RelayAdminAPI {
    let relay: Relay

    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        let relay = self.relay
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ in
            relay.isReady
                ? Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
                : Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "draining\n")))
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(string: relay.metricsExposition())))
        }
        return router
    }
}
