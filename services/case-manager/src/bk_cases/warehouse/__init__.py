"""The case-manager's part of the warehouse export (数据总仓): cases and their loop, the directory,
the site scores."""
