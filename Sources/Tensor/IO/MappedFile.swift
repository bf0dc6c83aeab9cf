import Foundation

/// A whole file mapped copy-on-write: tensors can borrow its pages without copying, and an
/// optimizer writing into a borrowed tensor never touches the file. `error` makes the error of
/// the format being read from a problem description.
final class MappedFile {
    let base: UnsafeMutableRawPointer
    let size: Int

    init(url: URL, error: (String) -> Error) throws {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw error("cannot be opened (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw error("cannot be read") }
        size = Int(info.st_size)
        guard size > 0 else { throw error("is empty") }
        guard let pointer = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), pointer != MAP_FAILED else {
            throw error("cannot be memory-mapped (\(String(cString: strerror(errno))))")
        }
        base = pointer
    }

    deinit { munmap(base, size) }
}
