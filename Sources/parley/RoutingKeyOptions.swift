import ArgumentParser
import Foundation
import ParleyRouting

/// Where routing keys come from: `--keys FILE` or `PARLEY_ROUTING_KEYS` (docs/routing-token.md).
/// Without either, the public development key is used, and only where every address is loopback.
struct RoutingKeyOptions: ParsableArguments {
    @Option(help: "File of routing keys, 'ID:BASE64SECRET' per line (or PARLEY_ROUTING_KEYS).")
    var keys: String?

    func keyring(allLoopback: Bool) throws -> RoutingKeyring {
        if let keys {
            return try RoutingKeyring.load(text: String(contentsOfFile: keys, encoding: .utf8))
        }
        if let text = ProcessInfo.processInfo.environment["PARLEY_ROUTING_KEYS"], !text.isEmpty {
            return try RoutingKeyring.load(text: text)
        }
        guard allLoopback else {
            throw ValidationError("routing keys are required off loopback: give --keys FILE or PARLEY_ROUTING_KEYS")
        }
        return .development()
    }
}
