"""Ledger exports (导出): CSV, and XLSX via openpyxl, for inspections and archiving."""
