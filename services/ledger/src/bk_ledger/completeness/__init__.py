"""Daily ledger completeness (台账完整率) per site: an input of the case-manager's risk score."""
