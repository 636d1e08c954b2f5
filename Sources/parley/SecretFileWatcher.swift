import Foundation
import Logging
import ServiceLifecycle

/// Re-reads secret files while the process runs, so rotating a Kubernetes Secret (mounted as
/// a volume, which the kubelet updates in place) or editing a key file needs no restart.
/// Every `interval` each file is read; content that differs from what was last applied is
/// handed to its `apply`, which loads and installs it or throws, keeping the old secret. A
/// file that cannot be read keeps the old secret too (counted). Errors are logged, never the
/// secrets.
struct SecretFileWatcher: Service {
    struct File: Sendable {
        /// What the file holds, for logs: "routing keys", "API keys".
        var name: String
        var path: String
        /// Counts a read that failed (the loaded secret stays).
        var countUnreadable: @Sendable () -> Void
        /// Installs the file's new text; returns a loggable summary (key ids, counts).
        var apply: @Sendable (String) throws -> String
    }

    let files: [File]
    let interval: Duration
    let logger: Logger

    /// Watches until graceful shutdown, which ends the wait between reads at once (a process
    /// told to stop must not sit out the rest of an interval).
    func run() async throws {
        try? await cancelWhenGracefulShutdown { await watch() }
    }

    private func watch() async {
        var applied = files.map { try? String(contentsOfFile: $0.path, encoding: .utf8) }
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            for (index, file) in files.enumerated() {
                let text: String
                do {
                    text = try String(contentsOfFile: file.path, encoding: .utf8)
                } catch {
                    file.countUnreadable()
                    logger.error("secret file unreadable; keeping the loaded secret",
                                 metadata: ["secret": "\(file.name)", "path": "\(file.path)", "error": "\(error)"])
                    continue
                }
                guard text != applied[index] else { continue }
                applied[index] = text
                do {
                    let summary = try file.apply(text)
                    logger.notice("secret reloaded", metadata: ["secret": "\(file.name)", "path": "\(file.path)", "now": "\(summary)"])
                } catch {
                    logger.error("secret file refused; keeping the loaded secret",
                                 metadata: ["secret": "\(file.name)", "path": "\(file.path)", "error": "\(error)"])
                }
            }
        }
    }
}
