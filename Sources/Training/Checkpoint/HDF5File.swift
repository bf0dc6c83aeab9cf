import CHDF5
import Foundation
import Tensor

/// The attribute kinds a checkpoint uses. Strings are written and read as fixed-length UTF-8 or
/// ASCII (h5py: `np.bytes_` or `h5py.string_dtype(length=n)`); a variable-length string (h5py's
/// `str`) is a named error, because libhdf5 1.10 crashes or loops on a corrupt one (its global-heap
/// reference) before Facet could check anything (`Fuzz/libhdf5-findings`). Integers of any width
/// are read (int32 becomes `.int`).
public enum HDF5Attribute: Equatable, Sendable {
    case string(String)
    case int(Int)
    case double(Double)
    case ints([Int])
    case uint64s([UInt64])
}

/// An HDF5 file opened for writing (`create`) or reading (`open`). Paths are absolute
/// ("/adapter/model.layers.0.self_attn.q_proj/lora_A"; a relative path counts from the root).
/// Not for concurrent use from several threads.
public final class HDF5File {
    public let url: URL
    /// -1 once closed.
    private var id: hid_t

    private init(url: URL, id: hid_t) {
        self.url = url
        self.id = id
    }

    deinit { close() }

    /// A new file, replacing any file at `url`, with `userBlock` bytes (0 or a power of two
    /// from 512) at its start that libhdf5 leaves to the caller.
    public static func create(_ url: URL, userBlock: Int = 0) throws -> HDF5File {
        silenceErrorPrinting()
        let access = try fileAccessList(url)
        defer { H5Pclose(access) }
        // Format 1.8 stores large attribute lists densely, lifting the 64 KiB object header limit
        // of the earliest format; h5py and every HDF5 since 1.8 read it.
        guard H5Pset_libver_bounds(access, H5F_LIBVER_V18, H5F_LIBVER_V18) >= 0 else {
            throw HDF5Error.failed(url, nil, "cannot set the file format version")
        }
        let creation = H5Pcreate(facet_h5p_file_create())
        guard creation >= 0 else { throw HDF5Error.failed(url, nil, "cannot make a file creation property list") }
        defer { H5Pclose(creation) }
        guard H5Pset_userblock(creation, hsize_t(userBlock)) >= 0 else {
            throw HDF5Error.failed(url, nil, "cannot reserve a user block of \(userBlock) bytes")
        }
        let id = H5Fcreate(url.path, facet_h5f_acc_trunc(), creation, access)
        guard id >= 0 else { throw HDF5Error.failed(url, nil, "cannot be created") }
        return HDF5File(url: url, id: id)
    }

