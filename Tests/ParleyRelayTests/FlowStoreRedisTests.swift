import Logging
import ParleyRelay
import ParleyWire
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A throwaway redis-server on a free loopback port, no persistence, stopped by its PID.
///
/// Spawned with posix_spawn and an empty signal mask: a child started by Foundation's
/// `Process` inherits the test runner's blocked signals and would ignore SIGTERM.
final class RedisServerProcess {
    static let binary = "/usr/bin/redis-server"
    static var isInstalled: Bool { access(binary, X_OK) == 0 }

    let port: Int
    /// `requirepass`, when the server asks clients to log in.
    let password: String?
    private(set) var pid: pid_t?

    init(password: String? = nil) throws {
        port = try Self.freePort()
        self.password = password
        try start()
    }

    var url: String { "redis://127.0.0.1:\(port)" }

    func start() throws {
        let arguments = [Self.binary, "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + (password.map { ["--requirepass", $0] } ?? [])
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        var files = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&files)
        defer { posix_spawn_file_actions_destroy(&files) }
        posix_spawn_file_actions_addopen(&files, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&files, 2, "/dev/null", O_WRONLY, 0)
        var child: pid_t = 0
        guard posix_spawn(&child, Self.binary, &files, &attributes, argv, environ) == 0 else {
            throw RedisTestError.didNotStart(port)
        }
        pid = child
        let deadline = ContinuousClock.now + .seconds(5)
        while !Self.accepts(port: port) {
            guard ContinuousClock.now < deadline else {
                stop()
                throw RedisTestError.didNotStart(port)
            }
            usleep(20_000)
        }
    }

    func stop() {
        guard let pid else { return }
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        self.pid = nil
    }

    deinit {
        stop()
    }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw RedisTestError.noFreePort }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

enum RedisTestError: Error {
    case noFreePort, didNotStart(Int)
}

private let client = PeerAddress("198.51.100.7:61000")!
private let transceiver = PeerAddress("10.0.0.9:40000")!
private let skipMessage: Comment = "redis-server is not installed at /usr/bin/redis-server (Debian package redis-server): Redis flow store tests skipped"

