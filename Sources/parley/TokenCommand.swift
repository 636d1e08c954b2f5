import ArgumentParser
import Foundation
import ParleyRouting
import ParleyWire

/// `parley token`: look inside routing tokens (server ICE ufrags) and make them by hand.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Routing tokens: the signed server ICE ufrags relays route by (docs/routing-token.md).",
        subcommands: [Inspect.self, Issue.self])

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the fields of a ufrag (or a whole 'server:client' USERNAME) and whether its MAC verifies.")

        @Argument(help: "The ufrag to inspect.")
        var ufrag: String

        @OptionGroup var keyOptions: RoutingKeyOptions

        func run() throws {
            let serverUfrag = String(ufrag.prefix { $0 != ":" })
            let token: RoutingToken
            switch RoutingToken.decodeUnverified(serverUfrag) {
            case .success(let decoded):
                token = decoded
            case .failure(let error):
                print("not a routing token: \(error)")
                throw ExitCode(2)
            }
            print("version      \(token.version)")
            print("key id       \(token.keyID)")
            print("cluster      \(token.cluster)")
            print("transceiver  \(token.transceiver)")
            print("nonce        \(String(format: "%08x", token.nonce))")
            let (keyring, source) = try keyOptions.load(developmentAllowed: true)
            guard keyring.keyIDs.contains(token.keyID) else {
                print("MAC          unknown key id \(token.keyID) (keys from \(source) have \(keyring.keyIDs))")
                throw ExitCode(1)
            }
            let verified = RoutingToken.verify(serverUfrag, keyring: keyring) != nil
            print("MAC          \(verified ? "verifies" : "DOES NOT VERIFY") with key \(token.keyID) from \(source)")
            if !verified { throw ExitCode(1) }
        }
    }

    struct Issue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a new ufrag naming a transceiver, signed with the signing key.")

        @Option(help: "The transceiver's internal UDP address, IP:PORT or [IPv6]:PORT.")
        var transceiver: String

        @Option(help: "The cluster id, 0-65535.")
        var cluster: UInt16 = 0

        @OptionGroup var keyOptions: RoutingKeyOptions

        func run() throws {
            guard let address = PeerAddress(transceiver) else {
                throw ValidationError("--transceiver must be IP:PORT or [IPv6]:PORT")
            }
            var generator = SystemRandomNumberGenerator()
            let keyring = try keyOptions.load(developmentAllowed: true).keyring
            print(RoutingToken.issue(transceiver: address, cluster: cluster, keyring: keyring, using: &generator))
        }
    }
}
