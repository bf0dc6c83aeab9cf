import CHDF5

public enum HDF5Library {
    /// "major.minor.release" of the linked libhdf5.
    public static var version: String {
        _ = noCleanupAtExit
        var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
        H5get_libversion(&major, &minor, &release)
        return "\(major).\(minor).\(release)"
    }

    /// Touched before the first HDF5 call (it has no effect after): libhdf5's exit handler
    /// closes files left open once more, and crashes on one whose final write failed (disk
    /// full). Every file is flushed and closed explicitly, so the handler has nothing to do.
    static let noCleanupAtExit: Void = { _ = H5dont_atexit() }()
}
