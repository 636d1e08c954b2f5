// swift-tools-version:6.1
// Micro-benchmarks of Parley's per-packet hot paths, with allocation counts, using
// ordo-one/benchmark. A separate package so the main build and tests never build
// it: run `swift package --package-path Benchmarks/Micro benchmark` (or Benchmarks/run-all.sh).
import PackageDescription

let package = Package(
    name: "ParleyMicro",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "parley", path: "../.."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "ParleyMicro",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ParleyWire", package: "parley"),
                .product(name: "ParleyRouting", package: "parley"),
                .product(name: "ParleyWebRTC", package: "parley"),
                .product(name: "ParleyRelay", package: "parley"),
            ],
            path: "Benchmarks/ParleyMicro",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
