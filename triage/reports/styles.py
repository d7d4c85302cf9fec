"""The reports' style sheet, inlined into every page: readable on screen and on paper."""

from __future__ import annotations

CSS = """
:root { --ink: #1d2430; --muted: #5b6472; --line: #d5dae1; --soft: #f4f6f8;
  --ok: #1e7a3c; --ok-bg: #e4f4e9; --bad: #b3261e; --bad-bg: #fbe9e7;
  --warn: #8a5a00; --warn-bg: #fff3d6; --info: #1f4e99; --info-bg: #e6eefb; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1200px; padding: 24px 28px 48px; color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-bottom: 4px;
  border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 16px 0 6px; }
p { margin: 6px 0; }
.subtitle { color: var(--muted); margin: 0 0 12px; overflow-wrap: anywhere; }
.generated { color: var(--muted); font-size: 12px; }
nav.contents { margin: 12px 0 4px; font-size: 13px; }
nav.contents a { margin-right: 12px; color: var(--info); }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; }
th, td { border: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
thead th { background: var(--soft); font-weight: 600; white-space: nowrap; }
.checklist td code { overflow-wrap: normal; }
table.fields, table.documents, table.thread, table.acknowledgements, table.events {
  table-layout: fixed; }
table.events th:nth-child(1) { width: 14%; }
table.events th:nth-child(2) { width: 11%; }
table.events th:nth-child(3) { width: 16%; }
table.fields th:nth-child(1) { width: 15%; }
table.fields th:nth-child(2) { width: 23%; }
table.fields th:nth-child(3) { width: 26%; }
table.fields th:nth-child(4) { width: 16%; }
table.fields th:nth-child(5) { width: 9%; }
table.documents th:nth-child(1) { width: 30%; }
table.documents th:nth-child(3), table.documents th:nth-child(4) { width: 8%; }
table.thread th:nth-child(1) { width: 13%; }
table.thread th:nth-child(2) { width: 18%; }
table.thread th:nth-child(4) { width: 10%; }
table.thread th:nth-child(5) { width: 28%; }
table.acknowledgements th:nth-child(1), table.acknowledgements th:nth-child(6) { width: 11%; }
table.acknowledgements th:nth-child(5) { width: 9%; }
table.acknowledgements th:nth-child(7) { width: 8%; }
tbody tr:nth-child(even) td { background: #fafbfc; }
td.num, th.num { text-align: right; white-space: nowrap; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
  font-size: 12.5px; }
.muted { color: var(--muted); }
.empty { color: var(--muted); font-style: italic; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
  font-weight: 600; border: 1px solid transparent; margin-right: 4px; white-space: nowrap; }
.badge-ok { color: var(--ok); background: var(--ok-bg); border-color: var(--ok); }
.badge-bad { color: var(--bad); background: var(--bad-bg); border-color: var(--bad); }
.badge-warn { color: var(--warn); background: var(--warn-bg); border-color: var(--warn); }
.badge-info { color: var(--info); background: var(--info-bg); border-color: var(--info); }
.badge-plain { color: var(--muted); background: var(--soft); border-color: var(--line); }
.summary { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr));
  gap: 12px; }
.nowrap { white-space: nowrap; }
dl.facts dd .muted { font-size: 11.5px; line-height: 1.3; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; background: #fff;
  break-inside: avoid; }
.card h3 { margin-top: 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 14px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
ul.reasons { margin: 2px 0; padding-left: 18px; }
.mark { display: inline-block; width: 22px; height: 22px; line-height: 22px; text-align: center;
  border-radius: 50%; font-weight: 700; }
.mark-present { color: #fff; background: var(--ok); }
.mark-missing { color: #fff; background: var(--bad); }
.mark-unclear { color: #fff; background: var(--warn); }
.mark-not_applicable { color: var(--muted); background: var(--soft); }
tr.status-missing td { background: var(--bad-bg) !important; }
tr.status-missing.severity-advisory td { background: var(--warn-bg) !important; }
tr.severity-advisory .mark-missing { background: var(--warn); }
tr.status-unclear td { background: var(--warn-bg) !important; }
tr.unreadable td { background: var(--bad-bg) !important; }
tr.overridden td.value { text-decoration: line-through; color: var(--muted); }
.low { color: var(--bad); font-weight: 600; }
img.signature { display: block; max-width: 240px; border: 1px solid var(--line); margin-top: 4px; }
.conflict { border: 1px solid var(--warn); border-radius: 6px; padding: 8px 12px; margin: 10px 0;
  background: #fffdf6; break-inside: avoid; }
.sides { display: grid; grid-template-columns: repeat(auto-fit, minmax(240px, 1fr)); gap: 10px; }
.side { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; background: #fff; }
.side.in-effect { border: 2px solid var(--ok); }
.side .value { font-size: 15px; font-weight: 600; overflow-wrap: anywhere; }
.reviewer { border-left: 4px solid var(--info); }
.counts td, .counts th { text-align: right; }
.counts td:first-child, .counts th:first-child { text-align: left; }
@media print {
  @page { size: A4; margin: 14mm 12mm; }
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav.contents { display: none; }
  h2 { break-after: avoid; }
  tr, .card, .conflict, .side { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  .badge, .mark, tr.status-missing td, tr.unreadable td {
    -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""
