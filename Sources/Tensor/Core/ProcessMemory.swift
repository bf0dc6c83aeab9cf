import Foundation

public enum ProcessMemory {
    /// Peak resident set size of this process in bytes (VmHWM), or nil where /proc is missing.
    public static var peakResidentBytes: Int? { statusField("VmHWM:") }

    /// Current resident set size in bytes (VmRSS).
    public static var residentBytes: Int? { statusField("VmRSS:") }

    private static func statusField(_ key: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(key) {
            let kilobytes = line.dropFirst(key.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
            return kilobytes.map { $0 * 1024 }
        }
        return nil
    }
}