private func elapsed<T>(_ body: () async throws -> T) async -> (result: Result<T, any Error>, seconds: Double) {
    let clock = ContinuousClock()
    let start = clock.now
    let result: Result<T, any Error>
    do { result = .success(try await body()) } catch { result = .failure(error) }
    let duration = clock.now - start
    return (result, Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
}

@Suite(.serialized, .enabled(if: RedisServerProcess.isInstalled, skipMessage))
struct RedisFlowStoreTests {
    let logger = Logger(label: "test.redis")

    @Test func recordsLooksUpAndExpires() async throws {
        let server = try RedisServerProcess()
        let store = try RedisFlowStore(url: server.url, logger: logger)
        #expect(try await store.lookup(client: client) == nil)
        try await store.record(client: client, transceiver: transceiver, ttl: .milliseconds(300))
        let ipv6Client = PeerAddress("[2001:db8::7]:61000")!
        let ipv6Transceiver = PeerAddress("[fd00::9]:40000")!
        try await store.record(client: ipv6Client, transceiver: ipv6Transceiver, ttl: .seconds(60))
        #expect(try await store.lookup(client: client) == transceiver)
        #expect(try await store.lookup(client: ipv6Client) == ipv6Transceiver)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await store.lookup(client: client) == nil)
        #expect(try await store.lookup(client: ipv6Client) == ipv6Transceiver)
        await store.close()
    }

    @Test func pipelinedCommandsEachGetTheirOwnReply() async throws {
        let server = try RedisServerProcess()
        let store = try RedisFlowStore(url: server.url, logger: logger, timeout: .seconds(2))
        let clients = (1...200).map { PeerAddress(ip: .v4(0xC633_6400), port: UInt16($0)) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, client) in clients.enumerated() {
                group.addTask {
                    try await store.record(client: client, transceiver: PeerAddress(ip: .v4(0x0A00_0000 + UInt32(index)), port: 1), ttl: .seconds(60))
                }
            }
            try await group.waitForAll()
        }
        let found = try await withThrowingTaskGroup(of: (Int, PeerAddress?).self) { group in
            for (index, client) in clients.enumerated() {
                group.addTask { (index, try await store.lookup(client: client)) }
            }
            return try await group.reduce(into: [Int: PeerAddress?]()) { $0[$1.0] = $1.1 }
        }
        for index in clients.indices {
            #expect(found[index] == PeerAddress(ip: .v4(0x0A00_0000 + UInt32(index)), port: 1))
        }
        await store.close()
    }

    @Test func databaseFromTheURLKeepsStoresApart() async throws {
        let server = try RedisServerProcess()
        let database2 = try RedisFlowStore(url: server.url + "/2", logger: logger)
        let database0 = try RedisFlowStore(url: server.url, logger: logger)
        try await database2.record(client: client, transceiver: transceiver, ttl: .seconds(60))
        #expect(try await database2.lookup(client: client) == transceiver)
        #expect(try await database0.lookup(client: client) == nil)
        await database2.close()
        await database0.close()
    }

    @Test func stoppedRedisFailsFastAndARestartedOneIsReconnected() async throws {
        let server = try RedisServerProcess()
        let store = try RedisFlowStore(url: server.url, logger: logger)
        try await store.record(client: client, transceiver: transceiver, ttl: .seconds(60))
        server.stop()

        for _ in 0..<3 {
            let attempt = await elapsed { try await store.lookup(client: client) }
            #expect(throws: RedisFlowStoreError.self) { try attempt.result.get() }
            #expect(attempt.seconds < 1)
        }

        try server.start()
        let deadline = ContinuousClock.now + .seconds(5)
        var reconnected = false
        while !reconnected, ContinuousClock.now < deadline {
            do {
                try await store.record(client: client, transceiver: transceiver, ttl: .seconds(60))
                reconnected = true
            } catch {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        #expect(reconnected)
        #expect(try await store.lookup(client: client) == transceiver)
        await store.close()
    }

    @Test func unresponsiveRedisTimesOut() async throws {
        let server = try RedisServerProcess()
        let store = try RedisFlowStore(url: server.url, logger: logger, timeout: .milliseconds(200))
        try await store.record(client: client, transceiver: transceiver, ttl: .seconds(60))
        let pid = try #require(server.pid)
        kill(pid, SIGSTOP)
        let attempt = await elapsed { try await store.lookup(client: client) }
        kill(pid, SIGCONT)
        #expect(throws: RedisFlowStoreError.timedOut) { try attempt.result.get() }
        #expect(attempt.seconds >= 0.15 && attempt.seconds < 1)
        #expect(try await store.lookup(client: client) == transceiver)
        await store.close()
    }

    @Test func aPasswordFromTheURLLogsIn() async throws {
        let server = try RedisServerProcess(password: "s3cr/et")
        let store = try RedisFlowStore(url: "redis://:s3cr%2Fet@127.0.0.1:\(server.port)", logger: logger, timeout: .seconds(2))
        try await store.record(client: client, transceiver: transceiver, ttl: .seconds(60))
        #expect(try await store.lookup(client: client) == transceiver)
        await store.close()
        // Without the password, or with a wrong one, nothing is read.
        for url in [server.url, "redis://:wrong@127.0.0.1:\(server.port)", "redis://default:wrong@127.0.0.1:\(server.port)"] {
            let refused = try RedisFlowStore(url: url, logger: logger, timeout: .seconds(2))
            await #expect(throws: RedisFlowStoreError.self) { try await refused.lookup(client: client) }
            await refused.close()
        }
    }

    @Test func urlsWithPasswordsParseAndNeverShowThem() throws {
        let endpoint = try #require(RedisEndpoint(url: "redis://app:p%40ss@[::1]:6380/3"))
        #expect(endpoint == RedisEndpoint(host: "::1", port: 6380, database: 3, username: "app", password: "p@ss"))
        #expect(endpoint.description == "redis://app:***@[::1]:6380/3")
        #expect(RedisEndpoint(url: "redis://:pw@host")?.username == nil)
        #expect(RedisEndpoint(url: "redis://user@host") == nil)
        #expect(throws: RedisFlowStoreError.invalidURL("redis://app:***@host:notaport")) {
            try RedisFlowStore(url: "redis://app:hunter2@host:notaport", logger: logger)
        }
    }

    @Test func malformedURLIsRejected() {
        #expect(throws: RedisFlowStoreError.invalidURL("http://127.0.0.1")) {
            try RedisFlowStore(url: "http://127.0.0.1", logger: logger)
        }
    }
}
