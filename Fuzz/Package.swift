// swift-tools-version:6.1
// libFuzzer targets for every parser of network or backend bytes and for the sans-IO cores
// that read them. A separate package so the main build never builds it with the sanitizers:
// scripts/fuzz.sh builds it with `-sanitize=fuzzer,address` and runs the targets (Fuzz/README.md).
import PackageDescription

let package = Package(
    name: "ParleyFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "parley", path: "..")],
    targets: [
        // The declaration of libFuzzer's driver; -sanitize=fuzzer links the library.
        .systemLibrary(name: "CLibFuzzer"),
        .executableTarget(
            name: "parley-fuzz",
            dependencies: [
                "CLibFuzzer",
                .product(name: "ParleyWire", package: "parley"),
                .product(name: "ParleyRouting", package: "parley"),
                .product(name: "ParleyWebRTC", package: "parley"),
                .product(name: "ParleyAgent", package: "parley"),
                .product(name: "ParleyEndpoint", package: "parley"),
                .product(name: "ParleyRelay", package: "parley"),
                .product(name: "ParleyTransceiver", package: "parley"),
            ],
            path: "Sources/ParleyFuzz"
        ),
    ]
)
