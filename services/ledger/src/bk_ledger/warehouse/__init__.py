"""The ledger's part of the warehouse export (数据总仓): every ledger kind and the sensor readings."""
