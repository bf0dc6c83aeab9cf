// swift-tools-version:6.1
import Foundation
import PackageDescription

// Swift 5 language mode: the kernels hand raw buffers to DispatchQueue.concurrentPerform,
// which strict Swift 6 concurrency checking would reject without adding any safety.
let swift5: [SwiftSetting] = [.swiftLanguageMode(.v5)]

// Dependency arrows point down only (docs/ARCHITECTURE.md):
// Tensor, Tokenizer <- Model <- Training <- Evaluation <- CLI, and Training <- Serving <- CLI
// (the HTTP server's web stack stays out of the training and evaluation libraries).
let package = Package(
    name: "Facet",
    products: [
        .executable(name: "train", targets: ["CLI"]),
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "Tokenizer", targets: ["Tokenizer"]),
        .library(name: "Model", targets: ["Model"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Evaluation", targets: ["Evaluation"]),
        .library(name: "Serving", targets: ["Serving"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
        // Without the swift-configuration trait, which Facet does not use.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: ["FullFoundation"]),
    ],
    targets: [
        // Headers only: OpenBLAS is loaded with dlopen (see Kernels/BLAS.swift) so that the
        // kernel core can be chosen before the library initialises.
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(
            name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5-serial",
            providers: [.apt(["libhdf5-dev"])]),
        // AVX-512 kernels (exp, softmax sums, SwiGLU, bfloat16 rounding, the in-place float32 GEMM of
        // attention and LoRA, attention's bfloat16 GEMM), chosen at run time from the CPU's features.
        .target(name: "CVectorMath"),
        .target(name: "Tensor", dependencies: ["COpenBLAS", "CVectorMath"], swiftSettings: swift5),
        .target(name: "Tokenizer", swiftSettings: swift5),
        .target(name: "Model", dependencies: ["Tensor", "Tokenizer"], swiftSettings: swift5),
        .target(
            name: "Training",
            dependencies: ["Model", "Tensor", "Tokenizer", "CHDF5", .product(name: "Yams", package: "Yams")],
            swiftSettings: swift5),
        .target(name: "Evaluation", dependencies: ["Training", "Model", "Tensor", "Tokenizer"], swiftSettings: swift5),
        .target(
            name: "Serving",
            dependencies: ["Training", "Model", "Tensor", "Tokenizer", .product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: swift5),
        .executableTarget(
            name: "CLI",
            dependencies: [
                "Evaluation", "Serving", "Training", "Model", "Tensor", "Tokenizer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swift5),
        .target(name: "TestSupport", dependencies: ["Tensor", "Model"], path: "Tests/TestSupport", swiftSettings: swift5),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "CVectorMath", "TestSupport"], swiftSettings: swift5),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "TestSupport"], swiftSettings: swift5),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Tokenizer", "Tensor", "TestSupport"], swiftSettings: swift5),
        .testTarget(
            name: "TrainingTests", dependencies: ["Training", "Model", "Tokenizer", "Tensor", "TestSupport"],
            swiftSettings: swift5),
        .testTarget(
            name: "EvaluationTests",
            dependencies: [
                "Evaluation", "Training", "Model", "Tokenizer", "Tensor", "TestSupport",
                // The judge's tests answer from a Hummingbird server inside the test process.
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swift5),
        // Runs the built `train` executable end to end.
        .testTarget(
            name: "CLITests", dependencies: ["CLI", "Evaluation", "Training", "Model", "Tokenizer", "Tensor", "TestSupport"],
            swiftSettings: swift5),
    ]
)

// libFuzzer targets, one per parser of untrusted files (Fuzz/, `make fuzz`). Declared only when
// FACET_FUZZ is set: they need libFuzzer, which only `-sanitize=fuzzer` links, so a plain
// `swift build` or `swift test` could not build them.
if ProcessInfo.processInfo.environment["FACET_FUZZ"] != nil {
    package.targets.append(
        .target(name: "Fuzzing", dependencies: ["Tokenizer"], path: "Fuzz/Support", swiftSettings: swift5))
    let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
        ("JSONLRecords", ["Training"]), ("RecipeYAML", ["Training"]), ("SafetensorsHeader", ["Tensor"]), ("GGUFHeader", ["Model"]),
        ("TokenizerModel", []), ("TokenizerJSON", []), ("HDF5Checkpoint", ["Training"]),
    ]
    for (name, dependencies) in fuzzTargets {
        package.targets.append(
            .executableTarget(
                name: "Fuzz\(name)", dependencies: ["Fuzzing"] + dependencies, path: "Fuzz/\(name)", swiftSettings: swift5))
    }
}
