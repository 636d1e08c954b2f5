// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "parley",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "parley", targets: ["parley"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
    ],
    targets: [
        // System-library shims: headers plus small C functions for macros and variadic calls.
        .target(name: "COpenSSL", linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        .target(name: "CSRTP", linkerSettings: [.linkedLibrary("srtp2")]),
        .target(name: "COpus", linkerSettings: [.linkedLibrary("opus")]),

        // Pure codecs: no I/O, no clocks.
        .target(name: "ParleyWire", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // Sans-IO WebRTC peer: ICE-lite, DTLS, SRTP, Opus.
        .target(name: "ParleyWebRTC", dependencies: ["ParleyWire", "COpenSSL", "CSRTP", "COpus"]),

        .executableTarget(name: "parley", dependencies: ["ParleyWebRTC"]),

        .testTarget(name: "ParleyWireTests", dependencies: ["ParleyWire"]),
        .testTarget(name: "ParleyWebRTCTests", dependencies: ["ParleyWebRTC"]),
    ]
)
