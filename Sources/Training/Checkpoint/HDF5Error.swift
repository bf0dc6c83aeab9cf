import CHDF5
import Foundation

/// A failed HDF5 operation, as one sentence naming the file and the object concerned; where
/// libhdf5 itself refused, its most specific message follows in parentheses.
public struct HDF5Error: Error, CustomStringConvertible, Sendable {
    public let url: URL
    /// The group or dataset concerned, if any.
    public let path: String?
    public let description: String

    init(_ url: URL, _ path: String?, _ problem: String, libraryMessage: String? = nil) {
        self.url = url
        self.path = path
        description = "\(url.path): \(problem)" + (libraryMessage.map { " (HDF5: \($0))" } ?? "")
    }

    /// For a libhdf5 call that just failed: reads the calling thread's error stack.
    static func failed(_ url: URL, _ path: String?, _ problem: String) -> HDF5Error {
        HDF5Error(url, path, problem, libraryMessage: innermostLibraryMessage())
    }
}

/// The most specific message on the calling thread's HDF5 error stack, if any.
private func innermostLibraryMessage() -> String? {
    var message: String?
    withUnsafeMutablePointer(to: &message) { message in
        _ = H5Ewalk2(facet_h5e_default(), H5E_WALK_UPWARD, { depth, error, message in
            if depth == 0, let description = error?.pointee.desc, description.pointee != 0 {
                message!.assumingMemoryBound(to: String?.self).pointee = concise(String(cString: description))
            }
            return 0
        }, message)
    }
    return message
}

/// A system call's failure as libhdf5 words it ("file write failed: time = ..., filename = ...,
/// errno = 28, error message = 'No space left on device', buf = ..."), cut to its cause on one
/// line: "file write failed: No space left on device".
private func concise(_ message: String) -> String {
    guard let start = message.range(of: "error message = '"),
          let end = message[start.upperBound...].firstIndex(of: "'"),
          let colon = message.firstIndex(of: ":")
    else { return message.split(whereSeparator: \.isNewline).joined(separator: " ") }
    return "\(message[..<colon]): \(message[start.upperBound..<end])"
}
