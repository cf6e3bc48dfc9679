"""CSVs -> figures -> results/REPORT.md. Nothing here trains."""
