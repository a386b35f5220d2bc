"""sdpa-bench's HTML report: results files in, tables and PNG plots out.

Modules, each with one job: `results` reads results files (format v1 and v2), `problem` parses
problem specs, `stats` holds the pure maths (percentiles, power-law fits), `series` turns cases
into plottable series and points, `tables` reads the tables `sdpa-bench report --json` computed
(it computes none), `plots` draws the figures,
`page` writes the HTML and `render` decides which figures the data supports and writes them all.
`scripts/report` is the command line.
"""
