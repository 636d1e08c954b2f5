import Foundation
import HTTPTypes
import ParleyRouting

/// Who may use the signaling API, from `Authorization: Bearer` (RFC 6750 §2.1): a server API
/// key (`--api-key`), or an ephemeral client secret (`ek_...`, `ClientSecret`) minted with
/// one. Minting secrets and joining calls by sideband take a server key only.
///
/// A server key arriving with an `Origin` header came from a browser page: it is refused
/// unless the operator allowed it (`--allow-browser-api-keys`), since whoever loads the page
/// can read it; pages use client secrets. With no keys configured (loopback only) the API is
/// open, but a client secret that is presented is still checked: a page holding an expired
/// one is told so.
struct CallerAuthorization: Sendable {
    enum Credential: Equatable {
        /// No keys are configured.
        case open
        case serverKey
        case clientSecret(ClientSecret)
    }

    /// What a request needs.
    enum Requirement {
        /// A server key or a client secret: calls and their control.
        case caller
        /// A server key: minting client secrets, sideband.
        case server
    }

    /// A 401 and why.
    struct Refusal: Error, Equatable {
        var code: String
        var message: String
    }

    /// The keys in force: read per request, so a rotation applies to the next one.
    let credentials: TransceiverCredentials
    let allowsBrowserServerKeys: Bool

    /// Checks the request's credential against `requirement` at `now` (Unix seconds).
    func check(_ headers: HTTPFields, requirement: Requirement, now: Int64) -> Result<Credential, Refusal> {
        let current = credentials.current
        let bearer = headers[.authorization].flatMap { header -> Substring? in
            guard header.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
            return header.dropFirst(7).drop { $0 == " " }
        }
        if let bearer, bearer.hasPrefix(ClientSecret.prefix) {
            let secret: ClientSecret
            do {
                secret = try ClientSecret(verifying: bearer, keyring: current.routingKeyring, now: now)
            } catch {
                return .failure(Refusal(code: "invalid_client_secret", message: error.description))
            }
            guard requirement == .caller else {
                return .failure(Refusal(code: "server_key_required",
                                        message: "this needs a server API key; a client secret only creates and ends calls"))
            }
            return .success(.clientSecret(secret))
        }
        guard !current.apiKeys.isEmpty else { return .success(.open) }
        guard let bearer, current.apiKeys.contains(String(bearer)) else {
            return .failure(Refusal(code: "unauthorized", message: "send Authorization: Bearer with a valid API key or client secret"))
        }
        if headers[.origin] != nil, !allowsBrowserServerKeys {
            return .failure(Refusal(
                code: "server_key_from_browser",
                message: "a server API key was sent by a browser page; pages use a client secret (POST /v1/realtime/client_secrets from your server)"))
        }
        return .success(.serverKey)
    }
}
