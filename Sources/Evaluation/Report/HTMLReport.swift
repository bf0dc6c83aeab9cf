import Foundation
import Training

/// Renders a `ReportDocument` as one self-contained HTML page: inline CSS and inline SVG
/// charts, no scripts and no external resources.
public enum HTMLReport {
    /// The page for `document`; metrics paths are resolved against `baseDirectory`. A metrics
    /// file that is missing or partly unreadable becomes a visible note on the page.
    public static func render(_ document: ReportDocument, baseDirectory: URL) -> String {
        var body = "<header><h1>\(document.title.htmlEscaped)</h1>"
        if let subtitle = document.subtitle, !subtitle.isEmpty {
            body += "<p class=\"subtitle\">\(subtitle.htmlEscaped)</p>"
        }
        body += "</header>\n"
        if !document.notes.isEmpty {
            body += "<ul class=\"notes\">" + document.notes.map { "<li>\($0.htmlEscaped)</li>" }.joined() + "</ul>\n"
        }
        if !document.stages.isEmpty {
            body += "<section id=\"training\"><h2>Training</h2>\n"
            body += document.stages.map { stageSection($0, baseDirectory: baseDirectory) }.joined(separator: "\n")
            body += "</section>\n"
        }
        if let benchmark = document.benchmark { body += benchmarkSection(benchmark) }
        if let families = document.families, !families.rows.isEmpty { body += familiesSection(families) }
        if let ablation = document.ablation, !ablation.rows.isEmpty { body += ablationSection(ablation) }
        if !document.generations.isEmpty { body += generationsSection(document.generations) }
        body += "<footer>Written by <code>train report</code> (Facet).</footer>\n"
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(document.title.htmlEscaped)</title>
            <style>
            \(ReportStyle.css)
            </style>
            </head>
            <body>
            <main>
            \(body)</main>
            </body>
            </html>

            """
    }

    /// Reads `folder/report.json` and writes `folder/report.html`; returns the page's URL.
    @discardableResult
    public static func write(folder: URL) throws -> URL {
        let document = try ReportDocument.load(folder.appendingPathComponent("report.json"))
        let output = folder.appendingPathComponent("report.html")
        try Data(render(document, baseDirectory: folder).utf8).write(to: output, options: .atomic)
        return output
    }

    // MARK: Training stages

    private static func stageSection(_ stage: ReportDocument.Stage, baseDirectory: URL) -> String {
        var out = "<h3>\(stage.name.htmlEscaped)</h3>\n"
        let url = stage.metrics.hasPrefix("/")
            ? URL(fileURLWithPath: stage.metrics) : baseDirectory.appendingPathComponent(stage.metrics)
        let file = "<code>\(stage.metrics.htmlEscaped)</code>"
        guard FileManager.default.fileExists(atPath: url.path) else {
            return out + "<p class=\"warning\">No training curves: the metrics file \(file) was not found.</p>\n"
        }
        guard let lines = try? JSONLines(url: url) else {
            return out + "<p class=\"warning\">No training curves: the metrics file \(file) could not be read.</p>\n"
        }
        let metrics = StageMetrics(lines: lines)
        if !metrics.unreadableLines.isEmpty {
            let count = metrics.unreadableLines.count
            let shown = metrics.unreadableLines.prefix(5).map(String.init).joined(separator: ", ")
            out += "<p class=\"warning\">\(count) line\(count == 1 ? "" : "s") of \(file) could not be read and "
                + "\(count == 1 ? "was" : "were") skipped (line\(count == 1 ? "" : "s") \(shown)\(count > 5 ? ", …" : "")).</p>\n"
        }
        let charts = stageCharts(stage.name, metrics)
        guard !charts.isEmpty else {
            return out + "<p class=\"warning\">\(file) holds no loss values to chart.</p>\n"
        }
        if let summary = summary(metrics) { out += "<p class=\"summary\">\(summary)</p>\n" }
        return out + "<div class=\"charts\">\n" + charts.joined(separator: "\n") + "\n</div>\n"
    }

    private static func stageCharts(_ name: String, _ metrics: StageMetrics) -> [String] {
        func points(_ key: String) -> [(x: Double, y: Double)] { metrics.points(key).map { (x: $0.step, y: $0.value) } }
        var charts: [String] = []
        if metrics.has("loss") || metrics.has("eval_loss") {
            let chart = LineChart(
                title: "\(name): loss", xLabel: "step", yLabel: "loss",
                series: [
                    ChartSeries(name: "train loss", points: points("loss"), color: ChartPalette.blue),
                    ChartSeries(name: "eval loss", points: points("eval_loss"), color: ChartPalette.orange, markers: true),
                ])
            charts.append(figure("\(name): loss", chart.svg()))
        }
        // A reward model logs TRL's RewardTrainer names, DPO and ORPO the DPOTrainer's.
        let rewardModel = metrics.has("margin") || metrics.has("eval_margin")
        let (margin, accuracy) = rewardModel ? ("margin", "accuracy") : ("rewards/margins", "rewards/accuracies")
        if metrics.has(margin) || metrics.has("eval_\(margin)") {
            let chart = LineChart(
                title: "\(name): reward margins and accuracies", xLabel: "step", yLabel: "reward margin (chosen − rejected)",
                rightLabel: "accuracy",
                series: [
                    ChartSeries(name: "train margin", points: points(margin), color: ChartPalette.blue),
                    ChartSeries(
                        name: "eval margin", points: points("eval_\(margin)"), color: ChartPalette.blue, dashed: true,
                        markers: true),
                    ChartSeries(
                        name: "train accuracy", points: points(accuracy), color: ChartPalette.green, axis: .right),
                    ChartSeries(
                        name: "eval accuracy", points: points("eval_\(accuracy)"), color: ChartPalette.green,
                        dashed: true, markers: true, axis: .right),
                ],
                leftIncludes: [0], rightIncludes: [0, 1])
            charts.append(figure("\(name): reward margins and accuracies", chart.svg()))
        }
        if metrics.has("log_odds_chosen") || metrics.has("eval_log_odds_chosen") {
            let chart = LineChart(
                title: "\(name): log odds ratio of chosen over rejected", xLabel: "step", yLabel: "log odds (chosen)",
                series: [
                    ChartSeries(name: "train", points: points("log_odds_chosen"), color: ChartPalette.purple),
                    ChartSeries(name: "eval", points: points("eval_log_odds_chosen"), color: ChartPalette.orange, markers: true),
                ],
                leftIncludes: [0])
            charts.append(figure("\(name): log odds ratio (chosen over rejected)", chart.svg()))
        }
        return charts
    }

    private static func summary(_ metrics: StageMetrics) -> String? {
        var parts: [String] = []
        let losses = metrics.points("loss")
        if let last = losses.last {
            parts.append("\(losses.count) logged step\(losses.count == 1 ? "" : "s")")
            if let first = losses.first, losses.count > 1 {
                parts.append(String(format: "train loss %.3f → %.3f", first.value, last.value))
            } else {
                parts.append(String(format: "train loss %.3f", last.value))
            }
        }
        let evalLosses = metrics.points("eval_loss")
        if let first = evalLosses.first, let last = evalLosses.last {
            parts.append(
                evalLosses.count > 1
                    ? String(format: "eval loss %.3f → %.3f", first.value, last.value)
                    : String(format: "eval loss %.3f", last.value))
        }
        let throughput = metrics.points("tokens_per_s").map(\.value).sorted()
        if !throughput.isEmpty {
            parts.append("median \(grouped(Int(throughput[throughput.count / 2].rounded()))) tokens/s")
        }
        return parts.isEmpty ? nil : parts.joined(separator: " · ")
    }

    // MARK: Benchmark and ablation

    private static func benchmarkSection(_ benchmark: ReportDocument.Benchmark) -> String {
        let columns = benchmark.columns
        var out = "<section id=\"benchmark\"><h2>Benchmark</h2>\n"
        guard !columns.isEmpty, !benchmark.rows.isEmpty else {
            return out + "<p class=\"warning\">The benchmark has no rows or no columns.</p>\n</section>\n"
        }
        out += "<p class=\"caption\">Mean rubric score per dimension (higher is better); the best value of each column is in bold.</p>\n"
        let header = ["model"] + columns.map(displayName)
        let best = columns.map { column in benchmark.rows.compactMap { $0.scores[column] }.filter(\.isFinite).max() }
        let rows = benchmark.rows.map { row in
            [Cell(row.model)] + columns.enumerated().map { index, column in
                Cell(number: row.scores[column], decimals: 2, best: best[index])
            }
        }
        out += table(header: header, rows: rows)
        let chart = GroupedBarChart(
            title: "Benchmark scores by dimension", yLabel: "score", categories: columns,
            groups: benchmark.rows.map { row in (name: row.model, values: columns.map { row.scores[$0] ?? .nan }) })
        out += "<div class=\"charts wide\">" + figure("Benchmark scores by dimension", chart.svg()) + "</div>\n"
        return out + "</section>\n"
    }

    private static func familiesSection(_ families: ReportDocument.Benchmark) -> String {
        var out = "<section id=\"families\"><h2>Correctness by task family</h2>\n"
        out += "<p class=\"caption\">Mean correctness (1-5) of each family's benchmark prompts. Knowledge families ask facts "
            + "training taught, under other system messages and phrasings; algorithmic families give new inputs.</p>\n"
        let best = families.rows.map { row in families.columns.compactMap { row.scores[$0] }.filter(\.isFinite).max() }
        let rows = families.rows.enumerated().map { index, row in
            [Cell(row.model)] + families.columns.map { Cell(number: row.scores[$0], decimals: 2, best: best[index]) }
        }
        return out + table(header: ["family"] + families.columns, rows: rows) + "</section>\n"
    }

    private static func ablationSection(_ ablation: ReportDocument.Ablation) -> String {
        var out = "<section id=\"ablation\"><h2>Ablation: system messages per instruction</h2>\n"
        out += "<p class=\"caption\">K system messages kept per instruction; held-out NLL is lower-better, the rubric score higher-better (best in bold).</p>\n"
        let rows = ablation.rows
        let bestNLL = rows.compactMap(\.heldoutNLL).filter(\.isFinite).min()
        let bestRubric = rows.compactMap(\.rubric).filter(\.isFinite).max()
        let table = table(
            header: ["K", "records", "tokens", "held-out NLL", "rubric score"],
            rows: rows.map { row in
                [
                    Cell(String(row.k)), Cell(row.records.map(grouped) ?? "—"), Cell(row.tokens.map(grouped) ?? "—"),
                    Cell(number: row.heldoutNLL, decimals: 3, best: bestNLL),
                    Cell(number: row.rubric, decimals: 2, best: bestRubric),
                ]
            })
        let rubric = rows.compactMap { row in row.rubric.map { (x: Double(row.k), y: $0) } }
        let nll = rows.compactMap { row in row.heldoutNLL.map { (x: Double(row.k), y: $0) } }
        let hasRubric = rubric.contains { $0.y.isFinite }
        let chart = LineChart(
            title: "Rubric score and held-out NLL against K", xLabel: "system messages per instruction (K)",
            yLabel: hasRubric ? "rubric score" : "held-out NLL", rightLabel: hasRubric ? "held-out NLL" : nil,
            series: [
                ChartSeries(name: "rubric score", points: rubric, color: ChartPalette.blue, markers: true),
                ChartSeries(
                    name: "held-out NLL", points: nll, color: ChartPalette.orange, markers: true,
                    axis: hasRubric ? .right : .left),
            ],
            xPadding: 0.25, height: 290)
        guard hasRubric || nll.contains(where: { $0.y.isFinite }) else { return out + table + "</section>\n" }
        out += "<div class=\"side-by-side\"><div>\(table)</div>"
        return out + figure("Rubric score and held-out NLL against K", chart.svg()) + "</div>\n</section>\n"
    }

    /// A table cell: text, optionally bold as the best of its column.
    private struct Cell {
        var text: String
        var isBest = false

        init(_ text: String) { self.text = text }

        /// A number with fixed decimals; equal to `best` at that precision makes it bold (ties are all bold).
        init(number: Double?, decimals: Int, best: Double?) {
            guard let number, number.isFinite else {
                text = "—"
                return
            }
            text = String(format: "%.\(decimals)f", number)
            isBest = best.map { String(format: "%.\(decimals)f", $0) == text } ?? false
        }
    }

    private static func table(header: [String], rows: [[Cell]]) -> String {
        var out = "<div class=\"table-wrap\"><table>\n<thead><tr>"
        out += header.map { "<th>\($0.htmlEscaped)</th>" }.joined() + "</tr></thead>\n<tbody>\n"
        for row in rows {
            out += "<tr>" + row.map { "<td\($0.isBest ? " class=\"best\"" : "")>\($0.text.htmlEscaped)</td>" }.joined() + "</tr>\n"
        }
        return out + "</tbody></table></div>\n"
    }

    // MARK: Generations

    private static func generationsSection(_ generations: [ReportDocument.Generation]) -> String {
        var out = "<section id=\"generations\"><h2>Generations</h2>\n<div class=\"generations\">\n"
        for generation in generations {
            out += "<article class=\"generation\"><h3>\(generation.title.htmlEscaped)</h3>"
            if let system = generation.system, !system.isEmpty {
                out += "<h4>System message</h4><pre>\(system.htmlEscaped)</pre>"
            }
            out += "<h4>Prompt</h4><pre>\(generation.prompt.htmlEscaped)</pre>"
            out += "<h4>Response</h4><pre>\(generation.response.htmlEscaped)</pre></article>\n"
        }
        return out + "</div>\n</section>\n"
    }

    // MARK: Helpers

    private static func figure(_ caption: String, _ svg: String) -> String {
        "<figure><figcaption>\(caption.htmlEscaped)</figcaption>\(svg)</figure>"
    }

    /// "background_knowledge" as "background knowledge".
    private static func displayName(_ column: String) -> String { column.replacingOccurrences(of: "_", with: " ") }

    /// An integer with thousands separators, independent of the locale.
    private static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out += "," }
            out.append(digit)
        }
        return value < 0 ? "-" + out : out
    }
}

extension String {
    /// The text with `& < > " '` replaced by character references, safe in HTML and SVG text and attributes.
    var htmlEscaped: String {
        var out = ""
        out.reserveCapacity(utf8.count)
        for character in self {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
