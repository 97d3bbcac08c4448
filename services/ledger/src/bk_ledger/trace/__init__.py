"""Traceability (追溯): dish or failed test → purchase batch → supplier, and forward to meals served."""
