import CLibFuzzer
import Glibc

// One executable for every target, chosen by PARLEY_FUZZ_TARGET; libFuzzer's arguments follow
// as usual (corpus directories, -max_total_time=..., a file to replay). SwiftPM links this
// file's entry point as `main`, so it hands over to libFuzzer's driver itself.
// PARLEY_FUZZ_LIST prints the target names; PARLEY_FUZZ_WRITE_SEEDS=DIR writes the target's
// generated seeds (Seeds.swift) into DIR.

if getenv("PARLEY_FUZZ_LIST") != nil {
    print(FuzzTarget.all.map(\.name).joined(separator: " "))
    exit(0)
}
let name = getenv("PARLEY_FUZZ_TARGET").map { String(cString: $0) } ?? ""
guard let target = FuzzTarget.all.first(where: { $0.name == name }) else {
    printError("parley-fuzz: name a target in PARLEY_FUZZ_TARGET: \(FuzzTarget.all.map(\.name).joined(separator: " "))")
    exit(2)
}
if let directory = getenv("PARLEY_FUZZ_WRITE_SEEDS").map({ String(cString: $0) }) {
    for seed in target.seeds() {
        let path = "\(directory)/\(seed.name)"
        guard let file = fopen(path, "wb") else {
            printError("parley-fuzz: cannot write \(path)")
            exit(1)
        }
        _ = seed.bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }
    exit(0)
}
FuzzTarget.selected = target
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { fuzzerTestOneInput($0, $1) })

/// One line on standard error (Glibc's `stderr` is a global variable Swift 6 will not read).
func printError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
