import Foundation

/// Moves a finished file into place so that a crash or a power loss leaves either no file or
/// the complete one under `url`: the file's data reach the disk before the rename, and the
/// rename (the folder's entry) reaches the disk before this returns. Without the first fsync
/// the new name can point at an empty file after a power loss; without the second the name
/// itself can vanish.
func moveDurably(_ temporary: URL, to url: URL) throws {
    try synchronize(temporary)
    guard rename(temporary.path, url.path) == 0 else {
        throw CheckpointError(url, "cannot be moved into place: \(String(cString: strerror(errno)))")
    }
    try synchronize(url.deletingLastPathComponent())
}

/// fsync of a file or a folder (a folder opened read-only can be fsynced on Linux).
private func synchronize(_ url: URL) throws {
    let descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw CheckpointError(url, "cannot be opened to sync it: \(String(cString: strerror(errno)))") }
    defer { close(descriptor) }
    guard fsync(descriptor) == 0 else { throw CheckpointError(url, "cannot be synced to disk: \(String(cString: strerror(errno)))") }
}
