import Evaluation
import Foundation
import TestSupport
import XCTest

final class ReportTests: XCTestCase {
    /// A run folder with an SFT log (eval at step 0), a DPO log with reward metrics and an
    /// ORPO log with log odds, one malformed line among them.
    private func runFolder() throws -> URL {
        let folder = try Fixtures.temporaryDirectory(self)
        func write(_ relative: String, _ lines: [String]) throws {
            let url = folder.appendingPathComponent(relative)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: url)
        }
        try write("sft/metrics.jsonl", [
            #"{"eval_loss":2.5,"step":0}"#,
            #"{"epoch":0.25,"grad_norm":1.5,"loss":2.4,"lr":1e-4,"step":1,"tokens_per_s":900}"#,
            #"{"epoch":0.5,"grad_norm":1.2,"loss":1.9,"lr":1e-4,"step":2,"tokens_per_s":1000}"#,
            #"{"epoch":0.75,"grad_norm":1.1,"loss":1.6,"lr":1e-4,"step":3,"tokens_per_s":1100}"#,
            #"{"eval_loss":1.7,"step":3}"#,
        ])
        try write("dpo/metrics.jsonl", [
            #"{"eval_loss":0.6931,"eval_rewards/accuracies":0,"eval_rewards/margins":0,"step":0}"#,
            #"{"loss":0.69,"rewards/margins":0.01,"rewards/accuracies":0.5,"rewards/chosen":0.01,"step":1}"#,
            "{not json",
            #"{"loss":0.62,"rewards/margins":0.2,"rewards/accuracies":0.75,"rewards/chosen":0.1,"step":2}"#,
            #"{"eval_loss":0.6,"eval_rewards/accuracies":0.8,"eval_rewards/margins":0.25,"step":2}"#,
        ])
        try write("orpo/metrics.jsonl", [
            #"{"loss":1.9,"nll_loss":1.8,"log_odds_chosen":-0.2,"step":1}"#,
            #"{"loss":1.7,"nll_loss":1.6,"log_odds_chosen":0.4,"step":2}"#,
        ])
        return folder
    }

    private let document = ReportDocument(
        title: "Facet demo <tiny>",
        subtitle: "2 cores, today",
        stages: [
            .init(name: "SFT", metrics: "sft/metrics.jsonl"), .init(name: "DPO", metrics: "dpo/metrics.jsonl"),
            .init(name: "ORPO", metrics: "orpo/metrics.jsonl"),
        ],
        benchmark: .init(
            columns: ["style", "background_knowledge", "mean"],
            rows: [
                .init(model: "untrained", scores: ["style": 1.2, "background_knowledge": .nan, "mean": 1.5]),
                .init(model: "after SFT", scores: ["style": 3.456, "background_knowledge": 2.5, "mean": .infinity]),
                .init(model: "after DPO", scores: ["style": 3.2, "background_knowledge": 2.75]),
            ]),
        generations: [
            .init(title: "after SFT", system: "Be <brief> & \"kind\"", prompt: "What's 1 < 2?", response: "<script>alert('x')</script>"),
            .init(title: "after DPO", system: nil, prompt: "Hello", response: "Hi there."),
        ],
        ablation: .init(rows: [
            .init(k: 1, records: 300, tokens: 12345, heldoutNLL: 1.5, rubric: 3.1),
            .init(k: 2, records: 600, tokens: 24690, heldoutNLL: 1.25, rubric: 3.4),
            .init(k: 3, records: 900, tokens: nil, heldoutNLL: 1.3, rubric: nil),
        ]),
        notes: ["Numbers are from a tiny model & a tiny benchmark."])

    private func svgBlocks(_ html: String) -> [String] {
        html.components(separatedBy: "<svg").dropFirst().map { "<svg" + $0.components(separatedBy: "</svg>")[0] }
    }

    /// Every attribute value inside the page's SVG charts.
    private func svgAttributeValues(_ html: String) throws -> [String] {
        let pattern = try NSRegularExpression(pattern: #"[a-zA-Z:-]+="([^"]*)""#)
        return svgBlocks(html).flatMap { block -> [String] in
            let range = NSRange(block.startIndex..., in: block)
            return pattern.matches(in: block, range: range).compactMap { Range($0.range(at: 1), in: block).map { String(block[$0]) } }
        }
    }

    func testRendersTablesChartsAndEscapedGenerations() throws {
        let html = HTMLReport.render(document, baseDirectory: try runFolder())

        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertTrue(html.contains("<title>Facet demo &lt;tiny&gt;</title>"))
        XCTAssertTrue(html.contains("<li>Numbers are from a tiny model &amp; a tiny benchmark.</li>"))
        // Loss for each stage, DPO margins/accuracies, ORPO log odds, benchmark bars, ablation.
        XCTAssertEqual(svgBlocks(html).count, 7)
        XCTAssertEqual(html.components(separatedBy: "<figure>").count - 1, 7)
        XCTAssertTrue(html.contains("SFT: loss") && html.contains("DPO: reward margins and accuracies"))
        XCTAssertTrue(html.contains("ORPO: log odds ratio"))
        XCTAssertFalse(html.contains("SFT: reward margins"))
        for block in svgBlocks(html) { XCTAssertTrue(block.contains("viewBox=\"0 0 ")) }

        // Benchmark: 2 decimals, best per column bold, non-finite as a dash.
        XCTAssertTrue(html.contains("<th>model</th><th>style</th><th>background knowledge</th><th>mean</th>"))
        XCTAssertTrue(html.contains("<tr><td>after SFT</td><td class=\"best\">3.46</td><td>2.50</td><td>—</td></tr>"))
        XCTAssertTrue(html.contains("<tr><td>untrained</td><td>1.20</td><td>—</td><td class=\"best\">1.50</td></tr>"))
        XCTAssertTrue(html.contains("<tr><td>after DPO</td><td>3.20</td><td class=\"best\">2.75</td><td>—</td></tr>"))
        // Ablation: lowest NLL and highest rubric bold, thousands separators, missing values as dashes.
        XCTAssertTrue(html.contains("<th>K</th><th>records</th><th>tokens</th><th>held-out NLL</th><th>rubric score</th>"))
        XCTAssertTrue(html.contains("<tr><td>2</td><td>600</td><td>24,690</td><td class=\"best\">1.250</td><td class=\"best\">3.40</td></tr>"))
        XCTAssertTrue(html.contains("<tr><td>3</td><td>900</td><td>—</td><td>1.300</td><td>—</td></tr>"))

        // Generations escaped inside <pre>; the one without a system message has no such block.
        XCTAssertTrue(html.contains("<pre>Be &lt;brief&gt; &amp; &quot;kind&quot;</pre>"))
        XCTAssertTrue(html.contains("<pre>What&#39;s 1 &lt; 2?</pre>"))
        XCTAssertTrue(html.contains("<pre>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</pre>"))
        XCTAssertEqual(html.components(separatedBy: "<h4>System message</h4>").count - 1, 1)

        // Self-contained: no scripts, no links or external resources.
        XCTAssertFalse(html.contains("<script"))
        XCTAssertFalse(html.contains("src=") || html.contains("href=") || html.contains("url("))
        XCTAssertEqual(html.components(separatedBy: "http").count - 1, svgBlocks(html).count, "only the SVG namespaces")

        // The malformed DPO line is reported, not fatal.
        XCTAssertTrue(html.contains("1 line of <code>dpo/metrics.jsonl</code> could not be read and was skipped (line 3)"))
    }

    func testSVGAttributesAreFiniteNumbers() throws {
        let html = HTMLReport.render(document, baseDirectory: try runFolder())
        let values = try svgAttributeValues(html)
        XCTAssertGreaterThan(values.count, 100)
        for value in values {
            let lowered = value.lowercased()
            XCTAssertFalse(lowered.contains("nan") || lowered.contains("inf"), "SVG attribute value \(value)")
        }
        // Ticks come in steps of 1, 2 or 5 times a power of ten: the SFT loss axis (1.6...2.5).
        let sftLoss = svgBlocks(html)[0]
        for label in ["1.6", "1.8", "2.0", "2.2", "2.4", "2.6"] {
            XCTAssertTrue(sftLoss.contains(">\(label)</text>"), "tick \(label)")
        }
    }

    func testMissingMetricsFileIsANoteNotACrash() throws {
        let folder = try Fixtures.temporaryDirectory(self)
        let html = HTMLReport.render(
            ReportDocument(title: "Missing", stages: [.init(name: "SFT", metrics: "sft/metrics.jsonl")]), baseDirectory: folder)
        XCTAssertTrue(html.contains("<p class=\"warning\">No training curves: the metrics file <code>sft/metrics.jsonl</code> was not found.</p>"))
        XCTAssertFalse(html.contains("<svg"))
        XCTAssertFalse(html.contains("id=\"benchmark\"") || html.contains("id=\"ablation\"") || html.contains("id=\"generations\""))

        try Data().write(to: folder.appendingPathComponent("empty.jsonl"))
        let empty = HTMLReport.render(
            ReportDocument(title: "Empty", stages: [.init(name: "DPO", metrics: "empty.jsonl")]), baseDirectory: folder)
        XCTAssertTrue(empty.contains("<code>empty.jsonl</code> holds no loss values to chart."))

        let directory = HTMLReport.render(
            ReportDocument(title: "Folder", stages: [.init(name: "SFT", metrics: ".")]), baseDirectory: folder)
        XCTAssertTrue(directory.contains("the metrics file <code>.</code> could not be read."))
    }

    func testWriteReadsReportJSONAndCLIPrintsThePath() throws {
        let folder = try runFolder()
        let json = """
            {"title": "From JSON", "subtitle": "a\\nb",
             "stages": [{"name": "SFT", "metrics": "sft/metrics.jsonl"}],
             "benchmark": {"columns": ["style", "mean"], "rows": [{"model": "untrained", "scores": {"style": 1.25, "mean": 1.25}}]},
             "generations": [{"title": "g", "system": "s", "prompt": "p", "response": "r"}],
             "ablation": {"rows": [{"k": 1, "records": 3, "tokens": 40, "heldout_nll": 1.5, "rubric": 2.0}]}}
            """
        try Data(json.utf8).write(to: folder.appendingPathComponent("report.json"))
        let loaded = try ReportDocument.load(folder.appendingPathComponent("report.json"))
        XCTAssertEqual(loaded.ablation?.rows.first?.heldoutNLL, 1.5)
        XCTAssertEqual(loaded.notes, [])

        let page = try HTMLReport.write(folder: folder)
        XCTAssertEqual(page.lastPathComponent, "report.html")
        let html = try String(contentsOf: page, encoding: .utf8)
        XCTAssertEqual(html, HTMLReport.render(loaded, baseDirectory: folder))
        XCTAssertEqual(svgBlocks(html).count, 3)

        try FileManager.default.removeItem(at: page)
        let result = try runTrain(["report", folder.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines), page.path)
        XCTAssertTrue(FileManager.default.fileExists(atPath: page.path))
    }

    func testBadReportJSONNamesTheField() throws {
        let folder = try Fixtures.temporaryDirectory(self)
        let url = folder.appendingPathComponent("report.json")
        try Data(#"{"title": "t", "stages": [{"name": "SFT"}]}"#.utf8).write(to: url)
        XCTAssertThrowsError(try ReportDocument.load(url)) { error in
            XCTAssertEqual("\(error)", "\(url.path): field 'stages[0].metrics': missing")
        }
        try Data(#"{"title": 3}"#.utf8).write(to: url)
        XCTAssertThrowsError(try ReportDocument.load(url)) { error in
            XCTAssertEqual("\(error)", "\(url.path): field 'title': expected a string")
        }
        let result = try runTrain(["report", folder.appendingPathComponent("absent").path])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.hasPrefix("error: ") && result.stderr.contains("report.json: file does not exist"), result.stderr)
    }
}
