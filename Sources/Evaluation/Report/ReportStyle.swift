

/// The report's stylesheet, inlined into its `<style>` block.
enum ReportStyle {
    static let css = """
        :root {
          --text: #1f2328; --muted: #59636e; --border: #d8dee4; --soft: #f6f8fa;
          --accent: #4c78a8; --warn: #d4a72c; --warn-bg: #fff8e5;
        }
        * { box-sizing: border-box; }
        body {
          margin: 0; background: #fff; color: var(--text);
          font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
        }
        main { max-width: 1180px; margin: 0 auto; padding: 36px 28px 56px; }
        header h1 { font-size: 28px; line-height: 1.25; margin: 0 0 6px; }
        .subtitle { color: var(--muted); margin: 0; white-space: pre-line; }
        h2 { font-size: 20px; margin: 44px 0 14px; padding-bottom: 6px; border-bottom: 1px solid var(--border); }
        h3 { font-size: 16px; margin: 26px 0 8px; }
        code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--soft);
          padding: 1px 4px; border-radius: 4px; }
        .notes { margin: 22px 0 0; padding: 10px 18px 10px 34px; background: var(--soft);
          border-left: 4px solid var(--accent); border-radius: 4px; }
        .notes li { margin: 2px 0; }
        .warning { margin: 8px 0; padding: 8px 14px; background: var(--warn-bg);
          border-left: 4px solid var(--warn); border-radius: 4px; }
        .summary { color: var(--muted); margin: 0 0 12px; }
        .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 18px; align-items: start; }
        .charts.wide { grid-template-columns: 1fr; }
        .side-by-side { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 18px; align-items: start; }
        figure { margin: 0; padding: 12px 14px 8px; border: 1px solid var(--border); border-radius: 8px; background: #fff; }
        figcaption { font-weight: 600; font-size: 14px; margin-bottom: 4px; }
        svg.chart { display: block; width: 100%; height: auto; }
        .table-wrap { overflow-x: auto; margin: 4px 0 18px; }
        table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
        th, td { padding: 6px 14px; text-align: right; border-bottom: 1px solid var(--border); white-space: nowrap; }
        th:first-child, td:first-child { text-align: left; }
        thead th { background: var(--soft); font-weight: 600; border-bottom: 2px solid var(--border); }
        tbody tr:hover { background: #fbfcfd; }
        td.best { font-weight: 700; }
        .caption { color: var(--muted); font-size: 13px; margin: 0 0 10px; }
        .generations { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 18px; align-items: start; }
        .generation { border: 1px solid var(--border); border-radius: 8px; padding: 12px 16px 16px; min-width: 0; }
        .generation h3 { margin: 0 0 6px; }
        .generation h4 { margin: 12px 0 4px; font-size: 11.5px; letter-spacing: 0.06em; text-transform: uppercase;
          color: var(--muted); }
        pre { margin: 0; padding: 10px 12px; background: var(--soft); border-radius: 6px; white-space: pre-wrap;
          overflow-wrap: anywhere; font: 13px/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
        footer { margin-top: 52px; color: var(--muted); font-size: 13px; }
        @media print { figure, .generation, table { break-inside: avoid; } main { padding: 0; } }
        """
}