    /// An existing file, read-only.
    public static func open(_ url: URL) throws -> HDF5File {
        silenceErrorPrinting()
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw HDF5Error(url, nil, "does not exist")
        }
        let access = try fileAccessList(url)
        defer { H5Pclose(access) }
        let id = H5Fopen(url.path, facet_h5f_acc_rdonly(), access)
        guard id >= 0 else { throw HDF5Error.failed(url, nil, "is not a readable HDF5 file") }
        return HDF5File(url: url, id: id)
    }

    /// Writes everything buffered to disk. A writer calls this before `close()` and before
    /// renaming the file: `close()` cannot report a failed final write.
    public func flush() throws {
        let file = try openFile()
        guard H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0 else { throw HDF5Error.failed(url, nil, "cannot be flushed to disk") }
    }

    /// Releases the file; later calls do nothing.
    public func close() {
        guard id >= 0 else { return }
        Self.silenceErrorPrinting()
        H5Fclose(id)
        id = -1
    }

    /// Creates the group and any missing parents; an existing group is left as it is.
    public func createGroup(_ path: String) throws {
        let file = try openFile()
        let path = Self.normalized(path)
        if linkExists(file, path) {
            let group = try openObject(file, path, as: H5I_GROUP)
            H5Oclose(group)
            return
        }
        try requireParentGroups(file, path)
        let linkCreation = try parentCreatingLinkList(path)
        defer { H5Pclose(linkCreation) }
        let group = H5Gcreate2(file, path, linkCreation, facet_h5p_default(), facet_h5p_default())
        guard group >= 0 else { throw HDF5Error.failed(url, path, "cannot create group \(path)") }
        H5Gclose(group)
    }

    /// A new float32 dataset with the tensor's shape (bfloat16 is widened), creating missing
    /// parent groups. An existing object at `path` is an error, never overwritten.
    public func write(_ tensor: Tensor, to path: String) throws {
        let file = try openFile()
        let path = Self.normalized(path)
        guard path != "/" else { throw HDF5Error(url, path, "a tensor needs a dataset name below /") }
        guard !linkExists(file, path) else {
            throw HDF5Error(url, path, "cannot write a tensor to \(path): it already exists")
        }
        try requireParentGroups(file, path)
        let values = tensor.dtype == .float32 ? tensor : tensor.widened()
        let space = try dataspace(values.shape, path)
        defer { H5Sclose(space) }
        let linkCreation = try parentCreatingLinkList(path)
        defer { H5Pclose(linkCreation) }
        let dataset = H5Dcreate2(
            file, path, facet_h5t_ieee_f32le(), space, linkCreation, facet_h5p_default(), facet_h5p_default())
        guard dataset >= 0 else {
            throw HDF5Error.failed(url, path, "cannot create dataset \(path) of shape \(values.shape)")
        }
        defer { H5Dclose(dataset) }
        let status = withExtendedLifetime(values) {
            H5Dwrite(dataset, facet_h5t_native_float(), facet_h5s_all(), facet_h5s_all(), facet_h5p_default(), values.data)
        }
        guard status >= 0 else { throw HDF5Error.failed(url, path, "cannot write the data of \(path)") }
    }

    /// Sets (or replaces) an attribute of the group or dataset at `path`.
    public func setAttribute(_ name: String, _ value: HDF5Attribute, at path: String = "/") throws {
        let file = try openFile()
        let path = Self.normalized(path)
        if case .string(let text) = value, text.utf8.contains(0) {
            throw HDF5Error(url, path, "attribute '\(name)' of \(path) contains a NUL character, which an HDF5 string cannot hold")
        }
        let object = try openObject(file, path)
        defer { H5Oclose(object) }
        if H5Aexists(object, name) > 0, H5Adelete(object, name) < 0 {
            throw HDF5Error.failed(url, path, "cannot replace attribute '\(name)' of \(path)")
        }
        let target = AttributeTarget(object: object, name: name, path: path)
        switch value {
        case .string(let text):
            var bytes = Array(text.utf8)
            if bytes.isEmpty { bytes = [0] }  // an HDF5 string type holds at least one byte
            let type = try fixedStringType(size: bytes.count, path)
            defer { H5Tclose(type) }
            try writeAttribute(target, fileType: type, memoryType: type, shape: [], &bytes)
        case .int(let number):
            var value = Int64(number)
            try writeAttribute(target, fileType: facet_h5t_std_i64le(), memoryType: facet_h5t_native_int64(), shape: [], &value)
        case .double(let number):
            var value = number
            try writeAttribute(target, fileType: facet_h5t_ieee_f64le(), memoryType: facet_h5t_native_double(), shape: [], &value)
        case .ints(let numbers):
            var values = numbers.map(Int64.init)
            try writeAttribute(
                target, fileType: facet_h5t_std_i64le(), memoryType: facet_h5t_native_int64(), shape: [values.count], &values)
        case .uint64s(let numbers):
            var values = numbers
            try writeAttribute(
                target, fileType: facet_h5t_std_u64le(), memoryType: facet_h5t_native_uint64(), shape: [values.count], &values)
        }
    }

    /// Whether a group or dataset exists at `path` (false once the file is closed).
    public func exists(_ path: String) -> Bool {
        guard let file = try? openFile() else { return false }
        return linkExists(file, Self.normalized(path))
    }

    /// The names of the children of the group at `path`, sorted.
    public func members(of path: String) throws -> [String] {
        let file = try openFile()
        let path = Self.normalized(path)
        let group = try openObject(file, path, as: H5I_GROUP)
        defer { H5Oclose(group) }
        var info = H5G_info_t()
        guard H5Gget_info(group, &info) >= 0 else { throw HDF5Error.failed(url, path, "cannot list group \(path)") }
        return try (0..<info.nlinks).map { index in
            let length = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, facet_h5p_default())
            guard length >= 0 else { throw HDF5Error.failed(url, path, "cannot list group \(path)") }
            var name = [CChar](repeating: 0, count: length + 1)
            guard
                H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, index, &name, name.count, facet_h5p_default()) >= 0
            else { throw HDF5Error.failed(url, path, "cannot list group \(path)") }
            return String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }.sorted()
    }

    /// The float32 dataset at `path`, read straight into a new tensor.
    public func readTensor(_ path: String) throws -> Tensor {
        let file = try openFile()
        let path = Self.normalized(path)
        let dataset = try openObject(file, path, as: H5I_DATASET)
        defer { H5Oclose(dataset) }
        let type = H5Dget_type(dataset)
        guard type >= 0 else { throw HDF5Error.failed(url, path, "cannot read the type of \(path)") }
        defer { H5Tclose(type) }
        guard H5Tget_class(type) == H5T_FLOAT, H5Tget_size(type) == 4 else {
            throw HDF5Error(url, path, "dataset \(path) holds \(Self.describe(type)), expected float32")
        }
        let tensor = Tensor(zeros: try datasetShape(dataset, path))
        guard
            H5Dread(dataset, facet_h5t_native_float(), facet_h5s_all(), facet_h5s_all(), facet_h5p_default(), tensor.data) >= 0
        else { throw HDF5Error.failed(url, path, "cannot read the data of \(path)") }
        return tensor
    }

    /// The shape of the dataset at `path` ([] for a scalar dataset).
    public func shape(of path: String) throws -> [Int] {
        let file = try openFile()
        let path = Self.normalized(path)
        let dataset = try openObject(file, path, as: H5I_DATASET)
        defer { H5Oclose(dataset) }
        return try datasetShape(dataset, path)
    }

    public func attribute(_ name: String, at path: String = "/") throws -> HDF5Attribute {
        let file = try openFile()
        let path = Self.normalized(path)
        let object = try openObject(file, path)
        defer { H5Oclose(object) }
        let described = "attribute '\(name)' of \(path)"
        guard H5Aexists(object, name) > 0 else { throw HDF5Error(url, path, "\(path) has no attribute '\(name)'") }
        let attribute = H5Aopen(object, name, facet_h5p_default())
        guard attribute >= 0 else { throw HDF5Error.failed(url, path, "cannot open \(described)") }
        defer { H5Aclose(attribute) }
        let type = H5Aget_type(attribute)
        guard type >= 0 else { throw HDF5Error.failed(url, path, "cannot read the type of \(described)") }
        defer { H5Tclose(type) }
        let space = H5Aget_space(attribute)
        guard space >= 0 else { throw HDF5Error.failed(url, path, "cannot read the shape of \(described)") }
        defer { H5Sclose(space) }
        let isScalar = H5Sget_simple_extent_type(space) == H5S_SCALAR
        let isVector = H5Sget_simple_extent_type(space) == H5S_SIMPLE && H5Sget_simple_extent_ndims(space) == 1
        let count = Int(H5Sget_simple_extent_npoints(space))
        let unsigned64 = H5Tget_sign(type) == H5T_SGN_NONE && H5Tget_size(type) == 8
        let source = AttributeSource(attribute: attribute, described: described, path: path)

        switch H5Tget_class(type) {
        case H5T_STRING where isScalar:
            return .string(try readString(source, type))
        case H5T_INTEGER where isScalar && unsigned64:
            let value: UInt64 = try readNumbers(source, facet_h5t_native_uint64(), count: 1)[0]
            guard let number = Int(exactly: value) else {
                throw HDF5Error(url, path, "\(described) is \(value), too large for an Int")
            }
            return .int(number)
        case H5T_INTEGER where isScalar:
            let value: Int64 = try readNumbers(source, facet_h5t_native_int64(), count: 1)[0]
            return .int(Int(value))
        case H5T_INTEGER where isVector && unsigned64:
            return .uint64s(try readNumbers(source, facet_h5t_native_uint64(), count: count))
        case H5T_INTEGER where isVector:
            let values: [Int64] = try readNumbers(source, facet_h5t_native_int64(), count: count)
            return .ints(values.map { Int($0) })
        case H5T_FLOAT where isScalar:
            return .double(try readNumbers(source, facet_h5t_native_double(), count: 1)[0])
        default:
            throw HDF5Error(
                url, path,
                "\(described) holds \(Self.describe(type)) of shape \(try extentShape(space, path)), which is not a supported "
                    + "attribute kind (a scalar string, integer or float, or a 1-D integer array)")
        }
    }

    /// The names of the attributes of the group or dataset at `path`, sorted.
    public func attributeNames(at path: String) throws -> [String] {
        let file = try openFile()
        let path = Self.normalized(path)
        let object = try openObject(file, path)
        defer { H5Oclose(object) }
        var names = [String]()
        var index: hsize_t = 0
        let status = withUnsafeMutablePointer(to: &names) { names in
            H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, &index, { _, name, _, names in
                names!.assumingMemoryBound(to: [String].self).pointee.append(String(cString: name!))
                return 0
            }, names)
        }
        guard status >= 0 else { throw HDF5Error.failed(url, path, "cannot list the attributes of \(path)") }
        return names.sorted()
    }

    public func string(_ name: String, at path: String = "/") throws -> String {
        let value = try attribute(name, at: path)
        guard case .string(let text) = value else { throw mismatch(name, path, value, expected: "a string") }
        return text
    }

    public func int(_ name: String, at path: String = "/") throws -> Int {
        let value = try attribute(name, at: path)
        guard case .int(let number) = value else { throw mismatch(name, path, value, expected: "an int") }
        return number
    }

    /// A double attribute; an int one (as h5py writes `attrs["alpha"] = 16`) converts.
    public func double(_ name: String, at path: String = "/") throws -> Double {
        switch try attribute(name, at: path) {
        case .double(let number): return number
        case .int(let number): return Double(number)
        case let value: throw mismatch(name, path, value, expected: "a double")
        }
    }

    // MARK: - Helpers

    private struct AttributeTarget {
        let object: hid_t
        let name: String
        let path: String
    }

    private struct AttributeSource {
        let attribute: hid_t
        let described: String
        let path: String
    }

    /// The open file's id; every entry point goes through here.
    private func openFile() throws -> hid_t {
        Self.silenceErrorPrinting()
        guard id >= 0 else { throw HDF5Error(url, nil, "is already closed") }
        return id
    }

    /// "/a//b/" -> "/a/b"; a relative path counts from the root.
    private static func normalized(_ path: String) -> String {
        "/" + path.split(separator: "/").joined(separator: "/")
    }

    /// Checks each prefix in turn: H5Lexists fails rather than answering for a missing parent.
    private func linkExists(_ file: hid_t, _ path: String) -> Bool {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            guard H5Lexists(file, prefix, facet_h5p_default()) > 0 else { return false }
        }
        return true
    }

    /// The group or dataset at `path`, of the given kind if one is named; close with H5Oclose.
    private func openObject(_ file: hid_t, _ path: String, as kind: H5I_type_t? = nil) throws -> hid_t {
        guard linkExists(file, path) else { throw HDF5Error(url, path, "\(path) does not exist") }
        let object = H5Oopen(file, path, facet_h5p_default())
        guard object >= 0 else { throw HDF5Error.failed(url, path, "cannot open \(path)") }
        let actual = H5Iget_type(object)
        if let kind, actual != kind {
            H5Oclose(object)
            throw HDF5Error(url, path, "\(path) is \(Self.describe(actual)), expected \(Self.describe(kind))")
        }
        return object
    }

    /// Fails unless each existing parent of `path` is a group: HDF5's own report of a dataset in
    /// the way is cryptic.
    private func requireParentGroups(_ file: hid_t, _ path: String) throws {
        var prefix = ""
        for component in path.split(separator: "/").dropLast() {
            prefix += "/" + component
            guard H5Lexists(file, prefix, facet_h5p_default()) > 0 else { return }
            H5Oclose(try openObject(file, prefix, as: H5I_GROUP))
        }
    }

    private func datasetShape(_ dataset: hid_t, _ path: String) throws -> [Int] {
        let space = H5Dget_space(dataset)
        guard space >= 0 else { throw HDF5Error.failed(url, path, "cannot read the shape of \(path)") }
        defer { H5Sclose(space) }
        return try extentShape(space, path)
    }

    private func extentShape(_ space: hid_t, _ path: String) throws -> [Int] {
        let rank = H5Sget_simple_extent_ndims(space)
        guard rank >= 0 else { throw HDF5Error.failed(url, path, "cannot read the shape of \(path)") }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        guard H5Sget_simple_extent_dims(space, &dims, nil) >= 0 else {
            throw HDF5Error.failed(url, path, "cannot read the shape of \(path)")
        }
        return dims.map { Int($0) }
    }

    /// A scalar dataspace for [], else a fixed-size simple one; close with H5Sclose.
    private func dataspace(_ shape: [Int], _ path: String) throws -> hid_t {
        let dims = shape.map { hsize_t($0) }
        let space = shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), dims, nil)
        guard space >= 0 else { throw HDF5Error.failed(url, path, "cannot make a dataspace of shape \(shape)") }
        return space
    }

    /// Link creation properties that create missing parent groups; close with H5Pclose.
    private func parentCreatingLinkList(_ path: String) throws -> hid_t {
        let list = H5Pcreate(facet_h5p_link_create())
        guard list >= 0, H5Pset_create_intermediate_group(list, 1) >= 0 else {
            if list >= 0 { H5Pclose(list) }
            throw HDF5Error.failed(url, path, "cannot prepare to create \(path)")
        }
        return list
    }

    /// A NUL-padded UTF-8 string type of `size` bytes; close with H5Tclose.
    private func fixedStringType(size: Int, _ path: String) throws -> hid_t {
        let type = H5Tcopy(facet_h5t_c_s1())
        guard type >= 0, H5Tset_size(type, size) >= 0, H5Tset_strpad(type, H5T_STR_NULLPAD) >= 0,
            H5Tset_cset(type, H5T_CSET_UTF8) >= 0
        else {
            if type >= 0 { H5Tclose(type) }
            throw HDF5Error.failed(url, path, "cannot make a string type")
        }
        return type
    }

    private func writeAttribute(
        _ target: AttributeTarget, fileType: hid_t, memoryType: hid_t, shape: [Int], _ data: UnsafeRawPointer
    ) throws {
        let space = try dataspace(shape, target.path)
        defer { H5Sclose(space) }
        let attribute = H5Acreate2(target.object, target.name, fileType, space, facet_h5p_default(), facet_h5p_default())
        guard attribute >= 0 else {
            throw HDF5Error.failed(url, target.path, "cannot create attribute '\(target.name)' of \(target.path)")
        }
        defer { H5Aclose(attribute) }
        guard H5Awrite(attribute, memoryType, data) >= 0 else {
            throw HDF5Error.failed(url, target.path, "cannot write attribute '\(target.name)' of \(target.path)")
        }
    }

    private func readNumbers<T: Numeric>(_ source: AttributeSource, _ memoryType: hid_t, count: Int) throws -> [T] {
        var values = [T](repeating: 0, count: max(count, 1))
        guard values.withUnsafeMutableBytes({ H5Aread(source.attribute, memoryType, $0.baseAddress) }) >= 0 else {
            throw HDF5Error.failed(url, source.path, "cannot read \(source.described)")
        }
        return Array(values.prefix(count))
    }

    private func readString(_ source: AttributeSource, _ type: hid_t) throws -> String {
        guard H5Tis_variable_str(type) <= 0 else {
            throw HDF5Error(
                url, source.path,
                "\(source.described) is a variable-length string, which Facet does not read (libhdf5 1.10 crashes on "
                    + "corrupt ones); store it as a fixed-length string")
        }
        let size = H5Tget_size(type)
        var bytes = [UInt8](repeating: 0, count: max(size, 1))
        guard H5Aread(source.attribute, type, &bytes) >= 0 else {
            throw HDF5Error.failed(url, source.path, "cannot read \(source.described)")
        }
        var text = bytes.prefix(size)
        if H5Tget_strpad(type) == H5T_STR_SPACEPAD {
            while text.last == UInt8(ascii: " ") { text.removeLast() }
        } else if let end = text.firstIndex(of: 0) {
            text = text[..<end]
        }
        return String(decoding: text, as: UTF8.self)
    }

    private func mismatch(_ name: String, _ path: String, _ value: HDF5Attribute, expected: String) -> HDF5Error {
        HDF5Error(url, Self.normalized(path), "attribute '\(name)' of \(Self.normalized(path)) is \(value.kind), expected \(expected)")
    }

    private static func describe(_ type: hid_t) -> String {
        let bits = H5Tget_size(type) * 8
        switch H5Tget_class(type) {
        case H5T_FLOAT: return "float\(bits)"
        case H5T_INTEGER: return (H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + "\(bits)"
        case H5T_STRING: return "string"
        case let typeClass: return "HDF5 type class \(typeClass.rawValue)"
        }
    }

    private static func describe(_ kind: H5I_type_t) -> String {
        switch kind {
        case H5I_GROUP: return "a group"
        case H5I_DATASET: return "a dataset"
        case H5I_DATATYPE: return "a named datatype"
        default: return "an HDF5 object of kind \(kind.rawValue)"
        }
    }

    /// Thread-safe libhdf5 keeps this setting per thread, so every entry point repeats it
    /// rather than doing it once.
    private static func silenceErrorPrinting() {
        _ = HDF5Library.noCleanupAtExit
        H5Eset_auto2(facet_h5e_default(), nil, nil)
    }

    /// File access that really closes the file on H5Fclose, even if an object id leaked, so
    /// that it can be renamed or deleted right after; close with H5Pclose.
    private static func fileAccessList(_ url: URL) throws -> hid_t {
        let list = H5Pcreate(facet_h5p_file_access())
        guard list >= 0, H5Pset_fclose_degree(list, H5F_CLOSE_STRONG) >= 0 else {
            if list >= 0 { H5Pclose(list) }
            throw HDF5Error.failed(url, nil, "cannot prepare file access properties")
        }
        return list
    }
}

extension HDF5Attribute {
    fileprivate var kind: String {
        switch self {
        case .string: return "a string"
        case .int: return "an int"
        case .double: return "a double"
        case .ints: return "an int array"
        case .uint64s: return "a uint64 array"
        }
    }
}
