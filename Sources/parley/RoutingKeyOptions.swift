import ArgumentParser
import Foundation
import ParleyRouting

/// Where routing keys come from: `--keys FILE`, else `PARLEY_ROUTING_KEYS`, else the public
/// development key, which commands that route real traffic accept only when every address
/// is loopback (docs/routing-token.md).
struct RoutingKeyOptions: ParsableArguments {
    @Option(help: "A file of routing keys, 'ID:BASE64SECRET' entries (else PARLEY_ROUTING_KEYS; the public development key only on loopback).")
    var keys: String?

    /// The keyring and a phrase saying where it came from.
    func load(developmentAllowed: Bool) throws -> (keyring: RoutingKeyring, source: String) {
        if let keys {
            return (try RoutingKeyring.load(text: String(contentsOfFile: keys, encoding: .utf8)), keys)
        }
        if let text = ProcessInfo.processInfo.environment["PARLEY_ROUTING_KEYS"], !text.isEmpty {
            return (try RoutingKeyring.load(text: text), "PARLEY_ROUTING_KEYS")
        }
        guard developmentAllowed else {
            throw ValidationError("routing keys are required off loopback: give --keys FILE or PARLEY_ROUTING_KEYS")
        }
        return (.development(), "the development key (public; loopback demo only)")
    }
}
