// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "parley",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "parley", targets: ["parley"]),
        // For Benchmarks/Micro, a separate package that measures the hot paths, and Fuzz, the
        // libFuzzer targets.
        .library(name: "ParleyWire", targets: ["ParleyWire"]),
        .library(name: "ParleyRouting", targets: ["ParleyRouting"]),
        .library(name: "ParleyWebRTC", targets: ["ParleyWebRTC"]),
        .library(name: "ParleyRelay", targets: ["ParleyRelay"]),
        .library(name: "ParleyAgent", targets: ["ParleyAgent"]),
        .library(name: "ParleyEndpoint", targets: ["ParleyEndpoint"]),
        .library(name: "ParleyTransceiver", targets: ["ParleyTransceiver"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket.git", from: "1.6.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
    ],
    targets: [
        // System-library shims: headers plus small C functions for macros and variadic calls.
        .target(name: "COpenSSL", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        // libsrtp2 through pkg-config, which knows where scripts/install-deps.sh put it.
        .systemLibrary(name: "CLibSRTP", pkgConfig: "libsrtp2"),
        .target(name: "CSRTP", dependencies: ["CLibSRTP"]),
        .target(name: "COpus", linkerSettings: [.linkedLibrary("opus")]),
        // Linux calls Swift cannot see without _GNU_SOURCE: recvmmsg/sendmmsg, CPU affinity.
        .target(name: "CParleyLinux"),

        // Pure codecs: no I/O, no clocks.
        .target(name: "ParleyWire", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // Sans-IO WebRTC peer: ICE-lite, DTLS, SRTP, RTP/RTCP, Opus.
        .target(name: "ParleyWebRTC", dependencies: ["ParleyWire", "COpenSSL", "CSRTP", "COpus"]),
        // The built-in voice agent, the Realtime event vocabulary and the backend protocol's
        // audio frame; sans-IO.
        .target(name: "ParleyAgent", dependencies: ["ParleyWire"]),
        // The routing token carried in the server ICE ufrag: encode, verify, key rotation.
        .target(name: "ParleyRouting", dependencies: ["ParleyWire", .product(name: "Crypto", package: "swift-crypto")]),
        // The transceiver's sans-IO endpoint: session table, datagram routing, calls, backends.
        .target(name: "ParleyEndpoint", dependencies: ["ParleyWebRTC", "ParleyAgent", "ParleyRouting", "ParleyWire"]),
        // For runtimes: NIO socket addresses and clocks as Parley's PeerAddress and Instant, and
        // the UDP driver (one socket, one event loop, one timer) of a sans-IO endpoint.
        .target(
            name: "ParleyNIO",
            dependencies: [
                "ParleyWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // Transceiver runtime: one UDP driver per shard, signaling HTTP, backend bridge, metrics.
        .target(
            name: "ParleyTransceiver",
            dependencies: [
                "ParleyEndpoint", "ParleyWebRTC", "ParleyAgent", "ParleyRouting", "ParleyNIO", "CParleyLinux",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "WSClient", package: "swift-websocket"),
                .product(name: "WSCore", package: "swift-websocket"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            ],
            resources: [.copy("Resources/index.html")]
        ),

        // Relay runtime: one public UDP port, pinned SO_REUSEPORT workers, flow table, flow store;
        // ICE-TCP workers (NIO event loops) on an optional public TCP port.
        .target(
            name: "ParleyRelay",
            dependencies: [
                "ParleyRouting", "ParleyWire", "ParleyNIO", "CParleyLinux",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Load generator: many real WebRTC calls from Parley's own client role.
        .target(
            name: "ParleyLoadgen",
            dependencies: [
                "ParleyWebRTC", "ParleyNIO",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .executableTarget(
            name: "parley",
            dependencies: [
                "ParleyTransceiver", "ParleyRelay", "ParleyLoadgen", "ParleyRouting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        .target(name: "ParleyTestSupport", dependencies: ["ParleyWire"], path: "Tests/ParleyTestSupport"),
        .testTarget(name: "ParleyWireTests", dependencies: ["ParleyWire", "ParleyTestSupport"]),
        .testTarget(name: "ParleyWebRTCTests", dependencies: ["ParleyWebRTC", "ParleyTestSupport"]),
        .testTarget(name: "ParleyAgentTests", dependencies: ["ParleyAgent", "ParleyTestSupport"]),
        .testTarget(name: "ParleyEndpointTests", dependencies: ["ParleyEndpoint", "ParleyAgent", "ParleyRelay", "ParleyTestSupport"]),
        .testTarget(name: "ParleyRoutingTests", dependencies: ["ParleyRouting", "ParleyTestSupport"]),
        .testTarget(name: "ParleyLoadgenTests", dependencies: ["ParleyLoadgen", "ParleyTestSupport"]),
        .testTarget(name: "ParleyRelayTests", dependencies: ["ParleyRelay", "ParleyTestSupport"]),
        .testTarget(
            name: "ParleyTransceiverTests",
            dependencies: [
                "ParleyTransceiver", "ParleyEndpoint",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
    ]
)
