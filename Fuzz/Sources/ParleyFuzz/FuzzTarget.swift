/// One fuzz target: a name (its seed corpus is Fuzz/Corpus/<name>/) and what one input does.
struct FuzzTarget: Sendable {
    let name: String
    let run: @Sendable ([UInt8]) -> Void
    /// Inputs made with Parley's own encoders, written by `PARLEY_FUZZ_WRITE_SEEDS=DIR`.
    var seeds: @Sendable () -> [(name: String, bytes: [UInt8])] = { [] }

    static let all: [FuzzTarget] = [
        STUNTarget.target, SDPTarget.target, RTPTarget.target, RTCPTarget.target,
        SCTPPacketTarget.target, SCTPChunkTarget.target, DCEPTarget.target,
        RelayEncapsulationTarget.target, RoutingTokenTarget.target, MultipartFormTarget.target,
        BackendFrameTarget.target, RealtimeEventTarget.target, RedisRESPTarget.target,
        RelayUDPTarget.target, RelayTCPTarget.target, SCTPAssociationTarget.target, EndpointTarget.target,
    ]

    /// The target this process runs, set once before libFuzzer starts.
    nonisolated(unsafe) static var selected: FuzzTarget?
}

/// libFuzzer's entry for one input: runs the selected target on a copy of the bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    FuzzTarget.selected?.run(bytes)
    return 0
}
